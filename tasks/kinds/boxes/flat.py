"""Box answers as flat numpy arrays (one row per box, pointing at its answer) and back to JSON.

Consolidation, gold scoring and agreement work on every box of every answer at once; this is the
one place the JSON form is parsed (in DuckDB, vectorised) and written back (with each final box's
confidence and the sources that drew it, as extra keys next to the canonical ones).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.errors import ConsensusError

from .geometry import DECIMALS

__all__ = ["FlatBoxes", "boxes_json", "flatten"]

_STR = pa.string()
_BOX_JSON = '[{"x": "DOUBLE", "y": "DOUBLE", "w": "DOUBLE", "h": "DOUBLE", "label": "VARCHAR"}]'
CONFIDENCE_DIGITS = 3
"""Box confidences are stored rounded: a re-run that moves one by less than this does not rewrite the label."""


@dataclass
class FlatBoxes:
    """Answers (`answers`: their other columns, one row each) and their boxes, one row per box."""

    answers: pa.Table
    row: np.ndarray
    """Per box: the row of its answer in `answers`."""
    xywh: np.ndarray
    label: pa.Array

    @property
    def n_boxes(self) -> np.ndarray:
        """Per answer: how many boxes it holds."""
        return np.bincount(self.row, minlength=self.answers.num_rows)


def flatten(table: pa.Table, column: str = "answer") -> FlatBoxes:
    """`table` (ids plus the JSON `column`; null rows must be filtered out first) as flat boxes.

    Stored answers were validated when they came in; one that still is not a list of boxes with
    finite coordinates and a positive size stops the run naming its item and source.
    """
    plain = pa.table({c: table[c].combine_chunks().cast(_STR) for c in table.column_names})
    parse = f"from_json({column}, '{_BOX_JSON}')"
    with duckdb.connect() as con:
        con.register("_t", plain)
        try:  # one pass when every answer parses (the usual case); the checks below run on the arrays
            boxes = con.sql(f"SELECT {parse} AS b FROM _t").to_arrow_table()["b"].combine_chunks()
        except duckdb.Error:
            boxes = None
        bad_row = None if boxes is None else _first_unfit(boxes, pc.is_valid(plain[column]))
        if boxes is None:
            unfit = (f"CASE WHEN NOT json_valid({column}) THEN true WHEN json_type({column}::JSON) <> 'ARRAY' THEN true"
                     f" ELSE len(list_filter({column}::JSON[], lambda e: json_type(e) <> 'OBJECT')) > 0 END")
            bad_row = con.sql(f"SELECT row_number() OVER () - 1 AS r, {column} IS NOT NULL AND ({unfit}) AS bad "
                              "FROM _t QUALIFY bad LIMIT 1").fetchall()[0][0]
    if bad_row is not None:
        where = plain.slice(int(bad_row), 1).to_pylist()[0]
        raise ConsensusError(
            f"item {where.get('item_id')!r}, source {where.get('source_id', 'gold')!r}: answer "
            f"{str(where.get(column))[:80]!r} is not a list of boxes "
            '[{"x": <num>, "y": <num>, "w": <num > 0>, "h": <num > 0>, "label": "<class>"}, ...]')
    flat = pc.list_flatten(boxes)
    row = pc.list_parent_indices(boxes).to_numpy(zero_copy_only=False).astype(np.int64)
    xywh = np.stack([flat.field(k).to_numpy(zero_copy_only=False) for k in ("x", "y", "w", "h")], axis=1) \
        if len(flat) else np.zeros((0, 4))
    return FlatBoxes(plain.drop_columns([column]), row, xywh.astype(np.float64), flat.field("label").cast(_STR))


def _first_unfit(boxes: pa.Array, given: pa.Array) -> int | None:
    """The first row whose answer is not a list of whole boxes (an object, a box without a field, a
    coordinate that is not a finite number, a size that is not positive), or None."""
    unfit = pc.and_(given, pc.is_null(boxes)).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(boxes)
    if len(flat):
        parent = pc.list_parent_indices(boxes).to_numpy(zero_copy_only=False)
        bad = pc.is_null(flat).to_numpy(zero_copy_only=False) | pc.is_null(flat.field("label")).to_numpy(zero_copy_only=False)
        for k in ("x", "y", "w", "h"):
            v = pc.fill_null(flat.field(k), np.nan).to_numpy(zero_copy_only=False)
            bad |= ~np.isfinite(v) | ((v <= 0) if k in ("w", "h") else False)
        unfit[parent[bad]] = True
    hit = np.flatnonzero(unfit)
    return int(hit[0]) if len(hit) else None


def boxes_json(n_rows: int, row: np.ndarray, xywh: np.ndarray, label: pa.Array, confidence: np.ndarray,
               expected_iou: np.ndarray, sources: pa.Array, present: np.ndarray) -> pa.Array:
    """One JSON answer per row: its boxes (canonical keys, rounded, sorted by label, x, y, w, h) each with
    `confidence`, `iou` (its expected IoU with the object) and `sources`; `[]` for a row without boxes, null where `present` is false.

    One DuckDB query over the flat boxes, no per-row loop."""
    xywh = np.round(np.asarray(xywh, np.float64).reshape(-1, 4), DECIMALS)
    kept = pa.table({"r": pa.array(np.asarray(row, np.int64)), "x": xywh[:, 0], "y": xywh[:, 1], "w": xywh[:, 2],
                     "h": xywh[:, 3], "label": label, "confidence": np.round(np.asarray(confidence, np.float64),
                                                                              CONFIDENCE_DIGITS),
                     "iou": np.round(np.asarray(expected_iou, np.float64), CONFIDENCE_DIGITS), "sources": sources})
    rows = pa.table({"r": pa.array(np.arange(n_rows, dtype=np.int64)), "present": pa.array(np.asarray(present, bool))})
    with duckdb.connect() as con:
        con.register("_k", kept)
        con.register("_r", rows)
        return con.sql("""
            WITH b AS (SELECT r, list({'x': x, 'y': y, 'w': w, 'h': h, 'label': label, 'confidence': confidence,
                                       'iou': iou, 'sources': sources} ORDER BY label, x, y, w, h) AS boxes
                       FROM _k GROUP BY r)
            SELECT CASE WHEN _r.present THEN to_json(coalesce(b.boxes, []))::VARCHAR END AS a
            FROM _r LEFT JOIN b USING (r) ORDER BY _r.r
        """).to_arrow_table()["a"].combine_chunks()
