"""Bradley–Terry strengths of systems from paired comparisons, with ties (Davidson) and intervals."""

from __future__ import annotations

__all__ = ["TIES", "BradleyTerryFit", "davidson_probabilities", "fit_bradley_terry", "fit_strengths",
           "missing_from_terms", "missing_information", "ranking_table", "PAIR_TERMS_SQL"]

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import norm

from tasks.consensus.votes import check_option

TIES = ("davidson", "none")
_RANK_DRAWS = 2000


def _pair_terms(d: np.ndarray, nu: float) -> tuple[np.ndarray, ...]:
    """sinh(d/2)/C, cosh(d/2)/C, nu/C and log C for C = 2 cosh(d/2) + nu, without overflow.

    Every term is divided through by e^{|d|/2}, so a lopsided pair (|d| of hundreds, a system that
    never lost) gives finite values instead of inf/inf.
    """
    ad = np.abs(d)
    e = np.exp(-ad)
    h = np.exp(-ad / 2)
    c = 1.0 + e + nu * h
    return np.sign(d) * (1.0 - e) / c, (1.0 + e) / c, nu * h / c, ad / 2 + np.log(c)


def davidson_probabilities(d: np.ndarray, nu: float) -> np.ndarray:
    """P(a wins), P(b wins), P(tie) for strength differences d = theta_a - theta_b (rows of 3).

    Davidson (1970): P(a) : P(b) : P(tie) = e^{d/2} : e^{-d/2} : nu. With nu = 0 it is the plain
    Bradley–Terry sigma(d); between equal systems a tie has probability nu / (2 + nu).
    """
    d = np.asarray(d, np.float64)
    s, c, t, _ = _pair_terms(d, nu)
    p_a = (c + s) / 2
    return np.column_stack([p_a, c - p_a, t])


@dataclass(frozen=True)
class BradleyTerryFit:
    """Fitted strengths on integer system codes (the numpy core's result).

    Attributes:
        theta: log-strengths, centred to sum 0 (only differences are identified).
        cov: covariance of the centred ``theta`` from the observed Fisher information plus the prior.
        nu: Davidson tie parameter (0 without ties).
        log_posterior: the maximised objective.
        n_iter: Newton steps taken.
    """

    theta: np.ndarray
    cov: np.ndarray
    nu: float
    log_posterior: float
    n_iter: int


def _aggregate(a: np.ndarray, b: np.ndarray, w_a: np.ndarray, w_b: np.ndarray, tie: np.ndarray, n: int):
    """Sum comparisons per unordered pair of systems: the fit then costs O(pairs), not O(judgments)."""
    flip = a > b
    lo, hi = np.where(flip, b, a), np.where(flip, a, b)
    key = lo.astype(np.int64) * n + hi
    wins_lo = np.bincount(key, np.where(flip, w_b, w_a), minlength=n * n)
    wins_hi = np.bincount(key, np.where(flip, w_a, w_b), minlength=n * n)
    ties = np.bincount(key, tie, minlength=n * n)
    used = np.flatnonzero(wins_lo + wins_hi + ties)
    return used // n, used % n, wins_lo[used], wins_hi[used], ties[used]


def _objective(x, i, j, wi, wj, t, n, prior, with_ties):
    theta, eta = x[:n], (x[n] if with_ties else -np.inf)
    nu = float(np.exp(eta)) if with_ties else 0.0
    d = theta[i] - theta[j]
    s, c, tc, log_c = _pair_terms(d, nu)
    m = wi + wj + t
    ll = ((wi - wj) * d / 2 - m * log_c).sum() + (t.sum() * eta if with_ties and t.sum() else 0.0)
    value = ll - prior / 2 * (theta @ theta + (eta * eta if with_ties else 0.0))
    g_d = (wi - wj) / 2 - m * s / 2
    h_dd = m * (c / 4 - s * s / 4)  # minus the second derivative in d: >= 0
    size = n + 1 if with_ties else n
    grad = np.zeros(size)
    grad[:n] = np.bincount(i, g_d, minlength=n) - np.bincount(j, g_d, minlength=n) - prior * theta
    hess = np.zeros((size, size))  # negative Hessian (information)
    diag = np.bincount(i, h_dd, minlength=n) + np.bincount(j, h_dd, minlength=n)
    np.add.at(hess, (i, j), -h_dd)
    np.add.at(hess, (j, i), -h_dd)
    hess[np.arange(n), np.arange(n)] += diag + prior
    if with_ties:
        grad[n] = t.sum() - (m * tc).sum() - prior * eta
        h_de = -m * s * tc / 2  # minus d2/(dd deta)
        cross = np.bincount(i, h_de, minlength=n) - np.bincount(j, h_de, minlength=n)
        hess[:n, n] = hess[n, :n] = cross
        hess[n, n] = (m * (tc - tc * tc)).sum() + prior
    return value, grad, hess


