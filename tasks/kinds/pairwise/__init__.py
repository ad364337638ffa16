"""Pairwise comparisons: which of two candidates answers a prompt better (not registered yet).

An item holds a prompt and two candidates from named systems, stored in a fixed order as the item's
candidates ``a`` and ``b`` (``system_a``, ``system_b``). Each assignment shows them in an order drawn at
random and stores it (``swapped``: true when candidate ``b`` was shown in the first slot), so position
bias can be measured and removed.

The answer's JSON form, in the assignment's shown order (slot "A" = the candidate shown first/left):

    {"choice": "A"}                      # or "B", or "tie" (when the config allows ties)
    {"choice": "tie", "reason": "both wrong about the date"}

``reason`` is optional free text. Consolidation takes the answers in this positional form together with
``swapped`` and reports preferences in the item's own terms (``a``, ``b``, ``tie``).

Statistical core (pure, Arrow in/out): ``bradley_terry.py`` (system strengths with ties and intervals),
``preference.py`` (per-item preference, annotator reliability and position bias), ``simulation.py``
(simulated comparison crowds). The facets that wire these into stages come with the kind's registration.
"""
