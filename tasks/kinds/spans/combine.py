"""Span pre-labels: LF and model spans become one answer per item with a calibrated confidence per span and
per item, and the item is auto-accepted only where its calibrated confidence clears a threshold measured on
gold and audits.

1. Candidates. Every proposed `(start, end, label)` of an item is a candidate. A labeling function's
   spans count with its precision on gold (smoothed towards `prior_precision` with weight
   `prior_strength`; a gold item's own spans are left out of the estimate used on it); a model's spans
   count with the confidence the model gave (its own calibration). A candidate's raw score is the
   noisy-OR of its proposers: 1 - prod(1 - q).
2. Span calibration. Raw scores are mapped to measured precision by smoothed isotonic regression
   (`calibration.py`) on the candidates of gold items; gold items are scored cross-fitted (two folds by DuckDB's hash of the item id),
   so their confidences never saw their own answer. Without gold the raw score stands.
3. The answer: candidates with confidence >= 0.5; where overlaps are not allowed a candidate is kept only
   if no overlapping candidate is surer (ties: the longer, then the earlier span).
4. Item confidence. Raw: the product of the kept spans' confidences and of (1 - confidence) of the
   rejected ones — the chance the whole set is right if the spans were independent. It is calibrated,
   as in 2, against "the answer equals the gold answer exactly", separately for empty and non-empty
   answers (an empty answer's raw score says little about entities nobody proposed).
5. Routing (`route_spans`): the classification rule of `tasks/prelabel/routing.py` with one class: the
   lowest item confidence at which the Wilson lower bound of exact-answer precision on evaluated items
   (gold, plus audited auto-accepts with the human's answer) reaches the target; then the audit draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa

from tasks.prelabel.routing import calibration_table, route, select_thresholds

from .calibration import fit_calibrator
from .lf_report import explode_answers

__all__ = ["PRELABEL_SCHEMA", "combine_spans", "route_spans"]

PRELABEL_SCHEMA = pa.schema([
    ("item_id", pa.string()),
    ("answer", pa.string()),                       # the kind's JSON form
    ("span_confidence", pa.list_(pa.float64())),   # per span of `answer`, in its order
    ("confidence", pa.float64()),                  # calibrated P(answer is exactly right)
    ("raw_confidence", pa.float64()),
])


def _calibrate(raw: np.ndarray, ok: np.ndarray, on_gold: np.ndarray, fold: np.ndarray, group: np.ndarray | None = None) -> np.ndarray:
    """Monotone map raw -> P(correct) fitted on gold rows (cross-fitted on the gold rows themselves), per group."""
    out = raw.astype(float).copy()
    group = np.zeros(len(raw), np.int64) if group is None else group

    def fitted(rows: np.ndarray, where: np.ndarray) -> np.ndarray:
        return fit_calibrator(raw[rows], ok[rows])(raw[where])

    for g in np.unique(group):
        fit = on_gold & (group == g)
        if not fit.any():
            continue
        rest = (group == g) & ~on_gold
        if rest.any():
            out[rest] = fitted(fit, rest)
        for f in (0, 1):
            train, test = fit & (fold != f), fit & (fold == f)
            if test.any():
                out[test] = fitted(train, test) if train.any() else (ok[fit].sum() + 1) / (fit.sum() + 2)
    return out


def combine_spans(
    votes: pa.Table, gold: pa.Table | None = None, item_ids: Sequence[str] | None = None, *, allow_overlap: bool = False,
    prior_precision: float = 0.5, prior_strength: float = 2.0, candidates: bool = False,
) -> tuple[pa.Table, dict]:
    """One pre-label per item (`PRELABEL_SCHEMA`) and a report (`source_precision`: each LF's smoothed precision on
    gold spans, what its spans count with; span and item calibration on gold).

    `votes`: item_id, source_id, answer (JSON; a model's spans carry "confidence"); `gold`: item_id, answer;
    `item_ids`: the items to pre-label (default: those with votes; an item without votes gets `[]`);
    `candidates`: also return every candidate span with its calibrated confidence and whether it was kept
    (`report["candidates"]`, an Arrow table), to measure calibration on items outside gold."""
    con = duckdb.connect()
    con.register("_v", votes.select(["item_id", "source_id", "answer"]))
    g = gold if gold is not None and gold.num_rows else pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())})
    con.register("_g", g.select(["item_id", "answer"]))
    ids = pa.array(list(item_ids) if item_ids is not None else [], pa.string())
    con.register("_ids", pa.table({"item_id": ids}))
    explode = explode_answers(con, "_v").replace('"label":"VARCHAR"}', '"label":"VARCHAR","confidence":"DOUBLE"}').replace(
        "s.label AS label", "s.label AS label, s.confidence AS confidence")
    con.execute(f"CREATE TEMP TABLE sp AS {explode}")
    con.execute(f"CREATE TEMP TABLE gs AS {explode_answers(con, '_g', source=chr(39) + 'gold' + chr(39))}")
    con.execute("CREATE TEMP TABLE sp_ok AS SELECT sp.*, sp.item_id IN (SELECT item_id FROM _g) AS on_gold,"
                " EXISTS (SELECT 1 FROM gs WHERE gs.item_id = sp.item_id AND gs.start = sp.start AND gs.\"end\" = sp.\"end\""
                " AND gs.label = sp.label) AS hit FROM sp")
    a, p0 = float(prior_strength), float(prior_precision)
    # a source's precision on gold, and the same without each gold item (used on that item)
    con.execute(
        "CREATE TEMP TABLE q AS WITH tot AS (SELECT source_id, count(*) FILTER (WHERE on_gold) AS n, count(*) FILTER (WHERE hit) AS k"
        "  FROM sp_ok WHERE confidence IS NULL GROUP BY source_id),"
        " own AS (SELECT source_id, item_id, count(*) AS n, count(*) FILTER (WHERE hit) AS k FROM sp_ok WHERE on_gold AND confidence IS NULL"
        "  GROUP BY source_id, item_id)"
        f" SELECT sp.item_id, sp.source_id, (t.k - coalesce(o.k, 0) + {a * p0}) / (t.n - coalesce(o.n, 0) + {a}) AS q"
        " FROM (SELECT DISTINCT item_id, source_id FROM sp_ok WHERE confidence IS NULL) sp JOIN tot t USING (source_id)"
        " LEFT JOIN own o USING (source_id, item_id)"
    )
    precision = dict(con.execute(
        f"SELECT source_id, (count(*) FILTER (WHERE hit) + {a * p0}) / (count(*) FILTER (WHERE on_gold) + {a}) FROM sp_ok"
        " WHERE confidence IS NULL GROUP BY source_id ORDER BY source_id").fetchall())
    cand = con.sql(
        "SELECT s.item_id, s.start, s.\"end\", s.label, 1 - exp(sum(ln(greatest(1 - least(coalesce(s.confidence, q.q), 0.999999), 1e-9)))) AS raw,"
        " bool_or(s.hit) AS hit, bool_or(s.on_gold) AS on_gold, (hash(s.item_id) % 2)::BIGINT AS fold FROM sp_ok s LEFT JOIN q USING (item_id, source_id)"
        " GROUP BY s.item_id, s.start, s.\"end\", s.label ORDER BY s.item_id, s.start, s.\"end\", s.label"
    ).to_arrow_table()
    raw = cand.column("raw").to_numpy(zero_copy_only=False).astype(float)
    hit = cand.column("hit").to_numpy(zero_copy_only=False).astype(bool)
    c_gold = cand.column("on_gold").to_numpy(zero_copy_only=False).astype(bool)
    conf = _calibrate(raw, hit, c_gold, cand.column("fold").to_numpy(zero_copy_only=False))
    con.register("_cand", cand.append_column("conf", pa.array(conf, pa.float64())))
    beaten = "" if allow_overlap else (
        " AND NOT EXISTS (SELECT 1 FROM _cand o WHERE o.item_id = c.item_id AND o.conf >= 0.5 AND o.start < c.\"end\" AND c.start < o.\"end\""
        " AND (o.start, o.\"end\", o.label) <> (c.start, c.\"end\", c.label)"
        " AND (o.conf > c.conf OR (o.conf = c.conf AND (o.\"end\" - o.start > c.\"end\" - c.start"
        "  OR (o.\"end\" - o.start = c.\"end\" - c.start AND (o.start, o.label) < (c.start, c.label))))))")
    con.execute(f"CREATE TEMP TABLE kept AS SELECT c.*, c.conf >= 0.5{beaten} AS keep FROM _cand c")
    cand_out = con.sql("SELECT item_id, start, \"end\", label, conf AS confidence, keep AS kept FROM kept ORDER BY ALL").to_arrow_table() if candidates else None
    items = con.sql(
        "WITH all_ids AS (SELECT item_id FROM _ids UNION SELECT item_id FROM _v),"
        " agg AS (SELECT item_id,"
        "  to_json(coalesce(list({'start': start, 'end': \"end\", 'label': label} ORDER BY start, \"end\", label) FILTER (WHERE keep), []))::VARCHAR AS answer,"
        "  coalesce(list(round(conf, 6) ORDER BY start, \"end\", label) FILTER (WHERE keep), []) AS span_confidence,"
        "  exp(sum(ln(greatest(CASE WHEN keep THEN conf ELSE 1 - conf END, 1e-9)))) AS raw_confidence FROM kept GROUP BY item_id),"
        " ga AS (SELECT item_id, to_json(coalesce(list({'start': start, 'end': \"end\", 'label': label} ORDER BY start, \"end\", label)"
        " FILTER (WHERE start IS NOT NULL), []))::VARCHAR AS answer FROM (SELECT g.item_id, s.* FROM _g g LEFT JOIN gs s USING (item_id)) GROUP BY item_id)"
        " SELECT i.item_id, coalesce(a.answer, '[]') AS answer, coalesce(a.span_confidence, []::DOUBLE[]) AS span_confidence,"
        "  coalesce(a.raw_confidence, 1.0) AS raw_confidence, ga.item_id IS NOT NULL AS on_gold,"
        "  coalesce(ga.answer = coalesce(a.answer, '[]'), false) AS exact, (hash(i.item_id) % 2)::BIGINT AS fold,"
        "  coalesce(a.answer, '[]') = '[]' AS empty"
        " FROM all_ids i LEFT JOIN agg a USING (item_id) LEFT JOIN ga USING (item_id) ORDER BY i.item_id"
    ).to_arrow_table()
    con.close()
    i_raw = items.column("raw_confidence").to_numpy(zero_copy_only=False).astype(float)
    i_gold = items.column("on_gold").to_numpy(zero_copy_only=False).astype(bool)
    exact = items.column("exact").to_numpy(zero_copy_only=False).astype(bool)
    empty = items.column("empty").to_numpy(zero_copy_only=False).astype(np.int64)
    i_conf = _calibrate(i_raw, exact, i_gold, items.column("fold").to_numpy(zero_copy_only=False), empty)
    out = pa.table({"item_id": items.column("item_id"), "answer": items.column("answer"),
                    "span_confidence": items.column("span_confidence").cast(pa.list_(pa.float64())),
                    "confidence": pa.array(i_conf, pa.float64()), "raw_confidence": pa.array(i_raw, pa.float64())}, schema=PRELABEL_SCHEMA)
    span_ece, span_table = calibration_table(conf[c_gold], hit[c_gold])
    item_ece, item_table = calibration_table(i_conf[i_gold], exact[i_gold])
    report = {
        "gold_items": int(i_gold.sum()), "candidates": cand.num_rows, "source_precision": precision,
        "span_calibration": {"n": int(c_gold.sum()), "ece": span_ece, "reliability": span_table},
        "item_calibration": {"n": int(i_gold.sum()), "ece": item_ece, "reliability": item_table,
                             "exact_on_gold": float(exact[i_gold].mean()) if i_gold.any() else None},
    }
    if candidates:
        report["candidates"] = cand_out
    return out, report


def route_spans(
    prelabels: pa.Table, evaluated: pa.Table, *, target: float, confidence_level: float = 0.95, min_n: int = 10,
    audit_rate: float = 0.0, seed: int = 0,
) -> tuple[np.ndarray, dict]:
    """'auto' / 'audit' / 'human' per pre-label row, and the threshold chosen.

    `evaluated`: item_id, answer (JSON) — gold answers and the human answers of audited auto-accepts; a
    pre-label is right on such an item when its span set equals that answer exactly."""
    con = duckdb.connect()
    con.register("_p", prelabels.select(["item_id", "answer", "confidence"]))
    con.register("_e", evaluated.select(["item_id", "answer"]))
    norm = "to_json(list_sort(coalesce(from_json({0}, '[{{\"start\":\"BIGINT\",\"end\":\"BIGINT\",\"label\":\"VARCHAR\"}}]'), [])))"
    ev = con.execute(f"SELECT p.confidence, {norm.format('p.answer')} = {norm.format('e.answer')} FROM _p p JOIN _e e USING (item_id)").fetchall()
    con.close()
    conf = np.array([r[0] for r in ev], float)
    ok = np.array([r[1] for r in ev], bool)
    thr = select_thresholds(["spans"] * len(conf), conf, ok, ["spans"], target=target, confidence_level=confidence_level, min_n=min_n)
    n = prelabels.num_rows
    routes = route(prelabels.column("item_id").to_pylist(), ["spans"] * n, prelabels.column("confidence").to_numpy(zero_copy_only=False),
                   thr, audit_rate=audit_rate, seed=seed)
    return routes, thr["spans"].as_dict()