def missing_information(a: np.ndarray, b: np.ndarray, posterior: np.ndarray, n_systems: int,
                        ties: str = "davidson") -> np.ndarray:
    """Information the strengths lose because each item's outcome is a posterior, not an observation.

    Louis (1982): observed information = complete-data information - the posterior variance of each
    item's complete-data score. Fitting on soft outcomes as if they were observed counts the complete
    part only, so intervals come out too narrow exactly where items are uncertain (a crowd of spammers).
    Per item of systems a, b with posterior (p_a, p_b, p_tie), the score in d = theta_a - theta_b is
    ([z=a] - [z=b]) / 2 + const and in log nu [z=tie] + const, so their posterior variances and
    covariance are (p_a + p_b - (p_a - p_b)^2) / 4, p_tie (1 - p_tie) and -(p_a - p_b) p_tie / 2.
    Returns the (n_systems [+1 with ties]) matrix to subtract from the information.
    """
    p = np.asarray(posterior, np.float64)
    diff = p[:, 0] - p[:, 1]
    return missing_from_terms(a, b, (p[:, 0] + p[:, 1] - diff * diff) / 4, -diff * p[:, 2] / 2,
                              p[:, 2] * (1 - p[:, 2]), n_systems, ties)


def missing_from_terms(a: np.ndarray, b: np.ndarray, var_d: np.ndarray, cross: np.ndarray, var_tie: np.ndarray,
                       n_systems: int, ties: str = "davidson") -> np.ndarray:
    """`missing_information` from its per-item terms, or from their sums per pair of systems: the matrix is
    linear in them, so a leaderboard read from a snapshot can aggregate them in SQL (`PAIR_TERMS_SQL`)."""
    check_option("ties", ties, TIES)
    flip = a > b  # one entry per unordered pair: the variance is symmetric in a and b
    key = np.where(flip, b, a).astype(np.int64) * n_systems + np.where(flip, a, b)
    pair_var = np.bincount(key, var_d, minlength=n_systems * n_systems).reshape(n_systems, n_systems)
    pair_var = pair_var + pair_var.T
    size = n_systems + 1 if ties == "davidson" else n_systems
    out = np.zeros((size, size))
    out[:n_systems, :n_systems] = np.diag(pair_var.sum(axis=1)) - pair_var
    if ties == "davidson":
        out[:n_systems, n_systems] = out[n_systems, :n_systems] = (
            np.bincount(a, cross, minlength=n_systems) - np.bincount(b, cross, minlength=n_systems))
        out[n_systems, n_systems] = np.sum(var_tie)
    return out


# The per-item terms of `missing_from_terms` as SQL over posterior columns p_a, p_b, p_tie, summed per pair.
PAIR_TERMS_SQL = ("sum((p_a + p_b - (p_a - p_b) * (p_a - p_b)) / 4) AS var_d, sum(-(p_a - p_b) * p_tie / 2) AS cross_tie,"
                  " sum(p_tie * (1 - p_tie)) AS var_tie")


def fit_strengths(a: np.ndarray, b: np.ndarray, w_a: np.ndarray, w_b: np.ndarray, tie: np.ndarray,
                  n_systems: int, ties: str = "davidson", prior: float = 0.01, max_iter: int = 100,
                  tol: float = 1e-10, init: BradleyTerryFit | None = None,
                  missing: np.ndarray | None = None) -> BradleyTerryFit:
    """MAP Bradley–Terry(-Davidson) strengths by damped Newton on system codes.

    Args:
        a, b: system codes of each comparison's candidates (int arrays).
        w_a, w_b, tie: weight of "a better", "b better", "tie" per comparison (hard judgments are
            one-hot; soft ones, e.g. posteriors, sum to the comparison's weight).
        n_systems: number of system codes.
        ties: ``"davidson"`` (ties modelled, nu learned) or ``"none"`` (tie weight ignored).
        prior: precision of a N(0, 1/prior) prior on each log-strength (and on log nu). Small: it
            only keeps a system that never lost finite and the Hessian invertible.
        init: a previous fit to warm-start from (EM calls this once per iteration).
        missing: information lost to latent outcomes (``missing_information``), taken off before the
            covariance is inverted; None when the comparisons were observed.
    """
    check_option("ties", ties, TIES)
    with_ties = ties == "davidson"
    i, j, wi, wj, t = _aggregate(np.asarray(a), np.asarray(b), np.asarray(w_a, np.float64),
                                 np.asarray(w_b, np.float64), np.asarray(tie, np.float64), n_systems)
    if not with_ties:
        t = np.zeros_like(t)
    size = n_systems + 1 if with_ties else n_systems
    x = np.zeros(size)
    if init is not None and len(init.theta) == n_systems:
        x[:n_systems] = init.theta
        if with_ties:
            x[n_systems] = np.log(max(init.nu, 1e-6))
    value, grad, hess = _objective(x, i, j, wi, wj, t, n_systems, prior, with_ties)
    steps = 0
    for steps in range(1, max_iter + 1):
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while True:  # backtracking: the objective is concave, but a full step can overshoot
            trial = x + scale * step
            new = _objective(trial, i, j, wi, wj, t, n_systems, prior, with_ties)
            if new[0] >= value - 1e-12 or scale < 1e-6:
                break
            scale /= 2
        gain = new[0] - value
        x, (value, grad, hess) = trial, new
        if gain < tol * max(1.0, abs(value)):
            break
    cov_full = np.linalg.inv(hess if missing is None else hess - missing)[:n_systems, :n_systems]
    centre = np.eye(n_systems) - 1.0 / n_systems
    theta = x[:n_systems] - x[:n_systems].mean()
    nu = float(np.exp(x[n_systems])) if with_ties else 0.0
    return BradleyTerryFit(theta, centre @ cov_full @ centre, nu, float(value), steps)


