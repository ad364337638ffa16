"""Choices: the consensus facet (see tasks/kinds/protocol.py)."""

from __future__ import annotations

__all__ = ["MULTI", "SINGLE"]


class _ChoicesConsensus:
    def __init__(self, multi: bool) -> None:
        self.multi = multi


SINGLE = _ChoicesConsensus(multi=False)
MULTI = _ChoicesConsensus(multi=True)
