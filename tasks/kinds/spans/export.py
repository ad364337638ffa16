"""Spans: the export facet (see tasks/kinds/protocol.py)."""

from __future__ import annotations

__all__ = ["FACET"]


class _SpanExport:
    pass


FACET = _SpanExport()
