"""Choices: the export facet (see tasks/kinds/protocol.py)."""

from __future__ import annotations

__all__ = ["MULTI", "SINGLE"]


class _ChoicesExport:
    def __init__(self, multi: bool) -> None:
        self.multi = multi


SINGLE = _ChoicesExport(multi=False)
MULTI = _ChoicesExport(multi=True)
