"""Boxes: the simulated annotator (see tasks/kinds/protocol.py, simulation).

A simulated box annotator makes the errors people make when drawing boxes, each at its own rate:
corners off by a share of the object's size (jitter), objects missed, boxes drawn where there is
nothing, the wrong class picked. A "uniform" spammer draws random boxes with random classes; a
"constant" one answers "no objects" every time (the lazy key) or, with `fixed_box`, always the same
box. Everything is drawn from the `rng` passed in, in a fixed order, so a seed gives the same crowd.
SIMULATION ONLY: nothing here touches real annotators' answers.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..simulated_annotator import ErrorProfile, ErrorRateSimulation, unknown_spammer

__all__ = ["FACET", "BoxErrors", "simulate_boxes"]

DEFAULT_SIZE = (640.0, 480.0)
"""The image size assumed when neither the payload nor the truth says more (random boxes stay inside it)."""


@dataclass(frozen=True)
class BoxErrors:
    """How one simulated annotator errs. Per true box: `miss` (not drawn), `wrong_class` (drawn with another
    class); `jitter` is the standard deviation of each corner's error as a share of the box's width or
    height; `false_pos` is the expected number of boxes drawn on nothing per image; `spammer` is None,
    "uniform" (random boxes, `false_pos` of them, at least one) or "constant" (no objects, or `fixed_box`)."""

    jitter: float = 0.0
    miss: float = 0.0
    wrong_class: float = 0.0
    false_pos: float = 0.0
    spammer: str | None = None
    fixed_box: tuple[float, float, float, float] | None = None

    def __post_init__(self):
        if min(self.jitter, self.miss, self.wrong_class, self.false_pos) < 0 or self.miss > 1 or self.wrong_class > 1:
            raise ValueError(f"box error rates must be >= 0 and miss, wrong_class <= 1, got {self!r}")
        if self.spammer not in (None, "uniform", "constant"):
            raise ValueError(f"spammer must be None, 'uniform' or 'constant', got {self.spammer!r}")

    @classmethod
    def from_accuracy(cls, accuracy: float) -> BoxErrors:
        """An annotator who draws a true box right (found, right class) with probability `accuracy`; the
        errors split as in crowd detection data (misses most common, then classes), with jitter and
        invented boxes growing as skill falls."""
        err = min(max(1.0 - float(accuracy), 0.0), 1.0)
        return cls(jitter=0.03 + 0.1 * err, miss=0.6 * err, wrong_class=0.4 * err, false_pos=0.5 * err)


def _random_box(rng: random.Random, size: tuple[float, float]) -> tuple[float, float, float, float]:
    W, H = size
    w = rng.uniform(0.05, 0.4) * W
    h = rng.uniform(0.05, 0.4) * H
    return rng.uniform(0, W - w), rng.uniform(0, H - h), w, h


def _clip(x: float, y: float, w: float, h: float, size: tuple[float, float]) -> tuple[float, float, float, float] | None:
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(size[0], x + w), min(size[1], y + h)
    return (x1, y1, x2 - x1, y2 - y1) if x2 - x1 >= 1 and y2 - y1 >= 1 else None


def simulate_boxes(truth: Sequence[tuple[float, float, float, float, str]], labels: Sequence[str], rng: random.Random,
                   errors: BoxErrors, size: tuple[float, float] = DEFAULT_SIZE) -> list[tuple[float, float, float, float, str]]:
    """One simulated answer: boxes `(x, y, w, h, label)` inside an image of `size` (width, height)."""
    out: list[tuple[float, float, float, float, str]] = []
    if errors.spammer == "constant":
        fixed = None if errors.fixed_box is None else _clip(*errors.fixed_box, size)  # drawn for another size
        if fixed is not None:
            out.append((*fixed, labels[0]))
        return out
    if errors.spammer is None:
        for x, y, w, h, lab in truth:
            r = rng.random()
            if r < errors.miss:
                continue
            if rng.random() < errors.wrong_class and len(labels) > 1:
                lab = rng.choice([c for c in labels if c != lab])
            j = [rng.gauss(0.0, errors.jitter) for _ in range(4)]
            x1, y1 = x + j[0] * w, y + j[1] * h
            x2, y2 = x + w + j[2] * w, y + h + j[3] * h
            box = _clip(x1, y1, x2 - x1, y2 - y1, size)
            if box is not None:
                out.append((*box, lab))
    n_invented = errors.false_pos if errors.spammer is None else max(errors.false_pos, 1.0)
    # Poisson-like count from uniform draws: whole part for sure, the rest with its chance.
    k = int(n_invented) + (1 if rng.random() < n_invented - int(n_invented) else 0)
    for _ in range(k):
        out.append((*_random_box(rng, size), rng.choice(list(labels))))
    return out


def _as_boxes(truth: Any) -> list[tuple[float, float, float, float, str]]:
    if isinstance(truth, str):
        truth = json.loads(truth) if truth.strip() else []
    return [(float(b["x"]), float(b["y"]), float(b["w"]), float(b["h"]), str(b["label"])) for b in truth or []]


def _size(payload: str | None, truth: list[tuple[float, float, float, float, str]]) -> tuple[float, float]:
    """The image size: `width`/`height` of a JSON payload when it has them, else the default grown to hold
    every true box."""
    if payload:
        try:
            meta = json.loads(payload)
            if isinstance(meta, dict) and meta.get("width") and meta.get("height"):
                return float(meta["width"]), float(meta["height"])
        except ValueError:
            pass
    W = max([DEFAULT_SIZE[0]] + [x + w for x, _, w, _, _ in truth])
    H = max([DEFAULT_SIZE[1]] + [y + h for _, y, _, h, _ in truth])
    return W, H


class _BoxSimulation(ErrorRateSimulation):
    def errors(self, accuracy: float, spammer: str | None, rng: random.Random) -> BoxErrors:
        """SIMULATION: an annotator who draws each true box right with probability `accuracy` (errors split
        as in `BoxErrors.from_accuracy`). A "uniform" spammer draws random boxes; a "constant" one answers
        "no objects" or, one time in two (drawn from `rng`), always the same random box."""
        errors = BoxErrors.from_accuracy(accuracy)
        if spammer == "uniform":
            errors = BoxErrors(false_pos=max(errors.false_pos, 1.5), spammer="uniform")
        elif spammer == "constant":
            fixed = _random_box(rng, DEFAULT_SIZE) if rng.random() < 0.5 else None
            errors = BoxErrors(spammer="constant", fixed_box=fixed)
        elif spammer is not None:
            raise unknown_spammer(spammer)
        return errors

    def answer(self, profile: ErrorProfile, truth: Any, rng: random.Random, labels: Sequence[str],
               payload: str | None) -> list[dict[str, Any]]:
        """SIMULATION: the boxes `profile` draws when the true boxes are `truth` (JSON form)."""
        true = _as_boxes(truth)
        boxes = simulate_boxes(true, labels, rng, profile.errors, _size(payload, true))
        return [{"x": round(x, 2), "y": round(y, 2), "w": round(w, 2), "h": round(h, 2), "label": lab}
                for x, y, w, h, lab in boxes]


FACET = _BoxSimulation()
