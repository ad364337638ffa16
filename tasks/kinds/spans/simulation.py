"""Spans: the simulation facet (see tasks/kinds/protocol.py)."""

from __future__ import annotations

__all__ = ["FACET"]


class _SpanSimulation:
    pass


FACET = _SpanSimulation()
