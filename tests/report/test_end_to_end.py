"""The dashboard over history the stages wrote themselves (tests/report/end_to_end.py): every view has
data, the behaviour rules' flags and pauses reach the leaderboard, the app's page draws every plot in
Chromium and its pause button records the action, and `annoflow report --out` draws every plot offline.
A spans project's own agreement measure (span F1) shows as its own series."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from annoflow_cli.main import app as cli
from annotation_app.process import start_app
from schemas.config import ProjectConfig
from tasks.dispatch.access import admin_token
from tasks.report.data import dashboard_data
from tasks.store import open_store
from tests.browser.test_dashboard import (
    _assert_all_drawn,
    _require_browser,
    open_dashboard,
)
from tests.report.end_to_end import PLANTED, demo_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(prefect_harness, tmp_path_factory, monkeypatch_module) -> ProjectConfig:
    return demo_project(tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    mp.delenv("ANNOFLOW_QUEUE_TOKEN", raising=False)
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def data(project: ProjectConfig) -> dict:
    with open_store(project.db_path, read_only=True) as con:
        return dashboard_data(con, project=project.name)


def test_every_view_has_data_from_the_stages_own_history(data: dict) -> None:
    assert len(data["throughput"]["per_run"]["y"]) >= 3 and sum(data["throughput"]["per_day"]["y"]) > 0
    queue = {s["name"]: s for s in data["queue"]}
    assert {"queue_depth", "lease_expiries"} <= set(queue)
    times = {r["source"]: r for r in data["time_per_item"]}  # the demo's simulated crowd answers at once (0 s)
    assert all(times[f"human:replay-steady-{i}"]["median"] > 5 * times["human:replay-fast"]["median"] > 0 for i in range(3))
    assert len(data["accuracy"]) >= 3 and all(s["low"] and len(s["y"]) >= 2 for s in data["accuracy"])
    agreement = {s["name"]: s for s in data["agreement"]}
    assert agreement["alpha"]["low"] and len(agreement["alpha"]["y"]) >= 3  # the project's alpha, with its interval
    assert {"alpha · ham", "alpha · spam"} <= set(agreement) and "pairs.mean_kappa" in agreement
    assert data["audit"]["share"] and data["audit"]["precision"], data["audit"]
    cost = {s["name"]: s for s in data["cost"]}
    assert cost["cost_per_label"]["y"][-1] > 0 and cost["cost_per_resolved_item"]["y"][-1] > 0
    drift = data["drift"]
    assert drift["versions"] == ["v0001", "v0002"] and drift["tvd"][1] is not None
    assert sum(drift["shares"][k][1] for k in drift["labels"]) == pytest.approx(1, abs=1e-3)
    assert data["funnel"]["total"] > 1000 and "resolved" in data["funnel"]["states"]
    h = data["headline"]
    assert h["agreement"]["name"] == "alpha" and h["cost_per_label"]["value"] > 0 and h["annotators"] >= 8


def test_leaderboard_shows_the_behaviour_rules_flags_and_pauses(data: dict) -> None:
    board = {r["source"]: r for r in data["leaderboard"]}
    for source, rule in PLANTED.items():
        r = board[source]
        assert r["flags"] >= 1 and rule in r["flag_rules"] and r["paused"], r
        assert r["last_action"] in ("pause", "flag") and r["last_reason"]
    steady = [r for s, r in board.items() if s.startswith("human:replay-steady")]
    assert steady and not any(r["paused"] or r["flags"] for r in steady)
    assert board["human:sim-001"]["cost"] > 0 and board["human:sim-001"]["gold_accuracy"] is not None
    assert data["headline"]["flagged"] >= 2 and data["headline"]["paused"] >= 2


def test_the_apps_dashboard_draws_every_plot_and_pauses_from_the_leaderboard(project: ProjectConfig, tmp_path: Path) -> None:
    _require_browser()
    token = admin_token(project)
    app = start_app(project.state_dir / "app.sqlite", token, log=tmp_path / "app.log", project_dbs={project.name: project.db_path})
    try:
        seen = open_dashboard(tmp_path, f"{app.url}/admin/dashboard?project={project.name}#token={token}",
                              sort_by="gold_accuracy", pause="human:sim-001")
        actions = httpx.get(f"{app.url}/api/projects/{project.name}/annotator-actions",
                            headers={"Authorization": f"Bearer {token}"}).json()["actions"]
    finally:
        app.stop()
    _assert_all_drawn(seen)
    assert seen["pause"]["before"] == "active" and seen["pause"]["after"] == "paused"
    assert seen["pause"]["buttons"] == ["resume"] and "checked from the dashboard" in seen["pause"]["last_action"]
    assert [(a["annotator_id"], a["action"], a["reason"], a["actor"]) for a in actions] == [
        ("sim-001", "pause", "checked from the dashboard", "dashboard")]
    flags = " ".join(seen["flag_cells"])
    assert "too_fast" in flags and "straight_lining" in flags


def test_the_report_draws_every_plot_offline(project: ProjectConfig, tmp_path: Path) -> None:
    _require_browser()
    out = tmp_path / "report.html"
    run = CliRunner().invoke(cli, ["report", "--config", str(project.root), "--out", str(out)])
    assert run.exit_code == 0, run.output
    seen = open_dashboard(tmp_path, out.as_uri(), offline=True)
    _assert_all_drawn(seen)
    assert seen["blocked"] == [] and seen["buttons"] == 0


def test_a_spans_projects_own_agreement_measure_is_a_series_of_its_own(tmp_path: Path, fresh_app, monkeypatch) -> None:
    from tasks.collect import collect
    from tasks.consensus.stage import run_consensus_stage
    from tests.collect.spans_project import simulate_wnut_crowd, wnut_project
    from tests.conftest import ADMIN_TOKEN

    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", ADMIN_TOKEN)
    cfg, _ = wnut_project(tmp_path / "ner", "ner-dashboard", fresh_app.url, 30, cost={"per_judgment": 0.1})
    simulate_wnut_crowd(tmp_path / "ner", 0.8)
    collect(cfg)
    run_consensus_stage(cfg)
    with open_store(cfg.db_path, read_only=True) as con:
        d = dashboard_data(con, project=cfg.name)
    agreement = {s["name"]: s for s in d["agreement"]}
    assert {"span_f1.strict", "span_f1.overlap"} <= set(agreement), list(agreement)
    assert 0 < agreement["span_f1.strict"]["y"][-1] <= agreement["span_f1.overlap"]["y"][-1] <= 1
    assert d["cost"] and d["throughput"]["per_run"] and d["funnel"]["total"] == 30
    _require_browser()
    out = tmp_path / "report.html"
    run = CliRunner().invoke(cli, ["report", "--config", str(cfg.root), "--out", str(out)])
    assert run.exit_code == 0, run.output
    seen = open_dashboard(tmp_path, out.as_uri(), offline=True)
    assert not seen["errors"] and seen["blocked"] == []
    drawn = {d["label"] for d in seen["charts"]["agreement"]["datasets"]}
    assert {"span_f1.strict", "span_f1.overlap"} <= drawn
