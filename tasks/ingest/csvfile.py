"""CSV files: Arrow parses each clean block; a block with a broken quote or a bad row is re-read line by line.

The header row names the columns and, unless `delimiter` is set, tells the separator. Rows are
numbered by the line they start on. A quoted value may span lines, so a missing closing quote could
swallow the rest of the file or merge rows; the line-by-line reader bounds that to the line that
opened the quote (see `_csv_slow`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tasks.ingest.readers import RawBatch, line_numbers, uniform
from tasks.ingest.rows import BadRow, truncate
from tasks.ingest.textfile import TextBlock, UnusableFile, text_blocks

__all__ = ["read_csv"]

_DELIMITERS = (",", ";", "\t", "|")
# A quoted value may span lines, but the reader stops looking for its closing quote after this many.
_MAX_VALUE_LINES = 1_000


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
                    err = f"a quote opened on this line is not closed before line {first_line + j}, which reads as a row of its own"
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
            rows = line_numbers(data, start, table.num_rows)
            carry = b""
        else:
            table, row_list, slow_bad, carry, carry_line = _csv_slow(data, start, names, delim, tb.final)
            rows, bad = np.array(row_list, dtype=np.int64), sorted(bad + slow_bad, key=lambda b: b.source_row or 0)
        out = uniform(table, pa.array(rows, pa.int64()), text_field)
        # CSV has no types: a text column holding only numbers is most often the wrong column.
        numeric = pc.sum(pc.match_substring_regex(out.table.column("payload"), r"^\s*[-+]?\d+([.,]\d+)?\s*$")).as_py() or 0
        yield RawBatch(out.table, bad, tb.bytes_read, numeric)


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
