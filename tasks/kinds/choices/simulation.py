"""Choices: the simulated annotator (see tasks/kinds/protocol.py, simulation). SIMULATION ONLY.

An annotator is a confusion matrix: `accuracy` on the diagonal, the rest of each row spread over
the other labels with random weights (so each person has their own typical mistakes). Single label:
one draw from the true label's row. Multi-label: each label is judged on its own, right with
probability `accuracy`. Spammers answer at random ("uniform") or always the first label ("constant").
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MULTI", "SINGLE", "ChoiceProfile"]


@dataclass(frozen=True)
class ChoiceProfile:
    accuracy: float
    confusion: dict[str, dict[str, float]]
    spammer: str | None = None


class _ChoicesSimulation:
    def __init__(self, multi: bool) -> None:
        self.multi = multi

    def annotator(self, accuracy: float, labels: Sequence[str], rng: random.Random, spammer: str | None) -> ChoiceProfile:
        confusion = {}
        for t in labels:
            others = [x for x in labels if x != t]
            weights = [rng.random() + 0.1 for _ in others]
            total = sum(weights)
            confusion[t] = {t: accuracy, **{x: (1 - accuracy) * w / total for x, w in zip(others, weights)}}
        return ChoiceProfile(accuracy, confusion, spammer)

    def answer(self, profile: ChoiceProfile, truth: Any, rng: random.Random, labels: Sequence[str],
               payload: str | None) -> Any:
        if self.multi:
            if profile.spammer == "uniform":
                return [x for x in labels if rng.random() < 0.5]
            if profile.spammer == "constant":
                return [labels[0]]
            true = set([truth] if isinstance(truth, str) else truth or [])
            return [x for x in labels if (x in true) == (rng.random() < profile.accuracy)]
        if profile.spammer == "uniform":
            return rng.choice(list(labels))
        if profile.spammer == "constant":
            return labels[0]
        if isinstance(truth, list):
            truth = truth[0] if truth else None
        row = profile.confusion.get(truth)
        if row is None:  # a truth outside the label set: the annotator cannot pick it, any label will do
            return rng.choice(list(labels))
        r, acc = rng.random(), 0.0
        for label, p in row.items():
            acc += p
            if r < acc:
                return label
        return truth


SINGLE = _ChoicesSimulation(multi=False)
MULTI = _ChoicesSimulation(multi=True)
