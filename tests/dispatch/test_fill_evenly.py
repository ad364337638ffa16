"""Gold slots spread evenly: the vectorised fill picks exactly what the one-at-a-time rule would."""

from __future__ import annotations

import random

import numpy as np

from tasks.dispatch.plan import _fill_evenly


def _one_at_a_time(counts: list[int], need: int, cap: int | None) -> list[tuple[int, int]]:
    c, out = list(counts), []
    for _ in range(need):
        i = min(range(len(c)), key=lambda x: (c[x], x))
        if cap is not None and c[i] >= cap:
            break
        out.append((i, c[i]))
        c[i] += 1
    return out


def test_fill_evenly_matches_the_greedy_rule_on_random_cases() -> None:
    rng = random.Random(0)
    for _ in range(2000):
        counts = [rng.randint(0, 5) for _ in range(rng.randint(1, 8))]
        need, cap = rng.randint(0, 30), rng.choice([None, 1, 3, 6])
        items, slots = _fill_evenly(np.array(counts), need, cap)
        assert list(zip(items.tolist(), slots.tolist())) == _one_at_a_time(counts, need, cap), (counts, need, cap)


def test_fill_evenly_at_scale_is_even() -> None:
    items, slots = _fill_evenly(np.zeros(10_000, np.int64), 250_000, None)
    per_item = np.bincount(items, minlength=10_000)
    assert len(items) == 250_000 and per_item.min() == per_item.max() == 25 and slots.max() == 24
