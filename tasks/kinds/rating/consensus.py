"""Consensus ratings with intervals, correcting each rater's bias (leniency) and scale (severity)."""

from __future__ import annotations

__all__ = ["EncodedRatings", "RatingModel", "encode_ratings"]

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from scipy.stats import norm

from tasks.consensus.votes import factorize

_MIN_VAR = 0.01
"""Floor of the learned spread of leniency and range across raters: with two raters who agree
exactly, a zero spread would freeze every later rater at the crowd's values."""


@dataclass(frozen=True)
class EncodedRatings:
    """Ratings on integer codes. A unit is one (item, criterion); ``unit_item`` / ``unit_criterion``
    name each unit (criterion null for a single score); ``item`` codes each rating's item in ``item_ids``."""

    unit: np.ndarray
    source: np.ndarray
    score: np.ndarray
    unit_item: pa.Array
    unit_criterion: pa.Array
    source_ids: pa.Array
    item: np.ndarray
    item_ids: pa.Array


def encode_ratings(ratings: pa.Table, scale: tuple[int, int]) -> EncodedRatings:
    """Codes for ``ratings(item_id, source_id, score[, criterion])``.

    Raises:
        ValueError: a score is missing or outside ``scale`` (the message names item, source and score).
    """
    score = pc.cast(ratings["score"], pa.float64()).to_numpy(zero_copy_only=False)
    lo, hi = scale
    bad = ~((score >= lo) & (score <= hi) & (score == np.round(score)))
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"rating row {row} (item {ratings['item_id'][row].as_py()!r}, source "
                         f"{ratings['source_id'][row].as_py()!r}): score {ratings['score'][row].as_py()!r} is not "
                         f"an integer on the scale {lo}-{hi}")
    items, item = factorize(ratings["item_id"], "item_id")
    if "criterion" in ratings.column_names:
        crit_names, crit = factorize(pc.fill_null(pc.cast(ratings["criterion"], pa.string()), ""), "criterion")
    else:
        crit_names, crit = pa.array([""]), np.zeros(len(item), np.int64)
    key = item * len(crit_names) + crit
    present = np.bincount(key, minlength=len(items) * len(crit_names)) > 0  # np.unique's codes without its sort
    pairs = np.flatnonzero(present)
    unit = (np.cumsum(present) - 1)[key]
    unit_crit = crit_names.take(pa.array(pairs % len(crit_names)))
    sources, source = factorize(ratings["source_id"], "source_id")
    return EncodedRatings(unit.astype(np.int64), source, score, items.take(pa.array(pairs // len(crit_names))),
                          pc.if_else(pc.equal(unit_crit, ""), pa.scalar(None, pa.string()), unit_crit), sources,
                          item, items)



class RatingModel:
    """Linear rater-effects model: each rater's score is a shifted, stretched, noisy view of the truth.

    Rater s gives unit u the score x = alpha_s + beta_s * mu_u + e, e ~ N(0, sigma_s^2). ``alpha``
    is leniency (a rater who scores everything one point high), ``beta`` is severity/range use (a rater
    who compresses everything to the middle has beta < 1, one who uses the extremes beta > 1), sigma is
    the rater's noise. The scale is treated as interval (an ordinal model, e.g. graded response, would
    need per-threshold parameters and more data per rater than evaluation crowds usually give; the
    interval model is what the consensus reports, while agreement is also measured ordinally).

    Fitting alternates closed-form updates (each one bincount pass over the ratings), EM-style:
    the units' posteriors mu_u ~ N(m, v) given the raters (with an empirical-Bayes normal prior over
    units), then each rater's (alpha, beta) by MAP regression on E[mu], E[mu^2] with normal priors
    alpha ~ N(0, var_a), beta ~ N(1, var_b) whose variances are the spread across raters (empirical
    Bayes), and sigma^2 (inverse-gamma prior worth ``rater_prior`` ratings at the pooled variance). The scale of mu is pinned to the average rater:
    the precision-weighted (n / sigma^2) mean alpha = 0 and mean beta = 1 after every step, so mu reads as
    "what a typical careful rater would give".

    Attributes (after ``fit``):
        consensus_: ``item_id, criterion, score (mu), low, high, rounded, confidence, n_ratings, raw_mean``:
            ``low``/``high`` the ``level`` interval of mu (clipped to the scale), ``rounded`` the nearest
            scale point and ``confidence`` the posterior probability that mu rounds to it; ``sd`` mu's posterior sd.
        raters_: ``source_id, bias, scale, noise, leniency, n_ratings``; ``leniency`` = how much higher than
            the average rater this one scores a mid-scale unit (alpha + (beta - 1) * mid).
        n_iter_.
    """

    def __init__(self, scale: tuple[int, int], max_iter: int = 200, tol: float = 1e-4,
                 rater_prior: float = 3.0, level: float = 0.95):
        lo, hi = int(scale[0]), int(scale[1])
        if hi <= lo:
            raise ValueError(f"scale must be (low, high) with low < high, got {scale!r}")
        self.scale = (lo, hi)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.rater_prior = float(rater_prior)
        self.level = float(level)

    def fit(self, ratings: pa.Table) -> RatingModel:
        enc = encode_ratings(ratings, self.scale)
        self.encoded_ = enc
        u, s, x = enc.unit, enc.source, enc.score
        n_u, n_s = len(enc.unit_item), len(enc.source_ids)
        cnt_u = np.bincount(u, minlength=n_u).astype(np.float64)
        cnt_s = np.bincount(s, minlength=n_s).astype(np.float64)
        raw = np.bincount(u, x, minlength=n_u) / np.maximum(cnt_u, 1)
        pooled = float(np.var(x - raw[u])) if len(x) else 1.0
        pooled = max(pooled * (cnt_u[u].mean() / max(cnt_u[u].mean() - 1, 1)), 0.05)
        alpha, beta, sig2 = np.zeros(n_s), np.ones(n_s), np.full(n_s, pooled)
        # Every update below needs only sums over each rater's or each unit's ratings of per-rater or
        # per-unit values: two sparse raters x units matrices (rating counts, summed scores) turn each
        # sum into one matrix-vector product, and each rater's squared residual expands into its sums.
        count = sp.csr_matrix((np.ones(len(x)), (s, u)), shape=(n_s, n_u))
        summed = sp.csr_matrix((x, (s, u)), shape=(n_s, n_u))
        sx, sxx = np.bincount(s, x, minlength=n_s), np.bincount(s, x * x, minlength=n_s)
        mu = raw.copy()
        previous = mu
        m0, tau2 = float(mu.mean()) if n_u else 0.0, float(mu.var()) + pooled if n_u else 1.0
        k = self.rater_prior
        var_a, var_b = 1.0, 0.25
        it = 0
        for it in range(1, self.max_iter + 1):
            ws = beta / sig2
            prec = 1 / tau2 + count.T @ (beta * ws)
            mu = (m0 / tau2 + summed.T @ ws - count.T @ (alpha * ws)) / prec
            var = 1 / prec
            m0, tau2 = float(mu.mean()), max(float(mu.var() + var.mean()), 1e-6)
            s1, s2, sxm = count @ mu, count @ (mu * mu + var), summed @ mu
            # MAP normal equations per rater (multiplied through by sigma^2): alpha ~ N(0, var_a), beta ~
            # N(1, var_b), the variances learned across raters, so a rater seen a few times is pulled to
            # the crowd's typical leniency and range while a well-measured one keeps its own
            ra, rb = sig2 / var_a, sig2 / var_b
            a11, a12, a22 = cnt_s + ra, s1, s2 + rb
            b1, b2 = sx, sxm + rb
            det = a11 * a22 - a12 * a12
            alpha, beta = (a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det
            # sum of (x - alpha - beta mu)^2 + beta^2 var over the rater's ratings
            resid = sxx - 2 * alpha * sx - 2 * beta * sxm + cnt_s * alpha ** 2 + 2 * alpha * beta * s1 + beta ** 2 * s2
            sig2 = np.maximum((np.maximum(resid, 0.0) + k * pooled) / (cnt_s + k), 1e-4)
            # pin the scale to the typical rater, each weighted by its precision n / sigma^2, so a
            # spammer (large sigma, beta near 0) does not drag the reference scale towards flat
            pin = cnt_s / sig2
            pin /= pin.sum()
            a_bar, b_bar = float(pin @ alpha), float(pin @ beta)
            mu = a_bar + b_bar * mu
            change = float(np.abs(mu - previous).max(initial=0.0))
            previous = mu
            m0 = a_bar + b_bar * m0
            tau2 *= b_bar * b_bar
            alpha, beta = alpha - beta * a_bar / b_bar, beta / b_bar
            var_a = max(float(pin @ alpha ** 2), _MIN_VAR)
            var_b = max(float(pin @ (beta - 1) ** 2), _MIN_VAR)
            if change < self.tol:
                break
        ws = beta / sig2
        prec = 1 / tau2 + count.T @ (beta * ws)
        mu = (m0 / tau2 + summed.T @ ws - count.T @ (alpha * ws)) / prec
        self.n_iter_ = it
        self._publish(enc, mu, 1 / np.sqrt(prec), cnt_u, raw, alpha, beta, np.sqrt(sig2), cnt_s)
        return self

    def _publish(self, enc, mu, sd, cnt_u, raw, alpha, beta, noise, cnt_s) -> None:
        lo, hi = self.scale
        z = norm.ppf(0.5 + self.level / 2)
        rounded = np.clip(np.round(mu), lo, hi)
        # P(mu rounds to `rounded`); the scale's ends take the tails
        upper = np.where(rounded >= hi, np.inf, rounded + 0.5)
        lower = np.where(rounded <= lo, -np.inf, rounded - 0.5)
        conf = norm.cdf((upper - mu) / sd) - norm.cdf((lower - mu) / sd)
        self.consensus_ = pa.table({
            "item_id": enc.unit_item, "criterion": enc.unit_criterion, "score": mu,
            "low": np.clip(mu - z * sd, lo, hi), "high": np.clip(mu + z * sd, lo, hi),
            "rounded": pa.array(rounded.astype(np.int32)), "confidence": conf,
            "n_ratings": pa.array(cnt_u.astype(np.int32)), "raw_mean": raw, "sd": sd,
        })
        mid = (lo + hi) / 2
        self.raters_ = pa.table({
            "source_id": enc.source_ids, "bias": alpha, "scale": beta, "noise": noise,
            "leniency": alpha + (beta - 1) * mid, "n_ratings": pa.array(cnt_s.astype(np.int32)),
        })
