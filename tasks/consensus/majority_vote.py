"""Majority vote and weighted majority vote (given weights, gold accuracy, or Wawa)."""

from __future__ import annotations

__all__ = ["MajorityVote", "WeightedMajorityVote", "WMV_MODES"]

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import Aggregator, vote_shares
from .votes import EncodedVotes, check_option

WMV_MODES = ("given", "gold", "wawa")


def _agreement(enc: EncodedVotes, reference: np.ndarray) -> np.ndarray:
    """Per source: weighted share of its non-abstain votes equal to ``reference[item]``.

    ``reference`` is a class code per item (-1 where undefined, those votes are not counted).
    """
    ref = reference[enc.item]
    counted = (enc.label >= 0) & (ref >= 0)
    w = enc.weight * counted
    hits = np.bincount(enc.source, weights=w * (enc.label == ref), minlength=enc.n_sources)
    total = np.bincount(enc.source, weights=w, minlength=enc.n_sources)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, hits / np.where(total > 0, total, 1.0), np.nan)


def _argmax_or_missing(post: np.ndarray) -> np.ndarray:
    undefined = np.isnan(post).any(axis=1)
    return np.where(undefined, -1, np.argmax(np.nan_to_num(post, nan=0.0), axis=1))


class MajorityVote(Aggregator):
    """Plurality of non-abstain votes (weighted by the optional ``weight`` column).

    Ties go to the earlier class in ``classes`` (the crowd-kit convention when classes are
    sorted), so results never depend on row order. Probabilities are vote shares; an item
    with only abstains gets a null label. ``skills_`` is each source's agreement with the
    majority label, the cheapest usable reliability estimate.
    """

    def _fit(self, enc, gold_mask, init):
        post = vote_shares(enc.class_counts())
        self.skills_ = self._skills_table(enc, _agreement(enc, _argmax_or_missing(post)))
        return post


class WeightedMajorityVote(Aggregator):
    """Majority vote where each source's votes count with a per-source weight.

    Args:
        classes: the project's ordered label set.
        mode: where weights come from:
            ``"given"``: ``skills`` (a ``pa.Table(source_id, skill)``); sources missing from it
            weigh ``default_skill``;
            ``"gold"``: each source's accuracy on the gold items passed to ``fit`` (a vote is
            right when it matches any accepted gold label of the item); sources without gold
            answers weigh the mean accuracy of those with some, so newcomers are neither
            silenced nor trusted more than the average;
            ``"wawa"``: agreement with the plain majority vote (Worker Agreement With Aggregate).
        skills: weights for ``mode="given"``.
        default_skill: weight of a source absent from ``skills``.
    """

    def __init__(self, classes: Sequence[str], mode: str = "given", skills: pa.Table | None = None,
                 default_skill: float = 1.0):
        super().__init__(classes)
        self.mode = check_option("mode", mode, WMV_MODES)
        if mode == "given" and skills is None:
            raise ValueError("mode='given' needs skills=pa.Table(source_id, skill)")
        self.skills = skills
        self.default_skill = float(default_skill)

    def _weights(self, enc: EncodedVotes, gold_mask: np.ndarray | None) -> np.ndarray:
        if self.mode == "given":
            pos = pc.index_in(enc.source_ids.cast(pa.string()),
                              value_set=self.skills.column("source_id").combine_chunks().cast(pa.string()))
            pos = pos.to_numpy(zero_copy_only=False).astype(np.float64)
            given = np.asarray(self.skills.column("skill").to_numpy(zero_copy_only=False), np.float64)
            found = ~np.isnan(pos)
            skill = np.full(enc.n_sources, self.default_skill)
            skill[found] = given[pos[found].astype(np.int64)]
            return skill
        if self.mode == "wawa":
            return _agreement(enc, _argmax_or_missing(vote_shares(enc.class_counts())))
        if gold_mask is None:
            raise ValueError("mode='gold' needs gold=pa.Table(item_id, label) passed to fit")
        on_gold = gold_mask.any(axis=1)[enc.item] & (enc.label >= 0)
        right = on_gold & gold_mask[enc.item, np.maximum(enc.label, 0)]
        w = enc.weight
        hits = np.bincount(enc.source, weights=w * right, minlength=enc.n_sources)
        total = np.bincount(enc.source, weights=w * on_gold, minlength=enc.n_sources)
        skill = np.full(enc.n_sources, np.nan)
        scored = total > 0
        skill[scored] = hits[scored] / total[scored]
        skill[~scored] = skill[scored].mean() if scored.any() else self.default_skill
        return skill

    def _fit(self, enc, gold_mask, init):
        skill = self._weights(enc, gold_mask)
        self.weights_ = skill
        self.skills_ = self._skills_table(enc, skill)
        k = enc.n_classes
        voted = enc.label >= 0
        flat = np.bincount(enc.item[voted] * k + enc.label[voted],
                           weights=(enc.weight * skill[enc.source])[voted], minlength=enc.n_items * k)
        return vote_shares(flat.reshape(enc.n_items, k))
