"""Time segments: the simulated annotator (see tasks/kinds/protocol.py, simulation).

A simulated segment annotator makes the errors people make when marking who speaks or what sounds when,
each at its own rate: boundaries off by a few tenths of a second (jitter, normal with a standard deviation
in seconds), regions missed, regions marked where nothing happens, the wrong label picked. A "uniform"
spammer marks random regions with random labels; a "constant" one answers "no regions" every time (the
lazy key) or, with `whole_clip`, the whole clip as one label. Everything is drawn from the `rng` passed
in, in a fixed order, so a seed gives the same crowd. SIMULATION ONLY: nothing here touches real
annotators' answers.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..simulated_annotator import ErrorProfile, ErrorRateSimulation, unknown_spammer
from .intervals import DECIMALS

__all__ = ["FACET", "SegmentErrors", "simulate_segments"]

DEFAULT_DURATION_S = 10.0
"""The clip length assumed when neither the payload nor the truth says more (random regions stay inside it)."""
MIN_LENGTH_S = 0.05
"""A jittered region shorter than this is not marked (no tool draws a zero-length region)."""

Region = tuple[float, float, str]


@dataclass(frozen=True)
class SegmentErrors:
    """How one simulated annotator errs. Per true region: `miss` (not marked), `wrong_label` (marked with
    another label); `jitter_s` is the standard deviation in seconds of each boundary's error; `false_pos`
    is the expected number of regions marked on nothing per clip; `spammer` is None, "uniform" (random
    regions, `false_pos` of them, at least one) or "constant" (no regions, or `whole_clip`)."""

    jitter_s: float = 0.0
    miss: float = 0.0
    wrong_label: float = 0.0
    false_pos: float = 0.0
    spammer: str | None = None
    whole_clip: bool = False

    def __post_init__(self):
        if min(self.jitter_s, self.miss, self.wrong_label, self.false_pos) < 0 or self.miss > 1 or self.wrong_label > 1:
            raise ValueError(f"segment error rates must be >= 0 and miss, wrong_label <= 1, got {self!r}")
        if self.spammer not in (None, "uniform", "constant"):
            raise ValueError(f"spammer must be None, 'uniform' or 'constant', got {self.spammer!r}")

    @classmethod
    def from_accuracy(cls, accuracy: float) -> SegmentErrors:
        """An annotator who marks a true region right (found, right label) with probability `accuracy`: misses
        most common, then labels, with boundary jitter and invented regions growing as skill falls."""
        err = min(max(1.0 - float(accuracy), 0.0), 1.0)
        return cls(jitter_s=0.04 + 0.3 * err, miss=0.6 * err, wrong_label=0.4 * err, false_pos=0.5 * err)


def _random_region(rng: random.Random, duration: float) -> tuple[float, float]:
    length = rng.uniform(0.05, 0.3) * duration
    start = rng.uniform(0, duration - length)
    return start, start + length


def simulate_segments(truth: Sequence[Region], labels: Sequence[str], rng: random.Random, errors: SegmentErrors,
                      duration: float = DEFAULT_DURATION_S) -> list[Region]:
    """One simulated answer: regions `(start_s, end_s, label)` inside a clip of `duration` seconds."""
    out: list[Region] = []
    if errors.spammer == "constant":
        return [(0.0, duration, labels[0])] if errors.whole_clip else []
    if errors.spammer is None:
        for start, end, lab in truth:
            if rng.random() < errors.miss:
                continue
            if rng.random() < errors.wrong_label and len(labels) > 1:
                lab = rng.choice([c for c in labels if c != lab])
            s = max(0.0, start + rng.gauss(0.0, errors.jitter_s))
            e = min(duration, end + rng.gauss(0.0, errors.jitter_s))
            if e - s >= MIN_LENGTH_S:
                out.append((s, e, lab))
    n_invented = errors.false_pos if errors.spammer is None else max(errors.false_pos, 1.0)
    # Poisson-like count from uniform draws: whole part for sure, the rest with its chance.
    k = int(n_invented) + (1 if rng.random() < n_invented - int(n_invented) else 0)
    for _ in range(k):
        out.append((*_random_region(rng, duration), rng.choice(list(labels))))
    return out


def _as_regions(truth: Any) -> list[Region]:
    if isinstance(truth, str):
        truth = json.loads(truth) if truth.strip() else []
    return [(float(r["start_s"]), float(r["end_s"]), str(r["label"])) for r in truth or []]


def _duration(payload: str | None, truth: list[Region]) -> float:
    """The clip's length: `duration_s` of a JSON payload (the item's metadata) when it has it, else the default
    grown to hold every true region."""
    if payload:
        try:
            meta = json.loads(payload)
            if isinstance(meta, dict) and isinstance(meta.get("duration_s"), (int, float)) and meta["duration_s"] > 0:
                return float(meta["duration_s"])
        except ValueError:
            pass
    return max([DEFAULT_DURATION_S] + [e for _, e, _ in truth])


class _SegmentSimulation(ErrorRateSimulation):
    def errors(self, accuracy: float, spammer: str | None, rng: random.Random) -> SegmentErrors:
        """SIMULATION: an annotator who marks each true region right with probability `accuracy` (errors split
        as in `SegmentErrors.from_accuracy`). A "uniform" spammer marks random regions; a "constant" one
        answers "no regions" or, one time in two (drawn from `rng`), the whole clip as one label."""
        errors = SegmentErrors.from_accuracy(accuracy)
        if spammer == "uniform":
            errors = SegmentErrors(false_pos=max(errors.false_pos, 1.5), spammer="uniform")
        elif spammer == "constant":
            errors = SegmentErrors(spammer="constant", whole_clip=rng.random() < 0.5)
        elif spammer is not None:
            raise unknown_spammer(spammer)
        return errors

    def answer(self, profile: ErrorProfile, truth: Any, rng: random.Random, labels: Sequence[str],
               payload: str | None) -> list[dict[str, Any]]:
        """SIMULATION: the regions `profile` marks when the true regions are `truth` (JSON form)."""
        true = _as_regions(truth)
        regions = simulate_segments(true, labels, rng, profile.errors, _duration(payload, true))
        return [{"start_s": round(s, DECIMALS), "end_s": round(e, DECIMALS), "label": lab} for s, e, lab in regions]


FACET = _SegmentSimulation()
