"""The project's own Prefect server: started in the background on first use, reused, stopped when idle.

Every command that runs a flow needs a Prefect API. Prefect's ephemeral mode starts a new server
inside each process (5–35 s on two loaded cores), so the first command starts one server per project
and later commands reuse it:

    <state.dir>/prefect-server/
        server.json    the running server: supervisor pid (= its process group), port, API url
        server.log     output of the supervisor and the server
        lock           serialises start, stop and the idle decision between processes
        clients/<pid>  one file per process using the server; `last-used` is touched when one ends

A small supervisor (this module run with `python -m`, standard library only) starts
`prefect server start` on a free 127.0.0.1 port with PREFECT_HOME in the project, writes server.json
once the API answers, and stops the server when no client process has been alive for the idle time,
when told to (SIGTERM: `annoflow server stop`), or when the server dies. Whoever finds a dead
supervisor cleans up after it and starts a new one. A Prefect API chosen by the caller
(PREFECT_API_URL, or a test harness's settings) always wins: then nothing is started.
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tasks.errors import ServiceError
from tasks.processes import pid_alive

__all__ = ["STARTUP_TIMEOUT", "ProjectServer", "ServerRecord", "api_healthy", "configured_api_url", "prefect_settings", "start_message", "use_project_server"]

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 120.0  # a cold start migrates the database; on two loaded cores that took up to 35 s
_POLL = 1.0
_MODULE = "annoflow_cli.prefect_server"


@dataclass(frozen=True)
class ServerRecord:
    pid: int  # the supervisor, leader of the process group that holds the server
    server_pid: int
    port: int
    url: str  # the API, http://127.0.0.1:<port>/api
    home: str
    started_at: float
    idle_seconds: float

    @property
    def ui_url(self) -> str:
        return self.url.removesuffix("/api")


def configured_api_url() -> str | None:
    """The Prefect API the caller already chose: PREFECT_API_URL, or the active settings of an
    already imported Prefect (a test harness sets them without touching the environment)."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if "prefect.settings" in sys.modules:
        from prefect.settings import get_current_settings

        return get_current_settings().api.url or None
    return None


