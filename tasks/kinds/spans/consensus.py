"""Spans: the consensus facet (see tasks/kinds/protocol.py)."""

from __future__ import annotations

__all__ = ["FACET"]


class _SpanConsensus:
    pass


FACET = _SpanConsensus()
