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

__all__ = ["HierarchicalPrior", "fit_hierarchical_prior", "identifiable_per_class"]

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, gammaln, logit

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
        class_specific: per true class, whether the centre uses the population's accuracy for
            that class (else the source's one skill).
    """

    pseudo: np.ndarray
    population: np.ndarray
    skill_strength: float
    matrix_strength: tuple[float, ...]
    class_specific: tuple[bool, ...]


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


def _dirichlet_multinomial_fit(counts: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per true class: the best strength and its log marginal likelihood.

    ``counts`` and ``centre`` are (S, K_answer, K): one Dirichlet per (source, true class) column.
    """
    col = counts.sum(axis=1)
    ll = np.empty((len(_GRID), counts.shape[2]))
    for j, g in enumerate(_GRID):
        a = g * centre
        ll[j] = (gammaln(g) - gammaln(g + col)).sum(axis=0) + (gammaln(a + counts) - gammaln(a)).sum(axis=(0, 1))
    best = np.argmax(ll, axis=0)
    return _GRID[best], ll[best, np.arange(ll.shape[1])]


def identifiable_per_class(item, answered, n_items: int) -> bool:
    """Whether most answers sit on items with three or more answers.

    A latent-class model is identifiable from three conditionally independent answers per item
    (Kruskal's condition), not from one or two: at 1-3 votes per item a pooled per-class accuracy
    is free to drift to a degenerate fit (snow RTE at 1-3 votes fell from 0.79 to 0.71 with it).
    """
    per_item = np.bincount(item[answered], minlength=n_items)
    return bool(answered.any() and (per_item[item[answered]] >= 3).mean() > 0.5)


def _centre(diag: np.ndarray, off: np.ndarray) -> np.ndarray:
    """(S, K, K) matrices right with probability ``diag`` (S, K), wrong as ``off`` (K, K) spreads errors."""
    k = diag.shape[1]
    target = (1 - diag)[:, None, :] * off[None, :, :]
    target[:, np.arange(k), np.arange(k)] = diag
    return target


def fit_hierarchical_prior(counts: np.ndarray, base: np.ndarray, class_specific: bool = True) -> HierarchicalPrior:
    """Pseudo-counts from expected counts (S, O, K); O = K, or K + 1 with abstain as the last symbol.

    ``base`` (O, K) is the fixed prior of the flat model (smoothing plus the diagonal belief that
    a source beats chance); every source's copy enters the population matrix. A source's abstain
    rate per true class is its own (the abstain row's pseudo-counts keep it exactly): only what it
    answers when it answers is shrunk. ``class_specific=False`` keeps every centre on the source's
    one skill (see ``identifiable_per_class``).
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
        expected = np.where(total > 0, (per_col @ diag) / np.where(total > 0, total, 1.0), diag.mean())
    expected = np.clip(expected, _CLIP, 1 - _CLIP)
    fit = _fit_subset(n_s)
    seen = fit[total[fit] > 0]
    b = _beta_binomial_strength(right[seen], total[seen], expected[seen]) if len(seen) else float(_GRID[-1])
    b = min(b, _MAX_SKILL_STRENGTH)
    skill = np.clip((right + b * expected) / (total + b), _CLIP, 1 - _CLIP)
    off = pop * (1 - np.eye(k))
    off = off / np.maximum(off.sum(axis=0, keepdims=True), 1e-300)
    # Two candidate centres per true class: right with the source's one skill whatever the class
    # (safe: on sparse real crowds the pooled per-class accuracies can drift to a degenerate fit),
    # or with the population's accuracy for that class moved by the source's logit shift (a rare
    # class everyone misses). Each column takes the one its sources' counts make more likely.
    one_skill = _centre(np.broadcast_to(skill[:, None], (n_s, k)), off)
    per_class = _centre(expit(logit(diag)[None, :] + (logit(skill) - logit(expected))[:, None]), off)
    if len(seen):
        m1, ll1 = _dirichlet_multinomial_fit(answered[seen], one_skill[seen])
        m2, ll2 = _dirichlet_multinomial_fit(answered[seen], per_class[seen])
    else:
        m1 = m2 = np.full(k, _GRID[-1])
        ll1, ll2 = np.zeros(k), np.full(k, -np.inf)
    use_class = (ll2 > ll1) & class_specific
    m = np.where(use_class, m2, m1)
    target = np.where(use_class[None, None, :], per_class, one_skill)
    pseudo = np.empty((n_s, n_obs, k))
    pseudo[:, :k, :] = m[None, None, :] * target
    if n_obs > k:
        abstained = counts[:, k, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(abstained + per_col > 0, abstained / (abstained + per_col), 0.0)
        rate = np.minimum(rate, 1 - _CLIP)
        pseudo[:, k, :] = m[None, :] * rate / (1 - rate) + base[k]
    return HierarchicalPrior(pseudo, pop, b, tuple(m.tolist()), tuple(use_class.tolist()))
