"""Transcripts: a free-text answer per item (speech in an audio clip, a caption of an image, a corrected
text). The answer's JSON form: `{"text": "..."}`; a machine draft may add word timings and scores,
`{"text": "...", "words": [{"word": "the", "start_s": 0.12, "end_s": 0.31, "score": 0.8}, ...]}`, which
humans never have to give. `{"text": ""}` is "nothing said" (allowed per `[answer] allow_empty`).
Transcripts are compared after the normalisation rule in `normalise.py` (case, punctuation, numbers;
configurable under `[answer]`), never as typed.
"""

from __future__ import annotations

from ..protocol import AnswerKind
from . import consensus, export, prelabel, queue, simulation, storage
from .options import TranscriptOptions

__all__ = ["TRANSCRIPT", "TranscriptOptions"]

TRANSCRIPT = AnswerKind(
    name="transcript", title="transcripts", data_kinds=('audio', 'image', 'text'),
    storage=storage.FACET, prelabel=prelabel.FACET, queue=queue.FACET,
    consensus=consensus.FACET, export=export.FACET, simulation=simulation.FACET,
    options=TranscriptOptions, min_labels=0,
)
