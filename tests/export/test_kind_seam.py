"""Export asks the project's kind (`kind_of(cfg).export`) and never branches on it.

Checks (that no export file names a kind is tests/kinds/test_seam.py's): the choices facet's pieces on hand-made rows (SQL run by a
real DuckDB, GE through the real gate); the Parquet schema of choices exports; evaluation of both choices
kinds against a truth file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.expectations import row_checks
from tasks.evaluate import evaluate_labels
from tasks.export import versions as V
from tasks.export.stage import export
from tasks.kinds import get, kind_of
from tasks.store import open_store
from tests.export.conftest import iid, seed_state


@pytest.mark.parametrize("name, column, arrow_type", [
    ("single_label", "label", pa.string()), ("multi_label", "labels", pa.list_(pa.string())),
])
def test_parquet_schema_of_choices_exports_is_unchanged(make_project, name: str, column: str, arrow_type) -> None:
    cfg = make_project(task_kind=name, labels=["a", "b", "c"])
    seed_state(cfg, 6, label_of=(lambda i: ["c", "a"]) if column == "labels" else (lambda i: "b"))
    r = export(cfg)
    schema = pq.read_schema(next((Path(r.path) / "data").glob("*.parquet")))
    assert schema.names == ["item_id", "kind", "payload", "uri", column, "confidence", "method", "n_votes", "n_human",
                            "agreement", "sources"]
    assert schema.field(column).type == arrow_type == kind_of(cfg).export.arrow_type(cfg)
    assert [schema.field(c).type for c in ("confidence", "n_votes", "agreement", "sources")] == [
        pa.float64(), pa.int32(), pa.float64(), pa.list_(pa.string())]
    m = V.read_manifest(cfg, r.version)
    assert (m["task_kind"], m["label_column"]) == (name, column)
    if column == "labels":  # sets are exported sorted
        assert V.load_version(cfg).to_table().column("labels").to_pylist()[0] == ["a", "c"]


def _rows(column: str, values: list) -> pa.Table:
    typ = pa.list_(pa.string()) if column == "labels" else pa.string()
    return pa.table({"item_id": [str(i) for i in range(len(values))], column: pa.array(values, type=typ)})


@pytest.mark.parametrize("name, values, violating", [
    ("single_label", ["a", "zzz", None, "b"], {"label_not_null": ["2"], "label_in_set": ["1"]}),
    ("multi_label", [["a"], ["b", "zzz"], None, [None]], {"label_not_null": ["2"], "label_in_set": ["1", "3"]}),
])
def test_row_check_predicates(make_project, name: str, values: list, violating: dict) -> None:
    cfg = make_project(task_kind=name, labels=["a", "b", "c"])
    facet = kind_of(cfg).export
    rows = _rows(facet.column, values)
    checks = facet.row_checks(cfg)
    assert [c.name for c in checks] == ["label_not_null", "label_in_set"]
    # the GE suite holds the kind's checks under the same names, after the item checks
    assert [c.name for c in row_checks(cfg, has_split=False)][:4] == ["item_once", "item_id_not_null", *violating]
    with duckdb.connect() as con:
        con.register("rows", rows)
        for c in checks:
            got = [r[0] for r in con.execute(f"SELECT item_id FROM rows WHERE {c.violation} ORDER BY 1").fetchall()]
            assert got == violating[c.name], c.name
        unknown = [c.frame_columns for c in checks if c.frame_columns]
        if name == "multi_label":  # GE reads a set's unknown labels from an extra frame column
            (cols,) = unknown
            shown = con.execute(f"SELECT {cols['unknown_labels']} FROM rows ORDER BY item_id").fetchall()
            assert [s[0] for s in shown[:2]] == [None, "zzz"]
        else:
            assert unknown == []


def test_distribution_gold_and_diff_key(make_project) -> None:
    multi = get("multi_label").export
    single = get("single_label").export
    cfg = make_project(task_kind="multi_label", labels=["a", "b", "c"])
    with duckdb.connect() as con:
        con.register("src", _rows("labels", [["b", "a"], ["a"], []]))
        dist = con.execute(f"SELECT l, count(*) FROM ({multi.distribution_sql(cfg, 'src')}) GROUP BY 1 ORDER BY 1").fetchall()
        assert dist == [("a", 2), ("b", 1)]
        assert con.execute(f"SELECT {multi.diff_key_sql()} FROM src ORDER BY 1").fetchall() == [("",), ("a",), ("a|b",)]
        gm = multi.gold_match(cfg)
        con.register("c", _rows("labels", [["b", "a"], ["a"]]))
        con.register("g", _rows("labels", [["a", "b"], ["a", "c"]]))
        got = con.execute(f"SELECT c.item_id, {gm.correct} FROM c JOIN g USING (item_id) WHERE {gm.present} ORDER BY 1").fetchall()
        assert got == [("0", True), ("1", False)]
        con.register("c1", _rows("label", ["a", "b"]))
        assert con.execute(f"SELECT {single.diff_key_sql()} FROM c1 ORDER BY 1").fetchall() == [("a",), ("b",)]


def _truth(tmp_path: Path, con, rows: list[tuple[int, str]]) -> Path:
    """A truth file keyed by a metadata field (the fixture's item ids are not content ids)."""
    con.execute("UPDATE items SET metadata = json_object('key', 'k' || (source_row - 1)::VARCHAR)")
    p = tmp_path / "truth.csv"
    lines = ["key,label"] + ['k{},"{}"'.format(i, lab.replace('"', '""')) for i, lab in rows]
    p.write_text("\n".join(lines) + "\n")
    return p


def test_evaluate_single_label_accuracy_by_method(make_project, tmp_path: Path) -> None:
    cfg = make_project()  # ham / spam; item i is labelled labels[i % 2]
    seed_state(cfg, 6, unresolved=1)
    with open_store(cfg.db_path) as con:
        con.execute("UPDATE labels SET method = 'gold' WHERE item_id = ?", [iid(0)])
        truth = _truth(tmp_path, con, [(0, "ham"), (1, "spam"), (2, "spam"), (3, "ham"), (6, "ham")])
        q = evaluate_labels(con, cfg, truth, key_field="key")
    assert q["metric"] == "accuracy"
    assert (q["items_with_truth"], q["resolved_with_truth"], q["accuracy"]) == (5, 4, 0.5)
    assert q["by_method"] == {"dawid_skene": {"items": 3, "accuracy": round(1 / 3, 4)}, "gold": {"items": 1, "accuracy": 1.0},
                              "(unresolved)": {"items": 1, "accuracy": 0.0}}


def test_evaluate_multi_label_exact_sets(make_project, tmp_path: Path) -> None:
    cfg = make_project(task_kind="multi_label", labels=["a", "b", "c"])
    seed_state(cfg, 4, label_of=lambda i: ["c", "a"] if i % 2 else ["b"])
    with open_store(cfg.db_path) as con:
        truth = _truth(tmp_path, con, [(0, "b"), (1, '["a", "c"]'), (2, "b|c"), (3, " c | a ")])
        q = evaluate_labels(con, cfg, truth, key_field="key")
    assert (q["metric"], q["resolved_with_truth"], q["accuracy"]) == ("accuracy", 4, 0.75)
