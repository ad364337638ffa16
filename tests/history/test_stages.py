"""Every stage run, through the flows on a copy of the youtube-spam example, appends its metrics once;
re-recording a run adds nothing, a new run adds rows; the flows publish each run's headline."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from annoflow_cli.main import app
from flows.common import artifact_key
from flows.demo import EXAMPLE, demo_flow
from schemas.config import load_config
from tasks.history.write import append_run
from tasks.store import open_store
from tests.flows.test_reports import latest_artifact

runner = CliRunner()

# What each stage must have measured (scope, metric); a subject-less scope is 'project'.
EXPECTED = {
    "ingest": {("project", "items_total"), ("state", "items")},
    "gold": {("project", "items_total")},
    "prelabel.lfs": {("lf", "votes"), ("lf", "evaluated")},
    "prelabel.route": {("project", "auto_accept_share"), ("project", "model_ece"), ("lf", "learned_accuracy"),
                       ("project", "resolved_share")},
    "prelabel.lf_report": {("lf", "coverage"), ("lf", "gold_accuracy"), ("model", "coverage"), ("model", "gold_accuracy")},
    "dispatch": {("project", "queue_depth"), ("state", "items")},
    "collect": {("project", "judgments"), ("project", "seconds_per_judgment"), ("source", "judgments"),
                ("source", "seconds_per_judgment"), ("project", "cost_total"), ("project", "cost_saved"),
                ("project", "lease_expiries"), ("source", "cost")},
    "consensus": {("project", "alpha"), ("decision", "items"), ("label", "share"), ("label", "resolved"),
                  ("source", "gold_accuracy"), ("source", "learned_accuracy"), ("source", "agreement_with_consensus"),
                  ("agreement", "value"), ("project", "cost_per_label"), ("project", "cost_per_resolved_item")},
    "export": {("label", "share"), ("project", "cost_total"), ("project", "items_total")},
}


def test_every_stage_run_of_the_demo_writes_its_history_once(prefect_harness, tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "youtube-spam"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".annoflow"))
    toml = project / "annoflow.toml"
    toml.write_text(toml.read_text() + '\n[cost]\nper_judgment = 0.04\nper_hour = 9.0\nper_call = {"model:*" = 0.001}\n')
    monkeypatch.delenv("ANNOFLOW_QUEUE_TOKEN", raising=False)
    s = demo_flow(project_dir=str(project))
    assert s["export"]["status"] == "published"
    cfg = load_config(project)
    check_history_of_the_demo(cfg)
    from tasks.consensus.stage import run_consensus_stage

    assert run_consensus_stage(cfg)["unchanged"] is True
    with open_store(cfg.db_path) as con:
        new = con.execute("SELECT count(*), count(DISTINCT run_id) FROM metric_history WHERE measured_at >"
                          " (SELECT max(finished_at) FROM stage_runs WHERE stage = 'export')").fetchone()
    assert new[1] == 1 and new[0] > 10, "an unchanged consensus run still records where the project stands"

    # the flows published each run's headline under the project's key
    head = latest_artifact(artifact_key(cfg, "consensus-headline")).data
    assert "| alpha |" in head and "| judgments |" in head and "| cost_per_label |" in head
    assert "this run" in head
    assert "| judgments |" in latest_artifact(artifact_key(cfg, "collect-headline")).data
    for stage in ("ingest", "prelabel-route", "dispatch", "export"):
        assert "headline numbers" in latest_artifact(artifact_key(cfg, f"{stage}-headline")).data

    # and the CLI exports and shows the same rows
    out = runner.invoke(app, ["history", "export", "--config", str(project), "--out", str(tmp_path / "h.parquet")])
    assert out.exit_code == 0, out.output
    import pyarrow.parquet as pq

    exported = pq.read_table(tmp_path / "h.parquet")
    with open_store(cfg.db_path) as con:
        assert exported.num_rows == con.execute("SELECT count(*) FROM metric_history").fetchone()[0]
    assert runner.invoke(app, ["history", "export", "--config", str(project), "--out", str(tmp_path / "h.csv")]).exit_code == 0
    assert (tmp_path / "h.csv").read_text().splitlines()[0].startswith("run_id,stage,measured_at,scope,subject,metric")
    bad = runner.invoke(app, ["history", "export", "--config", str(project), "--out", str(tmp_path / "h.xlsx")])
    assert bad.exit_code == 2 and "exports as .csv or .parquet" in bad.output
    shown = runner.invoke(app, ["history", "show", "--config", str(project)])
    assert shown.exit_code == 0 and "cost_per_label" in shown.output and "seconds_per_judgment" in shown.output


def check_history_of_the_demo(cfg) -> None:
    """What the demo's stage runs must have left in history (also usable on a kept demo project)."""
    with open_store(cfg.db_path) as con:
        runs = con.execute("SELECT run_id, stage FROM stage_runs").fetchall()
        written = {r: n for r, n in con.execute("SELECT run_id, count(*) FROM metric_history GROUP BY run_id").fetchall()}
        assert {r for r, _ in runs} == set(written), "every stage run wrote rows, and only stage runs did"
        assert con.execute("SELECT count(*) FROM metric_history h JOIN stage_runs r USING (run_id)"
                           " WHERE h.stage <> r.stage OR h.measured_at <> r.finished_at").fetchone() == (0,)
        got = {}
        for stage, scope, metric in con.execute("SELECT DISTINCT stage, scope, metric FROM metric_history").fetchall():
            got.setdefault(stage.split(".model.")[0] if ".model." in stage else stage, set()).add((scope, metric))
        for stage, want in EXPECTED.items():
            assert want <= got.get(stage, set()), (stage, want - got.get(stage, set()))

        # collect stamps its votes: the judgments of all collect runs add up to the human votes stored
        per_run = con.execute("SELECT sum(value) FROM metric_history WHERE stage = 'collect' AND scope = 'project'"
                              " AND metric = 'judgments'").fetchone()[0]
        assert per_run == con.execute("SELECT count(*) FROM votes WHERE source_kind IN ('human', 'adjudicator')").fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM metric_history WHERE metric = 'seconds_per_judgment'"
                           " AND NOT (low <= value AND value <= high AND n > 0)").fetchone() == (0,)
        # the label distribution of each consensus run is a distribution; alpha carries its interval
        shares = con.execute("SELECT run_id, sum(value) FROM metric_history WHERE scope = 'label' AND metric = 'share'"
                             " GROUP BY run_id").fetchall()
        assert shares and all(abs(v - 1) < 1e-9 for _, v in shares)
        alpha = con.execute("SELECT value, low, high, n FROM metric_history WHERE stage = 'consensus' AND scope = 'project'"
                            " AND metric = 'alpha'"
                            " ORDER BY measured_at DESC LIMIT 1").fetchone()
        assert alpha[1] <= alpha[0] <= alpha[2] and alpha[3] > 0
        # cost: human and adjudicator judgments at 0.04 + 9/h plus model calls at 0.001
        total, human = con.execute(
            "SELECT max(value) FILTER (metric = 'cost_total'), max(value) FILTER (metric = 'cost_human')"
            " FROM metric_history WHERE run_id = (SELECT run_id FROM stage_runs WHERE stage = 'export')").fetchone()
        n_h, ms, n_m = con.execute(
            "SELECT count(*) FILTER (source_kind IN ('human', 'adjudicator')),"
            " sum(duration_ms) FILTER (source_kind IN ('human', 'adjudicator')),"
            " count(*) FILTER (source_kind = 'model') FROM votes").fetchone()
        assert abs(human - (0.04 * n_h + 9.0 * ms / 3_600_000)) < 1e-6
        assert abs(total - human - 0.001 * n_m) < 1e-6 and n_m > 0

        # re-recording a run adds nothing; a new run adds its own rows
        before = con.execute("SELECT count(*) FROM metric_history").fetchone()[0]
        for run_id, stage in runs:
            assert append_run(con, cfg, run_id, stage, {}) == 0
        assert con.execute("SELECT count(*) FROM metric_history").fetchone()[0] == before
