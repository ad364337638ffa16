"""Ratings: a score on a configured ordinal scale per item, optionally per criterion (not registered yet).

The answer's JSON form: one integer score on the project's scale (e.g. 1-5 with anchors),

    {"score": 4}

or, when the config names criteria, one integer score per criterion (every configured criterion present):

    {"scores": {"fluency": 4, "accuracy": 2}}

A score outside the scale is a bad answer, never clipped. Consolidation treats each (item, criterion) as
one rated unit: per-criterion answers are flattened to rows ``item_id, source_id, criterion, score``
(``criterion`` null for a single score) and every function here works per unit.

Statistical core (pure, Arrow in/out): ``consensus.py`` (per-unit consensus score with an interval and
per-rater bias/severity), ``agreement.py`` (Krippendorff's alpha at any level, weighted Cohen's kappa),
``simulation.py`` (simulated rating crowds). The facets that wire these into stages come later.
"""
