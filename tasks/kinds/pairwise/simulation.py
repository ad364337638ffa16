"""Simulated comparison crowds: latent system strengths, annotators of mixed reliability, bias, spam.

SIMULATION ONLY: nothing here touches real annotators' answers. Everything is drawn from one
``numpy.random.Generator`` in a fixed order, so a seed gives the same crowd.
"""

from __future__ import annotations

__all__ = ["ComparisonCrowd", "PairAnnotator", "simulate_comparisons"]

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .bradley_terry import davidson_probabilities


@dataclass(frozen=True)
class PairAnnotator:
    """One simulated judge: reads the item with probability ``reliability`` and answers its true outcome;
    otherwise answers slot first / second / tie with probabilities ``guess`` (a position-biased judge
    guesses "first" mostly; a spammer has reliability 0 and a flat guess). ``weight`` is its share of
    the judgments."""

    reliability: float
    guess: tuple[float, float, float] = (0.5, 0.5, 0.0)
    weight: float = 1.0


@dataclass(frozen=True)
class ComparisonCrowd:
    """A simulated crowd: ``judgments(item_id, source_id, choice, swapped)``, ``items(item_id, system_a,
    system_b)``, ``truth(item_id, preference)`` and the systems' true log-strengths (``strengths``,
    indexed like ``systems``)."""

    judgments: pa.Table
    items: pa.Table
    truth: pa.Table
    systems: list[str]
    strengths: np.ndarray


def simulate_comparisons(rng: np.random.Generator, annotators: Sequence[PairAnnotator], n_items: int,
                         n_systems: int = 8, per_item: int = 3, spread: float = 1.0, nu: float = 0.0,
                         item_noise: bool = True) -> ComparisonCrowd:
    """Draw a crowd.

    Args:
        annotators: the judges; each item gets ``per_item`` distinct judges drawn by ``weight``.
        spread: standard deviation of the systems' log-strengths.
        nu: Davidson tie parameter of the truth (0 = no tied items).
        item_noise: True: each item's outcome is drawn once from the Davidson model and every judge who
            reads it sees that outcome (the model the consolidation assumes). False: every judge who
            reads an item draws the outcome afresh (judges disagree on close items even when careful);
            the truth is then the more probable outcome.
    """
    n_ann = len(annotators)
    if per_item > n_ann:
        raise ValueError(f"per_item={per_item!r} exceeds the {n_ann} annotators")
    theta = rng.normal(0.0, spread, n_systems)
    sa = rng.integers(0, n_systems, n_items)
    sb = (sa + rng.integers(1, n_systems, n_items)) % n_systems
    probs = davidson_probabilities(theta[sa] - theta[sb], nu)
    cum = probs.cumsum(axis=1)
    truth = (rng.random(n_items)[:, None] > cum[:, :2]).sum(axis=1)
    if not item_noise:
        truth = probs.argmax(axis=1)
    w = np.array([a.weight for a in annotators], np.float64)
    # per_item distinct judges per item: the smallest keys of exponential races weighted by w
    keys = rng.exponential(size=(n_items, n_ann)) / w
    who = np.argsort(keys, axis=1)[:, :per_item].ravel()
    item = np.repeat(np.arange(n_items), per_item)
    m = len(item)
    swapped = rng.random(m) < 0.5
    rel = np.array([a.reliability for a in annotators])[who]
    guess = np.array([a.guess for a in annotators], np.float64)
    guess = (guess / guess.sum(axis=1, keepdims=True))[who]
    reads = rng.random(m) < rel
    seen = truth[item]
    if not item_noise:
        seen = (rng.random(m)[:, None] > cum[item, :2]).sum(axis=1)
    slot_read = np.where(seen == 2, 2, seen ^ swapped)
    slot_guess = (rng.random(m)[:, None] > guess.cumsum(axis=1)[:, :2]).sum(axis=1)
    slot = np.where(reads, slot_read, slot_guess)
    ids = np.array([f"i{k:07d}" for k in range(n_items)], dtype=object)
    names = [f"sys{k:02d}" for k in range(n_systems)]
    sys = np.array(names, dtype=object)
    judgments = pa.table({
        "item_id": pa.array(ids[item], pa.string()),
        "source_id": pa.array(np.array([f"ann{k:03d}" for k in range(n_ann)], dtype=object)[who], pa.string()),
        "choice": pa.array(np.array(["A", "B", "tie"], dtype=object)[slot], pa.string()),
        "swapped": pa.array(swapped),
    })
    items = pa.table({"item_id": pa.array(ids, pa.string()), "system_a": pa.array(sys[sa], pa.string()),
                      "system_b": pa.array(sys[sb], pa.string())})
    truth_t = pa.table({"item_id": pa.array(ids, pa.string()),
                        "preference": pa.array(np.array(["a", "b", "tie"], dtype=object)[truth], pa.string())})
    return ComparisonCrowd(judgments, items, truth_t, names, theta)
