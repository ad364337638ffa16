"""Per-item preference, annotator reliability and position bias from pairwise judgments, by EM."""

from __future__ import annotations

__all__ = ["CHOICES", "OUTCOMES", "EncodedJudgments", "PreferenceModel", "encode_judgments"]

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from .bradley_terry import (
    BradleyTerryFit,
    davidson_probabilities,
    fit_strengths,
    missing_information,
    ranking_table,
)

CHOICES = ("A", "B", "tie")
"""Answers in the assignment's shown order: A = the candidate shown first."""
OUTCOMES = ("a", "b", "tie")
"""Preferences in the item's own terms: its stored candidates a and b."""
_EPS = 1e-12


@dataclass(frozen=True)
class EncodedJudgments:
    """Judgments on integer codes: what the EM loop runs on.

    ``shown`` is the answered slot (0 = first, 1 = second, 2 = tie); ``outcome`` the same answer in the
    item's terms (0 = a, 1 = b, 2 = tie), i.e. the slot flipped where the assignment was swapped.
    """

    item: np.ndarray
    source: np.ndarray
    shown: np.ndarray
    outcome: np.ndarray
    item_ids: pa.Array
    source_ids: pa.Array
    system_a: np.ndarray
    system_b: np.ndarray
    systems: pa.Array


def _strings(col) -> pa.Array:
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return pc.cast(col.dictionary_decode() if pa.types.is_dictionary(col.type) else col, pa.string())


def encode_judgments(judgments: pa.Table, items: pa.Table) -> EncodedJudgments:
    """Codes for ``judgments(item_id, source_id, choice, swapped)`` against ``items(item_id, system_a, system_b)``.

    Raises:
        ValueError: a judgment names an unknown item, or its choice is not A, B or tie (the message
            names the item and the source).
    """
    item_ids = _strings(items["item_id"])
    item = pc.index_in(_strings(judgments["item_id"]), value_set=item_ids)
    choice = _strings(judgments["choice"])
    shown = pc.index_in(choice, value_set=pa.array(CHOICES))
    for codes, what in ((item, "item_id"), (shown, "choice")):
        if codes.null_count:
            row = pc.index(pc.is_null(codes), True).as_py()
            raise ValueError(f"judgment row {row} (item {judgments['item_id'][row].as_py()!r}, source "
                             f"{judgments['source_id'][row].as_py()!r}): unknown {what} "
                             f"{judgments[what][row].as_py()!r}" + (f"; expected one of {list(CHOICES)}"
                                                                     if what == "choice" else ""))
    sources = _strings(judgments["source_id"]).dictionary_encode()
    systems_all = pa.concat_arrays([_strings(items["system_a"]), _strings(items["system_b"])])
    systems = pc.unique(systems_all)
    systems = systems.take(pc.sort_indices(systems))
    sys_codes = pc.index_in(systems_all, value_set=systems).to_numpy().astype(np.int64)
    shown_np = shown.to_numpy(zero_copy_only=False).astype(np.int8)
    swapped = pc.fill_null(judgments["swapped"], False).to_numpy(zero_copy_only=False).astype(bool)
    outcome = np.where(shown_np == 2, 2, shown_np ^ swapped).astype(np.int8)
    n = len(item_ids)
    return EncodedJudgments(item.to_numpy(zero_copy_only=False).astype(np.int64),
                            sources.indices.to_numpy(zero_copy_only=False).astype(np.int64), shown_np, outcome,
                            item_ids, sources.dictionary, sys_codes[:n], sys_codes[n:], systems)


def _normalise(log_joint: np.ndarray) -> tuple[np.ndarray, float]:
    """Row-normalised posteriors and the summed log evidence. Column by column: with 2-3 columns,
    element-wise operations between columns beat numpy reductions along the short axis."""
    cols = [log_joint[:, z] for z in range(log_joint.shape[1])]
    top = cols[0].copy()
    for c in cols[1:]:
        np.maximum(top, c, out=top)
    exps = [np.exp(c - top) for c in cols]
    total = exps[0].copy()
    for e in exps[1:]:
        total += e
    return np.column_stack([e / total for e in exps]), float(np.log(total).sum() + top.sum())


