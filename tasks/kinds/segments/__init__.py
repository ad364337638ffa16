"""Time segments of a clip (who speaks, what sounds, when): an answer is a set of regions
`(start_s, end_s, label, optional text)` inside the clip. The JSON form:
`[{"start_s": 0.52, "end_s": 1.9, "label": "speaker_a"}, {"start_s": 2.0, "end_s": 3.1, "label": "dog", "text": "..."}]`,
seconds from the clip's start, rounded to milliseconds, `start_s < end_s`, sorted by (start_s, end_s, label);
`[]` = "no regions". The clip's duration is recorded at ingest (`items.metadata.duration_s`). Regions
may overlap when `[answer] allow_overlap` (two speakers at once).
"""

from __future__ import annotations

from ..protocol import AnswerKind
from . import consensus, export, prelabel, queue, simulation, storage
from .options import SegmentOptions

__all__ = ["SEGMENTS", "SegmentOptions"]

SEGMENTS = AnswerKind(
    name="segments", title="time segments", data_kinds=('audio',),
    storage=storage.FACET, prelabel=prelabel.FACET, queue=queue.FACET,
    consensus=consensus.FACET, export=export.FACET, simulation=simulation.FACET,
    options=SegmentOptions,
)
