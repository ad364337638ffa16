"""Start a real Label Studio (its own virtualenv, `.ci/label-studio.sh`) for tests and benchmarks.

Label Studio never enters annoflow's lock: its dependencies conflict with ours, so it lives in
`~/.cache/annoflow/label-studio-1.23.2` (or `$LS_VENV`) and runs as a child process on a free 127.0.0.1 port, offline, with
a throwaway data directory and a known legacy API token.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from annotation_app.process import REPO_ROOT, free_port

__all__ = ["LS_VERSION", "LabelStudioProcess", "ensure_installed", "import_tasks", "invite_annotator", "start_label_studio"]

LS_VERSION = "1.23.2"
INSTALL_SCRIPT = REPO_ROOT / ".ci" / "label-studio.sh"
ADMIN_EMAIL = "admin@annoflow.test"


def _venv() -> Path:
    """Same rule as `.ci/label-studio.sh`: $LS_VENV, else the user cache (shared by all clones)."""
    if os.environ.get("LS_VENV"):
        return Path(os.environ["LS_VENV"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "annoflow" / f"label-studio-{LS_VERSION}"


def ensure_installed() -> Path:
    """The `label-studio` executable, installing it with `.ci/label-studio.sh` when missing (~2.5 min)."""
    exe = _venv() / "bin" / "label-studio"
    if not (exe.exists() and (_venv() / f".label-studio-{LS_VERSION}").exists()):
        subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True, timeout=1200)
    return exe


@dataclass
class LabelStudioProcess:
    url: str
    token: str
    data_dir: Path
    log: Path
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_label_studio(data_dir: Path | None = None, *, token: str = "annoflow-test-token-0123456789",
                       password: str = "annoflow-test-password", files_root: Path | None = None,
                       timeout: float = 240.0) -> LabelStudioProcess:
    """Start Label Studio on a free port and wait until `/health` answers and the token works.

    `files_root` enables LS local file serving under that folder (for file:// media).
    """
    exe = ensure_installed()
    data_dir = Path(data_dir or tempfile.mkdtemp(prefix="annoflow-ls-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false",
           "LATEST_VERSION_CHECK": "false", "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
           "DJANGO_DB": "sqlite", "LOG_LEVEL": "WARNING", "PYTHONWARNINGS": "ignore"}
    for k in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(k, None)
    if files_root is not None:
        env.update(LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
                   LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(files_root))
    cmd = [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
           "--username", ADMIN_EMAIL, "--password", password,
           "--user-token", token, "--enable-legacy-api-token"]
    log = data_dir / "label-studio.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=data_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    ls = LabelStudioProcess(f"http://127.0.0.1:{port}", token, data_dir, log, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"label-studio exited with {proc.returncode}; log: {log}\n{log.read_text()[-3000:]}")
        try:
            r = httpx.get(f"{ls.url}/api/current-user/whoami",
                          headers={"Authorization": f"Token {token}"}, timeout=2)
            if r.status_code == 200:
                return ls
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    ls.stop()
    raise RuntimeError(f"label-studio did not answer on {ls.url} within {timeout}s; log: {log}")


def remove(ls: LabelStudioProcess) -> None:
    ls.stop()
    shutil.rmtree(ls.data_dir, ignore_errors=True)


def import_tasks(url: str, token: str, title: str, label_config: str, rows: list[dict]) -> dict:
    """Create a project and import Label Studio JSON rows (`{"data", "annotations"}`) into it.

    Returns `{"project_id", "task_count", "annotation_count", "prediction_count"}`; raises on any non-2xx.
    """
    from tasks.http import make_client

    with make_client(url, token, auth_scheme="Token", retries=1, timeout=300) as c:
        pid = c.post("/api/projects", json={"title": title, "label_config": label_config}).json()["id"]
        r = c.post(f"/api/projects/{pid}/import", json=rows).json()
    return {"project_id": pid, **{k: r[k] for k in ("task_count", "annotation_count", "prediction_count")}}


def invite_annotator(url: str, admin_token: str, email: str, password: str = "annoflow-annotator-pw-1") -> str:
    """Sign a new annotator up through the organization's invite link, as a person would; returns their
    API token. (`POST /api/users` makes a user who can neither log in nor see the organization's projects.)"""
    with httpx.Client(base_url=url, headers={"Authorization": f"Token {admin_token}"}, timeout=60) as admin:
        invite = admin.get("/api/invite").raise_for_status().json()["invite_url"]
    with httpx.Client(base_url=url, timeout=60) as browser:
        browser.get(invite).raise_for_status()
        r = browser.post(invite, data={"email": email, "password": password,
                                       "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
                         headers={"Referer": url + invite})
        if r.status_code != 302:
            raise RuntimeError(f"Label Studio signup of {email} answered {r.status_code}: {r.text[:300]}")
        return browser.get("/api/current-user/token").raise_for_status().json()["token"]
