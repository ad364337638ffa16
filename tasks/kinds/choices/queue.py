"""Choices: the queue facet (see tasks/kinds/protocol.py)."""

from __future__ import annotations

__all__ = ["MULTI", "SINGLE"]


class _ChoicesQueue:
    def __init__(self, multi: bool) -> None:
        self.multi = multi


SINGLE = _ChoicesQueue(multi=False)
MULTI = _ChoicesQueue(multi=True)