def _codes(col: pa.ChunkedArray | pa.Array, systems: pa.Array) -> np.ndarray:
    return pc.index_in(col, value_set=systems).to_numpy(zero_copy_only=False).astype(np.int64)


def ranking_table(systems: pa.Array, fit: BradleyTerryFit, level: float = 0.95, seed: int = 0) -> pa.Table:
    """The leaderboard: strength with its interval, rank with its interval, sorted best first.

    Rank intervals come from draws of the strengths from their normal approximation (rank 1 = best),
    so two systems whose strength intervals overlap show overlapping ranks.
    """
    n = len(fit.theta)
    sd = np.sqrt(np.clip(np.diag(fit.cov), 0, None))
    z = norm.ppf(0.5 + level / 2)
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(fit.theta, fit.cov, size=_RANK_DRAWS, method="eigh") if n else np.zeros((0, 0))
    ranks = (-draws).argsort(axis=1).argsort(axis=1) + 1 if n else draws
    lo_q, hi_q = (1 - level) / 2, 0.5 + level / 2
    order = np.argsort(-fit.theta, kind="stable")
    share = np.exp(fit.theta - fit.theta.max(initial=0.0))
    return pa.table({
        "system": systems.take(pa.array(order)),
        "rank": pa.array(np.arange(1, n + 1)[: len(order)], pa.int32()),
        "strength": fit.theta[order], "low": (fit.theta - z * sd)[order], "high": (fit.theta + z * sd)[order],
        "rank_low": pa.array(np.quantile(ranks, lo_q, axis=0)[order].astype(np.int32) if n else [], pa.int32()),
        "rank_high": pa.array(np.ceil(np.quantile(ranks, hi_q, axis=0))[order].astype(np.int32) if n else [], pa.int32()),
        "score": (share / share.sum())[order] if n else share,
    })


def fit_bradley_terry(comparisons: pa.Table, ties: str = "davidson", prior: float = 0.01,
                      level: float = 0.95) -> tuple[pa.Table, BradleyTerryFit]:
    """System leaderboard from comparisons ``system_a, system_b, win_a, win_b, tie`` (floats).

    Each row is one comparison (or a sum of them) between two named systems. When the rows are sums of
    items' posteriors, columns ``var_d, cross_tie, var_tie`` (``PAIR_TERMS_SQL``) take off the information
    those uncertain outcomes do not carry, so the intervals are the consensus model's. Returns the ranking
    table (``system, rank, strength, low, high, rank_low, rank_high, score``; strength is the centred
    log-strength, ``score`` its softmax, the scale crowd-kit's BradleyTerry reports) and the fit.
    """
    systems = pc.unique(pa.concat_arrays([pc.cast(comparisons["system_a"], pa.string()).combine_chunks(),
                                          pc.cast(comparisons["system_b"], pa.string()).combine_chunks()]))
    systems = systems.take(pc.sort_indices(systems))
    col = lambda name: comparisons[name].to_numpy().astype(np.float64)
    a, b = _codes(comparisons["system_a"], systems), _codes(comparisons["system_b"], systems)
    missing = (missing_from_terms(a, b, col("var_d"), col("cross_tie"), col("var_tie"), len(systems), ties)
               if "var_d" in comparisons.column_names else None)
    fit = fit_strengths(a, b, col("win_a"), col("win_b"), col("tie"), len(systems), ties=ties, prior=prior,
                        missing=missing)
    return ranking_table(systems, fit, level), fit
