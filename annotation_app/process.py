"""Start the app as a child process and wait until it answers: for tests, benchmarks and CLI commands.

The app is always its own process (it owns its store and must outlive flow runs), so callers get a
handle with its URL and admin token, and can SIGKILL and restart it on the same store.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["AppProcess", "free_port", "start_app"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AppProcess:
    db: Path
    token: str
    port: int
    media_roots: list[Path] = field(default_factory=list)
    synchronous: str = "normal"
    log: Path | None = None
    project_dbs: dict[str, Path] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "AppProcess":
        cmd = [sys.executable, "-m", "annotation_app", "--db", str(self.db), "--host", "127.0.0.1",
               "--port", str(self.port), "--synchronous", self.synchronous]
        for r in self.media_roots:
            cmd += ["--media-root", str(r)]
        for name, db in self.project_dbs.items():
            cmd += ["--project-db", f"{name}={db}"]
        env = {**os.environ, "ANNOFLOW_QUEUE_TOKEN": self.token}
        if self.log:
            with open(self.log, "ab") as out:  # the child keeps its own copy of the descriptor
                self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        else:
            self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"annotation app exited with {self.proc.returncode}; log: {self.log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"annotation app did not answer on {self.url} within {timeout}s; log: {self.log}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def start_app(db: Path | str, token: str = "test-admin-token", *, port: int | None = None,
              media_roots: list[Path | str] = (), synchronous: str = "normal", log: Path | str | None = None,
              project_dbs: dict[str, Path | str] | None = None) -> AppProcess:
    """Start `python -m annotation_app` on 127.0.0.1 (a free port unless given) and wait for /healthz."""
    return AppProcess(Path(db), token, port or free_port(), [Path(r) for r in media_roots], synchronous,
                      Path(log) if log else None, {k: Path(v) for k, v in (project_dbs or {}).items()}).start()
