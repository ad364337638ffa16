"""Spans: the queue facet (see tasks/kinds/protocol.py)."""

from __future__ import annotations

__all__ = ["FACET"]


class _SpanQueue:
    pass


FACET = _SpanQueue()
