"""Readers turning each kind of source into a stream of uniform Arrow batches plus explained bad rows.

Tabular readers (JSONL, a JSON array, CSV, Parquet) yield `RawBatch`es whose table has the columns
`source_row` (1-based line of the row's start; element number in a JSON array; row in Parquet),
`payload` (the text field as a string, null when missing), `problem` (a quarantine reason when the
field is unusable: not text, not UTF-8) and `metadata` (JSON of the remaining columns). Bad rows
found while parsing come back beside the good ones, so one bad line never stops a file.

Each block is parsed by Arrow at C speed; only a block that Arrow rejects, or whose quoted CSV
values span lines, is re-read row by row to find exactly which rows are bad. Media folders are read
by `tasks.ingest.media`.
"""

from __future__ import annotations

import csv
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
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from tasks.ingest.rows import BadRow, truncate
from tasks.ingest.textfile import TextBlock, UnusableFile, open_regular, text_blocks

__all__ = [
    "RAW_SCHEMA",
    "BadRow",
    "RawBatch",
    "UnusableFile",
    "read_csv",
    "read_json_array",
    "read_jsonl",
    "read_parquet",
    "starts_with_array",
    "text_column",
]

RAW_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("payload", pa.string()),
        ("problem", pa.string()),
        ("metadata", pa.string()),
    ]
)

_DELIMITERS = (",", ";", "\t", "|")
# A quoted CSV value may span lines, but the reader stops looking for its closing quote after this many.
_MAX_VALUE_LINES = 1_000
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


def _uniform(table: pa.Table, rows: pa.Array, text_field: str) -> RawBatch:
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


def _line_numbers(block: bytes, first_line: int, n_rows: int) -> np.ndarray:
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
        rows = _line_numbers(block, first_line, table.num_rows)
        if table.num_rows == len(rows):
            out = _uniform(table, pa.array(rows), text_field)
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


def _csv_fields(lines: list[str], delimiter: str) -> tuple[list[str] | None, str | None]:
    """One CSV record from these physical lines, or why not ('open' when a quote is still open)."""
    try:
        recs = list(csv.reader([x + "\n" for x in lines], delimiter=delimiter, strict=True))
    except csv.Error as e:
        return None, "open" if "unexpected end of data" in str(e) else str(e)
    if len(recs) != 1:
        return None, f"{len(recs)} records"
    return recs[0], None


def _csv_header(first: TextBlock, path: Path, text_field: str, delimiter: str | None) -> tuple[list[str], str, int]:
    """(column names, delimiter, bytes of the header line) — the file is refused when the header is unusable."""
    end = first.data.find(b"\n")
    line = (first.data if end < 0 else first.data[:end]).decode("utf-8").rstrip("\r")
    if not line.strip():
        raise UnusableFile(f"{path} is empty or starts with a blank line; a CSV needs a header row naming its columns")
    choices = [delimiter] if delimiter else list(_DELIMITERS)
    parsed = []
    for d in choices:
        names, _ = _csv_fields([line], d)
        if names is not None:
            parsed.append((text_field not in [x.strip() for x in names], -len(names), d, names))
    if not parsed:
        raise UnusableFile(f"{path}: the header row cannot be parsed as CSV")
    _, _, delim, names = min(parsed)
    names = [x.strip() for x in names]
    seen: dict[str, int] = {}
    for i, name in enumerate(names, 1):
        if name in seen:
            raise UnusableFile(f"{path}: the header names column {name!r} twice (columns {seen[name]} and {i}); rename one")
        seen[name] = i
    if text_field not in names:
        shown = ", ".join(repr(x) for x in names[:10])
        raise UnusableFile(
            f"{path}: no column {text_field!r} in the header (found {shown}); set text_field on this source to the column "
            "holding the text" + ("" if delimiter else ", or delimiter if the file uses another separator")
        )
    return names, delim, (len(first.data) if end < 0 else end + 1)


