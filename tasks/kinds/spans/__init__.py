"""Entity spans in text (NER): an answer is a set of character-offset spans `(start, end, label)`.

Offsets count Unicode code points of the item's text (Python string indices), `end` exclusive; an
empty set is a valid answer ("no entities"). Whether spans may overlap is the `[answer]` option
`allow_overlap` (off by default: most NER training formats, BIO tags among them, cannot hold overlaps).
"""

from __future__ import annotations

from ..protocol import AnswerKind
from . import consensus, export, prelabel, queue, simulation, storage
from .options import SpanOptions

__all__ = ["SPANS", "SpanOptions"]

SPANS = AnswerKind(
    name="spans", title="entity spans", data_kinds=("text",),
    storage=storage.FACET, prelabel=prelabel.FACET, queue=queue.FACET,
    consensus=consensus.FACET, export=export.FACET, simulation=simulation.FACET,
    options=SpanOptions,
)
