"""Label model for labeling functions, models and humans together, with abstains modelled."""

from __future__ import annotations

__all__ = ["LabelModel"]

from typing import Sequence

import numpy as np

from .dawid_skene import DawidSkene


class LabelModel(DawidSkene):
    """Dawid–Skene over the alphabet ``classes + [abstain]``.

    Each source has P(vote = c or abstain | true class k): its voting propensity is class
    conditional. That is what keeps one-sided labeling functions (a keyword rule that only
    ever says SPAM) informative: plain Dawid–Skene sees one constant label from such a source
    and learns nothing, or collapses; here "abstained" is itself evidence about the class,
    and human annotators, models and rules sit in one model, scored on the same gold items
    (gold clamping and warm start work as in ``DawidSkene``).

    Votes must carry explicit abstains (null labels) for the items a source saw but did not
    label; an item a source never saw simply has no row.

    Args:
        classes: the project's ordered label set.
        class_balance: fixed class priors (same order as ``classes``); None estimates them.
            Fixing them to uniform is Snorkel's default and protects against the estimate
            drifting towards the class the rules cover best.
        max_iter, tol, smoothing, diagonal_prior: as in ``DawidSkene``.
    """

    def __init__(self, classes: Sequence[str], class_balance: Sequence[float] | None = None,
                 max_iter: int = 100, tol: float = 1e-5, smoothing: float = 0.01,
                 diagonal_prior: float = 1.0):
        super().__init__(classes, max_iter=max_iter, tol=tol, smoothing=smoothing,
                         diagonal_prior=diagonal_prior, abstain="model")
        if class_balance is not None:
            cb = np.asarray(class_balance, dtype=np.float64)
            if cb.shape != (len(self.classes),) or (cb <= 0).any():
                raise ValueError(
                    f"class_balance must hold {len(self.classes)} positive numbers, got {class_balance!r}")
            class_balance = cb / cb.sum()
        self.class_balance = class_balance

    def _m_priors(self, post: np.ndarray) -> np.ndarray:
        if self.class_balance is None:
            return super()._m_priors(post)
        return self.class_balance
