"""COCO mAP of predicted boxes against true boxes, computed by pycocotools' COCOeval.

COCOeval is the reference implementation of the detection metric every model card quotes:
mAP@[.5:.95] (precision averaged over 101 recall points, over IoU thresholds 0.50 to 0.95 by 0.05,
over categories) and mAP@0.5. Detections are ranked by their score: a box's consensus confidence
where recorded, else its machine `score`, else the image's confidence. `maxDets` is raised to the
most boxes any image has, so a crowded image is not cut at COCO's default 100.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from tasks.errors import InputError

__all__ = ["UNRESOLVED", "coco_map", "parse_boxes", "resolved_scores"]

UNRESOLVED = "(unresolved)"


def parse_boxes(text: str | None, where: str) -> list[dict]:
    """One answer's JSON as a list of box dicts; `where` names the item in the error for anything else."""
    try:
        boxes = json.loads(text) if text is not None else []
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not JSON ({e.msg}); expected a list of boxes like "
                         '[{"x": 1, "y": 2, "w": 30, "h": 40, "label": "car"}]') from None
    if not isinstance(boxes, list) or not all(isinstance(b, dict) for b in boxes):
        raise InputError(f"{where}: expected a list of boxes, got {text[:80]!r}")
    for k, b in enumerate(boxes):
        missing = [f for f in ("x", "y", "w", "h", "label") if b.get(f) is None]
        if missing:
            raise InputError(f"{where}: box [{k}] has no {', '.join(missing)}")
    return boxes


def coco_map(truth: Sequence[list[dict]], predicted: Sequence[list[dict]], labels: Sequence[str],
             fallback_scores: Sequence[float] | None = None) -> dict[str, Any]:
    """mAP@[.5:.95] and mAP@0.5 of `predicted` against `truth`, aligned lists of per-image box lists.

    Labels outside `labels` get categories of their own (a predicted unknown label is a false positive).
    Returns `map`, `map50` (None when no image has a true box), `per_label` (AP@[.5:.95] of each label with
    true boxes) and `images`, `true_boxes`, `predicted_boxes`.
    """
    # Imported here: config validation loads every kind's facets.
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = list(labels) + sorted({b["label"] for img in (*truth, *predicted) for b in img} - set(labels))
    cat = {name: i for i, name in enumerate(names, start=1)}
    images = [{"id": i} for i in range(1, len(truth) + 1)]
    gts, dets = [], []
    for img, boxes in enumerate(truth, start=1):
        for b in boxes:
            bbox = [float(b[k]) for k in ("x", "y", "w", "h")]
            gts.append({"id": len(gts) + 1, "image_id": img, "category_id": cat[b["label"]], "bbox": bbox,
                        "area": bbox[2] * bbox[3], "iscrowd": 0})
    for img, boxes in enumerate(predicted, start=1):
        for b in boxes:
            score = next((b[k] for k in ("confidence", "score") if b.get(k) is not None), None)
            if score is None:
                score = fallback_scores[img - 1] if fallback_scores is not None else 1.0
            dets.append({"image_id": img, "category_id": cat[b["label"]], "bbox": [float(b[k]) for k in ("x", "y", "w", "h")],
                         "score": float(score)})
    out = {"images": len(truth), "true_boxes": len(gts), "predicted_boxes": len(dets)}
    if not gts:
        return {"map": None, "map50": None, "per_label": {}, **out}
    if not dets:  # pycocotools cannot load an empty result list; nothing found is an AP of 0
        return {"map": 0.0, "map50": 0.0, "per_label": dict.fromkeys(sorted({b["label"] for img in truth for b in img}), 0.0),
                **out}
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):  # pycocotools reports progress on stdout
        gt = COCO()
        gt.dataset = {"images": images, "annotations": gts, "categories": [{"id": i, "name": n} for n, i in cat.items()]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        most = max(max((len(b) for b in truth), default=0), max((len(b) for b in predicted), default=0))
        ev.params.maxDets = [1, 10, max(100, most)]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # precision[t, r, k, area, maxDets]: AP of category k is its mean over IoU thresholds and recall points
    # (-1 marks a category without true boxes: no AP).
    prec = ev.eval["precision"][:, :, :, 0, -1]
    per_label = {names[cat_id - 1]: round(float(prec[:, :, k][prec[:, :, k] > -1].mean()), 4)
                 for k, cat_id in enumerate(ev.params.catIds) if (prec[:, :, k] > -1).any()}
    return {"map": round(float(ev.stats[0]), 4), "map50": round(float(ev.stats[1]), 4), "per_label": per_label, **out}


def resolved_scores(con: Any, truth: pa.Table, labels: Sequence[str]) -> dict[str, Any]:
    """`ExportFacet.evaluate` for boxes: COCO mAP of the resolved answers in `con` (`labels`) against `truth`
    (`item_id`, `truth`: the truth file's box JSON), overall and per labeling method.

    Items with truth but no resolved answer are counted under "(unresolved)" and left out of the scores
    (an unresolved image has no answer to score, not an empty one)."""
    con.register("_truth", truth)
    try:
        rows = con.sql(
            "SELECT t.item_id, t.truth, l.answer::VARCHAR AS predicted, l.confidence, coalesce(l.method, $u) AS method"
            " FROM _truth t LEFT JOIN labels l ON l.item_id = t.item_id AND l.decision = 'resolved' ORDER BY t.item_id",
            params={"u": UNRESOLVED}).fetchall()
    finally:
        con.unregister("_truth")
    parsed = [(parse_boxes(t, f"truth file: item {i}"), parse_boxes(p, f"labels: item {i}") if m != UNRESOLVED else None,
               c, m) for i, t, p, c, m in rows]

    def score(method: str | None) -> dict[str, Any]:
        part = [(t, p, c) for t, p, c, m in parsed if m != UNRESOLVED and method in (None, m)]
        return coco_map([t for t, _, _ in part], [p for _, p, _ in part], labels,
                        [c if c is not None else 1.0 for _, _, c in part])

    overall = score(None)
    methods = [m for *_, m in parsed]
    by_method = {}
    for m in sorted(set(methods), key=lambda m: (-methods.count(m), m)):
        s = score(m) if m != UNRESOLVED else {"map": None, "map50": None}
        by_method[m] = {"items": methods.count(m), "map": s["map"], "map50": s["map50"]}
    return {"metric": "map", "titles": {"map": "mAP@[.5:.95]", "map50": "mAP@.5"}, "items_with_truth": len(rows), "resolved_with_truth": overall["images"],
            "map": overall["map"], "map50": overall["map50"], "per_label": overall["per_label"],
            "true_boxes": overall["true_boxes"],
            "predicted_boxes": overall["predicted_boxes"], "by_method": by_method}
