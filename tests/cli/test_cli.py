"""`annoflow ingest` and `annoflow status` as a user runs them: exit codes, messages, JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from annoflow_cli.main import app

runner = CliRunner()
EXAMPLE = Path(__file__).parents[2] / "examples" / "tones-audio"


def test_ingest_then_status_json(prefect_harness, tmp_path: Path) -> None:
    project = tmp_path / "tones"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".annoflow"))
    out = runner.invoke(app, ["ingest", "--config", str(project), "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["sources"][0]["inserted"] == 40
    status = runner.invoke(app, ["status", "--config", str(project), "--json"])
    st = json.loads(status.stdout)
    assert st["items"]["total"] == 40 and st["items"]["by_kind"] == {"audio": 40}
    assert st["gold"] > 0
    assert not (project / ".annoflow" / "prefect-server").exists(), "the harness's API was used, no server started"


def test_bad_config_is_one_message_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "annoflow.toml").write_text('name = "x"\nlabels = ["a", "b"]\ntask_kind = "boxes"\n')
    out = runner.invoke(app, ["ingest", "--config", str(tmp_path)])
    assert out.exit_code == 2
    assert "task_kind" in out.output and "Traceback" not in out.output


def test_missing_source_names_the_path(prefect_harness, tmp_path: Path) -> None:
    (tmp_path / "annoflow.toml").write_text('name = "x"\nlabels = ["a", "b"]\n[[sources]]\npath = "nope.jsonl"\n')
    out = runner.invoke(app, ["ingest", "--config", str(tmp_path)])
    assert out.exit_code == 2, out.output
    assert "nope.jsonl" in out.output and "does not exist" in out.output


def test_status_without_state_says_what_to_run(tmp_path: Path) -> None:
    (tmp_path / "annoflow.toml").write_text('name = "x"\nlabels = ["a", "b"]\n')
    out = runner.invoke(app, ["status", "--config", str(tmp_path)])
    assert out.exit_code == 2 and "annoflow ingest" in out.output


def test_a_configured_prefect_api_wins(tmp_path: Path, monkeypatch) -> None:
    from annoflow_cli.prefect_server import use_project_server

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert use_project_server(tmp_path / ".annoflow", tmp_path / "home", 60) == "http://127.0.0.1:9/api"
    assert not (tmp_path / ".annoflow").exists(), "nothing started, nothing recorded"
