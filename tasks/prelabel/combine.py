"""Combining labeling-function and model votes into one pre-label with a probability per class.

Contract (shared with the consensus label model, `tasks/consensus/label_model.py`): votes come as an
Arrow table `item_id, source_id, label` (label NULL = the source abstained), optionally `probs`
(list<double> in `classes` order, for model sources); `fit_predict_proba(votes, gold)` returns an Arrow
table `item_id, <one float column per class>`.

The default, `LogOddsCombiner`, is naive Bayes over sources: each labeling function has a confusion
table P(vote | true class) over the classes plus "abstain", estimated on gold with a Dirichlet prior
(so a source without gold evidence counts as `default_accuracy`-accurate at its observed abstain
rate); a model contributes log P_model(y|x) - log P(y). Gold items are scored leave-one-out, so their
posteriors (used for calibration and thresholds) never saw their own answer. Sources are assumed
conditionally independent, which makes the raw posteriors over-confident when sources correlate:
routing therefore never trusts them directly, it picks thresholds on measured precision.

`prelabel.combiner = "label_model"` uses the consensus label model instead (no gold needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.votes import factorize

__all__ = ["Combiner", "LabelModelCombiner", "LogOddsCombiner"]


@runtime_checkable
class Combiner(Protocol):
    name: str

    def fit_predict_proba(self, votes: pa.Table, gold: pa.Table | None = None) -> pa.Table: ...


class LabelModelCombiner:
    """Adapter for an unsupervised label model with `fit_predict_proba(votes) -> item_id + class columns`."""

    def __init__(self, label_model: Any, name: str = "label_model") -> None:
        self.label_model, self.name = label_model, name
        self.source_accuracy_: dict[str, float] = {}

    def fit_predict_proba(self, votes: pa.Table, gold: pa.Table | None = None) -> pa.Table:
        out = self.label_model.fit_predict_proba(votes.select(["item_id", "source_id", "label"]))
        skills = getattr(self.label_model, "skills_", None)  # pa.Table(source_id, skill)
        if skills is not None:
            self.source_accuracy_ = dict(zip(skills.column("source_id").to_pylist(), skills.column("skill").to_pylist()))
        return out


class LogOddsCombiner:
    """Naive-Bayes (weighted log-odds) combiner with gold-estimated source confusions; see module doc.

    Attributes after fitting: `source_accuracy_` (P(correct | voted), class-prior weighted),
    `class_prior_`, `loglik_` (source -> array [vote code, class]).
    """

    name = "log_odds"

    def __init__(self, classes: Sequence[str], prior_strength: float = 4.0, default_accuracy: float = 0.7, model_weight: float = 1.0) -> None:
        self.classes = list(classes)
        self.prior_strength, self.default_accuracy, self.model_weight = prior_strength, default_accuracy, model_weight
        self.source_accuracy_: dict[str, float] = {}

    def fit_predict_proba(self, votes: pa.Table, gold: pa.Table | None = None) -> pa.Table:
        C = len(self.classes)
        classes = pa.array(self.classes, pa.string())
        # Factorized once (through the dictionary when the column is one): no Python objects per vote
        items, item_idx = factorize(votes.column("item_id"), "item_id")
        n_items = len(items)
        has_probs = "probs" in votes.column_names
        is_model = pc.is_valid(votes.column("probs")).to_numpy(zero_copy_only=False) if has_probs else np.zeros(votes.num_rows, bool)

        gold_y = np.full(n_items, -1)
        if gold is not None and gold.num_rows and n_items:
            at = pc.index_in(gold.column("item_id"), value_set=items).to_numpy(zero_copy_only=False)
            gy = pc.index_in(gold.column("label"), value_set=classes).to_numpy(zero_copy_only=False)
            ok = ~np.isnan(at.astype(float)) & ~np.isnan(gy.astype(float))
            gold_y[at[ok].astype(np.int64)] = gy[ok].astype(np.int64)
        known = gold_y[gold_y >= 0]
        prior = (np.bincount(known, minlength=C) + 1.0) / (len(known) + C)
        self.class_prior_ = dict(zip(self.classes, prior.tolist(), strict=True))
        score = np.tile(np.log(prior), (n_items, 1))

        lf = ~is_model
        src_dict, src = factorize(votes.column("source_id"), "source_id")
        src_names = src_dict.to_pylist()
        code = pc.index_in(votes.column("label"), value_set=classes).to_numpy(zero_copy_only=False) if votes.num_rows else np.array([])
        code = np.where(np.isnan(code.astype(float)), C, code).astype(np.int64)  # abstain or unknown label -> C
        self.loglik_ = {}
        for si in np.unique(src[lf]) if lf.any() else []:
            s = src_names[si]
            rows = np.flatnonzero(lf & (src == si))
            ii, vv = item_idx[rows], code[rows]
            abstain = float((vv == C).mean())
            p0 = np.empty((C + 1, C))
            for y in range(C):
                p0[C, y] = abstain
                p0[:C, y] = (1 - abstain) * (1 - self.default_accuracy) / max(C - 1, 1)
                p0[y, y] = (1 - abstain) * self.default_accuracy
            p0 = 0.98 * p0 + 0.02 / (C + 1)  # no vote value is impossible a priori
            counts = np.zeros((C + 1, C))
            g = gold_y[ii] >= 0
            np.add.at(counts, (vv[g], gold_y[ii][g]), 1.0)
            n_y = counts.sum(axis=0)
            a = self.prior_strength
            ll = np.log(counts + a * p0) - np.log(n_y + a)
            self.loglik_[s] = ll
            contrib = ll[vv]  # rows x classes
            if g.any():  # leave-one-out for gold items: remove the item's own count from its true class
                gr = np.flatnonzero(g)
                yt = gold_y[ii][gr]
                c_own = counts[vv[gr], yt]
                contrib[gr, yt] = np.log(c_own - 1 + a * p0[vv[gr], yt]) - np.log(n_y[yt] - 1 + a)
            for y in range(C):
                score[:, y] += np.bincount(ii, weights=contrib[:, y], minlength=n_items)
            # P(vote = y | class y, not abstaining), smoothed with the same prior as the likelihoods
            cond = np.array([(counts[y, y] + a * p0[y, y]) / (n_y[y] - counts[C, y] + a * (1 - p0[C, y])) for y in range(C)])
            self.source_accuracy_[str(s)] = float(np.clip((prior * cond).sum(), 0, 1))
        if is_model.any():
            rows = np.flatnonzero(is_model)
            probs = pc.list_flatten(votes.column("probs").take(pa.array(rows))).to_numpy(zero_copy_only=False).reshape(len(rows), C)
            lp = np.log(np.clip(probs, 1e-4, 1 - 1e-4)) - np.log(prior)
            for y in range(C):
                score[:, y] += self.model_weight * np.bincount(item_idx[rows], weights=lp[:, y], minlength=n_items)
        score -= score.max(axis=1, keepdims=True) if n_items else 0
        p = np.exp(score)
        p /= p.sum(axis=1, keepdims=True) if n_items else 1
        return pa.table({"item_id": items, **{c: p[:, j] for j, c in enumerate(self.classes)}})
