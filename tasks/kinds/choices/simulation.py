"""Choices: the simulated annotator (see tasks/kinds/protocol.py, simulation)."""

from __future__ import annotations

__all__ = ["MULTI", "SINGLE"]


class _ChoicesSimulation:
    def __init__(self, multi: bool) -> None:
        self.multi = multi


SINGLE = _ChoicesSimulation(multi=False)
MULTI = _ChoicesSimulation(multi=True)