class PreferenceModel:
    """Noisy Bradley–Terry with position bias: MACE-style annotators over a Davidson prior.

    Each item i has a latent outcome z_i in {a, b, tie} (tie only when ``ties``), drawn from the
    Davidson model of its two systems: P(z_i) = davidson(theta[system_a] - theta[system_b], nu).
    Annotator s reads the item with probability ``q_s`` (reliability) and then answers z_i in the
    slot where that candidate was shown; otherwise answers at random from its own distribution
    ``rho_s`` over the slots (first, second, tie). So

        P(answer slot r | z, s) = q_s * [r shows z] + (1 - q_s) * rho_s[r].

    A spammer has q near 0 and rho near uniform; a position-biased annotator has rho piled on the
    first (or second) slot, and its "first" answers carry little evidence (their likelihood ratio
    (q + (1 - q) rho_first) / ((1 - q) rho_first) is near 1): that is how its votes are de-biased,
    not by a rule. Because candidate order is randomised per assignment, position and preference
    are separable.

    EM: the E-step gives item posteriors over z (per-item sums of per-judgment log-likelihoods, as one
    sparse product over judgment patterns) and each judgment's responsibility "read the item"; the M-step re-estimates
    q and rho per source (Beta / Dirichlet pseudo-counts ``reliability_prior`` and ``rho_prior``)
    and the systems' strengths by Newton on the items' posteriors as soft comparisons
    (``bradley_terry.fit_strengths``), which is the exact M-step for theta and nu. It stops when the
    log posterior improves by less than ``tol`` per judgment. Gold items have their posterior fixed.
    The strengths' covariance is the observed information (Louis): the soft outcomes' complete-data
    information less what the items' uncertain outcomes do not tell (``missing_information``).

    Attributes (after ``fit``):
        preferences_: ``item_id, preferred (a|b|tie), confidence, p_a, p_b, p_tie, n_judgments``.
        sources_: ``source_id, reliability, position_bias, p_first, p_second, p_tie, n_judgments, flag``;
            ``position_bias`` = (1 - q)(rho_first - rho_second), the share of answers moved to the
            first slot; ``flag`` is "position_biased", "spammer" or null.
        ranking_: the systems' leaderboard (``bradley_terry.ranking_table``).
        strengths_: the ``BradleyTerryFit``; ``posteriors_``: (n_items, 3) numpy; ``n_iter_``, ``log_posterior_``.
    """

    def __init__(self, ties: bool = True, max_iter: int = 200, tol: float = 1e-7,
                 reliability_prior: tuple[float, float] = (2.0, 1.0), rho_prior: float = 1.0,
                 strength_prior: float = 0.01, spam_threshold: float = 0.2, bias_threshold: float = 0.25,
                 level: float = 0.95):
        self.ties = bool(ties)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.reliability_prior = tuple(float(v) for v in reliability_prior)
        self.rho_prior = float(rho_prior)
        self.strength_prior = float(strength_prior)
        self.spam_threshold = float(spam_threshold)
        self.bias_threshold = float(bias_threshold)
        self.level = float(level)

    def fit(self, judgments: pa.Table, items: pa.Table, gold: pa.Table | None = None) -> PreferenceModel:
        """Fit on ``judgments(item_id, source_id, choice, swapped)`` and ``items(item_id, system_a, system_b)``.

        ``gold(item_id, preference)`` (preference a, b or tie) clamps those items' posteriors.
        """
        enc = encode_judgments(judgments, items)
        if not self.ties and (enc.shown == 2).any():
            row = int(np.argmax(enc.shown == 2))
            raise ValueError(f"judgment row {row} (item {enc.item_ids[enc.item[row]].as_py()!r}): "
                             "answer 'tie' but ties are not allowed by the config")
        self.encoded_ = enc
        k = 3 if self.ties else 2
        n_items, n_src = len(enc.item_ids), len(enc.source_ids)
        clamp = self._gold(gold, enc, k)
        q = np.full(n_src, 0.7)
        rho = np.full((n_src, k), 1.0 / k)
        strengths = BradleyTerryFit(np.zeros(len(enc.systems)), np.zeros((0, 0)), 1.0 if self.ties else 0.0, 0.0, 0)
        # A judgment's likelihood depends only on its pattern (source, shown slot, outcome): 9 patterns
        # per source. Counting patterns per item once (a sparse items x patterns matrix) turns each
        # E-step into one sparse product and each M-step into one transposed product, instead of
        # several passes over every judgment.
        code = (enc.source * 3 + enc.shown) * 3 + enc.outcome
        n_codes = n_src * 9
        counts = sp.csr_matrix((np.ones(len(code)), (enc.item, code)), shape=(n_items, n_codes))
        counts.sum_duplicates()
        counts_t = counts.T.tocsr()
        c_src, c_rest = np.divmod(np.arange(n_codes), 9)
        c_shown, c_out = np.divmod(c_rest, 3)
        c_n = np.asarray(counts.sum(axis=0)).ravel()
        used = c_shown < k
        match = (c_out[:, None] == np.arange(k)[None, :]) & used[:, None]
        c_shown_k = np.minimum(c_shown, k - 1)
        n_per_src = np.bincount(enc.source, minlength=n_src).astype(np.float64)
        # Items of the same ordered pair of systems share their prior and enter the strengths' M-step
        # as one soft comparison: the Bradley–Terry part costs O(pairs of systems), not O(items).
        n_sys = len(enc.systems)
        pairs, pair_of = np.unique(enc.system_a * n_sys + enc.system_b, return_inverse=True)
        pair_a, pair_b = pairs // n_sys, pairs % n_sys
        ties = "davidson" if self.ties else "none"
        previous = -np.inf
        a0, b0 = self.reliability_prior
        for it in range(1, self.max_iter + 1):
            theta = strengths.theta
            prior = davidson_probabilities(theta[pair_a] - theta[pair_b], strengths.nu)[pair_of, :k]
            attentive = q[c_src][:, None] * match
            lik = attentive + ((1 - q)[c_src] * rho[c_src, c_shown_k])[:, None]
            log_joint = np.log(prior + _EPS) + counts @ np.log(lik)
            post, log_evidence = _normalise(log_joint)
            objective = log_evidence + self._log_prior(q, rho, strengths)
            if clamp is not None:
                post[clamp[0]] = clamp[1]
            # expected number of judgments of each pattern that read the item, summed over z
            read = ((counts_t @ post) * attentive / lik).sum(axis=1)
            q = (np.bincount(c_src, read, minlength=n_src) + a0 - 1) / (n_per_src + a0 + b0 - 2)
            q = np.clip(q, 1e-4, 1 - 1e-4)
            guess = np.bincount(c_src * k + c_shown_k, (c_n - read) * used, minlength=n_src * k).reshape(n_src, k)
            rho = (guess + self.rho_prior) / (guess.sum(axis=1, keepdims=True) + k * self.rho_prior)
            soft = [np.bincount(pair_of, post[:, z], minlength=len(pairs)) for z in range(k)]
            soft += [np.zeros(len(pairs))] * (3 - k)
            strengths = fit_strengths(pair_a, pair_b, *soft, n_sys, ties=ties, prior=self.strength_prior,
                                      init=strengths, max_iter=5)
            if objective - previous < self.tol * max(len(enc.item), 1):
                break
            previous = objective
        self.n_iter_ = it
        self.log_posterior_ = objective
        pad = np.zeros((n_items, 3))
        pad[:, :k] = post
        self.posteriors_ = pad
        self.strengths_ = fit_strengths(pair_a, pair_b, *soft, n_sys, ties=ties, prior=self.strength_prior,
                                        init=strengths,
                                        missing=missing_information(enc.system_a, enc.system_b, pad, n_sys, ties))
        self.ranking_ = ranking_table(enc.systems, self.strengths_, self.level)
        self._publish(enc, pad, q, rho, n_per_src, k)
        return self

    def _log_prior(self, q: np.ndarray, rho: np.ndarray, strengths: BradleyTerryFit) -> float:
        a0, b0 = self.reliability_prior
        theta = strengths.theta
        return float((a0 - 1) * np.log(q).sum() + (b0 - 1) * np.log1p(-q).sum()
                     + (self.rho_prior - 1) * np.log(rho).sum() - self.strength_prior / 2 * theta @ theta)

    @staticmethod
    def _gold(gold: pa.Table | None, enc: EncodedJudgments, k: int):
        if gold is None or not len(gold):
            return None
        idx = pc.index_in(_strings(gold["item_id"]), value_set=enc.item_ids)
        pref = pc.index_in(_strings(gold["preference"]), value_set=pa.array(OUTCOMES[:k]))
        if pref.null_count:
            row = pc.index(pc.is_null(pref), True).as_py()
            raise ValueError(f"gold row {row} (item {gold['item_id'][row].as_py()!r}): preference "
                             f"{gold['preference'][row].as_py()!r} is not one of {list(OUTCOMES[:k])}")
        keep = pc.is_valid(idx).to_numpy(zero_copy_only=False)
        rows = idx.to_numpy(zero_copy_only=False)[keep].astype(np.int64)
        return rows, np.eye(k)[pref.to_numpy(zero_copy_only=False)[keep].astype(np.int64)]

    def _publish(self, enc, post, q, rho, n_per_src, k) -> None:
        best = post.argmax(axis=1)
        self.preferences_ = pa.table({
            "item_id": enc.item_ids,
            "preferred": pa.array(np.array(OUTCOMES, dtype=object)[best], pa.string()),
            "confidence": post.max(axis=1), "p_a": post[:, 0], "p_b": post[:, 1], "p_tie": post[:, 2],
            "n_judgments": np.bincount(enc.item, minlength=len(enc.item_ids)).astype(np.int32),
        })
        bias = (1 - q) * (rho[:, 0] - rho[:, 1])
        flag = np.where(np.abs(bias) >= self.bias_threshold, "position_biased",
                        np.where(q < self.spam_threshold, "spammer", ""))
        self.sources_ = pa.table({
            "source_id": enc.source_ids, "reliability": q, "position_bias": bias,
            "p_first": rho[:, 0], "p_second": rho[:, 1], "p_tie": rho[:, 2] if k == 3 else np.zeros(len(q)),
            "n_judgments": n_per_src.astype(np.int32),
            "flag": pc.if_else(pc.equal(pa.array(flag, pa.string()), ""), pa.scalar(None, pa.string()),
                               pa.array(flag, pa.string())),
        })
