"""The local span model: spaCy NER trained from `spacy.blank(lang)` on the project's gold and resolved spans.

No download: a blank pipeline has only a rule-based tokenizer, the NER learns its own embeddings. spaCy's
greedy NER gives no score per entity, so the confidence of a span comes from agreement: `members` NERs
are trained with different seeds and shuffles on the same data, a span's raw score is the share of
members predicting exactly it, and that score is calibrated on held-out gold (a share of the training
items, `calibration_share`, is kept out of the members' training for it): the calibrated confidence of
a raw level is its measured precision (`calibration.py`: monotone, Beta-smoothed). The span set the model votes is what most members agree on.

Everything is seeded (`spacy.util.fix_random_seed`, the shuffles, the held-out draw), so the same data
and settings give the same model and the same version; a run is saved under
`<state dir>/models/spans/<version>/` with `current.json` naming the version in use.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SpanModel", "load_span_model", "save_span_model", "train_span_model"]

Spans = list[tuple[int, int, str]]

# spaCy's default NER network with a narrower, shallower token encoder: several members are trained per
# run on a shared CPU, and on short noisy texts the default width/depth bought no accuracy for its time
_NER_MODEL = {
    "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "extra_state_tokens": False,
    "hidden_width": 64, "maxout_pieces": 2, "use_upper": True, "nO": None,
    "tok2vec": {"@architectures": "spacy.HashEmbedCNN.v2", "pretrained_vectors": None, "width": 64, "depth": 2,
                "embed_size": 2000, "window_size": 1, "maxout_pieces": 3, "subword_features": True},
}


@dataclass
class SpanModel:
    """A trained ensemble and its calibration: raw agreement level k/members -> calibrated confidence."""

    version: str
    labels: list[str]
    lang: str
    members: list  # spacy.Language
    calibration: list[float]  # index k = members agreeing (1..members) -> confidence; index 0 unused
    report: dict = field(default_factory=dict)
    name: str = "spacy_ner"

    def predict(self, texts: Sequence[str], batch_size: int = 256) -> list[list[dict]]:
        """Per text, the spans most members agree on, each `{"start", "end", "label", "confidence"}`."""
        votes = self._votes(texts, batch_size)
        k = len(self.members)
        out = []
        for per in votes:
            spans = [(s, e, lab, n) for (s, e, lab), n in per.items() if n * 2 > k]
            out.append([{"start": s, "end": e, "label": lab, "confidence": round(self.calibration[n], 6)} for s, e, lab, n in sorted(spans)])
        return out

    def votes(self, batch: pa.Table) -> pa.Table:
        """Votes (`lfs.SPAN_VOTES_SCHEMA`, source `model:<name>`) for `batch(item_id, payload)`; each span carries its
        calibrated confidence; an item with no span gets `[]` (the model says "no entities")."""
        import orjson
        import pyarrow as pa

        from .lfs import SPAN_VOTES_SCHEMA

        ids = batch.column("item_id").to_pylist()
        answers = [orjson.dumps(p).decode() for p in self.predict([t or "" for t in batch.column("payload").to_pylist()])]
        n = len(ids)
        return pa.table({"item_id": pa.array(ids, pa.string()), "source_id": pa.array([f"model:{self.name}"] * n, pa.string()),
                         "source_version": pa.array([self.version] * n, pa.string()), "answer": pa.array(answers, pa.string())},
                        schema=SPAN_VOTES_SCHEMA)

    def _votes(self, texts: Sequence[str], batch_size: int) -> list[dict[tuple[int, int, str], int]]:
        counts: list[dict] = [{} for _ in texts]
        for nlp in self.members:
            for i, doc in enumerate(nlp.pipe([t or "" for t in texts], batch_size=batch_size)):
                for ent in doc.ents:
                    key = (ent.start_char, ent.end_char, ent.label_)
                    counts[i][key] = counts[i].get(key, 0) + 1
        return counts


def _examples(nlp, texts: Sequence[str], answers: Sequence[Spans]) -> list:
    from spacy.training import Example
    from spacy.util import filter_spans

    out = []
    for text, spans in zip(texts, answers):
        ref = nlp.make_doc(text)
        ents = [ref.char_span(s, e, label=lab, alignment_mode="expand") for s, e, lab in spans]
        ref.ents = filter_spans([x for x in ents if x is not None])  # NER holds no overlaps: the longest wins
        out.append(Example(nlp.make_doc(text), ref))
    return out


def _train_member(lang: str, labels: Sequence[str], texts: Sequence[str], answers: Sequence[Spans], seed: int, epochs: int):
    import spacy
    from spacy.util import fix_random_seed, minibatch

    fix_random_seed(seed)
    nlp = spacy.blank(lang)
    ner = nlp.add_pipe("ner", config={"model": _NER_MODEL})
    for lab in labels:
        ner.add_label(lab)
    examples = _examples(nlp, texts, answers)
    optimizer = nlp.initialize(lambda: examples, sgd=None)
    rng = random.Random(seed)
    for _ in range(epochs):
        rng.shuffle(examples)
        for batch in minibatch(examples, size=16):
            nlp.update(batch, sgd=optimizer, drop=0.2)
    return nlp


def train_span_model(
    texts: Sequence[str], answers: Sequence[Spans], labels: Sequence[str], *, lang: str = "en", members: int = 3,
    epochs: int = 20, seed: int = 0, calibration_share: float = 0.2,
) -> SpanModel:
    """Train the ensemble on (text, spans) pairs and calibrate it on a seeded held-out share of them."""
    from tasks.prelabel.routing import calibration_table

    from .calibration import fit_calibrator

    n = len(texts)
    rng = np.random.default_rng(seed)
    held = np.zeros(n, bool)
    if n >= 10 and calibration_share > 0:
        held[rng.permutation(n)[: max(1, round(n * calibration_share))]] = True
    tr = np.flatnonzero(~held)
    tr_texts, tr_answers = [texts[i] for i in tr], [list(answers[i]) for i in tr]
    digest = hashlib.sha256(json.dumps([lang, list(labels), members, epochs, seed, calibration_share, list(texts),
                                        [sorted(map(list, a)) for a in answers]]).encode()).hexdigest()[:12]
    nets = [_train_member(lang, labels, tr_texts, tr_answers, seed + 1000 * m, epochs) for m in range(members)]
    model = SpanModel(f"spacy-{digest}", list(labels), lang, nets, [0.0] + [k / members for k in range(1, members + 1)])
    ho = np.flatnonzero(held)
    report: dict = {"trained_on": len(tr), "held_out": len(ho), "members": members, "epochs": epochs, "seed": seed}
    if len(ho):
        counts = model._votes([texts[i] for i in ho], 256)
        hits, tot = np.zeros(members + 1), np.zeros(members + 1)
        level, ok = [], []
        for per, i in zip(counts, ho):
            gold = {tuple(s) for s in answers[i]}
            for key, c in per.items():
                tot[c] += 1
                hits[c] += key in gold
                level.append(c)
                ok.append(key in gold)
        cal = fit_calibrator(np.array(level, float), np.array(ok, bool))
        model.calibration = [0.0] + cal(np.arange(1, members + 1, dtype=float)).tolist()
        conf = np.array([model.calibration[c] for c in level])
        ece, table = calibration_table(conf, np.array(ok, bool), bins=10)
        report.update({"calibration_spans": int(tot.sum()), "precision_by_agreement": {f"{k}/{members}": [int(hits[k]), int(tot[k])] for k in range(1, members + 1)},
                       "ece_in_sample": None if ece is None else round(ece, 4), "reliability": table})
    model.report = report
    return model


def save_span_model(model: SpanModel, state_dir: Path) -> Path:
    """Write the run under `<state_dir>/models/spans/<version>/` and point `current.json` at it."""
    root = Path(state_dir) / "models" / "spans"
    d = root / model.version
    d.mkdir(parents=True, exist_ok=True)
    for k, nlp in enumerate(model.members):
        nlp.to_disk(d / f"member_{k}")
    (d / "meta.json").write_text(json.dumps({"version": model.version, "labels": model.labels, "lang": model.lang, "name": model.name,
                                             "members": len(model.members), "calibration": model.calibration, "report": model.report}, indent=1))
    (root / "current.json").write_text(json.dumps({"version": model.version}))
    return d


def load_span_model(path: Path) -> SpanModel:
    """A saved run: its folder, or the `models/spans` folder (then `current.json` says which run)."""
    import spacy

    path = Path(path)
    if (path / "current.json").exists():
        path = path / json.loads((path / "current.json").read_text())["version"]
    meta = json.loads((path / "meta.json").read_text())
    nets = [spacy.load(path / f"member_{k}") for k in range(meta["members"])]
    return SpanModel(meta["version"], meta["labels"], meta["lang"], nets, meta["calibration"], meta["report"], meta.get("name", "spacy_ner"))
