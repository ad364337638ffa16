"""Dawid–Skene EM with full per-source confusion matrices, vectorised over scipy.sparse."""

from __future__ import annotations

__all__ = ["ABSTAIN_MODES", "POSTERIORS", "PRECISIONS", "PRIORS", "DawidSkene", "DawidSkeneParams"]

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from .base import Aggregator, clamp_gold, vote_shares
from .calibration import calibrate_posterior
from .shrinkage import fit_hierarchical_prior, identifiable_per_class
from .votes import EncodedVotes, check_option

ABSTAIN_MODES = ("ignore", "model")
PRECISIONS = ("auto", "float64", "float32")
PRIORS = ("flat", "hierarchical")
POSTERIORS = ("plug_in", "predictive")
_HYPER_ROUNDS = 50
_EM_PER_ROUND = 10
_PSEUDO_TOL = 1e-3
_FLOAT32_FROM_VOTES = 1_000_000
_EPS = 1e-10


def _normalise_log(log_l: np.ndarray, extra: float) -> tuple[np.ndarray, float]:
    """Posteriors from per-item log joint and the summed log evidence + ``extra``.

    Works on the transposed (n_classes, n_items) layout: numpy reductions across a short last
    axis (4 classes) are 30-60x slower than element-wise operations between contiguous rows,
    and this normalisation was most of the EM time at 1M votes. Returns (n_items, n_classes).
    """
    if len(log_l) == 0:
        return log_l, extra
    lt = np.ascontiguousarray(log_l.T)
    top = lt.max(axis=0)
    lt -= top
    np.exp(lt, out=lt)
    total = lt.sum(axis=0)
    lt /= total
    evidence = np.log(total.astype(np.float64)).sum() + top.sum(dtype=np.float64)
    return lt.T, float(evidence) + extra


def _same_prior(a, b) -> bool:
    return (a.skill_strength, a.matrix_strength) == (b.skill_strength, b.matrix_strength) and (
        np.abs(a.pseudo - b.pseudo).max(initial=0.0) < _PSEUDO_TOL * max(a.matrix_strength, default=1.0))


@dataclass(frozen=True)
class DawidSkeneParams:
    """Fitted parameters, keyed by source id so a later run can warm-start from them.

    Attributes:
        source_ids: one id per row of ``confusions``.
        confusions: shape (n_sources, n_observed, n_classes); ``[s, o, k]`` = P(source s
            answers o | true class k). ``n_observed`` is n_classes, plus one (last) for the
            abstain symbol when abstains are modelled.
        priors: shape (n_classes,), the class balance.
    """

    source_ids: pa.Array
    confusions: np.ndarray
    priors: np.ndarray


