"""lf-report for span labeling functions: coverage, overlap and conflict between LFs, strict scores on gold.

Definitions (per LF):
- coverage: share of items where it marks at least one span;
- overlap: share of its spans that overlap (share a character with) a span of another LF;
- conflict: share of its spans that overlap a span of another LF with a different type;
- on gold items, entity-level strict matching (a hit is the same start, end and type — what seqeval's
  strict mode counts once spans sit on token boundaries): precision over its spans on gold items, recall
  over the gold spans of the types it emits (an LF marks a few types; missing the others is not its fault),
  F1, with Wilson intervals on precision and recall.
Pairwise rows say which LFs overlap or conflict with which. Everything runs in an in-memory DuckDB over Arrow.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from tasks.prelabel.routing import wilson_interval

__all__ = ["explode_answers", "span_lf_report"]


def explode_answers(con: duckdb.DuckDBPyConnection, relation: str, source: str = "source_id") -> str:
    """SQL of the span rows `(item_id, source_id, start, end, label)` of a relation holding JSON answers."""
    src = source if source.startswith("'") else f"r.{source}"
    return (
        f"SELECT r.item_id, {src} AS source_id, s.start::BIGINT AS start, s.\"end\"::BIGINT AS \"end\", s.label AS label FROM {relation} r,"
        " unnest(from_json(r.answer, '[{\"start\":\"BIGINT\",\"end\":\"BIGINT\",\"label\":\"VARCHAR\"}]')) AS u(s)"
    )


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def span_lf_report(votes: pa.Table, n_items: int, gold: pa.Table | None = None) -> dict:
    """The report: {"lfs": [per-LF rows], "pairs": [per-pair rows]} (see module doc).

    `votes`: item_id, source_id, answer (JSON); `gold`: item_id, answer (JSON) for the gold items;
    `n_items`: how many items the LFs ran on (the coverage denominator)."""
    con = duckdb.connect()
    con.register("_votes", votes.select(["item_id", "source_id", "answer"]))
    con.execute(f"CREATE TEMP TABLE sp AS {explode_answers(con, '_votes')}")
    has_gold = gold is not None and gold.num_rows > 0
    con.register("_gold", gold.select(["item_id", "answer"]) if has_gold else pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())}))
    con.execute(f"CREATE TEMP TABLE gs AS {explode_answers(con, '_gold', source=chr(39) + 'gold' + chr(39))}")
    con.execute(
        "CREATE TEMP TABLE pairs AS SELECT a.source_id AS a, b.source_id AS b, a.item_id, a.start, a.\"end\", a.label,"
        " a.label <> b.label AS conflict FROM sp a JOIN sp b ON a.item_id = b.item_id AND a.source_id <> b.source_id"
        " AND a.start < b.\"end\" AND b.start < a.\"end\""
    )
    rows = con.execute(
        "WITH base AS (SELECT source_id, count(*) AS spans, count(DISTINCT item_id) AS items FROM sp GROUP BY source_id),"
        " ov AS (SELECT a AS source_id, count(DISTINCT (item_id, start, \"end\", label)) AS overlapping,"
        "  count(DISTINCT (item_id, start, \"end\", label)) FILTER (WHERE conflict) AS conflicting FROM pairs GROUP BY a),"
        " lab AS (SELECT source_id, list(DISTINCT label ORDER BY label) AS labels FROM sp GROUP BY source_id),"
        " pred AS (SELECT sp.* FROM sp WHERE item_id IN (SELECT item_id FROM _gold)),"
        " tp AS (SELECT p.source_id, count(*) AS tp FROM pred p JOIN gs g ON p.item_id = g.item_id AND p.start = g.start"
        "  AND p.\"end\" = g.\"end\" AND p.label = g.label GROUP BY p.source_id),"
        " np AS (SELECT source_id, count(*) AS n_pred FROM pred GROUP BY source_id),"
        " ng AS (SELECT l.source_id, count(g.label) AS n_gold FROM lab l LEFT JOIN gs g ON list_contains(l.labels, g.label) GROUP BY l.source_id)"
        " SELECT b.source_id, b.spans, b.items, coalesce(ov.overlapping, 0), coalesce(ov.conflicting, 0), l.labels,"
        "  coalesce(tp.tp, 0), coalesce(np.n_pred, 0), coalesce(ng.n_gold, 0)"
        " FROM base b JOIN lab l USING (source_id) LEFT JOIN ov USING (source_id) LEFT JOIN tp USING (source_id)"
        " LEFT JOIN np USING (source_id) LEFT JOIN ng USING (source_id) ORDER BY b.source_id"
    ).fetchall()
    lfs = []
    for src, spans, items, overlapping, conflicting, labels, tp, n_pred, n_gold in rows:
        p = tp / n_pred if n_pred else None
        r = tp / n_gold if n_gold else None
        f1 = 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)
        row = {"lf": src.removeprefix("lf:"), "source_id": src, "labels": labels, "spans": spans, "items": items,
               "coverage": _r(items / n_items) if n_items else None,
               "overlap": _r(overlapping / spans), "conflict": _r(conflicting / spans)}
        if has_gold:
            row.update({"gold_spans_predicted": n_pred, "gold_spans": n_gold, "true_positives": tp,
                        "precision": _r(p), "precision_ci": [_r(x) for x in wilson_interval(tp, n_pred)],
                        "recall": _r(r), "recall_ci": [_r(x) for x in wilson_interval(tp, n_gold)], "f1": _r(f1)})
        lfs.append(row)
    pairs = [
        {"a": a.removeprefix("lf:"), "b": b.removeprefix("lf:"), "overlapping_spans": n, "conflicting_spans": c}
        for a, b, n, c in con.execute(
            "SELECT a, b, count(DISTINCT (item_id, start, \"end\", label)), count(DISTINCT (item_id, start, \"end\", label)) FILTER (WHERE conflict)"
            " FROM pairs GROUP BY a, b ORDER BY a, b").fetchall()
    ]
    con.close()
    return {"lfs": lfs, "pairs": pairs, "items": n_items, "gold_items": gold.num_rows if has_gold else 0}
