"""A real Prefect server on 127.0.0.1, `deployments/prefect.yaml` deployed to it, and a process worker.

Module-scoped: started once for the end-to-end tests (about 15 s), stopped afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "deployments" / "prefect.yaml"
POOL = "annoflow-local"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Deployed:
    url: str
    env: dict[str, str]
    home: Path
    app_url: str

    def client(self):
        """A sync Prefect client on this server (not the session's test harness)."""
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(api=self.url)


def _cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "prefect", *args], cwd=REPO, env=env, capture_output=True, text=True, check=False,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"prefect {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env = {**base, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_API_URL": url,
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1",
           "PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_LOGGING_LEVEL": "WARNING", "PWD": str(REPO)}
    procs: list[subprocess.Popen] = []
    logs = []
    from annotation_app.process import start_app

    app = start_app(home / "app.db", ADMIN_TOKEN, log=home / "app.log")
    env["ANNOFLOW_QUEUE_TOKEN"] = ADMIN_TOKEN

    def spawn(args: list[str], name: str, env_: dict[str, str]) -> subprocess.Popen:
        log = open(home / f"{name}.log", "wb")  # noqa: SIM115 (the child writes it until the end)
        logs.append(log)
        p = subprocess.Popen([sys.executable, "-m", "prefect", *args], cwd=REPO, env=env_, stdout=log,
                             stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    try:
        server = spawn(["server", "start", "--host", "127.0.0.1", "--port", str(port)], "server",
                       {**env, "PREFECT_API_URL": ""})
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start:\n{(home / 'server.log').read_text()[-3000:]}")
            time.sleep(0.3)
        _cli(["work-pool", "create", POOL, "--type", "process"], env)
        _cli(["--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_YAML.relative_to(REPO))], env)
        spawn(["worker", "start", "--pool", POOL, "--type", "process", "--limit", "4"], "worker", env)
        yield Deployed(url, env, home, app.url)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:  # a loaded machine: reap it, or its Popen warns when collected
                p.kill()
                p.wait()
        for log in logs:
            log.close()
        app.stop()


def run_and_wait(d: Deployed, name: str, parameters: dict, timeout: float = 120):
    """Create a flow run of deployment `flow/deployment` (as the UI's Run button does) and wait for a final state."""
    with d.client() as c:
        dep = c.read_deployment_by_name(name)
        fr = c.create_flow_run_from_deployment(dep.id, parameters=parameters)
    return wait_for(d, fr.id, timeout)


def wait_for(d: Deployed, flow_run_id, timeout: float = 120):
    deadline = time.monotonic() + timeout
    with d.client() as c:
        while True:
            fr = c.read_flow_run(flow_run_id)
            if fr.state and fr.state.is_final():
                return fr
            if time.monotonic() > deadline:
                worker_log = (d.home / "worker.log").read_text()[-4000:]
                raise AssertionError(f"flow run {fr.name} still {fr.state_name} after {timeout}s; worker log:\n{worker_log}")
            time.sleep(0.5)


def dumps(x) -> str:
    return json.dumps(x, default=str)
