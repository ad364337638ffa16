"""Agreement between span annotators against hand-computed values and the `krippendorff` package."""

from __future__ import annotations

import krippendorff
import numpy as np
import pyarrow as pa
import pytest

from tasks.kinds.spans.agreement import (
    krippendorff_alpha_bio,
    nominal_alpha,
    pairwise_span_f1,
)
from tasks.kinds.spans.consolidate import span_votes_table

LABELS = ("per", "loc")


def s(*spans):
    return [{"start": a, "end": b, "label": c} for a, b, c in spans]


def test_pairwise_strict_and_overlap_f1_by_hand():
    # i1: a = {per 0-5, loc 10-15}; b = {per 0-5, loc 10-13}; c = nothing. i2: a = {loc 3-8}, b abstains.
    v = span_votes_table(["i1", "i1", "i1", "i2", "i2"], list("abcab"),
                         [s((0, 5, "per"), (10, 15, "loc")), s((0, 5, "per"), (10, 13, "loc")), s(), s((3, 8, "loc")), None])
    t = {(r["source_a"], r["source_b"], r["label"]): r for r in pairwise_span_f1(v, LABELS).to_pylist()}
    ab = t[("a", "b", None)]
    # Shared item i1 only: strict matches 1 of 2 + 2 -> 2*1/4; overlap: both spans of each match -> 1.
    assert (ab["n_items"], ab["n_a"], ab["n_b"], ab["strict_f1"], ab["overlap_f1"]) == (1, 2, 2, 0.5, 1.0)
    assert (t[("a", "b", "loc")]["strict_f1"], t[("a", "b", "loc")]["overlap_f1"]) == (0.0, 1.0)
    assert t[("a", "b", "per")]["strict_f1"] == 1.0
    assert t[("a", "c", None)]["strict_f1"] == 0.0 and t[("a", "c", None)]["overlap_f1"] == 0.0


def test_pair_with_nothing_to_agree_on_has_no_f1():
    v = span_votes_table(["i", "i"], ["a", "b"], [s(), s()])
    t = pairwise_span_f1(v, LABELS).to_pylist()
    assert t == [{"source_a": "a", "source_b": "b", "label": None, "n_items": 1, "n_a": 0, "n_b": 0,
                  "strict_f1": None, "overlap_f1": None}]


def test_nominal_alpha_by_hand():
    # Krippendorff's worked pattern: 2 coders, 4 units: (a,a) (a,b) (b,b) (b,b).
    # Values n=8, n_a=3, n_b=5; disagreeing pairs within units: unit 2 contributes 2/(2-1)=2.
    # alpha = 1 - (8-1) * 2 / (64 - 9 - 25) = 1 - 14/30.
    unit = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    value = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    assert nominal_alpha(unit, value) == pytest.approx(1 - 14 / 30)
    assert np.isnan(nominal_alpha(np.array([0, 1]), np.array([0, 1])))  # no unit has two values


def test_nominal_alpha_matches_the_krippendorff_package():
    rng = np.random.default_rng(7)
    data = rng.integers(0, 4, (5, 60)).astype(float)
    data[rng.random(data.shape) < 0.3] = np.nan
    unit, coder = np.nonzero(~np.isnan(data.T))
    ours = nominal_alpha(unit, data.T[unit, coder].astype(int))
    assert ours == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def test_bio_alpha_matches_the_package_on_token_tags():
    texts = pa.table({"item_id": ["i1", "i2"], "payload": ["Alice went to Paris today", "Bob met Carol Smith"]})
    v = span_votes_table(["i1", "i1", "i1", "i2", "i2"], list("abcab"),
                         [s((0, 5, "per"), (14, 19, "loc")), s((0, 5, "per")), s((14, 25, "loc")),
                          s((0, 3, "per"), (8, 19, "per")), s((8, 13, "per"))])
    got = krippendorff_alpha_bio(v, texts, LABELS)
    # The same reliability data by hand: coders a, b, c x the 9 tokens (5 of i1, 4 of i2); c did not see i2.
    tags = {"O": 0, "B-per": 1, "B-loc": 2, "I-loc": 3, "I-per": 4}
    a = ["B-per", "O", "O", "B-loc", "O", "B-per", "O", "B-per", "I-per"]
    b = ["B-per", "O", "O", "O", "O", "O", "O", "B-per", "O"]
    c = ["O", "O", "O", "B-loc", "I-loc", None, None, None, None]
    data = np.array([[np.nan if x is None else tags[x] for x in row] for row in (a, b, c)])
    assert got == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def test_bio_alpha_needs_every_text():
    v = span_votes_table(["i9"], ["a"], [s()])
    with pytest.raises(ValueError, match="item 'i9'"):
        krippendorff_alpha_bio(v, pa.table({"item_id": ["x"], "payload": ["t"]}), LABELS)
