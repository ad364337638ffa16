"""Pairwise comparisons: which of two candidates answers a prompt better .

An item holds a prompt and two candidates from named systems, stored in a fixed order as the item's
candidates ``a`` and ``b`` (``system_a``, ``system_b``). Each assignment shows them in an order drawn at
random and stores it (``swapped``: true when candidate ``b`` was shown in the first slot), so position
bias can be measured and removed.

The answer's JSON form, in the assignment's shown order (slot "A" = the candidate shown first/left):

    {"choice": "A"}                      # or "B", or "tie" (when the config allows ties)
    {"choice": "tie", "reason": "both wrong about the date"}

``reason`` is optional free text. Consolidation takes the answers in this positional form together with
``swapped`` and reports preferences in the item's own terms (``a``, ``b``, ``tie``).

The item is a comparison (``comparison.py``: the payload JSON ``{"prompt", "a", "b", "system_a", "system_b"}``).
Media candidates (an image or audio file instead of text): ``candidates.py``. Statistical core (pure, Arrow in/out): ``bradley_terry.py`` (system strengths with ties and intervals),
``preference.py`` (per-item preference, annotator reliability and position bias), ``simulation.py``
(simulated comparison crowds). Facets: storage, prelabel (language-model judges, ``llm_judge.py``), queue (+ ``widget.js``,
``labelstudio.py``), consensus, export, simulation (``simulated_judge.py``).
"""

from __future__ import annotations

from ..protocol import AnswerKind
from . import consensus, export, prelabel, queue, simulated_judge, storage
from .options import PairwiseOptions

__all__ = ["PAIRWISE", "PairwiseOptions"]

PAIRWISE = AnswerKind(
    name="pairwise", title="pairwise preference", data_kinds=("text",),
    storage=storage.FACET, prelabel=prelabel.FACET, queue=queue.FACET,
    consensus=consensus.FACET, export=export.FACET, simulation=simulated_judge.FACET,
    options=PairwiseOptions, min_labels=0,
)
