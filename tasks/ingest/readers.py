"""Readers turning each kind of source into a stream of uniform Arrow batches plus explained bad rows.

Tabular readers (JSONL, CSV, Parquet) yield `RawBatch`es whose table has the columns
`source_row` (1-based line/row), `payload` (the text field as a string, null when missing),
`payload_bad` (true when the field holds something that is not text) and `metadata` (JSON of the
remaining columns). Bad rows found while parsing come back beside the good ones, so one bad line
never stops a file. Media folders are read by `tasks.ingest.media`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

__all__ = ["RawBatch", "BadRow", "read_jsonl", "read_csv", "read_parquet", "RAW_SCHEMA"]

RAW_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("payload", pa.string()),
        ("payload_bad", pa.bool_()),
        ("metadata", pa.string()),
    ]
)

_RAW_TRUNCATE = 500


@dataclass(frozen=True)
class BadRow:
    source_row: int | None
    reason: str
    detail: str
    raw: str | None = None
    field: str | None = None


@dataclass
class RawBatch:
    table: pa.Table
    bad: list[BadRow] = field(default_factory=list)
    bytes_read: int = 0


def _truncate(raw: bytes | str) -> str:
    s = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return s if len(s) <= _RAW_TRUNCATE else s[:_RAW_TRUNCATE] + "…"


def _uniform(table: pa.Table, rows: pa.Array, text_field: str) -> pa.Table:
    """Split a parsed table into the payload column and a JSON metadata column, inside DuckDB."""
    n = table.num_rows
    if text_field in table.column_names:
        col = table.column(text_field)
        t = col.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            payload, bad = col.cast(pa.string()), pa.array([False] * n)
        elif pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
            payload, bad = col.cast(pa.string()), pa.array([False] * n)
        elif pa.types.is_null(t):
            payload, bad = pa.nulls(n, pa.string()), pa.array([False] * n)
        else:
            payload, bad = pa.nulls(n, pa.string()), col.is_valid()
        rest = table.drop_columns([text_field])
    else:
        payload, bad = pa.nulls(n, pa.string()), pa.array([False] * n)
        rest = table
    if rest.num_columns:
        con = duckdb.connect()
        try:
            con.register("rest", rest)
            cols = ", ".join(f'"{c}" := "{c}"' for c in (x.replace('"', '""') for x in rest.column_names))
            meta = con.sql(f"SELECT to_json(struct_pack({cols}))::VARCHAR AS m FROM rest").to_arrow_table()
            metadata = meta.column("m")
        finally:
            con.close()
    else:
        metadata = pa.nulls(n, pa.string())
    return pa.table([rows, payload, bad, metadata], schema=RAW_SCHEMA)


def _from_records(records: list[tuple[int, dict]], text_field: str) -> pa.Table:
    """Slow path for blocks with bad lines: rows are already parsed one by one."""
    rows, payloads, bads, metas = [], [], [], []
    for row, obj in records:
        v = obj.pop(text_field, None)
        bad = isinstance(v, (dict, list))
        rows.append(row)
        payloads.append(None if v is None or bad else str(v))
        bads.append(bad)
        metas.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) if obj else None)
    return pa.table([pa.array(rows, pa.int64()), pa.array(payloads, pa.string()), pa.array(bads), pa.array(metas, pa.string())], schema=RAW_SCHEMA)


def _line_numbers(block: bytes, first_line: int, n_rows: int) -> np.ndarray:
    """Line number of every row the JSON reader returned: a plain range unless the block has blank
    lines (which the reader skips), found only then with a scan."""
    n_lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
    if n_rows == n_lines:
        return np.arange(first_line, first_line + n_lines, dtype=np.int64)
    return np.array([first_line + i for i, line in enumerate(block.split(b"\n")) if line.strip()], dtype=np.int64)


def _parse_jsonl_block(block: bytes, first_line: int, text_field: str) -> RawBatch:
    try:
        table = pajson.read_json(io.BytesIO(block), read_options=pajson.ReadOptions(block_size=max(1 << 20, len(block) + 1)))
        rows = _line_numbers(block, first_line, table.num_rows)
        if table.num_rows == len(rows):
            return RawBatch(_uniform(table, pa.array(rows), text_field), bytes_read=len(block))
    except pa.ArrowInvalid:
        pass
    records: list[tuple[int, dict]] = []
    bad: list[BadRow] = []
    for i, line in enumerate(block.split(b"\n")):
        if not line.strip():
            continue
        row = first_line + i
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            bad.append(BadRow(row, "malformed_json", f"not valid JSON: {e.msg if hasattr(e, 'msg') else e}", _truncate(line)))
            continue
        if not isinstance(obj, dict):
            bad.append(BadRow(row, "malformed_json", f"expected a JSON object, got {type(obj).__name__}", _truncate(line)))
            continue
        records.append((row, obj))
    return RawBatch(_from_records(records, text_field), bad, len(block))


def read_jsonl(path: Path, text_field: str, block_bytes: int = 16 << 20) -> Iterator[RawBatch]:
    """Stream a JSON-lines file in blocks cut at line ends; memory is bounded by `block_bytes`."""
    line = 1
    leftover = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(block_bytes)
            data = leftover + chunk
            if not chunk:
                if data.strip():
                    yield _parse_jsonl_block(data, line, text_field)
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                leftover = data
                continue
            block, leftover = data[:cut], data[cut:]
            yield _parse_jsonl_block(block, line, text_field)
            line += block.count(b"\n")


def read_csv(path: Path, text_field: str, block_bytes: int = 16 << 20) -> Iterator[RawBatch]:
    """Stream a CSV file with a header row; rows with the wrong number of fields are reported, not fatal."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        header = next(csv.reader(f), None)
    if not header:
        yield RawBatch(RAW_SCHEMA.empty_table(), [BadRow(None, "malformed_csv", "file is empty or has no header row")])
        return
    bad: list[BadRow] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append(BadRow(row.number, "malformed_csv", f"expected {row.expected_columns} fields, found {row.actual_columns}", _truncate(row.text)))
        return "skip"

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=block_bytes, use_threads=False),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header}, strings_can_be_null=False),
    )
    next_row = 2  # row 1 is the header
    for batch in reader:
        table = pa.Table.from_batches([batch])
        # The reader numbers only the bad rows; good rows are counted, stepping over the bad ones.
        skipped = np.array([b.source_row for b in bad if b.source_row is not None and b.source_row >= next_row], dtype=np.int64)
        candidates = np.arange(next_row, next_row + table.num_rows + len(skipped), dtype=np.int64)
        rows = candidates[~np.isin(candidates, skipped)][: table.num_rows]
        next_row = int(rows[-1]) + 1 if len(rows) else next_row + len(skipped)
        out = _uniform(table, pa.array(rows, pa.int64()), text_field)
        yield RawBatch(out, list(bad))
        bad.clear()
    if bad:
        yield RawBatch(RAW_SCHEMA.empty_table(), list(bad))


def read_parquet(path: Path, text_field: str, batch_rows: int = 262_144) -> Iterator[RawBatch]:
    """Stream a Parquet file by record batch; row numbers count from 1 in file order."""
    pf = pq.ParquetFile(path)
    start = 1
    for batch in pf.iter_batches(batch_size=batch_rows):
        table = pa.Table.from_batches([batch])
        rows = pa.array(range(start, start + table.num_rows), pa.int64())
        start += table.num_rows
        yield RawBatch(_uniform(table, rows, text_field), bytes_read=table.nbytes)
