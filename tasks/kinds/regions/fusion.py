"""Region consolidation: cluster the sources' regions per item, learn each source, fuse, decide.

Why this shape. Regions from several people on one item (boxes on an image, segments of a clip) are the
same object when they overlap (IoU >= `match_iou`); who drew which region is unknown, so regions are first
clustered: the answers of an item are taken one after another (most reliable source first) and each region
joins the cluster whose current fused region it overlaps most, at most one region per answer and cluster,
a region of the cluster's label preferred over a better-overlapping region of another label (a wrong class
still localises the object). Every item is processed at once: step k matches the k-th answer of every item.

Whether a cluster is a real object, and of which class, is a Dawid–Skene model over clusters: the
truth is "absent" or one of the classes; each source that answered the item either drew a region in
the cluster (with a label) or did not, with a per-source confusion matrix whose "absent" row is its
false-positive profile and whose "no region" column is its miss rate. So a region only some sources drew
is kept when the ones that drew it are precise and the ones that did not are known to miss things;
a source whose regions nobody confirms (a spammer) learns a low precision and stops counting.
Accepted answers (gold, adjudications) pin the clusters of their items: matched clusters are that
object, unmatched ones absent, and a reference region nobody drew is a miss by every source.

The fused region weighs each member by its source's learned localisation precision (the inverse of its
mean squared edge error as a share of the region's size, measured leave-one-out against the others' fused
region, or against the reference region on accepted items), so a careless hand moves the result less than
a careful one. Regions are corners of any number of axes (see the package docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .corners import corner_iou, extent
from .match import greedy_match, group_pairs

__all__ = ["FusionSettings", "RegionFusion", "fuse_regions"]

_EPS = 1e-12
LOC_DEBIAS_ROUNDS = 5
"""Rounds of the fixed point that separates each source's edge variance from its reference's (few: it converges fast)."""
FIRST_PASS_ITER = 15
"""The first pass only orders the sources and weighs their corners for the second: a rough fit will do."""


@dataclass(frozen=True)
class FusionSettings:
    n_classes: int
    match_iou: float = 0.5
    max_iter: int = 50
    tol: float = 1e-4
    """EM stops when no cluster's posterior moves by more than this."""
    relative_error: bool = True
    """Edge errors as shares of the region's size (boxes: a hand errs more on a big object) or, False, in the
    regions' own units (time segments: an onset is placed within a tenth of a second whatever the length)."""
    label_preference: float = 1.0
    """Added to the IoU when a region and a cluster have the same label: a same-label partner wins."""
    loc_prior_regions: float = 5.0
    """Pseudo-regions of the pooled edge error each source's error is shrunk toward (few regions, pooled)."""


@dataclass
class RegionFusion:
    """The result, aligned with the inputs: per region its cluster; per cluster its fused corners and posterior."""

    box_cluster: np.ndarray
    cluster_item: np.ndarray
    cluster_corners: np.ndarray
    posterior: np.ndarray
    """(clusters, 1 + classes): P(absent), P(class k)."""
    expected_iou: np.ndarray
    """Per cluster: the expected IoU of its fused region with the object (from the members' learned edge errors)."""
    keep: np.ndarray
    label: np.ndarray
    confidence: np.ndarray
    item_confidence: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    loc_error: np.ndarray
    """Per source: learned mean 1 - IoU of its regions with the fused region of real objects (NaN: no regions)."""
    weight: np.ndarray
    iterations: int
    converged: bool


