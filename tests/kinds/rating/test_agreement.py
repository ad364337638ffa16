"""Krippendorff's alpha on published examples; weighted Cohen's kappa by hand and per rater pair."""

import krippendorff
import numpy as np
import pyarrow as pa
import pytest

from tasks.kinds.rating.agreement import (
    krippendorff_alpha,
    weighted_kappa,
    weighted_kappa_pairs,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12 units,
# values 1-5, "." = missing. Published: nominal .743, ordinal .815, interval .849, ratio .797.
K2011 = ["1 2 3 3 2 1 4 1 2 . . .", "1 2 3 3 2 2 4 1 2 5 . 3", ". 3 3 3 2 3 4 2 2 5 1 .", "1 2 3 3 2 4 4 1 2 5 1 ."]
# Wikipedia "Krippendorff's alpha" example (3 coders x 15 units), as in /work/shared/peer-fixtures/
# krippendorff_wikipedia (expected values computed there with krippendorff 0.9.0; nominal = Wikipedia's .691).
WIKI = [". . . . . 3 4 1 2 1 1 3 3 . 3", "1 . 2 1 3 3 4 3 . . . . . . .", ". . 2 1 3 4 4 . 2 1 1 3 3 . 4"]


def _table(rows):
    data = [(str(u), f"c{c}", int(v)) for c, row in enumerate(rows) for u, v in enumerate(row.split()) if v != "."]
    item, source, score = zip(*data)
    return pa.table({"item_id": list(item), "source_id": list(source), "score": list(score)})


@pytest.mark.parametrize("level,published", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849),
                                             ("ratio", 0.797)])
def test_krippendorff_2011_published_values(level, published):
    got = krippendorff_alpha(_table(K2011), (1, 5), level)
    assert round(got["alpha"], 3) == published
    assert (got["n_units"], got["n_values"]) == (11, 40)  # unit 12 has one value: not pairable


@pytest.mark.parametrize("level,expected", [("nominal", 0.691358024691358), ("ordinal", 0.8067214199413153),
                                            ("interval", 0.8108448928121059), ("ratio", 0.8089436707842471)])
def test_wikipedia_example(level, expected):
    assert krippendorff_alpha(_table(WIKI), (1, 4), level)["alpha"] == pytest.approx(expected, abs=1e-12)


def test_alpha_per_criterion_units_and_undefined_without_variation():
    t = _table(K2011)
    doubled = pa.concat_tables([t.append_column("criterion", pa.array(["fluency"] * len(t))),
                                t.append_column("criterion", pa.array(["accuracy"] * len(t)))])
    got = krippendorff_alpha(doubled, (1, 5), "ordinal")
    # each (item, criterion) is a unit: the same as the 4 x 24 reliability matrix of both copies side by side
    side_by_side = np.array([[np.nan if v == "." else float(v) for v in row.split()] * 2 for row in K2011])
    expected = krippendorff.alpha(reliability_data=side_by_side, level_of_measurement="ordinal",
                                  value_domain=[1, 2, 3, 4, 5])
    assert got["n_units"] == 22 and got["alpha"] == pytest.approx(expected, abs=1e-12)
    same = pa.table({"item_id": ["1", "1", "2", "2"], "source_id": ["a", "b", "a", "b"], "score": [3, 3, 3, 3]})
    assert np.isnan(krippendorff_alpha(same, (1, 5))["alpha"])
    with pytest.raises(ValueError, match="level must be one of"):
        krippendorff_alpha(same, (1, 5), "cardinal")


def test_weighted_kappa_by_hand():
    # a = (1, 2, 3), b = (1, 3, 3): observed one disagreement (2 vs 3). Expected cells E_ij = a_i b_j / n
    # with marginals a = (1, 1, 1), b = (1, 0, 2). Linear weights |i - j| / 2: sum w O = .5, sum w E =
    # 2/3 + 1/2 + 1/3 = 1.5, kappa = 2/3. Quadratic ((i - j) / 2)^2: .25 over 2/3 + 1/4 + 1/3 = 1.25, kappa = .8.
    a, b = np.array([1, 2, 3]), np.array([1, 3, 3])
    assert weighted_kappa(a, b, (1, 3), "linear") == pytest.approx(2 / 3)
    assert weighted_kappa(a, b, (1, 3), "quadratic") == pytest.approx(0.8)
    assert weighted_kappa(a, a, (1, 3), "quadratic") == pytest.approx(1.0)


def test_weighted_kappa_matches_scikit_learn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    a = rng.integers(1, 6, 300)
    b = np.clip(a + rng.integers(-2, 2, 300), 1, 5)
    for w in ("linear", "quadratic"):
        assert weighted_kappa(a, b, (1, 5), w) == pytest.approx(cohen_kappa_score(a, b, weights=w), abs=1e-12)
    assert weighted_kappa(a, b, (1, 5), "none") == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_kappa_pairs_equal_the_pairwise_kappa_on_shared_items():
    rng = np.random.default_rng(1)
    truth = rng.integers(1, 6, 120)
    rows = []
    for s, (shift, items) in enumerate([(0, range(100)), (1, range(20, 120)), (0, range(0, 120, 2))]):
        noisy = np.clip(truth + shift + rng.integers(-1, 2, 120), 1, 5)
        rows += [(str(i), f"r{s}", int(noisy[i])) for i in items]
    item, source, score = zip(*rows)
    t = pa.table({"item_id": list(item), "source_id": list(source), "score": list(score)})
    pairs = {(r["source_a"], r["source_b"]): r for r in weighted_kappa_pairs(t, (1, 5), "quadratic").to_pylist()}
    assert len(pairs) == 3
    by = {s: {} for s in ("r0", "r1", "r2")}
    for i, s, x in rows:
        by[s][i] = x
    for (sa, sb), r in pairs.items():
        shared = sorted(set(by[sa]) & set(by[sb]))
        assert r["n_shared"] == len(shared)
        expect = weighted_kappa(np.array([by[sa][i] for i in shared]), np.array([by[sb][i] for i in shared]), (1, 5))
        assert r["kappa"] == pytest.approx(expect)
    assert len(weighted_kappa_pairs(t, (1, 5), min_shared=80)) == 1  # r0-r1 share 80, r0-r2 50, r1-r2 50
