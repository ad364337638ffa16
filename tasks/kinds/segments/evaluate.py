"""Segment precision, recall and F1 of resolved answers against true ones, at a temporal-IoU threshold.

A resolved region is right when it matches a true region of the same label at temporal IoU >= `match_iou`
(one to one, best overlaps first: `regions.scores.score_answers`, the gold scoring consensus uses); F1
pools every clip's matches, so a clip with many regions weighs more than a clip with one. This is the
segment-level metric of sound event detection and of speaker turn evaluation at a tolerance
(pyannote's and sed_eval's event-based F1 count a region right by its boundaries in the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.errors import ConsensusError
from tasks.errors import InputError

from ..regions.scores import score_answers
from .flat import flatten

__all__ = ["UNRESOLVED", "resolved_scores", "segment_f1"]

UNRESOLVED = "(unresolved)"


def segment_f1(predicted: pa.Array, truth: pa.Array, labels: Sequence[str], match_iou: float) -> dict[str, Any]:
    """Pooled precision / recall / F1 of aligned JSON answers `predicted[k]` vs `truth[k]` (neither null)."""
    n = len(truth)
    ids = pa.array([str(k) for k in range(n)], pa.string())
    p = flatten(pa.table({"item_id": ids, "answer": predicted.cast(pa.string())}))
    t = flatten(pa.table({"item_id": ids, "answer": truth.cast(pa.string())}))
    classes = pa.array(sorted(set(labels) | set(p.label.to_pylist()) | set(t.label.to_pylist())), pa.string())

    def code(a: pa.Array) -> np.ndarray:
        return pc.index_in(a, value_set=classes).to_numpy(zero_copy_only=False).astype(np.int64)

    sc = score_answers(np.arange(n), p.row, p.corners, code(p.label), t.row, t.corners, code(t.label), n, match_iou)
    tp, drawn, true = int(sc.tp.sum()), len(p.row), len(t.row)
    precision = tp / drawn if drawn else None
    recall = tp / true if true else None
    f1 = 2 * tp / (drawn + true) if drawn + true else None
    return {"items": n, "tp": tp, "predicted_regions": drawn, "true_regions": true, "precision": _r(precision),
            "recall": _r(recall), "f1": _r(f1), "exact": _r(float(sc.exact.mean())) if n else None}


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def resolved_scores(con: Any, truth: pa.Table, labels: Sequence[str], match_iou: float) -> dict[str, Any]:
    """`ExportFacet.evaluate` for segments: segment F1 of the resolved answers in `con` (`labels`) against
    `truth` (`item_id`, `truth`: the truth file's region JSON), overall and per labeling method. Items with
    truth but no resolved answer count under "(unresolved)" and are left out of the scores."""
    con.register("_truth", truth)
    try:
        rows = con.sql(
            "SELECT t.item_id, t.truth, l.answer::VARCHAR AS predicted, coalesce(l.method, $u) AS method"
            " FROM _truth t LEFT JOIN labels l ON l.item_id = t.item_id AND l.decision = 'resolved' ORDER BY t.item_id",
            params={"u": UNRESOLVED}).to_arrow_table()
    finally:
        con.unregister("_truth")
    method = rows["method"].to_pylist()

    def score(which: str | None) -> dict[str, Any]:
        keep = pa.array([m != UNRESOLVED and which in (None, m) for m in method])
        part = rows.filter(keep)
        try:
            return segment_f1(part["predicted"].combine_chunks(), part["truth"].combine_chunks(), labels, match_iou)
        except ConsensusError as e:  # a truth file that is not region JSON is the user's file to fix
            raise InputError(f"truth file: {e}") from None

    overall = score(None)
    by_method = {}
    for m in sorted(set(method), key=lambda m: (-method.count(m), m)):
        s = score(m) if m != UNRESOLVED else {"f1": None, "precision": None, "recall": None}
        by_method[m] = {"items": method.count(m), "f1": s["f1"], "precision": s["precision"], "recall": s["recall"]}
    return {"metric": "f1", "titles": {"f1": f"segment F1 (IoU >= {match_iou:g})", "precision": "precision",
                                       "recall": "recall"},
            "items_with_truth": rows.num_rows, "resolved_with_truth": overall["items"], "f1": overall["f1"],
            "precision": overall["precision"], "recall": overall["recall"], "true_regions": overall["true_regions"],
            "predicted_regions": overall["predicted_regions"], "by_method": by_method}
