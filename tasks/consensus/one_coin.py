"""One-coin Dawid–Skene: one accuracy per source, errors spread evenly over the other classes."""

from __future__ import annotations

__all__ = ["OneCoinDawidSkene"]

import numpy as np

from .dawid_skene import DawidSkene

_EPS = 1e-10


class OneCoinDawidSkene(DawidSkene):
    """Dawid–Skene with a single parameter per source: P(answer = true class) = p_s.

    Far fewer parameters than full confusion matrices (one instead of K*(K-1)), so it is the
    safer choice when sources answer few items. Same contract, EM schedule, convergence test,
    gold clamping and warm start as ``DawidSkene``; ``skills_`` holds p_s.
    """

    def _m_confusions(self, counts: np.ndarray) -> np.ndarray:
        n_s, n_obs, k = counts.shape
        diag = np.arange(k)
        correct = counts[:, diag, diag].sum(axis=1)
        total = counts.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(total > 0, correct / np.where(total > 0, total, 1.0), 1.0 / k)
        p = np.clip(p, _EPS, 1 - _EPS)
        conf = np.broadcast_to(((1 - p) / (k - 1))[:, None, None], (n_s, n_obs, k)).copy()
        conf[:, diag, diag] = p[:, None]
        return conf

    def _log_prior_term(self, conf: np.ndarray) -> float:
        return 0.0

    def _publish(self, enc, conf, priors, n_iter, converged, history):
        super()._publish(enc, conf, priors, n_iter, converged, history)
        k = enc.n_classes
        self.skills_ = self._skills_table(enc, conf[:, 0, 0] if k and len(conf) else np.zeros(0))
