"""Simulated rating crowds: true scores, raters who are lenient, severe, compressed, noisy or spamming.

SIMULATION ONLY: nothing here touches real annotators' answers. Everything is drawn from one
``numpy.random.Generator`` in a fixed order, so a seed gives the same crowd.
"""

from __future__ import annotations

__all__ = ["FACET", "Rater", "RatingCrowd", "simulate_ratings"]

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Rater:
    """One simulated rater: gives round(mid + bias + scale * (truth - mid) + noise * N(0, 1)), clipped to
    the scale. ``bias`` > 0 is lenient, ``scale`` < 1 compresses to the middle; ``spam`` answers uniformly
    at random; ``weight`` is its share of the ratings."""

    bias: float = 0.0
    scale: float = 1.0
    noise: float = 0.5
    spam: bool = False
    weight: float = 1.0


@dataclass(frozen=True)
class RatingCrowd:
    """``ratings(item_id, source_id, score)`` and ``truth(item_id, score)`` (the continuous true score)."""

    ratings: pa.Table
    truth: pa.Table


def simulate_ratings(rng: np.random.Generator, raters: Sequence[Rater], n_items: int, per_item: int = 3,
                     scale: tuple[int, int] = (1, 5)) -> RatingCrowd:
    """Draw true scores uniformly over the scale and ``per_item`` distinct raters (by weight) per item."""
    lo, hi = scale
    n_r = len(raters)
    if per_item > n_r:
        raise ValueError(f"per_item={per_item!r} exceeds the {n_r} raters")
    truth = rng.uniform(lo, hi, n_items)
    w = np.array([r.weight for r in raters], np.float64)
    who = np.argsort(rng.exponential(size=(n_items, n_r)) / w, axis=1)[:, :per_item].ravel()
    item = np.repeat(np.arange(n_items), per_item)
    p = {f: np.array([getattr(r, f) for r in raters], np.float64)[who] for f in ("bias", "scale", "noise", "spam")}
    mid = (lo + hi) / 2
    seen = mid + p["bias"] + p["scale"] * (truth[item] - mid) + p["noise"] * rng.standard_normal(len(item))
    spam = rng.integers(lo, hi + 1, len(item))
    score = np.where(p["spam"] > 0, spam, np.clip(np.round(seen), lo, hi)).astype(np.int64)
    ids = np.array([f"r{k:07d}" for k in range(n_items)], dtype=object)
    ratings = pa.table({"item_id": pa.array(ids[item], pa.string()),
                        "source_id": pa.array(np.array([f"rater{k:03d}" for k in range(n_r)], dtype=object)[who],
                                              pa.string()),
                        "score": pa.array(score, pa.int64())})
    return RatingCrowd(ratings, pa.table({"item_id": pa.array(ids, pa.string()), "score": truth}))


DEMO_SCALE = (1, 5)
"""The facet's scale: the protocol hands a simulated annotator no project options, so demo crowds rate on 1-5."""


class _RatingSimulation:
    """The seam's simulated rater (demo, simulated crowd): a `Rater` drawn from an accuracy in [0, 1].

    Skill sets the noise (accuracy 1: 0.2 points, 0: 1.5 points) and how far leniency and range use may
    stray; a "uniform" spammer scores at random, a "constant" one always gives the scale's middle. The
    truth is the item's true rating in JSON form; every criterion is scored the same way."""

    def annotator(self, accuracy: float, labels: Sequence[str], rng: random.Random, spammer: str | None) -> Any:
        a = min(max(float(accuracy), 0.0), 1.0)
        bias = rng.uniform(-1, 1) * (1 - a)
        scale = 1 + rng.uniform(-0.5, 0.3) * (1 - a)
        return {"rater": Rater(bias=bias, scale=scale, noise=0.2 + 1.3 * (1 - a), spam=spammer == "uniform"),
                "constant": spammer == "constant"}

    def _one(self, profile: Any, truth: float, rng: random.Random) -> int:
        lo, hi = DEMO_SCALE
        r: Rater = profile["rater"]
        if profile["constant"]:
            return (lo + hi) // 2
        if r.spam:
            return rng.randint(lo, hi)
        mid = (lo + hi) / 2
        return int(min(hi, max(lo, round(mid + r.bias + r.scale * (truth - mid) + r.noise * rng.gauss(0, 1)))))

    def answer(self, profile: Any, truth: Any, rng: random.Random, labels: Sequence[str], payload: str | None) -> Any:
        t = json.loads(truth) if isinstance(truth, str) else truth
        if "scores" in t:
            return {"scores": {c: self._one(profile, float(v), rng) for c, v in sorted(t["scores"].items())}}
        return {"score": self._one(profile, float(t["score"]), rng)}


FACET = _RatingSimulation()
