"""Multi-label aggregation: one binary aggregation per label, same outputs per label."""

from __future__ import annotations

__all__ = ["MultiLabel"]

from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import Aggregator
from .votes import encode_votes

_BINARY = ("absent", "present")


class MultiLabel:
    """Binary relevance: for every label, did the source tick it on this item?

    Input votes are long: one row per (item_id, source_id, label) the source ticked, and one
    row with a null label for a source that answered an item but ticked nothing. Every
    (item, source) pair that appears is a complete answer: labels it did not tick are
    explicit "absent" votes. Each label is then aggregated by its own binary aggregator.

    Args:
        classes: the project's ordered label set.
        make: builds a binary aggregator from its classes, e.g.
            ``lambda c: DawidSkene(c)``; its classes are ``("absent", "present")``.

    Attributes (after fit): ``models_`` (label -> fitted binary aggregator), ``labels_``
    (``pa.Table(item_id, label, present, confidence)``, one row per item and label),
    ``probas_`` (``pa.Table(item_id, <P(present) per label>)``), ``skills_``
    (``pa.Table(label, source_id, skill)``).
    """

    def __init__(self, classes: Sequence[str], make: Callable[[Sequence[str]], Aggregator]):
        self.classes = tuple(str(c) for c in classes)
        self.make = make

    def fit(self, votes: pa.Table, gold: pa.Table | None = None, init: dict | None = None) -> "MultiLabel":
        """Fit one binary model per label; ``gold`` holds every accepted (item_id, label).

        ``init`` maps a label to its binary model's warm-start parameters (labels missing from
        it start cold).
        """
        enc = encode_votes(votes, self.classes)
        n_s, k = enc.n_sources, enc.n_classes
        pair = enc.item * n_s + enc.source
        pairs, first = np.unique(pair, return_index=True)
        ticked = enc.label >= 0
        ticked_keys = pair[ticked] * k + enc.label[ticked]
        p_item = pa.array(enc.item[first])
        items = pc.take(enc.item_ids.cast(pa.string()), p_item)
        sources = pc.take(enc.source_ids.cast(pa.string()), pa.array(enc.source[first]))
        gold_items = gold_labels = None
        if gold is not None and gold.num_rows:
            gold_items = gold.column("item_id").cast(pa.string())
            gold_labels = gold.column("label").cast(pa.string())
            bad = pc.invert(pc.is_in(gold_labels, value_set=pa.array(self.classes)))
            if pc.any(bad).as_py():
                raise ValueError(f"gold labels {pc.unique(pc.filter(gold_labels, bad)).to_pylist()!r} "
                                 f"are not in {list(self.classes)!r}")
        self.models_, label_parts, skill_parts = {}, [], []
        probas = {"item_id": enc.item_ids.cast(pa.string())}
        for c, name in enumerate(self.classes):
            present = np.isin(pairs * k + c, ticked_keys)
            binary = pa.table({"item_id": items, "source_id": sources,
                               "label": pa.array(np.asarray(_BINARY, dtype=object)[present.astype(int)],
                                                 pa.string())})
            g = None
            if gold_items is not None:
                gold_present = pc.unique(pc.filter(gold_items, pc.equal(gold_labels, name)))
                g = pa.table({"item_id": enc.item_ids.cast(pa.string()),
                              "label": pc.if_else(pc.is_in(enc.item_ids.cast(pa.string()), value_set=gold_present),
                                                  _BINARY[1], _BINARY[0])})
                g = g.filter(pc.is_in(g["item_id"], value_set=pc.unique(gold_items)))
            model = self.make(_BINARY).fit(binary, g, (init or {}).get(name))
            self.models_[name] = model
            lab = model.labels_
            # The binary model saw the same items in the same first-appearance order.
            label_parts.append(pa.table({
                "item_id": lab["item_id"], "label": pa.array([name] * lab.num_rows, pa.string()),
                "present": pc.equal(lab["label"], _BINARY[1]), "confidence": lab["confidence"]}))
            probas[name] = model.probas_[_BINARY[1]]
            if getattr(model, "skills_", None) is not None:
                s = model.skills_
                skill_parts.append(pa.table({"label": pa.array([name] * s.num_rows, pa.string()),
                                             "source_id": s["source_id"], "skill": s["skill"]}))
        self.labels_ = pa.concat_tables(label_parts)
        self.probas_ = pa.table(probas)
        self.skills_ = pa.concat_tables(skill_parts) if skill_parts else None
        return self

    def fit_predict(self, votes: pa.Table, gold: pa.Table | None = None) -> pa.Table:
        """Fit and return ``pa.Table(item_id, label, present, confidence)``."""
        return self.fit(votes, gold).labels_

    def fit_predict_proba(self, votes: pa.Table, gold: pa.Table | None = None) -> pa.Table:
        """Fit and return ``pa.Table(item_id, <P(present) per label>)``."""
        return self.fit(votes, gold).probas_
