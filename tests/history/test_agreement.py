"""The agreement summary of any kind becomes rows without the history code knowing the kind."""

from __future__ import annotations

from tasks.history.metrics import agreement_rows


def test_an_unknown_kinds_agreement_numbers_become_agreement_rows() -> None:
    summary = {"over": "human", "n_votes": 900, "n_items": 300, "alpha": 0.7, "low": 0.6, "high": 0.8,
               "per_label": [{"label": "car", "alpha": 0.75, "n_items": 200}],
               "pairs": {"n_pairs": 3, "mean_kappa": 0.5,
                         "lowest": [{"source_a": "human:a", "source_b": "human:b", "n_shared": 40, "kappa": 0.2}]},
               "mean_iou": 0.81, "box_f1": {"at_0.5": 0.9, "at_0.75": 0.7, "n_items": 250, "by_type": [{"x": 1}]},
               "fleiss": None, "converged": True, "note": "text"}
    rows = {(s, sub, m): (v, lo, hi, n) for s, sub, m, v, lo, hi, n in agreement_rows(summary)}
    assert rows[("project", "", "alpha")] == (0.7, 0.6, 0.8, 300)
    assert rows[("label", "car", "alpha")] == (0.75, None, None, 200)
    assert rows[("pair", "human:a|human:b", "kappa")] == (0.2, None, None, 40)
    generic = {sub: (v, n) for (s, sub, m), (v, lo, hi, n) in rows.items() if s == "agreement"}
    # every measure, none of the counts, no booleans or text; a nested dict's own n_items is its evidence
    assert generic == {"mean_iou": (0.81, 300), "box_f1.at_0.5": (0.9, 250), "box_f1.at_0.75": (0.7, 250),
                       "pairs.mean_kappa": (0.5, 300)}
