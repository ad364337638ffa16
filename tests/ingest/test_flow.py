"""The ingest flow on the bundled YouTube example, through a real Prefect API."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.ingest import ingest_flow
from schemas.config import load_config
from tasks.store import open_store

EXAMPLE = Path(__file__).parents[2] / "examples" / "youtube-spam"


@pytest.fixture
def youtube(tmp_path: Path) -> Path:
    dst = tmp_path / "youtube-spam"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns(".annoflow"))
    return dst


def test_ingest_flow_stores_items_gold_and_reports(prefect_harness, youtube: Path) -> None:
    from prefect.client.orchestration import get_client

    result = ingest_flow(project_dir=str(youtube))
    src = result["sources"][0]
    assert src["rows"] == src["inserted"] + src["duplicates"] + src["quarantined"]
    assert result["gold"]["gold_stored"] == result["gold"]["gold_rows"] > 0
    cfg = load_config(youtube)
    with open_store(cfg.db_path) as con:
        n_items, n_distinct = con.execute("SELECT count(*), count(DISTINCT payload) FROM items").fetchone()
        assert n_items == n_distinct == src["inserted"]
        assert con.execute("SELECT count(*) FROM stage_runs WHERE stage = 'ingest' AND status = 'completed'").fetchone()[0] == 1
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts()
        keys = {a.key for a in artifact}
    assert "youtube-spam-ingest-report" in keys  # artifact keys are per project

    again = ingest_flow(project_dir=str(youtube))
    assert again["sources"][0]["inserted"] == 0


def test_config_passed_as_parameter_is_used(prefect_harness, youtube: Path) -> None:
    cfg = load_config(youtube).model_copy(update={"name": "renamed", "root": "."})
    result = ingest_flow(project_dir=str(youtube), config=cfg)
    assert result["sources"][0]["inserted"] > 0
    with open_store(Path(result["database"])) as con:
        assert con.execute("SELECT name FROM projects").fetchall() == [("renamed",)]
