"""Krippendorff's alpha at the four levels of measurement: the one implementation behind every kind's agreement
(the consensus report's nominal alpha and its bootstrap, ratings at the ordinal and interval levels, span tags).

Everything starts from value counts per unit (units x values, a unit's row the number of coders who gave it
each value), which never builds the coders x units matrix: at scale that does not fit, and it silently merges
a coder's repeated values on one unit. Formulas: Krippendorff (2011), "Computing Krippendorff's
Alpha-Reliability".
"""

from __future__ import annotations

__all__ = ["LEVELS", "alpha_from_coincidences", "alpha_from_counts", "coincidences", "counts_of", "disagreements",
           "distances"]

import numpy as np

from .votes import check_option

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def counts_of(unit: np.ndarray, value: np.ndarray, n_values: int) -> np.ndarray:
    """Units x values counts from one (unit code, value code) pair per coder's value (codes from 0)."""
    n_units = int(unit.max(initial=-1)) + 1
    return np.bincount(unit * n_values + value, minlength=n_units * n_values).reshape(n_units, n_values)


def coincidences(counts: np.ndarray) -> np.ndarray:
    """The coincidence matrix o[c, k]: every ordered pair of values within a unit, each pairable unit
    (m_u >= 2 values) worth m_u pairable values: o = sum_u (n_u n_u^T - diag(n_u)) / (m_u - 1)."""
    m = counts.sum(axis=1).astype(np.float64)
    keep = m >= 2
    c = counts[keep].astype(np.float64)
    scaled = c / (m[keep] - 1)[:, None]
    return c.T @ scaled - np.diag(scaled.sum(axis=0))


def distances(values: np.ndarray, n_c: np.ndarray, level: str) -> np.ndarray:
    """The squared difference delta^2(c, k) of each level (section E). Ordinal distances depend on the
    marginals `n_c` (the pairable values at each rank); the other levels ignore them."""
    check_option("level", level, LEVELS)
    v = np.asarray(values, np.float64)
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
    delta = distances(values, n_c, level)
    expected = (np.outer(n_c, n_c) * delta).sum()
    if n <= 1 or expected == 0:
        return float("nan")
    return float(1 - (n - 1) * (o * delta).sum() / expected)


def disagreements(counts: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Each unit's observed disagreement D_u = n_u^T delta n_u / (m_u - 1) (its share of sum o * delta), for
    pairable units only."""
    c = np.asarray(counts, np.float64)
    return np.einsum("uk,kl,ul->u", c, delta, c) / (c.sum(axis=1) - 1)


def alpha_from_counts(counts: np.ndarray, level: str = "nominal", values: np.ndarray | None = None,
                      unit_weights: np.ndarray | None = None) -> np.ndarray | float:
    """Alpha from units x values counts (units with fewer than two values are not pairable and left out).

    ``values`` are the values the columns stand for (default 0, 1, ...; only the ordinal, interval and ratio
    distances read them). ``unit_weights`` (draws x units) gives one alpha per row, each unit counted with its
    weight: how a bootstrap over units is computed without rebuilding any matrix. Alpha is then sums over units
    of D_u and n_u, so a draw costs one product; ordinal distances move with each draw's marginals, so that
    level has no weighted form.
    """
    counts = np.asarray(counts, np.float64)
    values = np.arange(counts.shape[1]) if values is None else np.asarray(values)
    if unit_weights is None:
        return alpha_from_coincidences(coincidences(counts), values, level)
    if level == "ordinal":
        raise ValueError("unit_weights: ordinal distances depend on each draw's marginals; weight the "
                         "nominal, interval or ratio level")
    pairable = counts.sum(axis=1) >= 2
    c = counts[pairable]
    delta = distances(values, c.sum(axis=0), level)
    agg = unit_weights[:, pairable] @ np.column_stack([disagreements(c, delta), c])
    n_c = agg[:, 1:]
    n = n_c.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - (n - 1) * agg[:, 0] / np.einsum("bk,kl,bl->b", n_c, delta, n_c)
