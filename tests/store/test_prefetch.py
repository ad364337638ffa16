"""The look-ahead used by streaming stages keeps order, bounds memory and surfaces producer errors."""

from __future__ import annotations

import threading

import pytest

from tasks.prefetch import prefetch


def test_order_and_completeness() -> None:
    assert list(prefetch(iter(range(100)), depth=2)) == list(range(100))


def test_producer_error_reaches_the_consumer_in_place() -> None:
    def source():
        yield 1
        yield 2
        raise ValueError("row 3 is bad")

    got = []
    with pytest.raises(ValueError, match="row 3 is bad"):
        for x in prefetch(source()):
            got.append(x)
    assert got == [1, 2]


def test_producer_runs_at_most_depth_ahead_and_stops_when_consumer_leaves() -> None:
    produced = []
    gate = threading.Event()

    def source():
        for i in range(1000):
            produced.append(i)
            yield i

    it = prefetch(source(), depth=1)
    assert next(it) == 0
    gate.wait(0.2)
    assert len(produced) <= 3, "one item handed out, one queued, one being put"
    it.close()
    gate.wait(0.2)
    assert len(produced) <= 4
