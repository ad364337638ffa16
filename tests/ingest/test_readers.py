"""Readers and the pure normalisation core on hand-written inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.ingest.csvfile import read_csv
from tasks.ingest.normalise import normalise_text
from tasks.ingest.readers import read_jsonl, read_parquet


def _rows(batches):
    tables = [b.table for b in batches]
    bad = [x for b in batches for x in b.bad]
    return pa.concat_tables(tables).to_pylist(), bad


def test_jsonl_keeps_line_numbers_and_reports_bad_lines(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_text('{"text": "one", "lang": "en"}\n\n{broken\n[1, 2]\n{"text": "four", "lang": 3}\n')
    rows, bad = _rows(list(read_jsonl(f, "text")))
    assert [(r["source_row"], r["payload"]) for r in rows] == [(1, "one"), (5, "four")]
    assert json.loads(rows[0]["metadata"]) == {"lang": "en"}
    assert [(b.source_row, b.reason) for b in bad] == [(3, "malformed_json"), (4, "malformed_json")]
    assert "expected a JSON object" in bad[1].detail


def test_jsonl_blank_lines_without_errors_keep_numbering(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_text('{"text": "a"}\n\n\n{"text": "b"}')  # no trailing newline either
    rows, bad = _rows(list(read_jsonl(f, "text")))
    assert [(r["source_row"], r["payload"]) for r in rows] == [(1, "a"), (4, "b")]
    assert bad == []


def test_jsonl_small_blocks_cut_at_line_ends(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_text("".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(1, 501)))
    batches = list(read_jsonl(f, "text", block_bytes=1000))
    assert len(batches) > 5
    rows, _ = _rows(batches)
    assert [r["source_row"] for r in rows] == list(range(1, 501))
    assert all(r["payload"] == f"row {r['source_row']}" for r in rows)


def test_csv_wrong_field_count_is_reported_with_its_line(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text('text,video\nhello,1\n"two\nlines",2\nbad,row,extra\nlast,3\n')
    rows, bad = _rows(list(read_csv(f, "text")))
    assert [(r["source_row"], r["payload"]) for r in rows] == [(2, "hello"), (3, "two\nlines"), (6, "last")]
    assert json.loads(rows[0]["metadata"]) == {"video": "1"}
    assert [(b.source_row, b.reason) for b in bad] == [(5, "malformed_csv")]


def test_parquet_rows_and_metadata(tmp_path: Path) -> None:
    f = tmp_path / "a.parquet"
    pq.write_table(pa.table({"body": ["x", None], "n": [1, 2]}), f)
    rows, _ = _rows(list(read_parquet(f, "body")))
    assert [(r["source_row"], r["payload"]) for r in rows] == [(1, "x"), (2, None)]


def test_normalise_text_ids_and_reasons() -> None:
    raw = pa.table(
        {
            "source_row": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
            "payload": ["Hello", "  Hello  ", "", None, "x" * 20, "Cafe\u0301"],
            "problem": pa.array([None] * 6, pa.string()),
            "metadata": [None] * 6,
        }
    )
    items, rejects = normalise_text(raw, project="p", source="s.jsonl", text_field="text", max_bytes=10)
    ids = items.column("item_id").to_pylist()
    assert items.column("source_row").to_pylist() == [1, 2, 6]
    assert ids[0] == ids[1], "trimmed duplicates share an id"
    assert items.column("payload").to_pylist()[2] == "Caf\u00e9", "NFC-normalised"
    assert dict(zip(rejects.column("source_row").to_pylist(), rejects.column("reason").to_pylist())) == {
        3: "empty_payload",
        4: "missing_payload",
        5: "payload_too_large",
    }
    other, _ = normalise_text(raw, project="other", source="s.jsonl", text_field="text", max_bytes=10)
    assert other.column("item_id").to_pylist()[0] != ids[0], "ids are scoped to the project"