def fuse_regions(n_items: int, ans_item: np.ndarray, ans_src: np.ndarray, n_src: int, box_ans: np.ndarray,
                 corners: np.ndarray, box_label: np.ndarray, s: FusionSettings,
                 ref_item: np.ndarray | None = None, ref_corners: np.ndarray | None = None,
                 ref_label: np.ndarray | None = None, ref_items: np.ndarray | None = None) -> RegionFusion:
    """Consolidate every item's answers (integer codes; `box_ans` = the answer row of each region,
    `corners` its (n, 2d) corners).

    `ref_items` marks items with an accepted answer (whose regions are `ref_*`, possibly none).
    """
    ans_item = np.asarray(ans_item, np.int64)
    ans_src = np.asarray(ans_src, np.int64)
    box_ans = np.asarray(box_ans, np.int64)
    xyxy = np.asarray(corners, np.float64)
    label = np.asarray(box_label, np.int64)
    weight = np.ones(n_src)
    has_ref = ref_items is not None and bool(np.any(ref_items))
    # Pass 1: equal weights, answers in source order; pass 2: re-clustered, most precise sources first.
    priority = np.zeros(n_src)
    for max_iter in (min(s.max_iter, FIRST_PASS_ITER), s.max_iter):
        cl = _cluster(ans_item, ans_src, priority, box_ans, xyxy, label, weight, s)
        fit = _learn(n_items, ans_item, ans_src, n_src, box_ans, xyxy, label, cl, weight, s, max_iter,
                     (ref_item, ref_corners, ref_label, ref_items) if has_ref else None)
        weight = fit.weight
        priority = -(fit.precision * weight / weight.max())
    return fit


# -- clustering ------------------------------------------------------------------------------------
@dataclass
class _Clusters:
    box_cluster: np.ndarray
    item: np.ndarray
    label: np.ndarray


def _cluster(ans_item, ans_src, priority, box_ans, xyxy, label, weight, s: FusionSettings) -> _Clusters:
    n_ans = len(ans_item)
    order = np.lexsort((np.arange(n_ans), ans_src, priority[ans_src], ans_item))
    sizes = np.bincount(ans_item[order], minlength=int(ans_item.max()) + 1 if n_ans else 0)
    step = np.empty(n_ans, np.int64)
    step[order] = np.arange(n_ans) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    box_item = ans_item[box_ans]
    box_step = step[box_ans]
    bw = weight[ans_src[box_ans]]
    box_cluster = np.full(len(box_ans), -1, np.int64)
    c_item = np.zeros(0, np.int64)
    c_label = np.zeros(0, np.int64)
    c_sum = np.zeros((0, xyxy.shape[1]))
    c_w = np.zeros(0)
    for k in range(int(box_step.max()) + 1 if len(box_step) else 0):
        idx = np.flatnonzero(box_step == k)
        idx = idx[np.argsort(box_item[idx], kind="stable")]
        matched = np.zeros(len(idx), bool)
        if len(c_item):
            corder = np.argsort(c_item, kind="stable")
            i, j = group_pairs(box_item[idx], c_item[corder])
            cid = corder[j]
            iou = corner_iou(xyxy[idx[i]], c_sum[cid] / c_w[cid, None])
            ok = iou >= s.match_iou
            i, cid, iou = i[ok], cid[ok], iou[ok]
            score = iou + s.label_preference * (label[idx[i]] == c_label[cid])
            win = greedy_match(i, cid, score)
            i, cid = i[win], cid[win]
            b = idx[i]
            box_cluster[b] = cid
            c_sum += _row_sums(cid, xyxy[b] * bw[b, None], len(c_item))
            c_w += np.bincount(cid, weights=bw[b], minlength=len(c_item))
            matched[i] = True
        new = idx[~matched]
        box_cluster[new] = len(c_item) + np.arange(len(new))
        c_item = np.concatenate([c_item, box_item[new]])
        c_label = np.concatenate([c_label, label[new]])
        c_sum = np.concatenate([c_sum, xyxy[new] * bw[new, None]])
        c_w = np.concatenate([c_w, bw[new]])
    return _Clusters(box_cluster, c_item, c_label)


