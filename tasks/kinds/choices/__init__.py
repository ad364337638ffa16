"""Choices: one label per item (single_label) or a set of labels per item (multi_label).

The two kinds share most of their code; each facet module defines `SINGLE` and `MULTI`.
"""

from __future__ import annotations

from ..protocol import AnswerKind
from . import consensus, export, prelabel, queue, simulation, storage

__all__ = ["MULTI_LABEL", "SINGLE_LABEL"]

_DATA = ("text", "image", "audio")

SINGLE_LABEL = AnswerKind(
    name="single_label", title="single label", data_kinds=_DATA,
    storage=storage.SINGLE, prelabel=prelabel.SINGLE, queue=queue.SINGLE,
    consensus=consensus.SINGLE, export=export.SINGLE, simulation=simulation.SINGLE,
)

MULTI_LABEL = AnswerKind(
    name="multi_label", title="multi-label", data_kinds=_DATA,
    storage=storage.MULTI, prelabel=prelabel.MULTI, queue=queue.MULTI,
    consensus=consensus.MULTI, export=export.MULTI, simulation=simulation.MULTI,
)
