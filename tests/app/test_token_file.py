"""The admin token file `.annoflow/queue_token` as users break it, through the real `annoflow` command."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from annotation_app.process import free_port

ANNOFLOW = str(Path(sys.executable).with_name("annoflow"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "annoflow.toml").write_text('name = "tok"\nlabels = ["a", "b"]\n')
    (tmp_path / ".annoflow").mkdir()
    return tmp_path


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "ANNOFLOW_QUEUE_TOKEN"}


def _run(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ANNOFLOW, *args, "--config", str(project)], check=False, capture_output=True, text=True,
                          env=_env(), timeout=120)


def _one_line_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    text = out.stdout + out.stderr
    assert out.returncode == 2, text
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1, text
    assert all(n in text for n in needles), text


@pytest.mark.parametrize("content", [b"", b"  \n\n"])
def test_an_empty_token_file_is_one_clear_line_for_stage_commands(project: Path, content: bytes) -> None:
    token = project / ".annoflow" / "queue_token"
    token.write_bytes(content)
    _one_line_error(_run(project, "annotators", "add", "bob"), str(token), "is empty", "annoflow app")
    assert token.read_bytes() == content  # nothing but `annoflow app` writes it


@pytest.mark.parametrize("content", [b"two words\n", b"\xff\xfe\x00binary"])
def test_a_token_file_holding_something_else_is_refused_and_kept(project: Path, content: bytes) -> None:
    token = project / ".annoflow" / "queue_token"
    token.write_bytes(content)
    _one_line_error(_run(project, "app", "--port", str(free_port())), str(token), "does not hold an admin token")
    assert token.read_bytes() == content


def test_a_token_path_that_is_a_folder_is_refused(project: Path) -> None:
    token = project / ".annoflow" / "queue_token"
    token.mkdir()
    _one_line_error(_run(project, "app", "--port", str(free_port())), str(token), "is not a file")


def test_app_replaces_an_empty_token_file_and_serves_with_the_new_token(project: Path) -> None:
    token = project / ".annoflow" / "queue_token"
    token.write_bytes(b"")
    port = free_port()
    proc = subprocess.Popen([ANNOFLOW, "app", "--port", str(port), "--config", str(project)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "app did not start"
            time.sleep(0.3)
        new = token.read_text().strip()
        assert new.startswith("adm_") and stat.S_IMODE(token.stat().st_mode) == 0o600
        def projects() -> list[str]:
            r = httpx.get(f"http://127.0.0.1:{port}/api/projects", headers={"Authorization": f"Bearer {new}"})
            assert r.status_code == 200, r.text
            return [p["project_id"] for p in r.json()]

        # the command registers the project right after the app answers its health check
        while not projects() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert projects() == ["tok"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "Traceback" not in out, out
    # The stage commands now find the token (and reach the stopped app's address: a transient error, not exit 2).
    assert "is empty" not in _run(project, "annotators", "add", "bob").stderr
