"""Calibration: expected calibration error, a reliability table, and a confidence map fitted on gold."""

from __future__ import annotations

__all__ = [
    "CERTIFY_LEVEL",
    "LOGIT_CLIP",
    "GoldCalibration",
    "calibrate_posterior",
    "certified_tail",
    "expected_calibration_error",
    "fit_gold_calibration",
    "fit_platt",
    "reliability_table",
]

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy.optimize import minimize
from scipy.special import expit, logit
from scipy.stats import beta


def _bins(confidence, correct, n_bins):
    conf = np.asarray(confidence, np.float64)
    ok = np.asarray(correct, np.float64)
    if conf.shape != ok.shape:
        raise ValueError(f"confidence and correct differ in shape: {conf.shape!r} vs {ok.shape!r}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins!r}")
    # Equal-width bins on [0, 1]; 1.0 falls in the last bin.
    b = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    n = np.bincount(b, minlength=n_bins)
    s_conf = np.bincount(b, weights=conf, minlength=n_bins)
    s_ok = np.bincount(b, weights=ok, minlength=n_bins)
    return n, s_conf, s_ok


def reliability_table(confidence, correct, n_bins: int = 10) -> pa.Table:
    """Per bin: bounds, count, mean confidence, accuracy (null in empty bins).

    Whether a confidence of 0.9 is right 90% of the time is what makes the target-confidence
    setting of the resolution rule mean anything.
    """
    n, s_conf, s_ok = _bins(confidence, correct, n_bins)
    empty = n == 0
    safe = np.where(empty, 1, n)
    edges = np.linspace(0, 1, n_bins + 1)
    return pa.table({
        "bin_low": edges[:-1], "bin_high": edges[1:], "n": n,
        "mean_confidence": pa.array(s_conf / safe, mask=empty),
        "accuracy": pa.array(s_ok / safe, mask=empty),
    })


def expected_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """Sum over bins of (bin share) * |accuracy - mean confidence|; 0.0 for no items."""
    n, s_conf, s_ok = _bins(confidence, correct, n_bins)
    total = n.sum()
    return float(np.abs(s_ok - s_conf).sum() / total) if total else 0.0


LOGIT_CLIP = 1e-4
"""Confidences are mapped on the log-odds scale within [1e-4, 1 - 1e-4]: beyond, a model's
log-odds say more about its arithmetic than about its evidence."""


CERTIFY_LEVEL = 0.9
"""One-sided level of the lower bound that certifies gold accuracy: a target is claimed for a set
of items only when gold says, nine times in ten, that the set is at least that accurate."""


@dataclass(frozen=True)
class GoldCalibration:
    """What gold certifies a confidence is worth; ``apply`` only ever lowers a confidence.

    Two maps, the lower one wins:

    * Platt scaling ``sigmoid(a * logit(c) + b)``, fitted with a Gaussian prior on ``(a, b)``
      around the identity worth ``prior_items`` items, corrects the bulk (and keeps the expected
      calibration error low): twenty gold answers can correct a model that is sure of everything
      and right two times in three, but cannot swing a sound one;
    * the **certified tail accuracy**: the highest one-sided lower bound (Clopper–Pearson at
      ``level``) of gold accuracy over the gold items at least ``c'`` sure, for any ``c' <= c``.
      Resolving every item whose mapped confidence reaches ``t`` then resolves a tail of the
      confidence order whose gold accuracy certifies ``t`` — the promise the resolution rule
      makes. A point estimate does not keep it where gold is scarce: with 19 gold items, 19 right
      answers certify 0.886 at most, so nothing is resolved at 0.9 on their word, and a crowd
      that is wrong together goes to more votes or an expert instead of out as a label.

    Both maps are non-decreasing in ``c``, so the items resolved at any target are exactly the
    items above one confidence.

    Attributes:
        a, b: the Platt parameters (``a >= 0``).
        gold_confidence: held-out confidences of the gold items, sorted high to low.
        certified: certified accuracy of the tail down to each gold item (same order, non-decreasing
            towards the end: lower thresholds only add choices).
        prior_items: pseudo-items of the Platt prior.
        level: the one-sided level of the bound.
    """

    a: float
    b: float
    gold_confidence: np.ndarray
    certified: np.ndarray
    prior_items: float
    level: float

    @property
    def n_gold(self) -> int:
        return len(self.gold_confidence)

    def apply(self, confidence: np.ndarray) -> np.ndarray:
        conf = np.asarray(confidence, np.float64)
        c = np.clip(conf, LOGIT_CLIP, 1 - LOGIT_CLIP)
        platt = expit(self.a * logit(c) + self.b)
        n = np.searchsorted(-self.gold_confidence, -conf, side="right")  # gold items at least this sure
        # Above every gold item, the best bound of any tail (all contain it).
        tail = self.certified[np.maximum(n - 1, 0)]
        return np.minimum(conf, np.minimum(platt, tail))


