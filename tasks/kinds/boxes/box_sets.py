"""Whole-set agreement between two box answers of an item, in DuckDB: what "the pre-label is right" means.

A pre-label's item decision is right when its box set is the reference's at IoU >= `match_iou` with
the labels right: as many boxes on both sides, every box of each side matching a box of the other
(same label, IoU reaching the threshold). With `match_iou` >= 0.5 a box matches at most one box of a
set whose boxes do not overlap much, so counting matched boxes on both sides stands in for the
one-to-one assignment without solving it per item.

Box answers are JSON texts; the SQL below explodes them once per call, so a million items are one
query, not a loop.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

__all__ = ["BOX_JSON", "explode_sql", "iou_sql", "same_sets"]

BOX_JSON = "'[{\"x\":\"DOUBLE\",\"y\":\"DOUBLE\",\"w\":\"DOUBLE\",\"h\":\"DOUBLE\",\"label\":\"VARCHAR\",\"score\":\"DOUBLE\"}]'"


def iou_sql(a: str, b: str) -> str:
    """IoU of the boxes of aliases `a` and `b` (columns x, y, w, h) as a DuckDB expression."""
    inter = (f"greatest(0, least({a}.x + {a}.w, {b}.x + {b}.w) - greatest({a}.x, {b}.x))"
             f" * greatest(0, least({a}.y + {a}.h, {b}.y + {b}.h) - greatest({a}.y, {b}.y))")
    return f"(({inter}) / nullif({a}.w * {a}.h + {b}.w * {b}.h - ({inter}), 0))"


def explode_sql(table: str, answer: str = "answer", keep: str = "item_id") -> str:
    """One row per box of `table`'s JSON `answer` column: `keep` columns, `i` (box index), x, y, w, h, label, score."""
    return (f"SELECT {keep}, generate_subscripts(b, 1) AS i, unnest(b, recursive := true) FROM"
            f" (SELECT {keep}, from_json({answer}, {BOX_JSON}) AS b FROM {table} WHERE {answer} IS NOT NULL)")


def same_sets(left: pa.Array, right: pa.Array, match_iou: float) -> np.ndarray:
    """Per position, whether box answer `left[k]` equals `right[k]` at IoU >= `match_iou` (a null side: False)."""
    n = len(left)
    con = duckdb.connect()
    try:
        con.register("_pair", pa.table({"k": pa.array(np.arange(n)), "l": left, "r": right}))
        con.execute(f"CREATE TEMP TABLE lb AS {explode_sql('_pair', 'l', 'k')}")
        con.execute(f"CREATE TEMP TABLE rb AS {explode_sql('_pair', 'r', 'k')}")
        ok = con.sql(
            f"""WITH m AS (SELECT lb.k, lb.i AS li, rb.i AS ri FROM lb JOIN rb ON lb.k = rb.k AND lb.label = rb.label
                           WHERE {iou_sql('lb', 'rb')} >= {float(match_iou)}),
                 nl AS (SELECT k, count(*) AS n FROM lb GROUP BY k), nr AS (SELECT k, count(*) AS n FROM rb GROUP BY k),
                 matched AS (SELECT k, count(DISTINCT li) AS ml, count(DISTINCT ri) AS mr FROM m GROUP BY k)
            SELECT p.k, p.l IS NOT NULL AND p.r IS NOT NULL AND coalesce(a.n, 0) = coalesce(b.n, 0)
                   AND coalesce(a.n, 0) = coalesce(x.ml, 0) AND coalesce(b.n, 0) = coalesce(x.mr, 0) AS ok
            FROM _pair p LEFT JOIN nl a USING (k) LEFT JOIN nr b USING (k) LEFT JOIN matched x USING (k) ORDER BY p.k"""
        ).to_arrow_table().column("ok")
    finally:
        con.close()
    return ok.to_numpy().astype(bool)