def api_healthy(api_url: str, timeout: float = 2.0) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 never goes through a proxy
    try:
        with opener.open(f"{api_url}/health", timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is an exited child of ours (a zombie still answers kill 0)
    except ChildProcessError:
        pass
    return pid_alive(pid)


def _is_supervisor(pid: int) -> bool:
    """Whether `pid` is still a supervisor and not an unrelated process that reused the number."""
    if not Path("/proc/self").exists():  # no /proc (macOS): trust the pid
        return _alive(pid)
    return _cmdline_has(pid, _MODULE.encode())


def _cmdline_has(pid: int, needle: bytes) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env(home: Path, port: int) -> dict[str, str]:
    """Settings of the server process; the UI is told its API's real port (Prefect defaults it to 4200)."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_SERVER_API_HOST="127.0.0.1",
               PREFECT_SERVER_API_PORT=str(port), PREFECT_SERVER_LOGGING_LEVEL="WARNING")
    env.setdefault("DO_NOT_TRACK", "1")
    if not (env.get("PREFECT_UI_API_URL") or env.get("PREFECT_SERVER_UI_API_URL")):
        env["PREFECT_SERVER_UI_API_URL"] = f"http://127.0.0.1:{port}/api"
    return env


class ProjectServer:
    """The background Prefect server of one project state folder."""

    def __init__(self, state_dir: Path, home: Path | None = None) -> None:
        self.dir = Path(state_dir) / "prefect-server"
        self.home = Path(home) if home else Path(state_dir) / "prefect"
        self.record_path = self.dir / "server.json"
        self.log_path = self.dir / "server.log"
        self.clients_dir = self.dir / "clients"
        self.last_used = self.dir / "last-used"

    # ---- shared state ---------------------------------------------------------------------------

    @contextmanager
    def _locked(self, wait: float | None = STARTUP_TIMEOUT + 30) -> Iterator[bool]:
        """Hold the lock file; with `wait=None`, yield False at once when someone else holds it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "a") as f:
            deadline = time.monotonic() + (wait or 0)
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if wait is None:
                        yield False
                        return
                    if time.monotonic() > deadline:
                        raise ServiceError(f"another process kept {self.dir / 'lock'} for {wait:.0f} s; "
                                           "run the command again, or `annoflow server stop`") from None
                    time.sleep(0.1)
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def read(self) -> ServerRecord | None:
        try:
            return ServerRecord(**json.loads(self.record_path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None

    def _write(self, rec: ServerRecord) -> None:
        tmp = self.record_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(rec)))
        tmp.replace(self.record_path)

    def _touch_last_used(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.last_used.touch()

    def lease(self) -> None:
        """Mark this process as a client until it exits: the server is never idle while it lives."""
        self.clients_dir.mkdir(parents=True, exist_ok=True)
        path = self.clients_dir / str(os.getpid())
        if path.exists():
            return
        path.touch()
        atexit.register(self.release)

    def release(self) -> None:
        path = self.clients_dir / str(os.getpid())
        if path.exists():
            path.unlink(missing_ok=True)
            self._touch_last_used()

    def live_clients(self) -> set[int]:
        """Pids of processes using the server; files of processes that died (SIGKILL) are removed."""
        live = set()
        for f in self.clients_dir.glob("*") if self.clients_dir.is_dir() else []:
            if f.name.isdigit() and _alive(int(f.name)):
                live.add(int(f.name))
            else:
                f.unlink(missing_ok=True)
                self._touch_last_used()
        return live

    def idle_for(self) -> float:
        """Seconds since the last client process ended (0 while one lives)."""
        if self.live_clients():
            return 0.0
        try:
            return time.time() - self.last_used.stat().st_mtime
        except FileNotFoundError:
            return float("inf")

    # ---- what commands call ---------------------------------------------------------------------

    def running(self) -> ServerRecord | None:
        """The recorded server if its supervisor still lives (it may be busy; see `healthy`)."""
        rec = self.read()
        return rec if rec and _alive(rec.pid) and _is_supervisor(rec.pid) else None

    def ensure(self, port: int | None = None, idle_seconds: float = 1800.0, timeout: float = STARTUP_TIMEOUT,
               on_start: Callable[[ServerRecord], None] | None = None) -> ServerRecord:
        """The project's server, started if none runs (or restarted on `port` when asked for another one).

        This process becomes a client first, so the server cannot idle out between the check and
        the first request.
        """
        self.lease()
        with self._locked():
            rec = self.read()
            if rec and not self.running():
                self._clean(rec)  # the supervisor died (SIGKILL, reboot): remove what is left of it
                rec = None
            if rec and port is not None and rec.port != port:
                others = self.live_clients() - {os.getpid()}
                if others:
                    raise ServiceError(f"this project's Prefect server runs on port {rec.port} and processes "
                                       f"{sorted(others)} use it: use --port {rec.port}, or run again when they end")
                self._stop(rec)
                rec = None
            if rec is None:
                rec = self._start(port, idle_seconds, timeout)
                if on_start:
                    on_start(rec)
                return rec
            deadline = time.monotonic() + timeout
            while not api_healthy(rec.url):
                if not _alive(rec.pid) or time.monotonic() > deadline:
                    raise ServiceError(f"the project's Prefect server ({rec.url}, pid {rec.pid}) does not answer: "
                                       f"run `annoflow server stop` and try again; log: {self.log_path}")
                time.sleep(0.5)
            return rec

    def stop(self, timeout: float = 30.0) -> ServerRecord | None:
        """Stop the server if one is recorded; returns what was stopped."""
        with self._locked():
            rec = self.read()
            if rec is not None:
                self._stop(rec, timeout)
            return rec

    # ---- internals ------------------------------------------------------------------------------

    def _start(self, port: int | None, idle_seconds: float, timeout: float) -> ServerRecord:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        for _ in range(1 if port else 3):  # a free port can be taken between the probe and the bind: try another
            p = port or _free_port()
            with open(self.log_path, "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", _MODULE, str(self.dir.parent), "--home", str(self.home), "--port", str(p),
                     "--idle-seconds", str(idle_seconds), "--timeout", str(timeout)],
                    cwd=REPO_ROOT, env=_server_env(self.home, p), stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + timeout + 10
            while proc.poll() is None and time.monotonic() < deadline:
                rec = self.read()
                if rec and rec.pid == proc.pid:
                    return rec
                time.sleep(0.2)
            if proc.poll() is None:
                self._kill_group(proc.pid)
                raise ServiceError(f"the project's Prefect server did not answer within {timeout:.0f} s; "
                                   f"log: {self.log_path}")
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
        why = " / ".join(line.strip() for line in tail)
        hint = f" (is port {port} in use? pick another with --port)" if port else ""
        raise ServiceError(f"the project's Prefect server exited at start{hint}: {why[-400:]}; log: {self.log_path}")

    def _stop(self, rec: ServerRecord, timeout: float = 30.0) -> None:
        if _alive(rec.pid) and _is_supervisor(rec.pid):
            os.kill(rec.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(rec.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        self._clean(rec)

    def _clean(self, rec: ServerRecord) -> None:
        """Kill whatever is left of a supervisor's process group (its server outlives a SIGKILLed supervisor)."""
        if not _alive(rec.pid) or _is_supervisor(rec.pid):
            self._kill_group(rec.pid)
        if _alive(rec.server_pid) and _cmdline_has(rec.server_pid, b"prefect"):
            os.kill(rec.server_pid, signal.SIGKILL)
        if self.read() == rec:
            self.record_path.unlink(missing_ok=True)

    @staticmethod
    def _kill_group(pgid: int) -> None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _alive(pgid)  # reap it if it was our child


def start_message(rec: ServerRecord) -> str:
    return (f"Started this project's Prefect server in the background: UI {rec.ui_url} (later commands reuse it; "
            f"it stops after {rec.idle_seconds / 60:g} min without use, or with `annoflow server stop`)")


def prefect_settings(home: Path) -> None:
    """What every annoflow process sets before importing Prefect: the project's home (run history,
    results), no telemetry from the server or the SDK (in a terminal the SDK's first import would
    otherwise try to reach Prefect's analytics), and a start-up timeout long enough for a loaded machine
    should Prefect ever start an ephemeral server. Values the user set win."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


def use_project_server(state_dir: Path, home: Path, idle_seconds: float,
                       on_start: Callable[[ServerRecord], None] | None = None) -> str:
    """Point this process's Prefect client at the project's server (started if needed) and return the
    API url; an API the caller configured is used as it is. Call before Prefect is imported."""
    url = configured_api_url()
    if url:
        return url
    rec = ProjectServer(state_dir, home).ensure(idle_seconds=idle_seconds, on_start=on_start)
    os.environ["PREFECT_API_URL"] = rec.url
    return rec.url


# ---- the supervisor process -------------------------------------------------------------------


def _terminate(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def supervise(state_dir: Path, home: Path, port: int, idle_seconds: float, timeout: float) -> int:
    """Run the server until it is idle, told to stop, or dies; keep server.json true meanwhile."""
    srv = ProjectServer(state_dir, home)
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    child = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                             stdin=subprocess.DEVNULL)
    rec = ServerRecord(os.getpid(), child.pid, port, f"http://127.0.0.1:{port}/api", str(home), time.time(), idle_seconds)
    try:
        deadline = time.monotonic() + timeout
        while not api_healthy(rec.url, timeout=1.0):
            if stop or child.poll() is not None or time.monotonic() > deadline:
                return 1
            time.sleep(0.2)
        srv._touch_last_used()
        srv._write(rec)
        while not stop and child.poll() is None:
            time.sleep(_POLL)
            if srv.idle_for() < idle_seconds:
                continue
            with srv._locked(wait=None) as got:  # a command starting right now holds the lock and becomes a client
                if got and srv.idle_for() >= idle_seconds:
                    srv.record_path.unlink(missing_ok=True)
                    _terminate(child)
                    return 0
        return 0
    finally:
        if srv.read() == rec:
            srv.record_path.unlink(missing_ok=True)
        _terminate(child)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {_MODULE}", description="Supervise a project's Prefect server.")
    p.add_argument("state_dir", type=Path)
    p.add_argument("--home", type=Path, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--idle-seconds", type=float, required=True)
    p.add_argument("--timeout", type=float, default=STARTUP_TIMEOUT)
    a = p.parse_args(argv)
    return supervise(a.state_dir, a.home, a.port, a.idle_seconds, a.timeout)


if __name__ == "__main__":
    sys.exit(main())
