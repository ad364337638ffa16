"""The export facet is enough for a structured kind: a spans-like facet written here (answers as a list of
`{start, end, label}` structs) drives the real gate (DuckDB counts + Great Expectations), the label
distribution, an aggregate check against the reference version, an extra format and the diff, with
no change to tasks/export. The real span facet lives in tasks/kinds/spans/export.py."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tasks.kinds
from tasks.export.diff import diff_files
from tasks.export.gate import collect_facts, rows_frame, run_gate
from tasks.export.rows import export_rows_sql
from tasks.export.writers import parquet_list_sql, reader_connection, writers_for
from tasks.kinds.protocol import FactCheck, GoldMatch, RowCheck
from tasks.store import open_store
from tests.export.conftest import seed_state

SPAN = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())])


def _write_lines(src: list[Path], out_dir: Path, cfg) -> list[Path]:
    """A toy kind-only format: one `item_id<TAB>start<TAB>end<TAB>label` line per span."""
    target = out_dir / "formats" / "spans.tsv"
    target.parent.mkdir(parents=True, exist_ok=True)
    with reader_connection() as rc:
        rows = rc.execute(f"SELECT item_id, s.start, s.end, s.label FROM (SELECT item_id, unnest(spans) AS s"
                          f" FROM {parquet_list_sql(src)})").fetchall()
    target.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    return [target]


class _ToySpanExport:
    column = "spans"

    def select_sql(self, cfg, alias: str) -> str:
        return f"""from_json({alias}.answer, '[{{"start": "INTEGER", "end": "INTEGER", "label": "VARCHAR"}}]') AS spans"""

    def arrow_type(self, cfg) -> pa.DataType:
        return pa.list_(SPAN)

    def formats(self, cfg) -> Mapping[str, Any]:
        return {"spans_tsv": _write_lines}

    def _bad(self) -> str:
        return 'list_filter(spans, lambda s: s.start < 0 OR s."end" > length(payload) OR s.start >= s."end")'

    def row_checks(self, cfg) -> list[RowCheck]:
        return [RowCheck("span_inside_text", "every span lies inside its text with start < end",
                         f"len({self._bad()}) > 0", "ExpectColumnValuesToBeNull", {"column": "bad_spans"},
                         frame_columns={"bad_spans": f"CASE WHEN len({self._bad()}) > 0 THEN to_json({self._bad()})::VARCHAR END"})]

    def fact_checks(self, con, src: str, cfg, reference) -> list[FactCheck]:
        ref = (reference or {}).get("label_distribution")
        if not ref:
            return [FactCheck("max_span_count_change", "spans per type change by at most half", None, max_value=0.5)]
        now = dict(con.execute(f"SELECT l, count(*) FROM ({self.distribution_sql(cfg, src)}) GROUP BY l").fetchall())
        change = max(abs(now.get(k, 0) - v) / v for k, v in ref.items())
        return [FactCheck("max_span_count_change", "spans per type change by at most half", change, max_value=0.5,
                          threshold=0.5, examples=[{"label": k, "reference": v, "candidate": now.get(k, 0)} for k, v in ref.items()])]

    def distribution_sql(self, cfg, src: str) -> str:
        return f"SELECT s.label AS l FROM (SELECT unnest(spans) AS s FROM {src})"

    def gold_match(self, cfg) -> GoldMatch:
        return GoldMatch("g.answer IS NOT NULL", "to_json(c.spans)::VARCHAR = g.answer::VARCHAR", "c.spans", "g.answer")

    def diff_key_sql(self) -> str:
        return "to_json(spans)::VARCHAR"

    def diff_units_sql(self) -> None:
        return None


@pytest.fixture
def span_project(make_project, monkeypatch: pytest.MonkeyPatch):
    """A project with resolved items whose kind is the toy span kind (answers only in the candidate file)."""
    cfg = make_project(labels=["person", "place"])
    seed_state(cfg, 4, unresolved=0)
    real = tasks.kinds.get(cfg.task_kind.value)
    toy = dataclasses.replace(real, name="toy_spans", export=_ToySpanExport())
    monkeypatch.setattr(tasks.kinds, "get", lambda name: toy)
    return cfg


def _candidate(cfg, tmp: Path, spans: list[list[dict]], name: str = "candidate.parquet") -> Path:
    """The export rows as rows.py selects them, after storing `spans` (in item_id order) as the answers."""
    with open_store(cfg.db_path) as con:
        ids = [r[0] for r in con.execute("SELECT item_id FROM labels ORDER BY item_id").fetchall()]
        for item_id, answer in zip(ids, spans, strict=True):
            con.execute("UPDATE labels SET answer = ? WHERE item_id = ?", [json.dumps(answer), item_id])
        rows = con.sql(export_rows_sql(cfg)).to_arrow_table()
    assert rows.schema.field("spans").type == pa.list_(SPAN) and "label" not in rows.column_names
    f = tmp / name
    pq.write_table(rows, f)
    return f


def _span(a: int, b: int, label: str) -> dict:
    return {"start": a, "end": b, "label": label}


def test_gate_runs_the_kinds_row_and_fact_checks(span_project, tmp_path: Path) -> None:
    cfg = span_project  # payloads are "text number i" (13 characters)
    spans = [[_span(0, 4, "person")], [_span(5, 11, "place"), _span(9, 40, "person")], [], [_span(3, 3, "place")]]
    f = _candidate(cfg, tmp_path, spans)
    reference = {"version": "v0001", "label_distribution": {"person": 1, "place": 6}}
    with open_store(cfg.db_path) as con:
        facts = collect_facts(con, [f], cfg, None, reference)
        frame, mode = rows_frame(con, [f], cfg, facts)
    assert facts["label_distribution"] == {"person": 2, "place": 2}
    assert facts["violations"]["span_inside_text"] == 2
    assert facts["max_span_count_change"] == pytest.approx(1.0)  # person 1 -> 2
    assert frame["spans"].map(type).eq(str).all()  # nested answers reach GE as JSON text
    result = run_gate(frame, mode, facts, cfg)
    checks = {c.name: c for c in result.checks}
    assert checks["span_inside_text"].success is False and checks["span_inside_text"].unexpected_count == 2
    assert sorted(len(r["spans"]) for r in checks["span_inside_text"].examples) == [1, 2]
    assert checks["max_span_count_change"].success is False and checks["max_span_count_change"].observed == pytest.approx(1.0)
    assert checks["item_once"].success is True and checks["resolved_items_present"].success is True
    assert not result.success


def test_gate_passes_good_spans_and_skips_what_it_cannot_measure(span_project, tmp_path: Path) -> None:
    cfg = span_project
    f = _candidate(cfg, tmp_path, [[_span(0, 4, "person")], [_span(5, 11, "place")], [], []])
    with open_store(cfg.db_path) as con:
        facts = collect_facts(con, [f], cfg, None, None)
        frame, mode = rows_frame(con, [f], cfg, facts)
    result = run_gate(frame, mode, facts, cfg)
    checks = {c.name: c for c in result.checks}
    assert checks["span_inside_text"].success is True
    assert checks["max_span_count_change"].success is None and "nothing to measure" in checks["max_span_count_change"].note
    assert result.success


def test_kind_formats_and_diff(span_project, tmp_path: Path) -> None:
    cfg = span_project
    a = _candidate(cfg, tmp_path, [[_span(0, 4, "person")], [], [], []], "a.parquet")
    b = _candidate(cfg, tmp_path, [[_span(0, 4, "place")], [], [], []], "b.parquet")
    # the config's format list is validated by schemas/config.py; here the kind's format is set directly
    cfg = cfg.model_copy(update={"export": cfg.export.model_copy(update={"formats": ["parquet", "spans_tsv"]})})
    (name, writer), = writers_for(cfg)
    assert name == "spans_tsv"
    (out,) = writer([b], tmp_path / "v", cfg)
    assert out.read_text().split("\t")[1:] == ["0", "4", "place\n"]
    d = diff_files([a], [b], kinds=("toy_spans", "toy_spans"))
    assert d["relabeled"] == 1 and json.loads(d["relabel_pairs"][0]["to"]) == [_span(0, 4, "place")]
