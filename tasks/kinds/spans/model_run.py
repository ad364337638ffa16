"""The spaCy span ensemble as the pre-labeling stage's local model (`[[prelabel.models]]` of kind 'sklearn').

The stage keeps one model run per configured model: it decides when to retrain (`min_train_labels`,
`retrain_new_labels`), pickles the run, and stores the run's out-of-fold outputs as the model's votes on
its own training items. So the ensemble is wrapped here in what the stage reads (`name`, `version`,
`n_train`, `config_hash`), pickles as the members' bytes (a spaCy pipeline is rebuilt from its blank
language and the NER config on load), and comes with out-of-fold answers: the training items are split
in two folds by a seeded draw, an ensemble trained on each fold answers the other. Without that, the
combiner would calibrate the model's spans on gold items it learned by heart and promise too much.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from .span_model import _NER_MODEL, SpanModel, train_span_model

__all__ = ["SpanNerModel", "train_span_run"]

Spans = list[tuple[int, int, str]]


class SpanNerModel:
    """A trained `SpanModel` under the stage's model name; `predict(batch)` gives votes (`SPAN_VOTES_SCHEMA`)."""

    def __init__(self, name: str, model: SpanModel, n_train: int, config_hash: str) -> None:
        self.name, self.model, self.n_train, self.config_hash = name, model, n_train, config_hash
        self.model.name = name
        self.version = model.version

    def predict(self, batch: pa.Table) -> pa.Table:
        return self.model.votes(batch)

    def __getstate__(self) -> dict[str, Any]:
        m = self.model
        return {"name": self.name, "n_train": self.n_train, "config_hash": self.config_hash, "version": m.version,
                "labels": m.labels, "lang": m.lang, "calibration": m.calibration, "report": m.report,
                "members": [nlp.to_bytes() for nlp in m.members]}

    def __setstate__(self, state: dict[str, Any]) -> None:
        import spacy

        members = []
        for data in state["members"]:
            nlp = spacy.blank(state["lang"])
            nlp.add_pipe("ner", config={"model": _NER_MODEL})
            members.append(nlp.from_bytes(data))
        model = SpanModel(state["version"], state["labels"], state["lang"], members, state["calibration"], state["report"],
                          state["name"])
        self.__init__(state["name"], model, state["n_train"], state["config_hash"])


def train_span_run(name: str, config_hash: str, item_ids: Sequence[str], texts: Sequence[str], answers: Sequence[Spans],
                   labels: Sequence[str], options: Any) -> tuple[SpanNerModel, list[str], list[str]]:
    """(the model trained on everything, the training item ids, their out-of-fold answers as JSON with confidences).

    With fewer than 4 training items there are no folds to speak of: the full model answers them (flattered,
    but there is then too little gold for any threshold to qualify either)."""
    kw = {"lang": options.lang, "members": options.members, "epochs": options.epochs, "seed": options.seed,
          "calibration_share": options.calibration_share}
    full = train_span_model(list(texts), [list(a) for a in answers], labels, **kw)
    n = len(texts)
    outputs: list[str | None] = [None] * n
    if n >= 4:
        fold = np.random.default_rng(options.seed).permutation(n) % 2
        for f in (0, 1):
            train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            part = train_span_model([texts[i] for i in train], [list(answers[i]) for i in train], labels, **kw)
            for i, spans in zip(test, part.predict([texts[i] for i in test])):
                outputs[i] = orjson.dumps(spans).decode()
    else:
        outputs = [orjson.dumps(spans).decode() for spans in full.predict(list(texts))]
    return SpanNerModel(name, full, n, config_hash), list(item_ids), [o or "[]" for o in outputs]

