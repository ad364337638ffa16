"""The export flow on a real Prefect API, and the `annoflow export` commands."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from annoflow_cli.main import app
from schemas.config import ProjectConfig
from tasks.export import versions as V
from tasks.export.stage import GateFailedError
from tasks.store import open_store
from tests.export.conftest import iid, set_labels


def test_export_flow_publishes_then_fails_gate(prefect_harness, project: ProjectConfig) -> None:
    from flows.export import export_flow

    r = export_flow(project_dir=project.root, config=project)
    assert r["status"] == "published" and r["version"] == "v0001"
    m = V.read_manifest(project, "v0001")
    assert m["flow_run_id"]  # the Prefect run that produced it
    with open_store(project.db_path) as con:
        assert con.execute("SELECT version FROM export_versions").fetchall() == [("v0001",)]
    set_labels(project, "UPDATE labels SET label = 'eggs' WHERE item_id = ?", [iid(3)])
    with pytest.raises(GateFailedError, match="label_in_set"):
        export_flow(project_dir=project.root, config=project)
    assert V.read_latest(project.export_dir) == "v0001"
    set_labels(project, "UPDATE labels SET label = 'ham' WHERE item_id = ?", [iid(3)])  # was spam
    r2 = export_flow(project_dir=project.root, config=project)
    assert (r2["version"], r2["parent"]) == ("v0002", "v0001")


def test_cli_export_list_show_diff(prefect_harness, project: ProjectConfig) -> None:
    runner = CliRunner()
    cfg_opt = ["--config", project.root]
    res = runner.invoke(app, ["export", *cfg_opt, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["version"] == "v0001"
    res = runner.invoke(app, ["export", *cfg_opt])
    assert res.exit_code == 0 and "no changes since v0001" in res.output
    set_labels(project, "UPDATE labels SET label = 'spam' WHERE item_id = ?", [iid(0)])
    res = runner.invoke(app, ["export", "run", *cfg_opt])
    assert res.exit_code == 0 and "published v0002" in res.output, res.output
    res = runner.invoke(app, ["export", "list", *cfg_opt, "--json"])
    assert [v["version"] for v in json.loads(res.output)] == ["v0001", "v0002"]
    res = runner.invoke(app, ["export", "list", *cfg_opt])
    assert "v0002" in res.output and "latest" in res.output
    res = runner.invoke(app, ["export", "show", "v0001", *cfg_opt])
    assert res.exit_code == 0 and "min_gold_accuracy" in res.output and "data/part-000.parquet" in res.output
    res = runner.invoke(app, ["export", "diff", "v0001", "v0002", *cfg_opt, "--json"])
    d = json.loads(res.output)
    assert d["relabeled"] == 1 and d["relabel_pairs"][0]["from"] == "ham"
    res = runner.invoke(app, ["export", "diff", "1", "2", *cfg_opt])
    assert res.exit_code == 0 and "relabeled" in res.output
    res = runner.invoke(app, ["export", "show", "v0042", *cfg_opt])
    assert res.exit_code == 2 and "no version 'v0042'" in res.output
    res = runner.invoke(app, ["export", "trace", iid(0), *cfg_opt])
    t = json.loads(res.output)
    assert t["exported"]["label"] == "spam" and len(t["votes"]) == 2


def test_cli_gate_failure_exit_code(prefect_harness, project: ProjectConfig) -> None:
    set_labels(project, "UPDATE labels SET confidence = 0.1")
    res = CliRunner().invoke(app, ["export", "--config", project.root])
    assert res.exit_code == 2
    assert "release gate failed" in res.output and "min_mean_confidence" in res.output
    assert V.list_versions(project) == []


def test_cli_accept_shift_is_recorded(prefect_harness, make_project) -> None:
    from tests.export.conftest import seed_state

    cfg = make_project()
    seed_state(cfg, 40)
    runner, opt = CliRunner(), ["--config", cfg.root]
    assert runner.invoke(app, ["export", *opt]).exit_code == 0
    set_labels(cfg, "UPDATE labels SET label = 'spam'")  # 50/50 -> all spam
    res = runner.invoke(app, ["export", *opt])
    assert res.exit_code == 2 and "max_label_shift" in res.output and "--accept-shift" in res.output
    res = runner.invoke(app, ["export", *opt, "--accept-shift", "spam-only channel added"])
    assert res.exit_code == 0, res.output
    assert "accepted: spam-only channel added" in res.output
    shown = json.loads(runner.invoke(app, ["export", "show", "v0002", *opt, "--json"]).output)
    assert shown["shift_accepted"]["reason"] == "spam-only channel added" and shown["shift_accepted"]["reference"] == "v0001"
    res = runner.invoke(app, ["export", *opt, "--accept-shift", ""])
    assert res.exit_code == 2 and "needs a reason" in res.output and "Traceback" not in res.output


def test_cli_export_after_a_machine_only_first_version_needs_no_config_edit(prefect_harness, make_project) -> None:
    """The README's flow: the first pipeline run publishes auto-accepts only; the next export (the nightly
    one runs the same flow) publishes the people's labels without touching annoflow.toml."""
    from tests.export.conftest import seed_state
    from tests.export.test_shift_reference import PEOPLE_LABELED

    cfg = make_project()
    seed_state(cfg, 30, unresolved=70, label_of=lambda i: "spam", method=lambda i: "auto", n_human=lambda i: 0,
               agreement=lambda i: None)
    runner, opt = CliRunner(), ["--config", cfg.root, "--json"]
    first = runner.invoke(app, ["export", *opt])
    assert first.exit_code == 0 and json.loads(first.output)["version"] == "v0001"
    set_labels(cfg, PEOPLE_LABELED)
    res = runner.invoke(app, ["export", *opt])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert (out["status"], out["version"], out["parent"]) == ("published", "v0002", "v0001")
    assert "no representative version" in out["gate"]["checks"]["max_label_shift"]["note"]