def _csv_slow(data: bytes, first_line: int, names: list[str], delim: str, final: bool) -> tuple[pa.Table, list[int], list[BadRow], bytes, int]:
    """Row-by-row reading of one block, bounding a broken quote to its own line.

    A quoted value may span lines, but a quote still open on a line that would be a complete row by
    itself (or one never closed, or closed with text after it) marks the opening line as bad, and
    reading resumes on the next line. Lines still open at the end of a block that is not the last
    are carried over to the next block. Returns (table, rows, bad, carry, carry's first line).
    """
    lines = data.decode("utf-8").split("\n")
    if data.endswith(b"\n"):
        lines.pop()
    lines = [x.rstrip("\r") for x in lines]
    n = len(names)
    out: list[list[str]] = []
    rows: list[int] = []
    bad: list[BadRow] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        fields, err = _csv_fields(lines[i : i + 1], delim)
        span = 1
        if err == "open":
            fields, err = None, "a quote opened on this line is never closed"
            for j in range(i + 1, min(len(lines), i + _MAX_VALUE_LINES)):
                joined, jerr = _csv_fields(lines[i : j + 1], delim)
                if jerr is None:
                    fields, err, span = joined, None, j - i + 1
                    break
                if jerr != "open":
                    err = f"a quote opened on this line is closed wrongly further down ({jerr})"
                    break
                alone, aerr = _csv_fields(lines[j : j + 1], delim)
                if n >= 2 and aerr is None and len(alone) == n:
                    err = f"a quote opened on this line is still open at line {first_line + j}, which is a row of its own"
                    break
            else:
                if not final and len(lines) - i < _MAX_VALUE_LINES:
                    carry = "\n".join(lines[i:]).encode("utf-8") + b"\n"
                    return _csv_table(out, names), rows, bad, carry, first_line + i
        if err is None and len(fields) != n:
            err = f"expected {n} fields, found {len(fields)}"
        if err is None:
            out.append(fields)
            rows.append(first_line + i)
            i += span
        else:
            bad.append(BadRow(first_line + i, "malformed_csv", err, truncate(lines[i])))
            i += 1
    return _csv_table(out, names), rows, bad, b"", first_line + len(lines)


def _csv_table(records: list[list[str]], names: list[str]) -> pa.Table:
    return pa.table({f"c{k}": pa.array([r[k] for r in records], pa.string()) for k in range(len(names))}).rename_columns(names)


def read_csv(path: Path, text_field: str, *, delimiter: str | None = None, encoding: str = "utf-8",
             block_bytes: int = 16 << 20) -> Iterator[RawBatch]:
    """Stream a CSV file with a header row (delimiter sniffed from it unless given); bad rows cost only themselves."""
    blocks = text_blocks(path, encoding, block_bytes)
    first = next(blocks)
    names, delim, header_len = _csv_header(first, path, text_field, delimiter)
    first = TextBlock(first.data[header_len:], first.first_line + 1, first.bad, first.bytes_read, first.final)
    carry, carry_line = b"", None
    for tb in _chain(first, blocks):
        data = carry + tb.data
        start = carry_line if carry else tb.first_line
        bad = list(tb.bad)
        table = _csv_fast(data, names, delim) if not carry else None
        if table is not None:
            rows = _line_numbers(data, start, table.num_rows)
            carry = b""
        else:
            table, row_list, slow_bad, carry, carry_line = _csv_slow(data, start, names, delim, tb.final)
            rows, bad = np.array(row_list, dtype=np.int64), sorted(bad + slow_bad, key=lambda b: b.source_row or 0)
        out = _uniform(table, pa.array(rows, pa.int64()), text_field)
        yield RawBatch(out.table, bad, tb.bytes_read, out.numeric_payloads)


def _chain(first: TextBlock, rest: Iterator[TextBlock]) -> Iterator[TextBlock]:
    yield first
    yield from rest


def _csv_fast(data: bytes, names: list[str], delim: str) -> pa.Table | None:
    """Arrow's parse of a clean block; None when any row is suspect (wrong field count, a value spanning lines)."""
    if not data.strip():
        return pa.table({c: pa.array([], pa.string()) for c in names})
    flagged = []
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=[f"c{k}" for k in range(len(names))], use_threads=False,
                                           block_size=len(data) + 1),
            parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values=True,
                                             invalid_row_handler=lambda row: flagged.append(row) or "skip"),
            convert_options=pacsv.ConvertOptions(column_types={f"c{k}": pa.string() for k in range(len(names))},
                                                 strings_can_be_null=False),
        )
    except pa.ArrowInvalid:
        return None
    if flagged:
        return None
    if b'"' in data and any(pc.any(pc.match_substring(col, "\n")).as_py() for col in table.columns):
        return None
    return table.rename_columns(names)


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
        out = _uniform(table, rows, text_field)
        yield RawBatch(out.table, bytes_read=table.nbytes, numeric_payloads=out.numeric_payloads)
