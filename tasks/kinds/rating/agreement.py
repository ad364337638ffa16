"""Agreement on ordinal scales: Krippendorff's alpha at every level (tasks/consensus/alpha.py) over rated
units, and weighted Cohen's kappa."""

from __future__ import annotations

__all__ = ["WEIGHTS", "krippendorff_alpha", "weighted_kappa", "weighted_kappa_pairs"]

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.alpha import LEVELS, alpha_from_counts, counts_of
from tasks.consensus.votes import check_option

from .consensus import encode_ratings

WEIGHTS = ("none", "linear", "quadratic")


def krippendorff_alpha(ratings: pa.Table, scale: tuple[int, int], level: str = "ordinal") -> dict:
    """Alpha of ``ratings(item_id, source_id, score[, criterion])`` over units (item, criterion).

    The value set is the whole scale, so a scale point nobody used still counts in the ordinal metric
    as an empty rank (it adds no distance), as Krippendorff defines it. Returns dict(alpha, level,
    n_units (pairable), n_values (pairable)).
    """
    check_option("level", level, LEVELS)
    enc = encode_ratings(ratings, scale)
    lo, hi = scale
    values = np.arange(lo, hi + 1)
    counts = counts_of(enc.unit, (enc.score - lo).astype(np.int64), len(values))
    m = np.bincount(enc.unit, minlength=len(enc.unit_item))
    return {"alpha": alpha_from_counts(counts, level, values), "level": level,
            "n_units": int((m >= 2).sum()), "n_values": int(m[m >= 2].sum())}


def _kappa_weights(k: int, weights: str) -> np.ndarray:
    d = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / max(k - 1, 1)
    return {"none": (d > 0).astype(np.float64), "linear": d, "quadratic": d * d}[weights]


def weighted_kappa(a: np.ndarray, b: np.ndarray, scale: tuple[int, int], weights: str = "quadratic") -> float:
    """Cohen's kappa of two raters' paired scores with disagreement weights |i-j| (linear) or (i-j)^2.

    kappa = 1 - sum w O / sum w E, E the product of the two raters' marginals; NaN when E has no weight.
    """
    check_option("weights", weights, WEIGHTS)
    lo, hi = scale
    k = hi - lo + 1
    obs = np.bincount((np.asarray(a) - lo) * k + (np.asarray(b) - lo), minlength=k * k).reshape(k, k)
    return _kappa_from_confusions(obs[None].astype(np.float64), _kappa_weights(k, weights))[0]


def _kappa_from_confusions(obs: np.ndarray, w: np.ndarray) -> np.ndarray:
    n = obs.sum(axis=(1, 2))
    expected = obs.sum(axis=2)[:, :, None] * obs.sum(axis=1)[:, None, :] / np.maximum(n, 1)[:, None, None]
    we = (expected * w).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(we > 0, 1 - (obs * w).sum(axis=(1, 2)) / we, np.nan)


def weighted_kappa_pairs(ratings: pa.Table, scale: tuple[int, int], weights: str = "quadratic",
                         min_shared: int = 10) -> pa.Table:
    """Weighted kappa of every pair of raters that scored at least ``min_shared`` units in common.

    One self-join on the unit and one bincount over (pair, score, score): no loop over pairs. A rater
    who scored a unit twice counts with its first score. Returns ``source_a, source_b, kappa, n_shared``.
    """
    check_option("weights", weights, WEIGHTS)
    enc = encode_ratings(ratings, scale)
    lo, hi = scale
    k = hi - lo + 1
    key = enc.unit * len(enc.source_ids) + enc.source
    _, first = np.unique(key, return_index=True)
    t = pa.table({"u": enc.unit[first], "s": enc.source[first], "x": (enc.score[first] - lo).astype(np.int64)})
    j = t.join(t, "u", right_suffix="_r")
    j = j.filter(pc.less(j["s"], j["s_r"]))
    sa, sb = j["s"].to_numpy(), j["s_r"].to_numpy()
    n_s = len(enc.source_ids)
    pair, pair_idx = np.unique(sa * n_s + sb, return_inverse=True)
    flat = (pair_idx * k + j["x"].to_numpy()) * k + j["x_r"].to_numpy()
    obs = np.bincount(flat, minlength=len(pair) * k * k).reshape(len(pair), k, k).astype(np.float64)
    n = obs.sum(axis=(1, 2))
    keep = n >= min_shared
    kappa = _kappa_from_confusions(obs[keep], _kappa_weights(k, weights))
    return pa.table({"source_a": enc.source_ids.take(pa.array(pair[keep] // n_s)),
                     "source_b": enc.source_ids.take(pa.array(pair[keep] % n_s)),
                     "kappa": kappa, "n_shared": pa.array(n[keep].astype(np.int32))})
