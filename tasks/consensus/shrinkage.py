"""Empirical-Bayes priors for confusion matrices: each source shrinks toward the crowd as far as its evidence is thin.

Three levels, each one estimated from the level above and the data:

* the **population** confusion matrix ``P0`` (every source's expected counts pooled): the crowd's
  typical error pattern (confusable class pairs, a bias against a rare class);
* each source's **skill**, one number: its share of right answers, shrunk toward the accuracy the
  population would have on the same class mix by a Beta prior of strength ``b``. A spammer shows
  itself in its *total* count of right answers long before each column of its matrix is
  estimable, so this level is what keeps a source seen twenty times from looking like the crowd;
* its **full matrix**, shrunk toward a centre that is right with the source's own skill and, when
  wrong, errs the way the population errs, by a Dirichlet prior of strength ``m`` per true class.

``b`` and ``m`` are learned by maximising the marginal likelihood of the sources' expected counts
(Beta-binomial and Dirichlet-multinomial) over a grid: sources that differ a lot from one another
give a weak prior (complexity follows the evidence), a homogeneous crowd a strong one. With
hundreds of votes a source's own counts dominate whatever the prior; with a handful it is close
to a one-coin model with the crowd's error pattern.
"""

from __future__ import annotations

__all__ = ["HierarchicalPrior", "fit_hierarchical_prior"]

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

_GRID = np.geomspace(0.25, 4000.0, 45)
_MAX_SOURCES_FOR_FIT = 4000
_CLIP = 1e-4
_MAX_SKILL_STRENGTH = 20.0
"""The skill prior is never worth more than this many votes. Its strength is fitted on expected
(soft) counts, which pull every source toward the consensus and so understate how much sources
differ; uncapped, a sparse crowd can fit an infinitely strong prior that erases every skill."""


@dataclass(frozen=True)
class HierarchicalPrior:
    """Pseudo-counts per source and cell, and the learned strengths (for reports and tests).

    Attributes:
        pseudo: shape (n_sources, n_observed, n_classes), added to the expected counts in the M-step.
        population: (n_classes, n_classes) P(answer | truth) of the pooled crowd, given an answer.
        skill_strength: ``b``, in votes.
        matrix_strength: ``m``, in votes, one per true class (a column of the matrix).
    """

    pseudo: np.ndarray
    population: np.ndarray
    skill_strength: float
    matrix_strength: tuple[float, ...]


def _fit_subset(n: int) -> np.ndarray:
    """A deterministic, evenly spread subset of sources for the hyper-parameter fit (bounded cost)."""
    if n <= _MAX_SOURCES_FOR_FIT:
        return np.arange(n)
    return np.linspace(0, n - 1, _MAX_SOURCES_FOR_FIT).astype(np.int64)


def _beta_binomial_strength(right: np.ndarray, total: np.ndarray, centre: np.ndarray) -> float:
    g = _GRID[:, None]
    a, b = g * centre[None, :], g * (1 - centre[None, :])
    ll = (gammaln(g) - gammaln(g + total) + gammaln(a + right) - gammaln(a) + gammaln(b + total - right)
          - gammaln(b)).sum(axis=1)
    return float(_GRID[int(np.argmax(ll))])


def _dirichlet_multinomial_strength(counts: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """One strength per true class: ``counts`` and ``centre`` (S, K_answer, K), a Dirichlet per column."""
    col = counts.sum(axis=1)
    ll = np.empty((len(_GRID), counts.shape[2]))
    for j, g in enumerate(_GRID):
        a = g * centre
        ll[j] = (gammaln(g) - gammaln(g + col)).sum(axis=0) + (gammaln(a + counts) - gammaln(a)).sum(axis=(0, 1))
    return _GRID[np.argmax(ll, axis=0)]


def fit_hierarchical_prior(counts: np.ndarray, base: np.ndarray, matrix_strength: float | None = None,
                           skill_strength: float | None = None) -> HierarchicalPrior:
    """Pseudo-counts from expected counts (S, O, K); O = K, or K + 1 with abstain as the last symbol.

    ``base`` (O, K) is the fixed prior of the flat model (smoothing plus the diagonal belief that
    a source beats chance); it enters once, in the population matrix. A source's abstain rate per
    true class is its own (the abstain row's pseudo-counts keep it exactly): only what it answers
    when it answers is shrunk.
    """
    n_s, n_obs, k = counts.shape
    answered = counts[:, :k, :]
    # Every source's flat prior enters the pool (n_s times the base): with a single copy, the pooled
    # matrix of a sparse crowd was free to fall into a degenerate pattern.
    pooled = answered.sum(axis=0) + max(n_s, 1) * base[:k]
    pop = pooled / pooled.sum(axis=0, keepdims=True)
    diag = np.clip(np.diagonal(pop), _CLIP, 1 - _CLIP)
    per_col = answered.sum(axis=1)  # (S, K) answered votes per true class
    total = per_col.sum(axis=1)
    right = np.trace(answered, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.where(total > 0, (per_col @ diag) / np.where(total > 0, total, 1.0), diag.mean())
    centre = np.clip(centre, _CLIP, 1 - _CLIP)
    fit = _fit_subset(n_s)
    seen = fit[total[fit] > 0]
    if skill_strength is not None:
        b = float(skill_strength)
    else:
        b = _beta_binomial_strength(right[seen], total[seen], centre[seen]) if len(seen) else float(_GRID[-1])
        b = min(b, _MAX_SKILL_STRENGTH)
    skill = np.clip((right + b * centre) / (total + b), _CLIP, 1 - _CLIP)
    # The centre's diagonal is the source's one skill for every class. A class-specific centre
    # (the population's per-class accuracy) was tried: on sparse real crowds it let the pooled
    # pattern drift to a degenerate fit (one class "answered at random"), RTE at 1-3 votes fell
    # to 0.71. Class-specific accuracy is left to each source's own matrix, as evidence allows.
    own_diag = np.broadcast_to(skill[:, None], (n_s, k))
    off = pop * (1 - np.eye(k))
    off = off / np.maximum(off.sum(axis=0, keepdims=True), 1e-300)
    target = (1 - own_diag)[:, None, :] * off[None, :, :]
    target[:, np.arange(k), np.arange(k)] = own_diag
    if matrix_strength is not None:
        m = np.full(k, float(matrix_strength))
    else:
        m = _dirichlet_multinomial_strength(answered[seen], target[seen]) if len(seen) else np.full(k, _GRID[-1])
    pseudo = np.empty((n_s, n_obs, k))
    pseudo[:, :k, :] = m[None, None, :] * target
    if n_obs > k:
        abstained = counts[:, k, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(abstained + per_col > 0, abstained / (abstained + per_col), 0.0)
        rate = np.minimum(rate, 1 - _CLIP)
        pseudo[:, k, :] = m[None, :] * rate / (1 - rate) + base[k]
    return HierarchicalPrior(pseudo, pop, b, tuple(m.tolist()))
