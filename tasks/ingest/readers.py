"""Readers turning each kind of source into a stream of uniform Arrow batches plus explained bad rows.

Tabular readers (JSONL, a JSON array, Parquet here; CSV in `tasks.ingest.csvfile`) yield `RawBatch`es whose table has the columns
`source_row` (1-based line of the row's start; element number in a JSON array; row in Parquet),
`payload` (the text field as a string, null when missing), `problem` (a quarantine reason when the
field is unusable: not text, not UTF-8) and `metadata` (JSON of the remaining columns). Bad rows
found while parsing come back beside the good ones, so one bad line never stops a file.

Each block is parsed by Arrow at C speed; only a block that Arrow rejects is re-read row by row
to find exactly which rows are bad. Media folders are read
by `tasks.ingest.media`.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from tasks.ingest.rows import BadRow, truncate
from tasks.ingest.textfile import TextBlock, UnusableFile, open_regular, text_blocks

__all__ = [
    "RAW_SCHEMA",
    "BadRow",
    "RawBatch",
    "UnusableFile",
    "line_numbers",
    "read_json_array",
    "read_jsonl",
    "read_parquet",
    "starts_with_array",
    "text_column",
    "uniform",
]

RAW_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("payload", pa.string()),
        ("problem", pa.string()),
        ("metadata", pa.string()),
    ]
)

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


@dataclass
class RawBatch:
    table: pa.Table
    bad: list[BadRow] = field(default_factory=list)
    bytes_read: int = 0
    numeric_payloads: int = 0  # rows whose text field held a number or boolean, stored as its text


def text_column(col: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.Array, int]:
    """(payload as strings, problem per row, how many were numbers) for any Arrow column type."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n, t = len(col), col.type
    ok = pa.nulls(n, pa.string())
    if pa.types.is_dictionary(t):
        col, t = col.dictionary_decode(), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return col.cast(pa.string()), ok, 0
    if pa.types.is_null(t):
        return pa.nulls(n, pa.string()), ok, 0
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
        return col.cast(pa.string()), ok, n - col.null_count
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        try:
            return col.cast(pa.string()), ok, 0
        except pa.ArrowInvalid:
            # Only a batch holding bad bytes gets here; find which rows they are.
            good = [v is None or _is_utf8(v) for v in col.to_pylist()]
            payload = pa.array([v.decode() if v is not None and g else None for v, g in zip(col.to_pylist(), good)], pa.string())
            return payload, pa.array([None if g else "invalid_encoding" for g in good], pa.string()), 0
    return pa.nulls(n, pa.string()), pc.if_else(col.is_valid(), "payload_not_text", pa.scalar(None, pa.string())), 0


def _is_utf8(v: bytes) -> bool:
    try:
        v.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def uniform(table: pa.Table, rows: pa.Array, text_field: str) -> RawBatch:
    """Split a parsed table into the payload column and a JSON metadata column, inside DuckDB."""
    n = table.num_rows
    numeric = 0
    if text_field in table.column_names:
        payload, problem, numeric = text_column(table.column(text_field))
        rest = table.drop_columns([text_field])
    else:
        payload, problem = pa.nulls(n, pa.string()), pa.nulls(n, pa.string())
        rest = table
    if rest.num_columns:
        con = duckdb.connect()
        try:
            con.register("rest", rest)
            cols = ", ".join(f'"{c}" := "{c}"' for c in (x.replace('"', '""') for x in rest.column_names))
            metadata = con.sql(f"SELECT to_json(struct_pack({cols}))::VARCHAR AS m FROM rest").to_arrow_table().column("m")
        finally:
            con.close()
    else:
        metadata = pa.nulls(n, pa.string())
    return RawBatch(pa.table([rows, payload, problem, metadata], schema=RAW_SCHEMA), numeric_payloads=numeric)


def line_numbers(block: bytes, first_line: int, n_rows: int) -> np.ndarray:
    """Line number of every row a parser returned: a plain range unless the block has blank lines
    (which the parsers skip), found only then with a scan."""
    n_lines = block.count(b"\n") + (0 if block.endswith(b"\n") or not block else 1)
    if n_rows == n_lines:
        return np.arange(first_line, first_line + n_lines, dtype=np.int64)
    return np.array([first_line + i for i, line in enumerate(block.split(b"\n")) if line.strip()], dtype=np.int64)


def _blank_lines(block: bytes, indexes: list[int]) -> bytes:
    lines = block.split(b"\n")
    for i in indexes:
        lines[i] = b""
    return b"\n".join(lines)


def _too_deep(block: bytes, limit: int) -> list[int]:
    """Lines (0-based) nested deeper than `limit`, found before any parser recurses into them.

    Counting `[`/`{` per line with numpy is an upper bound on the depth; only the rare line over the
    limit is measured exactly, with its strings taken out.
    """
    if block.count(b"[") + block.count(b"{") <= limit:
        return []
    a = np.frombuffer(block, np.uint8)
    openers = np.flatnonzero((a == 0x5B) | (a == 0x7B))
    line_of = np.searchsorted(np.flatnonzero(a == 0x0A), openers)
    suspects = np.flatnonzero(np.bincount(line_of) > limit)
    if not suspects.size:
        return []
    lines = block.split(b"\n")
    deep = []
    for i in suspects.tolist():
        code = np.frombuffer(_JSON_STRING.sub(b'""', lines[i]), np.uint8)
        step = (code == 0x5B).astype(np.int32) + (code == 0x7B) - (code == 0x5D) - (code == 0x7D)
        if step.size and int(np.cumsum(step).max()) > limit:
            deep.append(i)
    return deep


