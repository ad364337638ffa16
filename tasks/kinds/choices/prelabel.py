"""Choices: the prelabel facet (see tasks/kinds/protocol.py)."""

from __future__ import annotations

__all__ = ["MULTI", "SINGLE"]


class _ChoicesPrelabel:
    def __init__(self, multi: bool) -> None:
        self.multi = multi


SINGLE = _ChoicesPrelabel(multi=False)
MULTI = _ChoicesPrelabel(multi=True)
