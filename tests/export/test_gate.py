"""The release gate: a passing export, and every expectation failing at least once (publishing nothing)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.config import ProjectConfig
from tasks.export import versions as V
from tasks.export.gate import (
    collect_facts,
    render_html,
    rows_frame,
    run_gate,
    total_variation,
)
from tasks.export.rows import export_rows_sql
from tasks.export.stage import GateFailedError, export
from tasks.store import open_store
from tests.export.conftest import iid, seed_state, set_labels


def test_gate_passes_and_publishes(project: ProjectConfig) -> None:
    r = export(project)
    assert r.status == "published" and r.version == "v0001"
    checks = r.gate["checks"]
    assert all(c["success"] is not False for c in checks.values())
    assert checks["min_gold_accuracy"]["success"] is True and checks["min_gold_accuracy"]["observed"] == 1.0
    assert checks["max_label_shift"]["success"] is None  # no parent yet: skipped, and said so
    html = Path(r.report).read_text()
    assert "PASSED" in html and "min_gold_accuracy" in html
    assert V.read_latest(project.export_dir) == "v0001"


def _expect_failure(cfg: ProjectConfig, check: str) -> GateFailedError:
    before = V.read_latest(cfg.export_dir)
    versions_before = [m["version"] for m in V.list_versions(cfg)]
    with pytest.raises(GateFailedError) as ei:
        export(cfg)
    e = ei.value
    failed = {n for n, c in e.result["gate"]["checks"].items() if c["success"] is False}
    assert check in failed, failed
    assert check in str(e)
    # nothing published: same versions, same latest, no hidden candidate left behind
    assert [m["version"] for m in V.list_versions(cfg)] == versions_before
    assert V.read_latest(cfg.export_dir) == before
    assert not list(cfg.export_dir.glob(".tmp-*"))
    report = Path(e.result["report"])
    assert report.is_file() and ".rejected" in report.parts and "FAILED" in report.read_text()
    with open_store(cfg.db_path) as con:
        assert con.execute("SELECT status FROM stage_runs WHERE stage = 'export' ORDER BY finished_at DESC LIMIT 1").fetchone()[0] == "failed"
    return e


@pytest.mark.parametrize(
    "check, change",
    [
        ("item_once", "INSERT INTO labels SELECT * FROM labels WHERE item_id = '{i0}'"),
        ("label_not_null", "UPDATE labels SET label = NULL WHERE item_id = '{i0}'"),
        ("label_in_set", "UPDATE labels SET label = 'eggs' WHERE item_id = '{i0}'"),
        ("confidence_in_range", "UPDATE labels SET confidence = 1.5 WHERE item_id = '{i0}'"),
        ("method_known", "UPDATE labels SET method = 'vibes' WHERE item_id = '{i0}'"),
        ("agreement_in_range", "UPDATE labels SET agreement = 2.0 WHERE item_id = '{i0}'"),
        ("content_present", "UPDATE labels SET item_id = 'no-such-item' WHERE item_id = '{i0}'"),
        ("not_null_kind", "UPDATE labels SET item_id = 'no-such-item' WHERE item_id = '{i0}'"),
        ("min_mean_confidence", "UPDATE labels SET confidence = 0.5"),
        ("min_agreement", "UPDATE labels SET agreement = -0.3"),
        ("min_gold_accuracy", (
            "UPDATE labels SET label = CASE label WHEN 'ham' THEN 'spam' ELSE 'ham' END WHERE item_id IN (SELECT item_id FROM gold)"
        )),
    ],
)
def test_gate_fails_on_state(project: ProjectConfig, check: str, change: str) -> None:
    set_labels(project, change.format(i0=iid(0)))
    e = _expect_failure(project, check)
    c = e.result["gate"]["checks"][check]
    if check == "item_once":
        assert c["unexpected_count"] == 1
        assert iid(0) in str(e)  # the example row names the duplicated item


def test_gate_fails_on_label_shift(make_project) -> None:
    cfg = make_project(validation={"max_label_shift": 0.1})
    seed_state(cfg, 40)
    assert export(cfg).status == "published"
    set_labels(cfg, "UPDATE labels SET label = 'spam'")  # 50/50 -> all spam: TV distance 0.5
    e = _expect_failure(cfg, "max_label_shift")
    assert e.result["gate"]["checks"]["max_label_shift"]["observed"] == pytest.approx(0.5)


def test_multi_label_unknown_label_fails(make_project) -> None:
    cfg = make_project(task_kind="multi_label", labels=["a", "b", "c"])
    seed_state(cfg, 20, label_of=lambda i: ["c", "a"] if i else ["a", "zzz"])
    e = _expect_failure(cfg, "label_in_set")
    assert "zzz" in str(e)


def _gate_on(cfg: ProjectConfig, tmp: Path, table: pa.Table):
    """Run facts + GE gate on a hand-made candidate file (for violations the state schema cannot hold)."""
    f = tmp / "candidate.parquet"
    pq.write_table(table, f)
    with open_store(cfg.db_path) as con:
        facts = collect_facts(con, [f], cfg, None)
        frame, mode = rows_frame(con, [f], cfg, facts)
    return run_gate(frame, mode, facts, cfg)


def _candidate(cfg: ProjectConfig) -> pa.Table:
    with open_store(cfg.db_path) as con:
        return con.sql(export_rows_sql(cfg)).to_arrow_table()


@pytest.mark.parametrize("column, check", [
    ("item_id", "item_id_not_null"),
    ("confidence", "confidence_not_null"),
    ("method", "not_null_method"),
    ("n_votes", "not_null_n_votes"),
    ("n_human", "not_null_n_human"),
    ("sources", "not_null_sources"),
    ("split", "not_null_split"),
])
def test_gate_fails_on_nulls(make_project, tmp_path: Path, column: str, check: str) -> None:
    cfg = make_project(export={"splits": {"train": 0.5, "test": 0.5}})
    seed_state(cfg, 20)
    t = _candidate(cfg)
    i = t.column_names.index(column)
    values = t.column(column).to_pylist()
    values[3] = None
    g = _gate_on(cfg, tmp_path, t.set_column(i, t.schema.field(i), pa.array(values, t.schema.field(i).type)))
    failed = {c.name for c in g.failed}
    assert check in failed
    assert next(c for c in g.checks if c.name == check).unexpected_count == 1


def test_gate_fails_on_missing_and_extra_items(project: ProjectConfig, tmp_path: Path) -> None:
    t = _candidate(project)
    g = _gate_on(project, tmp_path, t.slice(1))
    assert {c.name for c in g.failed} == {"resolved_items_present"}
    assert g.facts["missing_items"] == 1
    extra = t.slice(0, 1).set_column(0, "item_id", pa.array(["not-resolved"]))
    g = _gate_on(project, tmp_path, pa.concat_tables([t, extra]))
    assert {c.name for c in g.failed} == {"only_resolved_items"}
    assert "not-resolved" in render_html(g, "x")


def test_large_candidate_uses_sample_plus_violators(make_project, tmp_path: Path) -> None:
    cfg = make_project(validation={"sample_rows": 1000})
    seed_state(cfg, 3000)
    set_labels(cfg, f"UPDATE labels SET label = 'eggs' WHERE item_id = '{iid(2999)}'")
    t = _candidate(cfg)
    g = _gate_on(cfg, tmp_path, t)
    assert "sample" in g.mode
    assert {c.name for c in g.failed} == {"label_in_set"}  # found although the sample may not hold that row
    assert next(c for c in g.failed).examples[0]["item_id"] == iid(2999)


def test_total_variation() -> None:
    assert total_variation({"a": 5, "b": 5}, {"a": 5, "b": 5}) == 0
    assert total_variation({"a": 10}, {"b": 3}) == 1
    assert total_variation({"a": 3, "b": 1}, {"a": 1, "b": 1}) == pytest.approx(0.25)