# -- learning ---------------------------------------------------------------------------------------
def _learn(n_items, ans_item, ans_src, n_src, box_ans, xyxy, label, cl: _Clusters, weight, s: FusionSettings,
           max_iter: int, ref) -> RegionFusion:
    K = s.n_classes
    T = K + 1
    n_real = len(cl.item)
    c_item = cl.item
    box_cluster = cl.box_cluster
    src_b = ans_src[box_ans]
    fused = _fused(box_cluster, xyxy, weight[src_b], n_real)
    pinned = np.full(n_real, -1, np.int64)
    centre = fused.copy()  # what each member's corner error is measured against (reference where known)
    has_centre = np.zeros(n_real, bool)
    pseudo_item = np.zeros(0, np.int64)
    pseudo_class = np.zeros(0, np.int64)
    if ref is not None:
        r_item, r_corners, r_label, r_items = ref
        r_item = np.asarray(r_item, np.int64)
        r_xyxy = np.asarray(r_corners, np.float64).reshape(-1, xyxy.shape[1])
        in_ref = np.asarray(r_items, bool)[c_item]
        pinned[in_ref] = 0
        rorder = np.argsort(r_item, kind="stable")
        ci = np.flatnonzero(in_ref)
        i, j = group_pairs(c_item[ci], r_item[rorder])
        rj = rorder[j]
        iou = corner_iou(fused[ci[i]], r_xyxy[rj])
        ok = iou >= s.match_iou
        i, rj, iou = i[ok], rj[ok], iou[ok]
        win = greedy_match(ci[i], rj, iou)
        c_hit, r_hit = ci[i[win]], rj[win]
        pinned[c_hit] = np.asarray(r_label, np.int64)[r_hit] + 1
        centre[c_hit] = r_xyxy[r_hit]
        has_centre[c_hit] = True
        missed = np.ones(len(r_item), bool)
        missed[r_hit] = False
        pseudo_item = r_item[missed]
        pseudo_class = np.asarray(r_label, np.int64)[missed] + 1
    all_item = np.concatenate([c_item, pseudo_item])
    all_pinned = np.concatenate([pinned, pseudo_class])
    n_c = len(all_item)

    # Observations: one per (cluster, answer of its image): 0 = no box there, 1 + k = a box of class k.
    aorder = np.argsort(ans_item, kind="stable")
    p_c, j = group_pairs(all_item, ans_item[aorder])
    p_a = aorder[j]
    n_ans = len(ans_item)
    p_key = p_c * n_ans + p_a
    korder = np.argsort(p_key, kind="stable")
    pos = korder[np.searchsorted(p_key[korder], box_cluster * n_ans + box_ans)]
    obs = np.zeros(len(p_c), np.int64)
    obs[pos] = label + 1
    p_src = ans_src[p_a]

    # Start from the majority: a cluster most of the image's answers drew is an object, one fewer than half
    # drew is not (a tie is open). Starting from the shares instead lets lone false boxes pass as objects
    # that the others "missed", which then lowers every recall and keeps them: a self-sustaining optimum.
    n_box = np.bincount(box_cluster, minlength=n_c).astype(np.float64)
    n_obs = np.bincount(p_c, minlength=n_c).astype(np.float64)
    votes = np.bincount(box_cluster * K + label, minlength=n_c * K).reshape(n_c, K).astype(np.float64)
    share = n_box / np.maximum(n_obs, 1)
    share = np.where(share > 0.5, 0.95, np.where(share < 0.5, 0.05, 0.5))
    post = np.zeros((n_c, T))
    post[:, 0] = 1 - share
    post[:, 1:] = share[:, None] * votes / np.maximum(n_box, 1)[:, None]
    is_pin = all_pinned >= 0
    drawn_any = n_box > 0
    seen_key = (((p_src * T + obs) * T)[:, None] + np.arange(T)).ravel()  # flat index of counts[source, obs, truth]
    # Observations come grouped by cluster (group_pairs keeps `p_c` sorted), so per-cluster sums are reduceat
    # over contiguous runs: one pass for every truth at once instead of a bincount per truth.
    runs = np.flatnonzero(np.diff(np.concatenate([[-1], p_c]))) if len(p_c) else np.zeros(0, np.int64)
    runs_ok = len(runs) == n_c and (len(p_c) == 0 or bool(np.all(np.diff(p_c) >= 0)))
    post[is_pin] = np.eye(T)[all_pinned[is_pin]]
    alpha = np.full((T, T), 0.5) + np.eye(T)
    it, converged = 0, False
    for it in range(1, max_iter + 1):
        counts = np.bincount(seen_key, weights=post[p_c].ravel(), minlength=n_src * T * T).reshape(n_src, T, T)
        conf = counts.transpose(0, 2, 1) + alpha[None]  # [source, truth, what was seen]
        conf /= conf.sum(axis=2, keepdims=True)
        prior = post.sum(axis=0) + 1.0
        prior /= prior.sum()
        logconf = np.log(conf)
        seen = _per_cluster(logconf[p_src, :, obs], p_c, runs, runs_ok, n_c)
        # A cluster exists only because someone drew a region: its likelihood is conditioned on that
        # (reference regions nobody drew are observed through the reference and are not).
        none = _per_cluster(logconf[p_src, :, 0], p_c, runs, runs_ok, n_c)
        logp = np.log(prior)[None, :] + seen \
            - np.where(drawn_any[:, None], np.log(np.clip(-np.expm1(none), _EPS, 1.0)), 0.0)
        logp -= logp.max(axis=1, keepdims=True)
        new = np.exp(logp)
        new /= new.sum(axis=1, keepdims=True)
        new[is_pin] = post[is_pin]
        delta = float(np.abs(new - post).max()) if n_c else 0.0
        post = new
        if delta < s.tol:
            converged = True
            break

    present = 1.0 - post[:, 0]
    real_post = post[:n_real]
    # Per source: recall (boxes drawn on real objects), precision (boxes on a real object of their class).
    seen = np.bincount(p_src, weights=present[p_c], minlength=n_src)
    drawn = np.bincount(p_src, weights=present[p_c] * (obs > 0), minlength=n_src)
    recall = np.where(seen > 0, drawn / np.maximum(seen, _EPS), np.nan)
    right = real_post[box_cluster, label + 1]
    n_boxes = np.bincount(src_b, minlength=n_src).astype(np.float64)
    precision = np.where(n_boxes > 0, np.bincount(src_b, weights=right, minlength=n_src) / np.maximum(n_boxes, 1), np.nan)

    # Localisation: each box against the others' fused box (leave-one-out) or the reference box.
    bw = weight[src_b]
    sums = _row_sums(box_cluster, xyxy * bw[:, None], n_real)
    wsum = np.bincount(box_cluster, weights=bw, minlength=n_real)
    rest = wsum[box_cluster] - bw
    loo = (sums[box_cluster] - xyxy * bw[:, None]) / np.maximum(rest, _EPS)[:, None]
    ref_c = has_centre[box_cluster]
    against = np.where(ref_c[:, None], centre[box_cluster], loo)
    usable = ref_c | (rest > 0)
    wh = np.maximum(np.tile(extent(against), 2), _EPS) if s.relative_error else 1.0
    err = np.mean(((xyxy - against) / wh) ** 2, axis=1)
    pw = present[box_cluster] * usable
    m0 = s.loc_prior_regions
    n_pw = np.bincount(src_b, weights=pw, minlength=n_src) + m0
    # A region's error against the others' fused region holds their error too: a careful hand among loose ones
    # looks loose. The fused region's own variance (sum of w_j^2 v_j over the others, over their weight squared)
    # is taken off, with each source's variance v re-estimated from the result a few times (a fixed point).
    mse = np.full(n_src, 0.01)
    for _ in range(LOC_DEBIAS_ROUNDS):
        wv = bw ** 2 * mse[src_b]
        others = np.bincount(box_cluster, weights=wv, minlength=n_real)[box_cluster] - wv
        own = np.where(ref_c, err, np.maximum(err - others / np.maximum(rest, _EPS) ** 2, 0.0))
        pooled = max(float((pw * own).sum() / pw.sum()) if pw.sum() > 0 else 0.01, 1e-6)
        mse = np.maximum((np.bincount(src_b, weights=pw * np.where(usable, own, 0.0), minlength=n_src) + m0 * pooled)
                         / n_pw, 1e-6)
    new_weight = 1.0 / np.maximum(mse, 1e-6)
    new_weight /= new_weight.max() if n_src else 1.0
    fused = _fused(box_cluster, xyxy, new_weight[src_b], n_real)
    # The fused box's corner variance (inverse-variance weighting: 1 / sum of the members' precisions)
    # gives its expected IoU with the true box: a localisation-aware score beside the confidence.
    var = 1.0 / np.maximum(np.bincount(box_cluster, weights=1.0 / np.maximum(mse[src_b], 1e-6), minlength=n_real), _EPS)
    # 1 - IoU is about the sum of the 2d edges' absolute errors as shares of the size (E|e| = sqrt(2 var / pi)).
    spread = np.sqrt(2.0 * var / np.pi)
    if not s.relative_error:
        spread = spread / np.maximum(extent(fused).mean(axis=1), _EPS)
    expected_iou = np.clip(1.0 - xyxy.shape[1] * spread, 0.0, 1.0)
    iou_fused = corner_iou(xyxy, fused[box_cluster])
    wsrc = np.bincount(src_b, weights=present[box_cluster], minlength=n_src)
    loc_error = np.where(wsrc > 0, np.bincount(src_b, weights=present[box_cluster] * (1 - iou_fused), minlength=n_src)
                         / np.maximum(wsrc, _EPS), np.nan)

    # Decisions: a cluster is kept when it is more likely an object than not, with its likeliest class.
    lab = np.argmax(real_post[:, 1:], axis=1) if n_real else np.zeros(0, np.int64)
    keep = present[:n_real] >= 0.5
    c_conf = real_post[np.arange(n_real), lab + 1] if n_real else np.zeros(0)
    # The image's answer is right when every kept box is, every dropped cluster is not an object, and
    # no object was missed by every source (a Poisson count of objects, each missed by all at once).
    log_ok = np.bincount(c_item, weights=np.log(np.where(keep, c_conf, real_post[:, 0]) + _EPS), minlength=n_items)
    p_miss = np.where(np.isnan(recall), 0.0, 1.0 - recall)
    log_all_miss = np.bincount(ans_item, weights=np.log(np.clip(p_miss[ans_src], _EPS, 1.0)), minlength=n_items)
    answered = np.bincount(ans_item, minlength=n_items) > 0
    lam = float(present.sum() / max(answered.sum(), 1))
    item_conf = np.exp(log_ok - lam * np.exp(log_all_miss))
    return RegionFusion(box_cluster, c_item, fused, real_post, expected_iou, keep, lab, c_conf,
                     item_conf, recall, precision, loc_error, new_weight, it, converged)


def _per_cluster(values: np.ndarray, p_c: np.ndarray, runs: np.ndarray, runs_ok: bool, n_c: int) -> np.ndarray:
    """Sum of the (n_obs, T) `values` per cluster: an (n_c, T) array."""
    if runs_ok:
        return np.add.reduceat(values, runs, axis=0) if len(runs) else np.zeros((n_c, values.shape[1]))
    return np.stack([np.bincount(p_c, weights=values[:, t], minlength=n_c) for t in range(values.shape[1])], axis=1)


def _fused(box_cluster: np.ndarray, xyxy: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    sums = _row_sums(box_cluster, xyxy * w[:, None], n)
    return sums / np.maximum(np.bincount(box_cluster, weights=w, minlength=n), _EPS)[:, None]


def _row_sums(idx: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Sum of `rows` (m, c) per index of `idx`: an (n, c) array (bincount per column, faster than add.at)."""
    return np.stack([np.bincount(idx, weights=rows[:, k], minlength=n) for k in range(rows.shape[1])], axis=1) \
        if len(idx) else np.zeros((n, rows.shape[1]))

