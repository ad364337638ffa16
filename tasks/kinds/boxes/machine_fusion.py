"""Box pre-labels: the detectors' boxes of an image become one box set with a calibrated confidence per box
and per image; the image is auto-accepted only where that confidence clears a threshold measured on gold.

1. Candidates. Every box a machine source gave with a score of at least `min_score` (a box without a
   score counts as 1). With several sources, each one's scores are first calibrated into P(the box
   matches a gold box: same label, IoU >= `match_iou`) by smoothed isotonic regression on the boxes of
   gold images, so that their scores are on one scale; gold images are scored cross-fitted (two folds by
   DuckDB's hash of the item id), so no box's confidence saw its own answer. With one source (or without
   gold) the scores stand as given: step 2's calibration is then the only one needed, and a second,
   cross-fitted on half the gold each, only added noise to which boxes are kept (measured: the share of
   gold images whose set was right fell from 0.73 to 0.60 on the shapes scenes).
2. Fusion across sources. Boxes of one image with the same label and IoU >= `match_iou` from different
   sources are one object (connected components of that relation); its box is the confidence-weighted
   mean of the members' coordinates and its raw score the noisy-OR of their confidences. With one
   source each box is its own object. The object's confidence is the raw score calibrated like 1.
3. The answer: objects with confidence >= 0.5.
4. Image confidence. Raw: the product of the kept objects' confidences and of (1 - confidence) of the
   dropped ones (the chance the set is right if objects were independent). Calibrated against "the
   answer is the gold set" (`box_sets.same_sets`) by a monotone logistic fit on gold (cross-fitted on the
   gold images themselves), separately for empty and non-empty answers: an empty answer's raw score
   knows nothing of objects no detector saw. An image no source looked at gets confidence 0 (nothing
   measured it).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tasks.kinds.spans.combine import _calibrate
from tasks.prelabel.routing import calibration_table

from .box_sets import explode_sql, iou_sql, same_sets

__all__ = ["PRELABEL_SCHEMA", "combine_boxes"]

PRELABEL_SCHEMA = pa.schema([
    ("item_id", pa.string()),
    ("answer", pa.string()),                      # the kind's JSON form, without scores
    ("box_confidence", pa.list_(pa.float64())),   # per box of `answer`, in its order
    ("confidence", pa.float64()),                 # calibrated P(the box set is right)
    ("raw_confidence", pa.float64()),
])

_EMPTY = pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())})


def _platt(raw: np.ndarray, ok: np.ndarray) -> tuple[float, float]:
    """(a, b) of P(ok) = sigmoid(a + b * logit(raw)), b >= 0 (monotone), by penalised maximum likelihood."""
    from scipy.optimize import minimize

    z = np.log(np.clip(raw, 1e-6, 1 - 1e-6) / (1 - np.clip(raw, 1e-6, 1 - 1e-6)))
    y = ok.astype(float)

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        q = 1 / (1 + np.exp(-(p[0] + p[1] * z)))
        eps = 1e-12
        # a weak Gaussian prior keeps a few dozen answers (or all right, all wrong) from promising 0 or 1
        nll = -(y * np.log(q + eps) + (1 - y) * np.log(1 - q + eps)).sum() + 0.5 * (p[0] ** 2 + p[1] ** 2) / 4
        g = q - y
        return nll, np.array([g.sum() + p[0] / 4, (g * z).sum() + p[1] / 4])

    res = minimize(loss, np.zeros(2), jac=True, method="L-BFGS-B", bounds=[(None, None), (0, None)])
    return float(res.x[0]), float(res.x[1])


def _calibrate_items(raw: np.ndarray, ok: np.ndarray, on_gold: np.ndarray, fold: np.ndarray, group: np.ndarray) -> np.ndarray:
    """P(the image's set is right) from its raw score: a monotone logistic fit per group on gold, cross-fitted on gold.

    Two parameters, not an isotonic step function: an image set's raw score is a product of box confidences that
    are themselves steps, and a cross-fitted half of a hundred gold images cut it into a few wide blocks whose
    level moved a lot between folds (measured: gold ECE 0.08-0.33 across fold draws on the shapes scenes)."""
    out = raw.astype(float).copy()
    z = np.log(np.clip(raw, 1e-6, 1 - 1e-6) / (1 - np.clip(raw, 1e-6, 1 - 1e-6)))

    def apply(fit: np.ndarray, where: np.ndarray) -> None:
        a, b = _platt(raw[fit], ok[fit])
        out[where] = 1 / (1 + np.exp(-(a + b * z[where])))

    for g in np.unique(group):
        fit = on_gold & (group == g)
        if not fit.any():
            continue
        apply(fit, (group == g) & ~on_gold)
        for f in (0, 1):
            if (fit & (fold == f)).any():
                apply(fit & (fold != f), fit & (fold == f))
    return out


def _col(t: pa.Table, name: str, dtype: type = float) -> np.ndarray:
    return t.column(name).to_numpy(zero_copy_only=False).astype(dtype)


def combine_boxes(votes: pa.Table, gold: pa.Table | None = None, item_ids: Sequence[str] | None = None, *,
                  match_iou: float = 0.5, min_score: float = 0.05) -> tuple[pa.Table, dict]:
    """One pre-label per item (`PRELABEL_SCHEMA`) and a report (`source_precision`: each source's smoothed share
    of boxes matching gold; box and image calibration on gold).

    `votes`: item_id, source_id, answer (JSON boxes, a machine's with `score`; `[]` = the source saw no object);
    `gold`: item_id, answer; `item_ids`: the items to pre-label (default: those with votes)."""
    t = float(match_iou)
    con = duckdb.connect()
    try:
        con.register("_v", votes.select(["item_id", "source_id", "answer"]))
        con.register("_g", (gold if gold is not None and gold.num_rows else _EMPTY).select(["item_id", "answer"]))
        con.register("_ids", pa.table({"item_id": pa.array(list(item_ids) if item_ids is not None else [], pa.string())}))
        con.execute(f"CREATE TEMP TABLE gb AS {explode_sql('_g')}")
        con.execute(
            f"CREATE TEMP TABLE cand AS SELECT row_number() OVER (ORDER BY item_id, source_id, i) - 1 AS cid, *,"
            " dense_rank() OVER (ORDER BY source_id) - 1 AS src, item_id IN (SELECT item_id FROM _g) AS on_gold,"
            f" (hash(item_id) % 2)::BIGINT AS fold FROM ({explode_sql('_v', keep='item_id, source_id')})"
            f" WHERE w > 0 AND h > 0 AND coalesce(score, 1) >= {float(min_score)}")
        cand = con.sql(
            f"SELECT c.cid, c.item_id, c.source_id, c.src, c.x, c.y, c.w, c.h, c.label, coalesce(c.score, 1.0) AS score, c.on_gold, c.fold,"
            f" EXISTS (SELECT 1 FROM gb WHERE gb.item_id = c.item_id AND gb.label = c.label AND {iou_sql('gb', 'c')} >= {t}) AS hit"
            " FROM cand c ORDER BY c.cid").to_arrow_table()
        on_gold, fold, hit = _col(cand, "on_gold", bool), _col(cand, "fold", np.int64), _col(cand, "hit", bool)
        p_box = _col(cand, "score")
        if len(np.unique(_col(cand, "src", np.int64))) > 1:  # put the sources on one scale before the noisy-OR
            p_box = np.clip(_calibrate(p_box, hit, on_gold, fold, _col(cand, "src", np.int64)), 0.0, 1.0)
        # objects: boxes of one image and label from different sources that overlap enough
        pairs = con.sql(f"SELECT a.cid AS a, b.cid AS b FROM cand a JOIN cand b ON a.item_id = b.item_id AND a.label = b.label"
                        f" AND a.source_id < b.source_id WHERE {iou_sql('a', 'b')} >= {t}").fetchnumpy()
        n = cand.num_rows
        graph = coo_matrix((np.ones(len(pairs["a"])), (pairs["a"], pairs["b"])), shape=(n, n))
        obj = connected_components(graph, directed=False)[1] if n else np.zeros(0, np.int64)
        con.register("_c", cand.select(["item_id", "x", "y", "w", "h", "label", "on_gold", "fold"]).append_column(
            "p", pa.array(p_box, pa.float64())).append_column("obj", pa.array(obj, pa.int64())))
        objects = con.sql(
            "SELECT obj, any_value(item_id) AS item_id, any_value(label) AS label, sum(x * (p + 1e-9)) / sum(p + 1e-9) AS x,"
            " sum(y * (p + 1e-9)) / sum(p + 1e-9) AS y, sum(w * (p + 1e-9)) / sum(p + 1e-9) AS w, sum(h * (p + 1e-9)) / sum(p + 1e-9) AS h,"
            " 1 - exp(sum(ln(greatest(1 - least(p, 0.999999), 1e-9)))) AS raw, any_value(on_gold) AS on_gold, any_value(fold) AS fold"
            " FROM _c GROUP BY obj ORDER BY obj").to_arrow_table()
        con.register("_o", objects)
        o_hit = con.sql(f"SELECT EXISTS (SELECT 1 FROM gb WHERE gb.item_id = o.item_id AND gb.label = o.label AND {iou_sql('gb', 'o')} >= {t})"
                        " AS hit FROM _o o ORDER BY o.obj").to_arrow_table()
        o_hit, o_gold = _col(o_hit, "hit", bool), _col(objects, "on_gold", bool)
        o_conf = np.clip(_calibrate(_col(objects, "raw"), o_hit, o_gold, _col(objects, "fold", np.int64)), 0.0, 1.0)
        con.register("_oc", objects.append_column("conf", pa.array(o_conf, pa.float64())))
        items = con.sql(
            "WITH kept AS (SELECT *, conf >= 0.5 AS keep FROM _oc),"
            " agg AS (SELECT item_id,"
            "  to_json(coalesce(list({'x': round(x, 2), 'y': round(y, 2), 'w': round(w, 2), 'h': round(h, 2), 'label': label}"
            "   ORDER BY label, round(x, 2), round(y, 2), round(w, 2), round(h, 2)) FILTER (WHERE keep), []))::VARCHAR AS answer,"
            "  coalesce(list(round(conf, 6) ORDER BY label, round(x, 2), round(y, 2), round(w, 2), round(h, 2)) FILTER (WHERE keep), [])"
            "   AS box_confidence,"
            "  exp(sum(ln(greatest(CASE WHEN keep THEN conf ELSE 1 - conf END, 1e-9)))) AS raw FROM kept GROUP BY item_id),"
            " all_ids AS (SELECT item_id FROM _ids UNION SELECT item_id FROM _v)"
            " SELECT i.item_id, coalesce(a.answer, '[]') AS answer, coalesce(a.box_confidence, []::DOUBLE[]) AS box_confidence,"
            "  coalesce(a.raw, 1.0) AS raw, i.item_id IN (SELECT item_id FROM _v) AS voted, g.answer AS gold,"
            "  (hash(i.item_id) % 2)::BIGINT AS fold"
            " FROM all_ids i LEFT JOIN agg a USING (item_id) LEFT JOIN _g g USING (item_id) ORDER BY i.item_id"
        ).to_arrow_table()
    finally:
        con.close()
    # each source's share of boxes on gold images that match a gold box (Beta(1, 1) smoothed): its learned accuracy
    src, names = _col(cand, "src", np.int64), np.unique(np.asarray(cand.column("source_id").to_pylist(), dtype=object))
    k = np.bincount(src[on_gold], weights=hit[on_gold].astype(float), minlength=len(names))
    m = np.bincount(src[on_gold], minlength=len(names))
    precision = {str(s): float((k[j] + 1) / (m[j] + 2)) for j, s in enumerate(names)}
    raw, voted = _col(items, "raw"), _col(items, "voted", bool)
    i_gold = voted & items.column("gold").is_valid().to_numpy(zero_copy_only=False)
    exact = same_sets(items.column("answer").combine_chunks(), items.column("gold").combine_chunks(), t)
    empty = pc.equal(items.column("answer"), "[]").to_numpy(zero_copy_only=False).astype(np.int64)
    conf = np.where(voted, _calibrate_items(raw, exact, i_gold, _col(items, "fold", np.int64), empty), 0.0)
    out = pa.table({"item_id": items.column("item_id"), "answer": items.column("answer"),
                    "box_confidence": items.column("box_confidence").cast(pa.list_(pa.float64())),
                    "confidence": pa.array(conf, pa.float64()), "raw_confidence": pa.array(raw, pa.float64())}, schema=PRELABEL_SCHEMA)
    box_ece, box_table = calibration_table(o_conf[o_gold], o_hit[o_gold])
    item_ece, item_table = calibration_table(conf[i_gold], exact[i_gold])
    report = {
        "gold_items": int(i_gold.sum()), "candidates": n, "objects": objects.num_rows, "source_precision": precision,
        "box_calibration": {"n": int(o_gold.sum()), "ece": box_ece, "reliability": box_table},
        "item_calibration": {"n": int(i_gold.sum()), "ece": item_ece, "reliability": item_table,
                             "exact_on_gold": float(exact[i_gold].mean()) if i_gold.any() else None},
    }
    return out, report
