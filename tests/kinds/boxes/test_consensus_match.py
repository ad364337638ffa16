"""The vectorised matching under box consolidation, gold scoring and agreement, against plain loops."""

from __future__ import annotations

import numpy as np

from tasks.kinds.boxes.geometry import iou_matrix, iou_pairs, to_xyxy
from tasks.kinds.regions.corners import corner_iou
from tasks.kinds.regions.match import greedy_match, group_pairs


def _greedy_loop(u, v, s):
    kept = np.zeros(len(u), bool)
    used_u, used_v = set(), set()
    for e in sorted(range(len(u)), key=lambda e: (-s[e], e)):
        if u[e] not in used_u and v[e] not in used_v:
            kept[e] = True
            used_u.add(u[e])
            used_v.add(v[e])
    return kept


def test_greedy_match_is_the_best_first_walk():
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(1, 40))
        u, v = rng.integers(0, 7, n), rng.integers(0, 7, n)
        s = rng.integers(0, 4, n).astype(float)  # many ties: the edge order breaks them
        assert (greedy_match(u, v, s) == _greedy_loop(u, v, s)).all()
    # Sparse keys (box x answer codes) are compressed, same result.
    u = np.array([10**12, 5, 10**12]); v = np.array([1, 1, 2]); s = np.array([0.9, 0.95, 0.5])
    assert greedy_match(u, v, s).tolist() == [False, True, True]


def test_group_pairs_lists_every_pair_of_a_group():
    a = np.array([2, 0, 1, 2])
    b = np.array([0, 0, 2, 2, 2])  # sorted
    i, j = group_pairs(a, b)
    got = sorted(zip(i.tolist(), j.tolist()))
    want = sorted((x, y) for x in range(len(a)) for y in range(len(b)) if a[x] == b[y])
    assert got == want


def test_iou_helpers_agree():
    a = np.array([[0, 0, 10, 10], [5, 5, 10, 20]], float)
    b = np.array([[5, 0, 10, 10], [5, 5, 10, 20]], float)
    assert np.allclose(iou_pairs(a, b), [50 / 150, 1.0])
    assert np.allclose(corner_iou(to_xyxy(a), to_xyxy(b)), np.diag(iou_matrix(a, b)))
