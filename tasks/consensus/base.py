"""The contract every aggregator shares: Arrow votes in, Arrow labels and probabilities out."""

from __future__ import annotations

__all__ = ["Aggregator", "clamp_gold", "vote_shares"]

from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from .votes import EncodedVotes, encode_gold, encode_votes, label_table, proba_table


class Aggregator:
    """Base class: encode once, fit on integer codes, publish Arrow tables.

    Input votes have columns ``item_id`` (string), ``source_id`` (string), ``label`` (string,
    null = explicit abstain) and optional ``weight`` (float). After ``fit``:

    * ``labels_``: ``pa.Table(item_id, label, confidence)``, ties to the earlier class;
    * ``probas_``: ``pa.Table(item_id, <one float column per class>)``;
    * ``skills_``: ``pa.Table(source_id, skill)`` where the method defines one;
    * ``posteriors_`` (numpy, n_items x n_classes) and ``encoded_`` for callers that stay in numpy.

    Subclasses implement ``_fit(enc, gold_mask, init) -> posteriors``.
    """

    def __init__(self, classes: Sequence[str]):
        self.classes = tuple(str(c) for c in classes)

    def fit(self, votes: pa.Table, gold: pa.Table | None = None, init: Any = None) -> "Aggregator":
        """Fit on a votes table; ``gold`` is ``pa.Table(item_id, label)``, ``init`` method-specific."""
        enc = encode_votes(votes, self.classes)
        gold_mask = encode_gold(gold, enc)
        self.encoded_ = enc
        post = self._fit(enc, gold_mask, init)
        self.posteriors_ = post
        self.probas_ = proba_table(enc.item_ids, post, self.classes)
        self.labels_ = label_table(enc.item_ids, post, self.classes)
        return self

    def fit_predict(self, votes: pa.Table, gold: pa.Table | None = None, init: Any = None) -> pa.Table:
        """Fit and return ``pa.Table(item_id, label, confidence)``."""
        return self.fit(votes, gold, init).labels_

    def fit_predict_proba(self, votes: pa.Table, gold: pa.Table | None = None, init: Any = None) -> pa.Table:
        """Fit and return ``pa.Table(item_id, <one float column per class>)``."""
        return self.fit(votes, gold, init).probas_

    def _fit(self, enc: EncodedVotes, gold_mask: np.ndarray | None, init: Any) -> np.ndarray:
        raise NotImplementedError

    def _skills_table(self, enc: EncodedVotes, skill: np.ndarray) -> pa.Table:
        return pa.table({"source_id": enc.source_ids.cast(pa.string()),
                         "skill": pa.array(skill, pa.float64(), mask=np.isnan(skill))})


def clamp_gold(post: np.ndarray, gold_mask: np.ndarray | None) -> np.ndarray:
    """Fix gold items' posterior to their accepted label(s), shared equally when several."""
    if gold_mask is None:
        return post
    rows = gold_mask.any(axis=1)
    g = gold_mask[rows].astype(np.float64)
    post[rows] = g / g.sum(axis=1, keepdims=True)
    return post


def vote_shares(counts: np.ndarray) -> np.ndarray:
    """Row-normalise class counts; rows without any vote become NaN (undefined)."""
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1.0), np.nan)
