"""GLAD: source ability and item difficulty, vectorised EM with a gradient M-step."""

from __future__ import annotations

__all__ = ["GLAD", "GLAD_PRIORS"]

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp

from .base import Aggregator, clamp_gold
from .votes import check_option

GLAD_PRIORS = ("estimate", "uniform")


class GLAD(Aggregator):
    """Whitehill et al. (2009): P(correct) = sigmoid(alpha_source * exp(beta_item)).

    ``alpha`` is a source's ability (negative = adversarial), ``exp(beta)`` an item's
    inverse difficulty; a wrong answer is spread evenly over the other classes. Both get a
    unit Gaussian prior centred on 1 (as crowd-kit), which keeps items with one vote finite.

    EM: initial parameters alpha = beta = 1 and uniform class priors; the first E-step gives
    the posteriors (so ``max_iter=0`` returns that E-step, crowd-kit's ``_e_step`` fixture).
    Each iteration is one M-step (L-BFGS on the whole parameter vector with the analytic
    gradient, warm-started at the current point, so the objective cannot fall) then one
    E-step. The objective is the observed-data log-likelihood plus the log-priors of alpha
    and beta; EM stops when it improves by less than ``tol`` per unit of vote weight.

    Args:
        classes: the project's ordered label set.
        max_iter: EM iteration cap.
        tol: per-vote improvement below which EM has converged.
        priors: keep the class balance ``"uniform"`` (the default, as the reference implementation
            of Whitehill et al.) or ``"estimate"`` it in each M-step. Estimated, it drifts toward
            the majority class, because GLAD's item difficulty lets a rare-class item's votes be
            explained away as a hard item: a 4.85% class fell to 1.15%.
        m_step_max_iter: L-BFGS iterations per M-step.

    Attributes (after fit): ``labels_``, ``probas_``, ``skills_`` (alpha per source),
    ``alphas_`` (table source_id, alpha), ``betas_`` (table item_id, beta), ``priors_``,
    ``n_iter_``, ``converged_``, ``log_likelihood_``.
    """

    def __init__(self, classes: Sequence[str], max_iter: int = 100, tol: float = 1e-5,
                 priors: str = "uniform", m_step_max_iter: int = 25):
        super().__init__(classes)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.priors = check_option("priors", priors, GLAD_PRIORS)
        self.m_step_max_iter = int(m_step_max_iter)

    def _fit(self, enc, gold_mask, init):
        keep = enc.label >= 0
        item, source, obs, w = enc.item[keep], enc.source[keep], enc.label[keep], enc.weight[keep]
        n_i, n_s, k = enc.n_items, enc.n_sources, enc.n_classes
        log_km1 = np.log(k - 1)
        gold_rows = gold_mask.any(axis=1) if gold_mask is not None else None
        total_w = float(w.sum()) or 1.0

        def log_prior(alpha, beta):
            return -0.5 * (np.square(alpha - 1.0).sum() + np.square(beta - 1.0).sum())

        def e_step(alpha, beta, priors):
            x = alpha[source] * np.exp(beta[item])
            wrong = log_expit(-x) - log_km1
            base = np.bincount(item, weights=w * wrong, minlength=n_i)
            bonus = np.bincount(item * k + obs, weights=w * (log_expit(x) - wrong), minlength=n_i * k)
            log_l = base[:, None] + bonus.reshape(n_i, k) + np.log(priors)
            if gold_rows is not None:
                log_l[gold_rows] = np.where(gold_mask[gold_rows], log_l[gold_rows], -np.inf)
            norm = logsumexp(log_l, axis=1, keepdims=True)
            return np.exp(log_l - norm), float(norm.sum()) + log_prior(alpha, beta)

        def m_step(post, alpha, beta):
            right = post[item, obs]  # posterior that each vote is correct

            def neg_q(theta):
                a, b = theta[:n_s], theta[n_s:]
                eb = np.exp(b[item])
                x = a[source] * eb
                q = np.sum(w * (right * log_expit(x) + (1 - right) * (log_expit(-x) - log_km1)))
                g = w * (right - expit(x))
                grad_a = np.bincount(source, weights=g * eb, minlength=n_s) - (a - 1.0)
                grad_b = np.bincount(item, weights=g * x, minlength=n_i) - (b - 1.0)
                return -(q + log_prior(a, b)), -np.concatenate([grad_a, grad_b])

            res = minimize(neg_q, np.concatenate([alpha, beta]), jac=True, method="L-BFGS-B",
                           options={"maxiter": self.m_step_max_iter})
            return res.x[:n_s], res.x[n_s:]

        alpha, beta = np.ones(n_s), np.ones(n_i)
        priors = np.full(k, 1.0 / k)
        post, obj = e_step(alpha, beta, priors)
        history = [obj]
        converged = False
        n_iter = 0
        for it in range(self.max_iter):
            alpha, beta = m_step(post, alpha, beta)
            if self.priors == "estimate" and n_i:
                priors = post.mean(axis=0) + 1e-10
                priors /= priors.sum()
            post, obj = e_step(alpha, beta, priors)
            history.append(obj)
            n_iter = it + 1
            if history[-1] - history[-2] < self.tol * total_w:
                converged = True
                break
        post = clamp_gold(post, gold_mask)
        self.n_iter_, self.converged_, self.log_likelihood_ = n_iter, converged, history
        self.skills_ = self._skills_table(enc, alpha)
        self.alphas_ = pa.table({"source_id": enc.source_ids.cast(pa.string()), "alpha": alpha})
        self.betas_ = pa.table({"item_id": enc.item_ids.cast(pa.string()), "beta": beta})
        self.priors_ = pa.table({"label": pa.array(self.classes), "prior": priors})
        return post
