"""Segments answers as flat numpy arrays (one row per region, pointing at its answer) and back to JSON.

Consolidation, gold scoring, agreement and evaluation work on every region of every answer at once; this is
the one place the JSON form is parsed (in DuckDB, vectorised) and written back (with each final region's
confidence and the sources that drew it, as extra keys next to the canonical ones). Regions are handed to
the shared region code (`tasks.kinds.regions`) as one-axis corners: (start_s, end_s).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.errors import ConsensusError

from .intervals import DECIMALS

__all__ = ["CONFIDENCE_DIGITS", "FlatSegments", "flatten", "segments_json"]

_STR = pa.string()
_JSON = '[{"start_s": "DOUBLE", "end_s": "DOUBLE", "label": "VARCHAR", "text": "VARCHAR"}]'
CONFIDENCE_DIGITS = 3
"""Region confidences are stored rounded: a re-run that moves one by less than this does not rewrite the label."""


@dataclass
class FlatSegments:
    """Answers (`answers`: their other columns, one row each) and their regions, one row per region."""

    answers: pa.Table
    row: np.ndarray
    """Per region: the row of its answer in `answers`."""
    corners: np.ndarray
    """Per region: (start_s, end_s)."""
    label: pa.Array
    text: pa.Array


def flatten(table: pa.Table, column: str = "answer") -> FlatSegments:
    """`table` (ids plus the JSON `column`; null rows must be filtered out first) as flat regions.

    Stored answers were validated when they came in; one that still is not a list of regions with finite
    times, a positive length and a label stops the run naming its item and source."""
    plain = pa.table({c: table[c].combine_chunks().cast(_STR) for c in table.column_names})
    with duckdb.connect() as con:
        con.register("_t", plain)
        try:
            regions = con.sql(f"SELECT from_json({column}, '{_JSON}') AS r FROM _t").to_arrow_table()["r"].combine_chunks()
        except duckdb.Error:
            regions = None
    bad_row = _first_unfit(regions, pc.is_valid(plain[column])) if regions is not None else _first_unparsed(plain, column)
    if bad_row is not None:
        where = plain.slice(int(bad_row), 1).to_pylist()[0]
        raise ConsensusError(
            f"item {where.get('item_id')!r}, source {where.get('source_id', 'gold')!r}: answer "
            f"{str(where.get(column))[:80]!r} is not a list of regions "
            '[{"start_s": <seconds>, "end_s": <seconds, after start_s>, "label": "<class>"}, ...]')
    flat = pc.list_flatten(regions)
    row = pc.list_parent_indices(regions).to_numpy(zero_copy_only=False).astype(np.int64)
    corners = np.stack([flat.field(k).to_numpy(zero_copy_only=False) for k in ("start_s", "end_s")], axis=1) \
        if len(flat) else np.zeros((0, 2))
    return FlatSegments(plain.drop_columns([column]), row, corners.astype(np.float64), flat.field("label").cast(_STR),
                        flat.field("text").cast(_STR))


def _first_unparsed(plain: pa.Table, column: str) -> int:
    """The first row DuckDB cannot read as a list of objects (the slow path, only when parsing failed)."""
    for k, text in enumerate(plain[column].to_pylist()):
        with duckdb.connect() as con:
            try:
                con.execute(f"SELECT from_json(?::JSON, '{_JSON}')", [text]).fetchall()
            except duckdb.Error:
                return k
    return 0


def _first_unfit(regions: pa.Array, given: pa.Array) -> int | None:
    """The first row whose answer is not a list of whole regions (an element that is not an object, a region
    without a field, a time that is not finite, an end not after its start), or None."""
    unfit = pc.and_(given, pc.is_null(regions)).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(regions)
    if len(flat):
        parent = pc.list_parent_indices(regions).to_numpy(zero_copy_only=False)
        bad = pc.is_null(flat).to_numpy(zero_copy_only=False) | pc.is_null(flat.field("label")).to_numpy(zero_copy_only=False)
        s = pc.fill_null(flat.field("start_s"), np.nan).to_numpy(zero_copy_only=False)
        e = pc.fill_null(flat.field("end_s"), np.nan).to_numpy(zero_copy_only=False)
        bad |= ~np.isfinite(s) | ~np.isfinite(e) | (e <= s)
        unfit[parent[bad]] = True
    hit = np.flatnonzero(unfit)
    return int(hit[0]) if len(hit) else None


def segments_json(n_rows: int, row: np.ndarray, corners: np.ndarray, label: pa.Array, text: pa.Array,
                  confidence: np.ndarray, sources: pa.Array, present: np.ndarray) -> pa.Array:
    """One JSON answer per row: its regions (canonical keys, rounded, sorted by start_s, end_s, label), each with
    `confidence` and `sources` (and `text` where it has one); `[]` for a row without regions, null where
    `present` is false. One DuckDB query over the flat regions, no per-row loop."""
    corners = np.round(np.asarray(corners, np.float64).reshape(-1, 2), DECIMALS)
    kept = pa.table({"r": pa.array(np.asarray(row, np.int64)), "s": corners[:, 0], "e": corners[:, 1], "label": label,
                     "text": text, "confidence": np.round(np.asarray(confidence, np.float64), CONFIDENCE_DIGITS),
                     "sources": sources})
    rows = pa.table({"r": pa.array(np.arange(n_rows, dtype=np.int64)), "present": pa.array(np.asarray(present, bool))})
    with duckdb.connect() as con:
        con.register("_k", kept)
        con.register("_r", rows)
        # `text` is written only where a region has one.
        return con.sql("""
            WITH b AS (SELECT r, list(CASE WHEN text IS NULL
                THEN to_json({'start_s': s, 'end_s': e, 'label': label, 'confidence': confidence, 'sources': sources})
                ELSE to_json({'start_s': s, 'end_s': e, 'label': label, 'confidence': confidence, 'sources': sources,
                              'text': text}) END ORDER BY s, e, label) AS regions
                       FROM _k GROUP BY r)
            SELECT CASE WHEN _r.present THEN to_json(coalesce(b.regions, []::JSON[]))::VARCHAR END AS a
            FROM _r LEFT JOIN b USING (r) ORDER BY _r.r
        """).to_arrow_table()["a"].combine_chunks()
