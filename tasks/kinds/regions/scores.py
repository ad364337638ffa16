"""Scoring region answers against accepted ones: true and false positives, misses, localisation.

A region is a true positive when it matches a region of the accepted answer of the same label at IoU >=
`match_iou` (one-to-one, best overlaps first, as COCO and VOC match detections); every other region is
a false positive and every unmatched accepted region a miss. Per source that gives precision, recall
and F1 with Wilson intervals, and the localisation error (mean 1 - IoU of its true positives); the
ban rule is the shared one (`tasks.consensus.scoring.score_table`) on F1 cells, as spans do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.gold import wilson_interval

from .corners import corner_iou
from .match import greedy_match, group_pairs

__all__ = ["AnswerScores", "score_answers", "source_scores"]

_STR = pa.string()


@dataclass
class AnswerScores:
    """Per answer: matched regions, its regions, the accepted regions of its item, summed IoU of the matches."""

    tp: np.ndarray
    n_boxes: np.ndarray
    n_ref: np.ndarray
    iou_sum: np.ndarray

    @property
    def exact(self) -> np.ndarray:
        """The answer is the accepted answer: every region matched, none missing."""
        return (self.tp == self.n_boxes) & (self.tp == self.n_ref)


def score_answers(ans_item: np.ndarray, box_row: np.ndarray, box_corners: np.ndarray, box_label: np.ndarray,
                  ref_item: np.ndarray, ref_corners: np.ndarray, ref_label: np.ndarray, n_items: int,
                  match_iou: float) -> AnswerScores:
    """Match each answer's regions (item codes per answer, label codes per region, corners) to its item's accepted regions."""
    ans_item = np.asarray(ans_item, np.int64)
    box_row = np.asarray(box_row, np.int64)
    ref_item = np.asarray(ref_item, np.int64)
    n_ans = len(ans_item)
    order = np.argsort(ref_item, kind="stable")
    i, j = group_pairs(ans_item[box_row], ref_item[order])
    j = order[j]
    same = np.asarray(box_label)[i] == np.asarray(ref_label)[j]
    i, j = i[same], j[same]
    iou = corner_iou(box_corners[i], ref_corners[j])
    ok = iou >= match_iou
    i, j, iou = i[ok], j[ok], iou[ok]
    # One accepted box per answer: the ref side of a candidate is (answer, accepted box).
    win = greedy_match(i, box_row[i] * max(len(ref_item), 1) + j, iou)
    rows = box_row[i[win]]
    return AnswerScores(np.bincount(rows, minlength=n_ans), np.bincount(box_row, minlength=n_ans),
                        np.bincount(ref_item, minlength=n_items)[ans_item],
                        np.bincount(rows, weights=iou[win], minlength=n_ans))


def source_scores(source: pa.Array, sc: AnswerScores) -> pa.Table:
    """Per source: answers scored, exact answers, TP / FP / FN, precision, recall, F1 (Wilson intervals
    on TP over the regions drawn, the regions to find, and TP + (FP + FN) / 2) and localisation error."""
    enc = (source.combine_chunks() if isinstance(source, pa.ChunkedArray) else source).cast(_STR).dictionary_encode()
    idx = enc.indices.to_numpy(zero_copy_only=False)
    m = len(enc.dictionary)

    def total(x):
        return np.bincount(idx, weights=np.asarray(x, np.float64), minlength=m)

    tp, drawn, ref = total(sc.tp), total(sc.n_boxes), total(sc.n_ref)
    fp, fn = drawn - tp, ref - tp
    f1_n = tp + (fp + fn) / 2
    out = {"source_id": enc.dictionary, "n_gold": pa.array(np.bincount(idx, minlength=m).astype(np.int64)),
           "exact": pa.array(total(sc.exact).astype(np.int64)), "tp": pa.array(tp.astype(np.int64)),
           "fp": pa.array(fp.astype(np.int64)), "fn": pa.array(fn.astype(np.int64))}
    for name, n in (("precision", drawn), ("recall", ref), ("f1", f1_n)):
        low, high = wilson_interval(tp, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            val = np.where(n > 0, tp / np.where(n > 0, n, 1), np.nan)
        out[name] = pa.array(val, mask=np.isnan(val))
        out[f"{name}_low"] = pa.array(low)
        out[f"{name}_high"] = pa.array(high)
    with np.errstate(invalid="ignore", divide="ignore"):
        loc = np.where(tp > 0, 1 - total(sc.iou_sum) / np.where(tp > 0, tp, 1), np.nan)
    out["loc_error"] = pa.array(loc, mask=np.isnan(loc))
    t = pa.table(out)
    return t.sort_by("source_id") if t.num_rows else t.set_column(0, "source_id", pc.cast(t["source_id"], _STR))
