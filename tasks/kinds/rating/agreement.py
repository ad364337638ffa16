"""Agreement on ordinal scales: Krippendorff's alpha at every level and weighted Cohen's kappa."""

from __future__ import annotations

__all__ = ["LEVELS", "WEIGHTS", "alpha_from_coincidences", "coincidences", "krippendorff_alpha", "weighted_kappa", "weighted_kappa_pairs"]

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.votes import check_option

from .consensus import encode_ratings

LEVELS = ("nominal", "ordinal", "interval", "ratio")
WEIGHTS = ("none", "linear", "quadratic")


def coincidences(unit: np.ndarray, value: np.ndarray, n_values: int) -> np.ndarray:
    """Krippendorff's coincidence matrix o[c, k] from (unit code, value code) pairs, one per rating.

    o = sum over pairable units (m_u >= 2) of (n_u n_u^T - diag(n_u)) / (m_u - 1), n_u the unit's value
    counts: every ordered pair of ratings within a unit, each unit worth m_u pairable values.
    """
    n_units = int(unit.max(initial=-1)) + 1
    counts = np.bincount(unit * n_values + value, minlength=n_units * n_values).reshape(n_units, n_values)
    m = counts.sum(axis=1).astype(np.float64)
    keep = m >= 2
    c = counts[keep].astype(np.float64)
    scaled = c / (m[keep] - 1)[:, None]
    return c.T @ scaled - np.diag(scaled.sum(axis=0))


def _distances(values: np.ndarray, n_c: np.ndarray, level: str) -> np.ndarray:
    """Squared difference function delta^2(c, k) of each level (Krippendorff 2011, section E)."""
    v = values.astype(np.float64)
    if level == "nominal":
        return 1.0 - np.eye(len(v))
    if level == "interval":
        return (v[:, None] - v[None, :]) ** 2
    if level == "ratio":
        s = v[:, None] + v[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nan_to_num(((v[:, None] - v[None, :]) / s) ** 2)
    cum = np.concatenate([[0.0], np.cumsum(n_c)])  # ordinal: marginal mass between the two ranks
    lo = np.minimum.outer(np.arange(len(v)), np.arange(len(v)))
    hi = np.maximum.outer(np.arange(len(v)), np.arange(len(v)))
    return (cum[hi + 1] - cum[lo] - (n_c[:, None] + n_c[None, :]) / 2) ** 2


def alpha_from_coincidences(o: np.ndarray, values: np.ndarray, level: str) -> float:
    """alpha = 1 - (n - 1) sum o * delta / sum n_c n_k delta; NaN when every pairable value is the same."""
    n_c = o.sum(axis=1)
    n = n_c.sum()
    delta = _distances(values, n_c, level)
    expected = (np.outer(n_c, n_c) * delta).sum()
    if n <= 1 or expected == 0:
        return float("nan")
    return float(1 - (n - 1) * (o * delta).sum() / expected)


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
    o = coincidences(enc.unit, (enc.score - lo).astype(np.int64), len(values))
    m = np.bincount(enc.unit, minlength=len(enc.unit_item))
    return {"alpha": alpha_from_coincidences(o, values, level), "level": level,
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
