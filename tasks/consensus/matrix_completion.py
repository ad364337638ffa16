"""Source accuracies from the overlap matrix of their votes (matrix completion, no EM).

The method of Ratner et al. (2019), "Training Complex Models with Multi-Task Weak Supervision",
for conditionally independent sources, written from the paper: with one indicator per
(source, answered class) pair, the second moment of two different sources' indicators is
``O[a, b] = sum_y p_y mu[a, y] mu[b, y]`` where ``mu[a, y] = P(source answers a's class | y)``
(abstain being the remainder) and ``p`` the class balance; the first moment is
``O[a, a] = sum_y p_y mu[a, y]``. ``mu`` is fitted by least squares on the off-diagonal
blocks and the marginals, from a start that believes each source right ``prec_init`` of the
time (which picks the sign: the labels are not swapped).
"""

from __future__ import annotations

__all__ = ["MAX_INDICATORS", "fit_mu", "overlap_moments"]

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize

from .votes import EncodedVotes

MAX_INDICATORS = 2_000
"""Above this many (source, class) pairs the dense overlap matrix is not worth building."""


def overlap_moments(enc: EncodedVotes):
    """Indicator ids, their source and class, the overlap matrix and the co-observation mask.

    Moments are normalised by the number of items both sources have a row for (an explicit
    abstain counts as seen), so sources that saw different subsets are still comparable.
    """
    k = enc.n_classes
    voted = enc.label >= 0
    pair = enc.source[voted] * k + enc.label[voted]
    ids, col = np.unique(pair, return_inverse=True)
    d = len(ids)
    psi = sp.csr_matrix((np.ones(len(col)), (enc.item[voted], col)), shape=(enc.n_items, d))
    seen = sp.csr_matrix((np.ones(enc.n_votes), (enc.item, enc.source)), shape=(enc.n_items, enc.n_sources))
    seen.data[:] = 1.0
    co_seen = np.asarray((seen.T @ seen).todense())
    src = ids // k
    n_ab = co_seen[np.ix_(src, src)]
    with np.errstate(invalid="ignore", divide="ignore"):
        overlap = np.where(n_ab > 0, np.asarray((psi.T @ psi).todense()) / np.maximum(n_ab, 1), 0.0)
    mask = (src[:, None] != src[None, :]) & (n_ab > 0)
    return ids, src, ids % k, overlap, mask


def fit_mu(overlap: np.ndarray, mask: np.ndarray, cls: np.ndarray, priors: np.ndarray,
           prec_init: float = 0.7, l2: float = 0.0) -> np.ndarray:
    """Least-squares ``mu`` (indicators x classes) for the overlap matrix; see the module docstring."""
    d, k = len(cls), len(priors)
    cov = np.diag(overlap).copy()
    right = cls[:, None] == np.arange(k)[None, :]
    mu0 = np.where(right, prec_init, (1 - prec_init) / max(k - 1, 1)) * cov[:, None] / priors[None, :]
    mu0 = np.clip(mu0, 1e-4, 1 - 1e-4)
    w = mask.astype(np.float64)

    def loss(x):
        mu = x.reshape(d, k)
        r = w * (overlap - (mu * priors) @ mu.T)
        marg = cov - (mu * priors).sum(axis=1)
        f = (r * r).sum() + (marg * marg).sum() + l2 * np.square(mu - mu0).sum()
        g = -4 * (r @ (mu * priors)) - 2 * marg[:, None] * priors[None, :] + 2 * l2 * (mu - mu0)
        return f, g.ravel()

    res = minimize(loss, mu0.ravel(), jac=True, method="L-BFGS-B", bounds=[(1e-6, 1 - 1e-6)] * (d * k),
                   options={"maxiter": 5_000, "ftol": 1e-15, "gtol": 1e-12})
    return res.x.reshape(d, k)
