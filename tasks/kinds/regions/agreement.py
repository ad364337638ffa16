"""Agreement between annotators on regions (boxes, segments): pairwise IoU-matched F1 and mean IoU, per pair
and label.

Two answers on the same item agree on a region when they hold regions of the same label at IoU >=
`match_iou` (matched one-to-one, best overlaps first); F1 = 2 x matched / (regions of one + regions of
the other), pooled over the items two sources share. Mean IoU of the matched regions says how tightly
they draw once they agree. Chance agreement on regions is negligible (two random regions rarely overlap
by half), so no chance correction is applied.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .corners import corner_iou
from .match import greedy_match, group_pairs

__all__ = ["pairwise_agreement"]

LOWEST_PAIRS = 10


def pairwise_agreement(ans_item: np.ndarray, ans_src: np.ndarray, source_ids: Sequence[str],
                       box_row: np.ndarray, box_corners: np.ndarray, box_label: np.ndarray,
                       classes: Sequence[str], match_iou: float) -> dict:
    """JSON-ready: pooled F1 and mean IoU, per label, and the least agreeing source pairs.

    Answers are given by item and source codes (`source_ids` names the codes); regions by answer row,
    corners and label code."""
    ans_item = np.asarray(ans_item, np.int64)
    ans_src = np.asarray(ans_src, np.int64)
    box_row = np.asarray(box_row, np.int64)
    box_label = np.asarray(box_label, np.int64)
    n_ans, K, n_src = len(ans_item), len(classes), len(source_ids)
    # Answer pairs: two different sources on one image (each unordered pair once).
    aorder = np.argsort(ans_item, kind="stable")
    a, b = group_pairs(ans_item, ans_item[aorder])
    b = aorder[b]
    keep = ans_src[a] < ans_src[b]
    a, b = a[keep], b[keep]
    if not len(a):
        return {"n_pairs": 0, "n_items": 0, "f1": None, "mean_iou": None, "by_label": [], "lowest_pairs": []}
    # Box pairs of those answers, same label, overlapping enough; matched one-to-one per answer pair.
    box_item = ans_item[box_row]
    border = np.argsort(box_item, kind="stable")
    i, j = group_pairs(box_item, box_item[border])
    j = border[j]
    ok = (ans_src[box_row[i]] < ans_src[box_row[j]]) & (box_label[i] == box_label[j])
    i, j = i[ok], j[ok]
    iou = corner_iou(box_corners[i], box_corners[j])
    ok = iou >= match_iou
    i, j, iou = i[ok], j[ok], iou[ok]
    win = greedy_match(i * n_ans + box_row[j], j * n_ans + box_row[i], iou)
    i, j, iou = i[win], j[win], iou[win]
    # Per source pair: shared images, boxes drawn by each on them, matches and their IoU.
    pair_key = ans_src[a] * n_src + ans_src[b]
    keys, pair_of = np.unique(pair_key, return_inverse=True)
    n_boxes = np.bincount(box_row, minlength=n_ans)
    per_label = np.bincount(box_row * K + box_label, minlength=n_ans * K).reshape(n_ans, K)
    m_key = np.searchsorted(keys, ans_src[box_row[i]] * n_src + ans_src[box_row[j]])
    n_pairs = len(keys)
    items = np.bincount(pair_of, minlength=n_pairs)
    drawn = np.bincount(pair_of, weights=n_boxes[a] + n_boxes[b], minlength=n_pairs)
    matched = np.bincount(m_key, minlength=n_pairs)
    iou_sum = np.bincount(m_key, weights=iou, minlength=n_pairs)
    f1 = np.where(drawn > 0, 2 * matched / np.maximum(drawn, 1), np.nan)
    by_label = []
    label_drawn = (per_label[a] + per_label[b]).sum(axis=0)
    label_matched = np.bincount(box_label[i], minlength=K)
    label_iou = np.bincount(box_label[i], weights=iou, minlength=K)
    for k, name in enumerate(classes):
        if label_drawn[k]:
            by_label.append({"label": name, "n_boxes": int(label_drawn[k]),
                             "f1": round(float(2 * label_matched[k] / label_drawn[k]), 6),
                             "mean_iou": round(float(label_iou[k] / label_matched[k]), 6) if label_matched[k] else None})
    rows = [{"source_a": source_ids[int(k // n_src)], "source_b": source_ids[int(k % n_src)], "n_items": int(n),
             "f1": None if np.isnan(f) else round(float(f), 6),
             "mean_iou": round(float(s / mm), 6) if mm else None}
            for k, n, f, s, mm in zip(keys, items, f1, iou_sum, matched)]
    rows.sort(key=lambda r: (2.0 if r["f1"] is None else r["f1"], r["source_a"], r["source_b"]))
    total = float(drawn.sum())
    return {"n_pairs": n_pairs, "n_items": len(np.unique(ans_item[a])),
            "f1": round(2 * float(matched.sum()) / total, 6) if total else None,
            "mean_iou": round(float(iou_sum.sum() / matched.sum()), 6) if matched.sum() else None,
            "by_label": by_label, "lowest_pairs": rows[:LOWEST_PAIRS]}
