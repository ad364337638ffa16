"""Matching regions to regions (boxes, segments), vectorised over every item at once.

Consolidation, gold scoring and agreement all ask the same question: which region of one set is which
region of another, on the same item? Candidate pairs are every pair that shares a group (an item, or
an item and a pair of sources); a one-to-one matching then keeps pairs by descending score, the
greedy rule detection benchmarks (COCO, VOC) use. Both steps are numpy over all groups together, so
no Python loop runs per item.
"""

from __future__ import annotations

import numpy as np

__all__ = ["greedy_match", "group_pairs", "segment_positions"]


def segment_positions(sizes: np.ndarray) -> np.ndarray:
    """For consecutive segments of `sizes`, each element's position inside its segment."""
    sizes = np.asarray(sizes, np.int64)
    return np.arange(int(sizes.sum()), dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)


def group_pairs(group_a: np.ndarray, group_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i, j) with `group_a[i] == group_b[j]`; `group_b` must be sorted.

    Returns the index arrays (i, j), grouped by i. The count is the sum over groups of
    |a in group| x |b in group|: small for images, since each holds a handful of boxes.
    """
    group_a = np.asarray(group_a, np.int64)
    group_b = np.asarray(group_b, np.int64)
    lo = np.searchsorted(group_b, group_a, side="left")
    hi = np.searchsorted(group_b, group_a, side="right")
    counts = hi - lo
    i = np.repeat(np.arange(len(group_a), dtype=np.int64), counts)
    j = np.repeat(lo, counts) + segment_positions(counts)
    return i, j


def greedy_match(u: np.ndarray, v: np.ndarray, score: np.ndarray) -> np.ndarray:
    """One-to-one matching of candidate edges (u, v) by descending score: a mask of the kept edges.

    The same result as walking the edges from the best down and keeping each whose ends are both
    free (ties broken by edge order), computed in rounds: every edge that is the best of both its
    ends is kept, the edges touching a kept end are dropped, and so on. The best remaining edge is
    always kept, so the rounds end; on images they are few (crowded scenes need a handful).
    """
    u = np.asarray(u, np.int64)
    v = np.asarray(v, np.int64)
    score = np.asarray(score, np.float64)
    kept = np.zeros(len(u), bool)
    if not len(u):
        return kept
    if u.max() > 4 * len(u):  # sparse keys (e.g. box x answer): compress so the masks stay small
        u = np.unique(u, return_inverse=True)[1]
    if v.max() > 4 * len(v):
        v = np.unique(v, return_inverse=True)[1]
    # Rank the edges once (best first, ties by edge order); a round then needs no sort: each end's best
    # live edge is its lowest rank, found by writing ranks in reverse (the last write wins).
    order = np.lexsort((np.arange(len(u)), -score))
    u, v = u[order], v[order]
    free_u = np.ones(int(u.max()) + 1, bool)
    free_v = np.ones(int(v.max()) + 1, bool)
    best_u = np.empty(len(free_u), np.int64)
    best_v = np.empty(len(free_v), np.int64)
    alive = np.arange(len(u), dtype=np.int64)
    while alive.size:
        uu, vv = u[alive], v[alive]
        best_u[uu[::-1]] = alive[::-1]
        best_v[vv[::-1]] = alive[::-1]
        win = alive[(best_u[uu] == alive) & (best_v[vv] == alive)]
        kept[order[win]] = True
        free_u[u[win]] = False
        free_v[v[win]] = False
        alive = alive[free_u[uu] & free_v[vv]]
    return kept