def _from_records(records: list[tuple[int, dict]], text_field: str) -> RawBatch:
    """Slow path for blocks with bad lines: rows are already parsed one by one."""
    rows, payloads, problems, metas = [], [], [], []
    numeric = 0
    for row, obj in records:
        v = obj.pop(text_field, None)
        not_text = isinstance(v, (dict, list))
        numeric += isinstance(v, (int, float))
        rows.append(row)
        payloads.append(None if v is None or not_text else str(v))
        problems.append("payload_not_text" if not_text else None)
        metas.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) if obj else None)
    table = pa.table([pa.array(rows, pa.int64()), pa.array(payloads, pa.string()), pa.array(problems, pa.string()),
                      pa.array(metas, pa.string())], schema=RAW_SCHEMA)
    return RawBatch(table, numeric_payloads=numeric)


def _parse_jsonl_block(tb: TextBlock, text_field: str, max_depth: int) -> RawBatch:
    block, first_line = tb.data, tb.first_line
    bad = list(tb.bad)
    deep = _too_deep(block, max_depth)
    if deep:
        lines = block.split(b"\n")
        bad += [BadRow(first_line + i, "nested_too_deep", f"values nest deeper than ingest.max_json_depth={max_depth}",
                       truncate(lines[i])) for i in deep]
        block = _blank_lines(block, deep)
    if not block.strip():
        return RawBatch(RAW_SCHEMA.empty_table(), bad, tb.bytes_read)
    try:
        table = pajson.read_json(io.BytesIO(block), read_options=pajson.ReadOptions(block_size=max(1 << 20, len(block) + 1)))
        rows = line_numbers(block, first_line, table.num_rows)
        if table.num_rows == len(rows):
            out = uniform(table, pa.array(rows), text_field)
            return RawBatch(out.table, bad, tb.bytes_read, out.numeric_payloads)
    except pa.ArrowInvalid:
        pass
    records: list[tuple[int, dict]] = []
    for i, line in enumerate(block.split(b"\n")):
        if not line.strip():
            continue
        row = first_line + i
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as e:
            bad.append(BadRow(row, "malformed_json", f"not valid JSON: {getattr(e, 'msg', e)}", truncate(line)))
            continue
        if not isinstance(obj, dict):
            bad.append(BadRow(row, "malformed_json", f"expected a JSON object, got {type(obj).__name__}", truncate(line)))
            continue
        records.append((row, obj))
    out = _from_records(records, text_field)
    bad.sort(key=lambda b: b.source_row or 0)
    return RawBatch(out.table, bad, tb.bytes_read, out.numeric_payloads)


def read_jsonl(path: Path, text_field: str, *, encoding: str = "utf-8", max_depth: int = 64,
               block_bytes: int = 16 << 20) -> Iterator[RawBatch]:
    """Stream a JSON-lines file (gzip or not) in blocks cut at line ends; memory is bounded by `block_bytes`."""
    for tb in text_blocks(path, encoding, block_bytes):
        yield _parse_jsonl_block(tb, text_field, max_depth)


def starts_with_array(path: Path) -> bool:
    """Whether a `.json` file holds one JSON array (rather than JSON lines)."""
    import gzip

    with open_regular(path) as f:
        head = f.read(2)
        f.seek(0)
        g = gzip.GzipFile(fileobj=f) if head == b"\x1f\x8b" else f
        try:
            start = g.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        except OSError:
            return False
    return start.startswith(b"[")


def read_json_array(path: Path, text_field: str, *, max_depth: int = 64, block_rows: int = 100_000) -> Iterator[RawBatch]:
    """A `.json` file holding one array of objects: element N is row N.

    DuckDB's JSON reader splits the array into elements without recursing; each element then goes
    through the JSON-lines path (depth limit, bad-row fallback) as one line.
    """
    open_regular(path).close()
    con = duckdb.connect()
    try:
        reader = con.sql(f"SELECT json FROM read_json_objects('{str(path).replace(chr(39), chr(39) * 2)}', format = 'array')"
                         ).to_arrow_reader(block_rows)
        first = 1
        for batch in reader:
            elements = batch.column(0).cast(pa.string())
            lines = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(elements)], pa.int32()), elements.fill_null("null")), "\n")
            data = lines[0].as_py().encode("utf-8") + b"\n"
            yield _parse_jsonl_block(TextBlock(data, first, bytes_read=len(data)), text_field, max_depth)
            first += len(elements)
    except duckdb.Error as e:
        raise UnusableFile(f"{path} is not a readable JSON array ({str(e).splitlines()[0][:200]}); "
                           "fix it, or give JSON lines (one object per line)") from None
    finally:
        con.close()


def read_parquet(path: Path, text_field: str, batch_rows: int = 262_144) -> Iterator[RawBatch]:
    """Stream a Parquet file by record batch; row numbers count from 1 in file order."""
    try:
        with open_regular(path):
            pass
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise UnusableFile(f"{path} is not a readable Parquet file ({e})") from None
    names = pf.schema_arrow.names
    if text_field not in names:
        shown = ", ".join(repr(x) for x in names[:10])
        raise UnusableFile(f"{path}: no column {text_field!r} (found {shown}); set text_field on this source")
    start = 1
    for batch in pf.iter_batches(batch_size=batch_rows):
        table = pa.Table.from_batches([batch])
        rows = pa.array(range(start, start + table.num_rows), pa.int64())
        start += table.num_rows
        out = uniform(table, rows, text_field)
        yield RawBatch(out.table, bytes_read=table.nbytes, numeric_payloads=out.numeric_payloads)