class DawidSkene(Aggregator):
    """Dawid–Skene (1979): each source has a confusion matrix, items a latent true class.

    EM starts from majority-vote posteriors (or from ``init`` parameters: warm start) and
    alternates E-step (posteriors) and M-step (confusions, class priors). Iteration ``t`` is
    one E-step then one M-step; with ``max_iter=0`` the result is the majority vote plus one
    M-step, as in crowd-kit.

    Convergence: the E-step computes the observed-data log-likelihood of the current
    parameters plus the log of the Dirichlet prior given by ``smoothing`` and
    ``diagonal_prior`` (so it is exactly the quantity this MAP-EM increases). EM stops when that objective improves by less than
    ``tol`` **per unit of vote weight** (i.e. ``tol * total_weight`` in absolute terms), or at
    ``max_iter``. It never stops because the objective fell, since EM cannot make it fall.

    Gold items (``fit(votes, gold=...)``) are clamped: their posterior is fixed to the gold
    label in every E-step, so they anchor the confusion estimates.

    Args:
        classes: the project's ordered label set.
        max_iter: iteration cap.
        tol: per-vote improvement below which EM has converged.
        smoothing: pseudo-count added to every confusion cell (MAP with a Dirichlet prior).
            0 is the maximum-likelihood estimate of crowd-kit; the small default keeps a
            source seen once informative (with 0, its single answer becomes certain under
            every true class, so its vote carries no evidence).
        diagonal_prior: extra pseudo-count on the diagonal cells P(answer k | true k): the
            prior belief that a source beats chance. Worth about one vote, it is what a source
            seen once is judged by, and it is negligible for sources with many votes.
        abstain: ``"ignore"`` drops null labels; ``"model"`` treats abstain as one more
            observed symbol whose probability depends on the true class (the label model).
        precision: float type of the per-vote products and posteriors. ``"auto"`` uses
            float32 from 1M votes on (half the memory traffic, 25-30% faster at 1M-10M votes;
            sums of the objective, counts and priors stay float64, and the convergence test
            works per unit of vote weight, far above float32 noise) and float64 below, where
            the objective is checked to never fall to 1e-7 relative.
        prior: ``"flat"`` (the pseudo-counts above, the same for every source) or
            ``"hierarchical"``: each source's matrix shrunk toward the crowd as far as its
            evidence is thin, with strengths learned from the data (``shrinkage.py``). The
            prior is re-estimated between EM runs of at most 10 iterations; the objective of
            the last run is the one reported (it never falls within a run).
        posterior: ``"plug_in"`` (the E-step's posterior) or ``"predictive"``: each item's
            posterior with its voters' matrices estimated from the other items, and, with
            gold, confidences mapped to what gold shows them worth (see ``_predictive``).

    Attributes (after fit): ``labels_``, ``probas_``, ``skills_`` (expected accuracy
    sum_k prior_k * P(answer k | k)), ``confusions_`` (long table source_id, label,
    true_label, prob; label null = abstain), ``priors_`` (table label, prior), ``params_``
    (``DawidSkeneParams`` for warm start), ``n_iter_`` (all rounds), ``converged_``,
    ``log_likelihood_`` (objective after each E-step of the last run); ``hierarchy_``
    (``shrinkage.HierarchicalPrior``) with the hierarchical prior; ``calibration_``
    (``calibration.GoldCalibration`` or None) and ``forecast_`` (the predictive posterior before
    gold: gold items unclamped, confidences unmapped; None with the plug-in posterior).
    """

    def __init__(self, classes: Sequence[str], max_iter: int = 100, tol: float = 1e-5,
                 smoothing: float = 0.01, diagonal_prior: float = 1.0, abstain: str = "ignore",
                 precision: str = "auto", prior: str = "flat", posterior: str = "plug_in"):
        super().__init__(classes)
        if max_iter < 0:
            raise ValueError(f"max_iter must be >= 0, got {max_iter!r}")
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.smoothing = float(smoothing)
        self.diagonal_prior = float(diagonal_prior)
        self.abstain = check_option("abstain", abstain, ABSTAIN_MODES)
        self.precision = check_option("precision", precision, PRECISIONS)
        self.prior = check_option("prior", prior, PRIORS)
        self.posterior = check_option("posterior", posterior, POSTERIORS)
        self._pseudo: np.ndarray | None = None

    # -- model pieces -------------------------------------------------------------------
    def _observed(self, enc: EncodedVotes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """Per counted vote: item, source, observed symbol, weight; and the alphabet size."""
        k = enc.n_classes
        if self.abstain == "model":
            obs = np.where(enc.label < 0, k, enc.label)
            return enc.item, enc.source, obs, enc.weight, k + 1
        keep = enc.label >= 0
        if keep.all():  # no abstains: skip four copies of every vote array
            return enc.item, enc.source, enc.label, enc.weight, k
        return enc.item[keep], enc.source[keep], enc.label[keep], enc.weight[keep], k

    def _flat_pseudo_counts(self, n_obs: int, k: int) -> np.ndarray:
        """The flat model's Dirichlet pseudo-counts per confusion cell (n_obs, k)."""
        alpha = np.full((n_obs, k), self.smoothing)
        alpha[np.arange(k), np.arange(k)] += self.diagonal_prior
        return alpha

    def _pseudo_counts(self, n_obs: int, k: int) -> np.ndarray:
        """Pseudo-counts in force: per source (S, n_obs, k) under the hierarchical prior, else flat."""
        return self._flat_pseudo_counts(n_obs, k) if self._pseudo is None else self._pseudo

    def _m_confusions(self, counts: np.ndarray) -> np.ndarray:
        """MAP confusions from expected counts (S, O, K): normalise over observed symbols."""
        counts = counts + self._pseudo_counts(*counts.shape[1:]) + _EPS
        return counts / counts.sum(axis=1, keepdims=True)

    def _m_priors(self, post: np.ndarray) -> np.ndarray:
        if len(post) == 0:
            return np.full(post.shape[1], 1.0 / post.shape[1])
        # Summing the (n_classes, n_items) view along its contiguous rows: far faster than
        # mean(axis=0) over a short last axis, and accumulated in float64 whatever the dtype.
        p = post.T.sum(axis=1, dtype=np.float64) / len(post) + _EPS
        return p / p.sum()

    def _log_prior_term(self, conf: np.ndarray) -> float:
        """Log Dirichlet density (up to a constant), so EM's objective is the MAP one it raises."""
        return float((np.log(conf) * self._pseudo_counts(*conf.shape[1:])).sum())

    def _initial_posteriors(self, enc: EncodedVotes) -> np.ndarray:
        post = vote_shares(enc.class_counts())
        return np.where(np.isnan(post), 1.0 / enc.n_classes, post)

    def _warm_params(self, enc: EncodedVotes, init, n_obs: int) -> tuple[np.ndarray, np.ndarray]:
        """Map stored parameters onto this run's sources; unknown sources get the mean matrix."""
        if isinstance(init, DawidSkene):
            init = init.params_
        if not isinstance(init, DawidSkeneParams):
            raise TypeError(f"init must be DawidSkeneParams or a fitted DawidSkene, got {type(init).__name__!r}")
        k = enc.n_classes
        if init.confusions.shape[1:] != (n_obs, k):
            raise ValueError(
                f"init confusions have shape {init.confusions.shape[1:]!r} per source, "
                f"this model needs {(n_obs, k)!r}")
        pos = pc.index_in(enc.source_ids.cast(pa.string()),
                          value_set=pa.array(init.source_ids).cast(pa.string()))
        pos = pos.to_numpy(zero_copy_only=False).astype(np.float64)
        found = ~np.isnan(pos)
        mean = init.confusions.mean(axis=0) if len(init.confusions) else np.full((n_obs, k), 1.0 / n_obs)
        conf = np.broadcast_to(mean, (enc.n_sources, n_obs, k)).copy()
        conf[found] = init.confusions[pos[found].astype(np.int64)]
        return conf, np.asarray(init.priors, np.float64)

    # -- EM -------------------------------------------------------------------------------
    def _fit(self, enc, gold_mask, init):
        item, source, obs, w, n_obs = self._observed(enc)
        n_i, n_s, k = enc.n_items, enc.n_sources, enc.n_classes
        # One sparse matrix carries every vote: row = item, column = (source, symbol).
        big = self.precision == "float32" or (self.precision == "auto" and len(w) >= _FLOAT32_FROM_VOTES)
        dtype = np.float32 if big else np.float64
        votes = sp.csr_matrix((w.astype(dtype, copy=False), (item, source * n_obs + obs)), shape=(n_i, n_s * n_obs))
        # The M-step multiplies by the transpose as a CSC view of the same arrays: scipy then
        # walks items in order and scatters into the small (source, symbol) table, twice as
        # fast at 10M votes as a CSR transpose gathering posteriors at random, and no copy.
        votes_t = votes.T
        total_w = float(w.sum()) or 1.0
        gold_rows = gold_mask.any(axis=1) if gold_mask is not None else None

        def e_step(conf, priors):
            log_l = votes @ np.log(conf).astype(dtype, copy=False).reshape(n_s * n_obs, k)
            log_l += np.log(priors).astype(dtype)
            if gold_rows is not None:
                log_l[gold_rows] = np.where(gold_mask[gold_rows], log_l[gold_rows], -np.inf)
            return _normalise_log(log_l, self._log_prior_term(conf))

        def expected_counts(post):
            counts = np.asarray(votes_t @ np.ascontiguousarray(post, dtype=dtype), dtype=np.float64)
            return counts.reshape(n_s, n_obs, k)

        def em(conf, priors, post, budget):
            """EM from parameters; returns post, conf, priors, counts, history, iterations, converged."""
            history: list[float] = []
            counts = None
            for it in range(budget):
                post, obj = e_step(conf, priors)
                history.append(obj)
                counts = expected_counts(post)
                conf, priors = self._m_confusions(counts), self._m_priors(post)
                if len(history) > 1 and history[-1] - history[-2] < self.tol * total_w:
                    return post, conf, priors, counts, history, it + 1, True
            return post, conf, priors, counts, history, budget, False

        self._pseudo = None
        self.forecast_ = self.calibration_ = None
        if init is None:
            post = clamp_gold(self._initial_posteriors(enc), gold_mask)
            counts = expected_counts(post)
            conf, priors = self._m_confusions(counts), self._m_priors(post)
        else:
            conf, priors = self._warm_params(enc, init, n_obs)
            post = counts = None
        hierarchical = self.prior == "hierarchical"
        per_class = hierarchical and identifiable_per_class(item, obs < k, n_i)
        n_iter, history, converged = 0, [], False
        for r in range(_HYPER_ROUNDS if hierarchical else 1):
            if hierarchical:
                # The prior (strengths and each source's centre) is re-estimated between short EM
                # runs, never inside one: each run raises one fixed objective, and the rounds stop
                # when the prior no longer moves.
                if counts is None:
                    post, _obj = e_step(conf, priors)
                    counts = expected_counts(post)
                hyper = fit_hierarchical_prior(self._shared_counts(item, source, obs, w, post, n_s, n_obs),
                                               self._flat_pseudo_counts(n_obs, k), per_class)
                if r > 0 and _same_prior(hyper, self.hierarchy_):
                    break
                self.hierarchy_ = hyper
                self._pseudo = hyper.pseudo
                conf, priors = self._m_confusions(counts), self._m_priors(post)
            post, conf, priors, new_counts, history, n, converged = em(
                conf, priors, post, min(self.max_iter, _EM_PER_ROUND) if hierarchical else self.max_iter)
            counts = new_counts if new_counts is not None else counts
            n_iter += n
        if hierarchical and not converged and self.max_iter > 0:
            # The prior has settled (or the rounds ran out): EM runs to convergence under it, the
            # same objective as the last run, whose history this continues.
            post, conf, priors, new_counts, more, n, converged = em(conf, priors, post, self.max_iter)
            history = history + more
            counts = new_counts if new_counts is not None else counts
            n_iter += n
        if post is None:
            post, obj = e_step(conf, priors)
            history.append(obj)
            counts = expected_counts(post)
        if self.posterior == "predictive":
            post = self._predictive(item, source, obs, w, post, counts, priors, gold_mask)
        self._publish(enc, conf, priors, n_iter, converged, history)
        return np.asarray(post, dtype=np.float64)

    @staticmethod
    def _shared_counts(item, source, obs, w, post, n_s, n_obs):
        """Expected counts from items with at least two answers: what the prior's strengths are fitted on.

        On an item only it answered, a source agrees with the posterior its own vote made: such
        votes say nothing about its skill, and counting them makes every source look alike.
        """
        k = post.shape[1]
        answered = obs < k
        shared = np.bincount(item[answered], minlength=len(post))[item] >= 2
        part = np.asarray(post, np.float64)[item] * (w * shared)[:, None]
        key = source * n_obs + obs
        out = np.column_stack([np.bincount(key, weights=part[:, c], minlength=n_s * n_obs) for c in range(k)])
        return out.reshape(n_s, n_obs, k)

    def _predictive(self, item, source, obs, w, post, counts, priors, gold_mask):
        """Each item's posterior with every source's matrix estimated from the *other* items.

        The plug-in posterior counts a source's vote on an item as evidence for the very
        confusion matrix that then weighs it: a source seen on three items, whose votes made
        their labels, looks right on all three and is trusted as an expert. Removing the item's
        own expected counts from its voters' matrices (a leave-one-item-out cavity) gives the
        posterior predictive of each vote under the Dirichlet posterior of the other items' counts,
        so a source with little independent evidence weighs what its prior says, no more.
        """
        n_obs, k = counts.shape[1:]
        pseudo = np.broadcast_to(self._pseudo_counts(n_obs, k), counts.shape)
        num = counts + pseudo + _EPS
        den = num.sum(axis=1)  # (S, K)
        own = w[:, None] * np.asarray(post, np.float64)[item]  # (V, K): the vote's own share of the counts
        log_l = np.log(np.maximum(num[source, obs] - own, _EPS)) - np.log(np.maximum(den[source] - own, _EPS))
        log_l *= w[:, None]
        total = np.zeros((len(post), k))
        for c in range(k):
            total[:, c] = np.bincount(item, weights=log_l[:, c], minlength=len(post))
        total += np.log(priors)
        out, _ = _normalise_log(total, 0.0)
        out = np.ascontiguousarray(out)
        # The forecast before gold: a caller that adds evidence (machine.py) calibrates after it.
        self.forecast_ = out.copy()
        self.calibration_ = None
        if gold_mask is not None and gold_mask.any():
            out, self.calibration_ = calibrate_posterior(out, gold_mask)
            out = clamp_gold(out, gold_mask)
        return out

    def _publish(self, enc, conf, priors, n_iter, converged, history):
        k = enc.n_classes
        n_obs = conf.shape[1]
        self.n_iter_ = n_iter
        self.converged_ = converged
        self.log_likelihood_ = history
        self.params_ = DawidSkeneParams(enc.source_ids, conf, priors)
        self.priors_ = pa.table({"label": pa.array(self.classes), "prior": pa.array(priors)})
        diag = conf[:, np.arange(k), np.arange(k)] if len(conf) else np.zeros((0, k))
        self.skills_ = self._skills_table(enc, diag @ priors)
        s, o, t = np.meshgrid(np.arange(enc.n_sources), np.arange(n_obs), np.arange(k), indexing="ij")
        observed = pa.array(np.asarray(self.classes + (None,), dtype=object)[o.ravel()], pa.string())
        self.confusions_ = pa.table({
            "source_id": pc.take(enc.source_ids.cast(pa.string()), pa.array(s.ravel())),
            "label": observed,
            "true_label": pa.array(np.asarray(self.classes, dtype=object)[t.ravel()], pa.string()),
            "prob": pa.array(conf.ravel(), pa.float64()),
        })
