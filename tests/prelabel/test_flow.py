from __future__ import annotations

import json

from typer.testing import CliRunner

from flows.common import artifact_key
from flows.prelabel import prelabel_flow
from tasks.store import open_store
from tests.prelabel.test_stage import GOOD_LFS, LOOSE


def test_prelabel_flow_writes_state_and_artifacts(prefect_harness, text_project) -> None:
    cfg = text_project(lfs=GOOD_LFS + [{"name": "bad", "sql": "CASE WHEN payload LIKE '%a%' THEN 'eggs' END"}], gold_n=8,
                       prelabel={**LOOSE, "models": [{"name": "tfidf", "min_train_labels": 4}]})
    result = prelabel_flow(project_dir=cfg.root, config=cfg)
    assert [x["name"] for x in result["labeling_functions"] if x["error"]] == ["bad"]
    r = result["routing"]
    assert r["auto"] + r["audit"] + r["human"] == r["routable"] == 8
    with open_store(cfg.db_path) as con:
        assert con.execute("SELECT count(*) FROM prelabels").fetchall()[0][0] == 16
        assert con.execute("SELECT count(*) FROM votes WHERE source_kind = 'model'").fetchall()[0][0] == 16
        runs = dict(con.execute("SELECT stage, status FROM stage_runs").fetchall())
        assert runs["prelabel.lfs"] == "completed_with_errors" and runs["prelabel.route"] == "completed"
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        keys = {a.key for a in client.read_artifacts()}
    assert {artifact_key(cfg, r) for r in ("prelabel-report", "prelabel-lf-summary", "prelabel-calibration")} <= keys


def test_cli_lf_report(text_project) -> None:
    from annoflow_cli.main import app
    from tasks.prelabel.stage import apply_labeling_functions

    cfg = text_project(lfs=GOOD_LFS, gold_n=8)
    apply_labeling_functions(cfg)
    out = CliRunner().invoke(app, ["lf-report", "--config", cfg.root, "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [r["source_id"] for r in rows] == ["lf:kw_check", "lf:kw_song"]
