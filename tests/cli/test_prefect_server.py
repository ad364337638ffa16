"""The project's background Prefect server as commands meet it: started once, reused, restarted after a
crash, stopped on request and by itself when idle, never started when an API is configured. Each
command is a real `annoflow` process without PREFECT_API_URL, as in a user's shell."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import write_project

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def shell_env() -> dict[str, str]:
    """A user's environment: no Prefect API chosen, no test-session Prefect home."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}


def annoflow(*args: str, project: Path, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "annoflow_cli.main", *args, "--config", str(project)], cwd=REPO,
                       env=shell_env(), capture_output=True, text=True, timeout=300, check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"annoflow {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def server_json(*args: str, project: Path) -> dict:
    return json.loads(annoflow("server", *args, "--json", project=project).stdout)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.3)
    return cond()


@pytest.fixture
def project(tmp_path: Path):
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    (root / "data" / "a.jsonl").write_text("".join(json.dumps({"text": f"comment {i}"}) + "\n" for i in range(5)))
    write_project(root, name="server-life")
    yield root
    annoflow("server", "stop", project=root, check=False)


def test_started_once_reused_restarted_after_a_crash_and_stopped(project: Path) -> None:
    first = server_json("start", project=project)
    assert first["running"] and first["healthy"], first
    record = json.loads((project / ".annoflow" / "prefect-server" / "server.json").read_text())
    assert record["pid"] == first["pid"] and alive(record["server_pid"])
    # the UI is told the API's real port, not Prefect's default 4200
    assert httpx.get(f"{first['ui_url']}/ui-settings", timeout=10).json()["api_url"] == first["api_url"]

    ingest = annoflow("ingest", "--json", project=project)
    assert json.loads(ingest.stdout.strip().splitlines()[-1])["sources"][0]["inserted"] == 5
    assert "Started this project's Prefect server" not in ingest.stderr
    again = server_json("status", project=project)
    assert again["pid"] == first["pid"], "the command reused the running server"
    runs = httpx.post(f"{first['api_url']}/flow_runs/filter", json={}, timeout=10).json()
    assert [r["name"] for r in runs] and {r["state_type"] for r in runs} == {"COMPLETED"}

    os.kill(first["pid"], signal.SIGKILL)  # the supervisor dies; its server is orphaned
    assert wait_until(lambda: not alive(first["pid"]), 10)
    assert server_json("status", project=project)["running"] is False
    second = server_json("start", project=project)
    assert second["running"] and second["pid"] != first["pid"]
    assert wait_until(lambda: not alive(record["server_pid"]), 10), "the orphaned server was cleaned up"

    stopped = server_json("stop", project=project)
    assert stopped == {"stopped": True, "pid": second["pid"]}
    assert not alive(second["pid"])
    assert not (project / ".annoflow" / "prefect-server" / "server.json").exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{second['api_url']}/health", timeout=5)
    assert server_json("stop", project=project) == {"stopped": False, "pid": None}


def test_two_commands_at_once_start_one_server_that_stops_by_itself_when_idle(project: Path) -> None:
    write_project(project, name="server-idle", state={"server_idle_minutes": 0.05})  # 3 s
    cmd = [sys.executable, "-m", "annoflow_cli.main", "server", "start", "--json", "--config", str(project)]
    both = [subprocess.Popen(cmd, cwd=REPO, env=shell_env(), stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=300)[0]) for p in both]
    assert outs[0]["pid"] == outs[1]["pid"], "the second command waited for the first one's server and reused it"
    started = outs[0]
    t0 = time.monotonic()
    assert started["running"] and started["stops_after_idle_s"] == pytest.approx(3)
    assert wait_until(lambda: not alive(started["pid"]), 60), "the idle server did not stop"
    assert time.monotonic() - t0 >= 2
    assert server_json("status", project=project)["running"] is False
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{started['api_url']}/health", timeout=5)


def _terminate(proc: subprocess.Popen) -> str:
    """SIGTERM, once more if needed: Prefect's runner loses a SIGTERM that lands while it is still starting
    (its handler's SystemExit is raised inside code that ignores exceptions); a second one stops it."""
    for _ in range(3):
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    return proc.communicate()[0]


def test_serve_on_another_port_points_its_ui_there(project: Path) -> None:
    from annotation_app.process import free_port

    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "annoflow_cli.main", "serve", "--port", str(port), "--no-with-app",
                              "--config", str(project)], cwd=REPO, env=shell_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        def deployments() -> list[str]:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/api/deployments/filter", json={}, timeout=5)
            except httpx.TransportError:
                return []
            return [d["name"] for d in r.json()]

        assert wait_until(lambda: len(deployments()) >= 9 or serve.poll() is not None, 180), "serve did not register"
        assert serve.poll() is None
        settings = httpx.get(f"http://127.0.0.1:{port}/ui-settings", timeout=10).json()
        assert settings["api_url"] == f"http://127.0.0.1:{port}/api"
        assert "server-life" in deployments()
    finally:
        out = _terminate(serve)
    assert serve.returncode == 0, out
    assert f"Prefect UI: http://127.0.0.1:{port}" in out
    assert server_json("status", project=project)["running"] is False, "serve stops the server it started"
