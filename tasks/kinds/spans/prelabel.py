"""Spans: the prelabel facet (see tasks/kinds/protocol.py)."""

from __future__ import annotations

__all__ = ["FACET"]


class _SpanPrelabel:
    pass


FACET = _SpanPrelabel()
