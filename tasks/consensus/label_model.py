"""Label model for labeling functions, models and humans together, with abstains modelled."""

from __future__ import annotations

__all__ = ["FIT_METHODS", "LabelModel"]

from collections.abc import Sequence

import numpy as np

from .base import clamp_gold
from .dawid_skene import DawidSkene, DawidSkeneParams, _normalise_log
from .matrix_completion import MAX_INDICATORS, fit_mu, overlap_moments
from .votes import check_option

FIT_METHODS = ("em", "matrix_completion", "matrix_completion+em")


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
        fit: ``"em"`` (maximum a posteriori EM from majority vote); ``"matrix_completion"``
            (each source's P(answer | class) from the overlap matrix of the sources' answers,
            Ratner et al. 2019, no EM; see ``matrix_completion.py``); ``"matrix_completion+em"``
            (EM started from that estimate). Matrix completion needs at most
            ``MAX_INDICATORS`` (source, class) pairs (labeling functions and models, not a
            crowd of thousands); beyond that EM is used and ``fit_used_`` says so.
        abstain_evidence: with ``fit="matrix_completion"``, whether a source's abstain counts
            as evidence in the posterior (its class-conditional propensity) or is ignored,
            as Snorkel's prediction does.
        prec_init: the accuracy matrix completion starts from (sets which way round the
            classes are).
        prior, posterior: as in ``DawidSkene``; the label model defaults to the hierarchical
            prior (each source as complex as its evidence allows) and the predictive posterior
            (calibrated confidence, on gold when given): it is the stage's default method.

    Attributes (after fit), in addition to ``DawidSkene``'s: ``fit_used_``.
    """

    def __init__(self, classes: Sequence[str], class_balance: Sequence[float] | None = None,
                 max_iter: int = 100, tol: float = 1e-5, smoothing: float = 0.01,
                 diagonal_prior: float = 1.0, fit: str = "em", abstain_evidence: bool = True,
                 prec_init: float = 0.7, prior: str = "hierarchical", posterior: str = "predictive"):
        super().__init__(classes, max_iter=max_iter, tol=tol, smoothing=smoothing,
                         diagonal_prior=diagonal_prior, abstain="model", prior=prior, posterior=posterior)
        self.fit_method = check_option("fit", fit, FIT_METHODS)
        self.abstain_evidence = bool(abstain_evidence)
        self.prec_init = float(prec_init)
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

    def _mc_params(self, enc) -> DawidSkeneParams | None:
        """Confusions (with the abstain row) from matrix completion, or None when too many pairs."""
        k = enc.n_classes
        voted = enc.label >= 0
        if not voted.any() or len(np.unique(enc.source[voted] * k + enc.label[voted])) > MAX_INDICATORS:
            return None
        _ids, src, cls, overlap, mask = overlap_moments(enc)
        priors = self.class_balance if self.class_balance is not None else np.full(k, 1.0 / k)
        mu = fit_mu(overlap, mask, cls, priors, prec_init=self.prec_init)
        conf = np.full((enc.n_sources, k + 1, k), 1e-6)
        conf[src, cls, :] = mu
        answered = conf[:, :k, :].sum(axis=1)
        scale = np.where(answered > 1 - 1e-6, (1 - 1e-6) / answered, 1.0)
        conf[:, :k, :] *= scale[:, None, :]
        conf[:, k, :] = 1 - conf[:, :k, :].sum(axis=1)
        return DawidSkeneParams(enc.source_ids, conf, priors)

    def _fit(self, enc, gold_mask, init):
        self.fit_used_ = "em"
        if self.fit_method == "em" or init is not None:
            return super()._fit(enc, gold_mask, init)
        params = self._mc_params(enc)
        if params is None:
            return super()._fit(enc, gold_mask, None)
        if self.fit_method == "matrix_completion+em":
            self.fit_used_ = "matrix_completion+em"
            return super()._fit(enc, gold_mask, params)
        self.fit_used_ = "matrix_completion"
        item, source, obs, w, _n_obs = self._observed(enc)
        if not self.abstain_evidence:
            keep = obs < enc.n_classes
            item, source, obs, w = item[keep], source[keep], obs[keep], w[keep]
        log_conf = np.log(params.confusions)
        log_l = np.zeros((enc.n_items, enc.n_classes)) + np.log(params.priors)
        np.add.at(log_l, item, w[:, None] * log_conf[source, obs])
        post, obj = _normalise_log(log_l, 0.0)
        post = clamp_gold(np.ascontiguousarray(post), gold_mask)
        self._publish(enc, params.confusions, params.priors, 0, True, [obj])
        return post
