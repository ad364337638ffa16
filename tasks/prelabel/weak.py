"""Weak labels: what the labeling functions say, combined, as training labels for a model.

Rules only label what they match; a model trained on their combined output also labels what they
miss (the uncovered items) and smooths over a rule's idiosyncrasies, which is why weak supervision
trains an "end model" on the label model's output. Its votes then join the rules' in the
combination. Only labeling-function votes are combined here: a model trained on its own votes
would only learn itself back.
"""

from __future__ import annotations

__all__ = ["weak_labels"]

from collections.abc import Sequence

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
    empty = pa.table({"item_id": pa.array([], pa.string()), "label": pa.array([], pa.string()),
                      "confidence": pa.array([], pa.float64())})
    voted = lf_votes.filter(pc.is_valid(lf_votes.column("label")))
    if voted.num_rows == 0:
        return empty
    probs = combiner.fit_predict_proba(lf_votes, gold)
    covered = pc.is_in(probs.column("item_id"), value_set=plain_strings(pc.unique(voted.column("item_id"))))
    probs = probs.filter(covered)
    if probs.num_rows == 0:
        return empty
    P = np.column_stack([probs.column(c).to_numpy(zero_copy_only=False) for c in classes])
    conf = P.max(axis=1)
    keep = conf >= min_confidence
    label = np.asarray(list(classes), dtype=object)[P.argmax(axis=1)]
    return pa.table({
        "item_id": probs.column("item_id").filter(pa.array(keep)),
        "label": pa.array(label[keep], pa.string()),
        "confidence": pa.array(conf[keep], pa.float64()),
    })
