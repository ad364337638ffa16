"""Calibration: expected calibration error, a reliability table, and a confidence map fitted on gold."""

from __future__ import annotations

__all__ = ["GoldCalibration", "expected_calibration_error", "fit_gold_calibration", "reliability_table"]

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy.optimize import minimize
from scipy.special import expit, logit


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


_LOGIT_CLIP = 1e-4
"""Confidences are mapped on the log-odds scale within [1e-4, 1 - 1e-4]: beyond, a model's
log-odds say more about its arithmetic than about its evidence."""


@dataclass(frozen=True)
class GoldCalibration:
    """What gold says a confidence is worth; ``apply`` only ever lowers a confidence.

    Two maps, the lower one wins:

    * Platt scaling ``sigmoid(a * logit(c) + b)``, fitted with a Gaussian prior on ``(a, b)``
      around the identity worth ``prior_items`` items, corrects the bulk: twenty gold answers can
      correct a model that is sure of everything and right two times in three, but cannot swing a
      sound one;
    * the **tail accuracy**: among gold items the model was at least ``c`` sure of, the share it got
      right, with ``prior_items`` pseudo-items right at rate ``c``. Resolving every item whose
      mapped confidence reaches ``t`` resolves a set whose gold accuracy is at least ``t``, which is
      the promise the resolution rule makes; a sigmoid fitted to the bulk does not keep it at the top.

    Attributes:
        a, b: the Platt parameters.
        gold_confidence: held-out confidences of the gold items, sorted high to low.
        gold_hits: cumulative count of right answers along ``gold_confidence`` (leading 0).
        prior_items: pseudo-items of both priors.
    """

    a: float
    b: float
    gold_confidence: np.ndarray
    gold_hits: np.ndarray
    prior_items: float

    @property
    def n_gold(self) -> int:
        return len(self.gold_confidence)

    def apply(self, confidence: np.ndarray) -> np.ndarray:
        conf = np.asarray(confidence, np.float64)
        c = np.clip(conf, _LOGIT_CLIP, 1 - _LOGIT_CLIP)
        platt = expit(self.a * logit(c) + self.b)
        n = np.searchsorted(-self.gold_confidence, -conf, side="right")  # gold items at least this sure
        tail = (self.gold_hits[n] + self.prior_items * conf) / (n + self.prior_items)
        return np.minimum(conf, np.minimum(platt, tail))


def fit_gold_calibration(confidence, correct, prior_items: float = 5.0) -> GoldCalibration | None:
    """Fit both maps on gold items' held-out confidences and whether the top label was right."""
    conf = np.asarray(confidence, np.float64)
    y = np.asarray(correct, np.float64)
    if len(conf) == 0:
        return None
    x = logit(np.clip(conf, _LOGIT_CLIP, 1 - _LOGIT_CLIP))
    # A Bernoulli item carries at most 1/4 unit of information about its log-odds.
    lam = prior_items / 4

    def loss(theta):
        a, b = theta
        z = a * x + b
        nll = np.sum(np.logaddexp(0, z) - y * z)
        p = expit(z) - y
        return nll + lam * ((a - 1.0) ** 2 + b * b) / 2, np.array([np.sum(p * x) + lam * (a - 1.0),
                                                                  np.sum(p) + lam * b])

    res = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    order = np.argsort(-conf, kind="stable")
    hits = np.concatenate([[0.0], np.cumsum(y[order])])
    return GoldCalibration(float(res.x[0]), float(res.x[1]), conf[order], hits, float(prior_items))
