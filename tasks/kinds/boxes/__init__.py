"""Boxes on images (object detection): an answer is a set of boxes `(x, y, w, h, label)`.

Coordinates are pixels of the stored image (its size is recorded at ingest in `items.metadata`:
`width`, `height`), `(x, y)` the top-left corner, `w` and `h` positive; an empty set is a valid
answer ("no objects"). The JSON form and the Arrow type are in `geometry.py`.
"""

from __future__ import annotations

from ..protocol import AnswerKind
from . import consensus, export, prelabel, queue, simulation, storage
from .options import BoxOptions

__all__ = ["BOXES", "BoxOptions"]

BOXES = AnswerKind(
    name="boxes", title="bounding boxes", data_kinds=("image",),
    storage=storage.FACET, prelabel=prelabel.FACET, queue=queue.FACET,
    consensus=consensus.FACET, export=export.FACET, simulation=simulation.FACET,
    options=BoxOptions,
)
