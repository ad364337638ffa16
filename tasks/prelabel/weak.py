"""Weak labels: what the labeling functions say, combined, as training labels for a model.

Rules only label what they match; a model trained on their combined output also labels what they
miss (the uncovered items) and smooths over a rule's idiosyncrasies, which is why weak supervision
trains an "end model" on the label model's output. Its votes then join the rules' in the
combination. Only labeling-function votes are combined here: a model trained on its own votes
would only learn itself back.
"""

from __future__ import annotations

__all__ = ["weak_answers", "weak_labels"]

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.prelabel.combine import Combiner
from tasks.store import plain_strings


def weak_labels(combiner: Combiner, lf_votes: pa.Table, classes: Sequence[str], min_confidence: float,
                gold: pa.Table | None = None) -> pa.Table:
    """``item_id, label, confidence`` for every item the combined rules label with ``confidence >= min_confidence``.

    Items with no non-abstain rule vote are left out whatever their posterior (it is the class
    prior, not evidence), so the model is trained only where some rule spoke.
    """
    voted = lf_votes.filter(pc.is_valid(lf_votes.column("label")))
    probs = combiner.fit_predict_proba(lf_votes, gold) if voted.num_rows else None

    def decide(P: np.ndarray) -> tuple[pa.Array, np.ndarray]:
        return pa.array(np.asarray(list(classes), dtype=object)[P.argmax(axis=1)].tolist(), pa.string()), P.max(axis=1)

    return _confident(probs, voted.column("item_id"), classes, min_confidence, decide, "label", pa.string())


def weak_answers(kind: Any, lf_votes: pa.Table, gold: pa.Table, cfg: Any, min_confidence: float) -> pa.Table:
    """``item_id, answer, confidence`` for every item the combined rules answer with ``confidence >= min_confidence``.

    `kind` is the project's AnswerKind. Items with no non-abstain rule vote are left out whatever their pre-label
    (it is the prior, not evidence), so the model is trained only where some rule spoke.
    """
    voted = lf_votes.filter(lf_votes.column("spoke"))
    empty = pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], kind.storage.arrow_type),
                      "confidence": pa.array([], pa.float64())})
    if voted.num_rows == 0:
        return empty
    spoke = plain_strings(pc.unique(voted.column("item_id")))
    combined = kind.prelabel.combine(lf_votes, gold, cfg, item_ids=spoke)[0]
    ids = plain_strings(combined.column("item_id"))  # the combiner's order, which training then follows
    ids = ids.filter(pc.is_in(ids, value_set=spoke))
    d = kind.prelabel.decide(combined, ids, cfg.labels)
    keep = pa.array(d.confidence >= min_confidence)
    return pa.table({"item_id": ids.filter(keep), "answer": d.answer.filter(keep),
                     "confidence": pa.array(d.confidence, pa.float64()).filter(keep)})


def _confident(probs: pa.Table | None, voted_items: pa.ChunkedArray, classes: Sequence[str], min_confidence: float,
               decide: Any, column: str, answer_type: pa.DataType) -> pa.Table:
    empty = pa.table({"item_id": pa.array([], pa.string()), column: pa.array([], answer_type),
                      "confidence": pa.array([], pa.float64())})
    if probs is None:
        return empty
    covered = pc.is_in(probs.column("item_id"), value_set=plain_strings(pc.unique(voted_items)))
    probs = probs.filter(covered)
    if probs.num_rows == 0:
        return empty
    P = np.column_stack([probs.column(c).to_numpy(zero_copy_only=False) for c in classes])
    answer, conf = decide(P)
    keep = conf >= min_confidence
    return pa.table({
        "item_id": probs.column("item_id").filter(pa.array(keep)),
        column: answer.filter(pa.array(keep)),
        "confidence": pa.array(conf[keep], pa.float64()),
    })
