"""The simulated annotator the kinds whose answers are drawn with error rates share (boxes, segments, spans,
transcripts): a profile holding the kind's error rates, drawn once when the crowd is made. SIMULATION ONLY.

A kind's simulation facet subclasses `ErrorRateSimulation` and gives two things: `errors`, the rates of an
annotator of a given accuracy (or of a spammer), and `answer`, one answer drawn with them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ErrorProfile", "ErrorRateSimulation", "unknown_spammer"]


@dataclass(frozen=True)
class ErrorProfile:
    """One simulated annotator: its skill, its error rates (the kind's own type), and its spammer kind."""

    accuracy: float
    errors: Any
    spammer: str | None = None


def unknown_spammer(spammer: object) -> ValueError:
    """The refusal of a spammer kind that is none of None, "uniform", "constant"."""
    return ValueError(f"spammer must be None, 'uniform' or 'constant', got {spammer!r}")


class ErrorRateSimulation:
    """A simulation facet (see protocol.py, `SimulationFacet`) whose annotators differ only in error rates."""

    def errors(self, accuracy: float, spammer: str | None, rng: random.Random) -> Any:
        """The error rates of an annotator of `accuracy`, or of a `spammer`; what it draws from `rng` is drawn
        once, when the crowd is made."""
        raise NotImplementedError

    def annotator(self, accuracy: float, labels: Sequence[str], rng: random.Random, spammer: str | None) -> ErrorProfile:
        return ErrorProfile(float(accuracy), self.errors(accuracy, spammer, rng), spammer)
