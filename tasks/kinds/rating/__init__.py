"""Ratings: a score on a configured ordinal scale per item, optionally per criterion.

The answer's JSON form: one integer score on the project's scale (e.g. 1-5 with anchors),

    {"score": 4}

or, when the config names criteria, one integer score per criterion (every configured criterion present):

    {"scores": {"fluency": 4, "accuracy": 2}}

A score outside the scale is a bad answer, never clipped. Consolidation treats each (item, criterion) as
one rated unit: per-criterion answers are flattened to rows ``item_id, source_id, criterion, score``
(``criterion`` null for a single score) and every function here works per unit.

Statistical core (pure, Arrow in/out): ``consensus.py`` (per-unit consensus score with an interval and
per-rater bias/severity), ``agreement.py`` (Krippendorff's alpha at any level, weighted Cohen's kappa),
``simulation.py`` (simulated rating crowds). Facets: storage.py (DuckDB checks), queue.py (scale widget.js, Label Studio `Rating`), consolidate.py
(consensus), export.py (ratings Parquet, gate), prelabel.py (language-model raters, `llm_rater.py`), simulation.py;
the `[answer]` options are `RatingOptions` (scale, anchors, criteria, agreement level).
"""

from __future__ import annotations

from ..protocol import AnswerKind
from . import consolidate, export, prelabel, queue, simulation, storage
from .options import RatingOptions

__all__ = ["RATING", "RatingOptions"]

RATING = AnswerKind(
    name="rating", title="rating", data_kinds=("text", "image", "audio"),
    storage=storage.FACET, prelabel=prelabel.FACET, queue=queue.FACET,
    consensus=consolidate.FACET, export=export.FACET, simulation=simulation.FACET,
    options=RatingOptions, min_labels=0,
)
