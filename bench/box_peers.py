"""Peer box-consolidation rules for bench/boxes.py, written from their documented behaviour.

- CVAT (consensus merging, `iou_threshold` and `quorum` settings): boxes of different annotators
  whose IoU reaches the threshold are the same object; an object is kept when at least `quorum`
  (a share) of the image's annotators drew it; its box is the mean of the matched boxes and its
  label the most voted one.
- SageMaker Ground Truth (built-in bounding-box consolidation): "finds the most similar boxes from
  different workers based on the Jaccard index" and averages them; every matched group is output.
Both score a box by the share of annotators that drew it (what mAP ranks by). Weighted boxes fusion
(ensemble-boxes) runs in bench/.peers-venv (bench/peers/run_box_peers.py).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tasks.kinds.boxes.geometry import iou_matrix

__all__ = ["cvat_quorum", "sagemaker_average"]


def _clusters(answers: list[np.ndarray], iou_thr: float) -> list[list[tuple[int, np.ndarray, int]]]:
    """Group boxes of different annotators by IoU with the group's mean box (best match first, one box
    per annotator and group). `answers[k]` is an (n, 5) array x, y, w, h, label of annotator k."""
    groups: list[list[tuple[int, np.ndarray, int]]] = []
    for k, ans in enumerate(answers):
        if not len(ans):
            continue
        if groups:
            means = np.array([np.mean([b for _, b, _ in g], axis=0) for g in groups])
            iou = iou_matrix(ans[:, :4], means)
            taken_b, taken_g = set(), set()
            for flat in np.argsort(-iou, axis=None):
                bi, gi = divmod(int(flat), len(groups))
                if iou[bi, gi] < iou_thr:
                    break
                if bi in taken_b or gi in taken_g:
                    continue
                groups[gi].append((k, ans[bi, :4], int(ans[bi, 4])))
                taken_b.add(bi)
                taken_g.add(gi)
            rest = [bi for bi in range(len(ans)) if bi not in taken_b]
        else:
            rest = list(range(len(ans)))
        groups.extend([[(k, ans[bi, :4], int(ans[bi, 4]))] for bi in rest])
    return groups


def _merge(groups, n_annotators: int, quorum: float) -> list[tuple[float, float, float, float, int, float]]:
    out = []
    for g in groups:
        share = len(g) / n_annotators
        if share + 1e-9 < quorum:
            continue
        mean = np.mean([b for _, b, _ in g], axis=0)
        label = Counter(lab for _, _, lab in g).most_common(1)[0][0]
        out.append((*mean.tolist(), label, share))
    return out


def cvat_quorum(answers: list[np.ndarray], iou_thr: float = 0.5, quorum: float = 0.5):
    """CVAT's rule: boxes drawn by at least `quorum` of the annotators, averaged, majority label."""
    return _merge(_clusters(answers, iou_thr), len(answers), quorum)


def sagemaker_average(answers: list[np.ndarray], iou_thr: float = 0.5):
    """SageMaker Ground Truth's rule: every group of most similar (Jaccard) boxes, averaged."""
    return _merge(_clusters(answers, iou_thr), len(answers), 0.0)
