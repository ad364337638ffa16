from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flows.common import artifact_key
from flows.prelabel import prelabel_flow
from tasks.store import open_store
from tests.prelabel.test_stage import GOOD_LFS, LOOSE


def test_prelabel_flow_writes_state_and_artifacts(prefect_harness, text_project) -> None:
    cfg = text_project(lfs=GOOD_LFS, gold_n=8, prelabel={**LOOSE, "models": [{"name": "tfidf", "min_train_labels": 4}]})
    result = prelabel_flow(project_dir=cfg.root, config=cfg)
    assert [x["name"] for x in result["labeling_functions"]] == ["kw_check", "kw_song"]
    assert not any(x["error"] for x in result["labeling_functions"])
    r = result["routing"]
    assert r["auto"] + r["audit"] + r["human"] == r["routable"] == 8
    with open_store(cfg.db_path) as con:
        assert con.execute("SELECT count(*) FROM prelabels").fetchall()[0][0] == 16
        assert con.execute("SELECT count(*) FROM votes WHERE source_kind = 'model'").fetchall()[0][0] == 16
        runs = dict(con.execute("SELECT stage, status FROM stage_runs").fetchall())
        assert runs["prelabel.lfs"] == "completed" and runs["prelabel.route"] == "completed"
    from prefect.client.orchestration import get_client

    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    want = {artifact_key(cfg, r) for r in ("prelabel-report", "prelabel-lf-summary", "prelabel-calibration")}
    with get_client(sync_client=True) as client:  # by key: the session's server holds every test's artifacts
        keys = {a.key for a in client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=sorted(want))))}
    assert want <= keys


def _state(cfg) -> tuple:
    with open_store(cfg.db_path) as con:
        votes = con.execute("SELECT source_id, count(*) FROM votes GROUP BY ALL ORDER BY 1").fetchall()
        prelabels = con.execute("SELECT count(*) FROM prelabels").fetchall()[0][0]
        states = con.execute("SELECT state, count(*) FROM items GROUP BY ALL ORDER BY 1").fetchall()
    return votes, prelabels, states


@pytest.mark.parametrize(("bad", "says"), [
    ({"name": "typo_rule", "sql": "CASE WHEN payloadd LIKE '%a%' THEN 'spam' END"}, "SQL does not compile"),
    ({"name": "eggs_rule", "sql": "CASE WHEN payload LIKE '%a%' THEN 'eggs' END"}, "returned label 'eggs'"),
])
def test_cli_bad_labeling_function_exits_2_and_changes_nothing(prefect_harness, text_project, bad, says) -> None:
    """The README's promise: a user mistake is one line naming it, exit code 2, nothing stored changes."""
    from annoflow_cli.main import app

    cfg = text_project(lfs=GOOD_LFS, gold_n=8, prelabel=LOOSE)
    runner = CliRunner()
    assert runner.invoke(app, ["prelabel", "--config", cfg.root]).exit_code == 0
    before = _state(cfg)
    broken = text_project(lfs=GOOD_LFS + [bad], gold_n=8, prelabel=LOOSE)  # the same folder, one rule added
    res = runner.invoke(app, ["prelabel", "--config", broken.root])
    assert res.exit_code == 2, res.output
    error = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and f"labeling function {bad['name']!r}" in error[0] and says in error[0]
    assert "Traceback" not in res.output
    assert _state(broken) == before
    with open_store(cfg.db_path) as con:
        status = con.execute("SELECT status FROM stage_runs WHERE stage = 'prelabel.lfs' ORDER BY started_at DESC LIMIT 1").fetchall()
    assert status == [("failed",)]


def test_cli_lf_report(text_project) -> None:
    from annoflow_cli.main import app
    from tasks.prelabel.stage import apply_labeling_functions

    cfg = text_project(lfs=GOOD_LFS, gold_n=8)
    apply_labeling_functions(cfg)
    out = CliRunner().invoke(app, ["lf-report", "--config", cfg.root, "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [r["source_id"] for r in rows] == ["lf:kw_check", "lf:kw_song"]
