"""Pairwise: the simulated annotator of the demo and the simulated crowd (see tasks/kinds/protocol.py, simulation).

The same judge as `simulation.PairAnnotator`, one answer at a time: it reads the item with probability
`accuracy` and picks the slot where the true winner is shown (or tie), otherwise it guesses a slot; a
"uniform" spammer always guesses evenly, a "constant" one always picks the first slot shown (a pure
position bias). The shown order is drawn per answer, as the app draws it per assignment. SIMULATION ONLY.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from .simulation import PairAnnotator

__all__ = ["FACET"]


def _truth(truth: Any) -> str:
    """The true preference (a, b or tie) from "a"/"b"/"tie" or an answer's JSON form."""
    if isinstance(truth, str) and truth in ("a", "b", "tie"):
        return truth
    value = json.loads(truth) if isinstance(truth, str) else truth
    if isinstance(value, str) and value in ("a", "b", "tie"):
        return value
    if value["choice"] == "tie":
        return "tie"
    return "a" if (value["choice"] == "A") != bool(value.get("swapped")) else "b"


class _PairwiseSimulation:
    def annotator(self, accuracy: float, labels: Sequence[str], rng: random.Random, spammer: str | None) -> PairAnnotator:
        """SIMULATION: a judge who reads an item with probability `accuracy`; a spammer never reads."""
        if spammer == "uniform":
            return PairAnnotator(0.0, (1 / 3, 1 / 3, 1 / 3))
        if spammer == "constant":
            return PairAnnotator(0.0, (1.0, 0.0, 0.0))
        if spammer is not None:
            raise ValueError(f"spammer must be None, 'uniform' or 'constant', got {spammer!r}")
        tie = rng.uniform(0.0, 0.2)
        return PairAnnotator(float(accuracy), ((1 - tie) / 2, (1 - tie) / 2, tie))

    def answer(self, profile: PairAnnotator, truth: Any, rng: random.Random, labels: Sequence[str],
               payload: str | None) -> dict[str, Any]:
        """SIMULATION: `{"choice", "swapped"}` for an item whose true preference is `truth`."""
        swapped = rng.random() < 0.5
        if rng.random() < profile.reliability:
            t = _truth(truth)
            choice = "tie" if t == "tie" else ("A" if (t == "a") != swapped else "B")
        else:
            g = profile.guess
            u = rng.random() * sum(g)
            choice = "A" if u < g[0] else ("B" if u < g[0] + g[1] else "tie")
        return {"choice": choice, "swapped": swapped}


FACET = _PairwiseSimulation()