def certified_tail(confidence: np.ndarray, correct: np.ndarray, level: float) -> np.ndarray:
    """Per gold item (sorted by confidence, high to low): the best certified accuracy of a tail reaching it.

    The bound of the tail ending at item j counts every gold item at least as sure as item j (ties
    included); the result at j is the best bound over tails that end at j or lower.
    """
    order = np.argsort(-confidence, kind="stable")
    conf, ok = confidence[order], correct[order]
    n = np.searchsorted(-conf, -conf, side="right")  # tail size down to each item, ties included
    hits = np.concatenate([[0.0], np.cumsum(ok)])[n]
    with np.errstate(invalid="ignore"):
        low = np.where(hits > 0, beta.ppf(1 - level, hits, n - hits + 1), 0.0)
    return np.maximum.accumulate(np.nan_to_num(low)[::-1])[::-1], conf


def fit_platt(confidence: np.ndarray, correct: np.ndarray, prior_items: float,
              min_slope: float = 0.0) -> tuple[float, float]:
    """(a, b) of ``sigmoid(a * logit(c) + b)`` that makes `confidence` match how often the answers were `correct`:
    the maximum a posteriori under a Gaussian prior at the identity (1, 0) worth `prior_items` items, the slope
    at least `min_slope`. The slope matters as much as the level: confidences can be too spread out (or too
    close together) as well as too high or too low."""
    x = logit(np.clip(confidence, LOGIT_CLIP, 1 - LOGIT_CLIP))
    y = np.asarray(correct, np.float64)
    # A Bernoulli item carries at most 1/4 unit of information about its log-odds.
    lam = prior_items / 4

    def loss(theta):
        a, b = theta
        z = a * x + b
        nll = np.sum(np.logaddexp(0, z) - y * z)
        p = expit(z) - y
        return nll + lam * ((a - 1.0) ** 2 + b * b) / 2, np.array([np.sum(p * x) + lam * (a - 1.0),
                                                                  np.sum(p) + lam * b])

    res = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B", bounds=[(min_slope, None), (None, None)])
    return float(res.x[0]), float(res.x[1])


def fit_gold_calibration(confidence, correct, prior_items: float = 5.0,
                         level: float = CERTIFY_LEVEL) -> GoldCalibration | None:
    """Fit both maps on gold items' held-out confidences and whether the top label was right."""
    conf = np.asarray(confidence, np.float64)
    y = np.asarray(correct, np.float64)
    if len(conf) == 0:
        return None
    if not 0.5 <= level < 1:
        raise ValueError(f"level must be within [0.5, 1), got {level!r}")
    a, b = fit_platt(conf, y, prior_items)
    certified, sorted_conf = certified_tail(conf, y, level)
    return GoldCalibration(a, b, sorted_conf, certified, float(prior_items), float(level))


def calibrate_posterior(post: np.ndarray, gold_mask: np.ndarray) -> tuple[np.ndarray, GoldCalibration | None]:
    """Lower each item's top-class probability to what gold certifies (gold items not clamped here).

    ``post``'s gold rows must be honest forecasts (the items' own answers not used to make them,
    e.g. the leave-one-item-out posterior): how often their top label is the gold answer, at each
    confidence, is the map. What is taken from the top class goes to the others in proportion.
    """
    rows = gold_mask.any(axis=1)
    if not rows.any():
        return post, None
    top = post.argmax(axis=1)
    conf = post[np.arange(len(post)), top]
    cal = fit_gold_calibration(conf[rows], gold_mask[rows, top[rows]])
    rest = 1.0 - conf
    # Never below the runner-up once it is scaled like the rest: calibration changes how sure a
    # label is, not which label it is.
    second = np.sort(post, axis=1)[:, -2] if post.shape[1] > 1 else np.zeros(len(post))
    with np.errstate(invalid="ignore", divide="ignore"):  # rest 0: the others share evenly (below)
        keep_top = np.where(rest > 0, second / np.where(rest > 0, rest + second, 1.0), 1.0 / post.shape[1])
    new = np.minimum(np.maximum(cal.apply(conf), keep_top + 1e-9), conf)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(rest > 0, (1.0 - new) / np.where(rest > 0, rest, 1.0), 0.0)
    out = post * scale[:, None]
    out[np.arange(len(post)), top] = new
    # An item whose posterior was all on one class spreads what gold took away evenly.
    flat = (rest <= 0) & (new < 1)
    if flat.any():
        k = post.shape[1]
        out[flat] = ((1.0 - new[flat]) / (k - 1))[:, None]
        out[flat, top[flat]] = new[flat]
    return out, cal
