"""Gold scoring and bans, resolution decisions, agreement and calibration cores."""

import json

import krippendorff
import numpy as np
import pyarrow as pa
import pytest

from tasks.consensus.agreement import (
    agreement_with_consensus,
    cohen_kappa_pairs,
    fleiss_kappa,
    krippendorff_alpha,
    per_label_alpha,
    value_counts,
)
from tasks.consensus.alpha import alpha_from_counts
from tasks.consensus.calibration import expected_calibration_error, reliability_table
from tasks.consensus.dawid_skene import DawidSkene
from tasks.consensus.gold import (
    exclude_banned,
    gold_confusion,
    score_sources,
    wilson_interval,
)
from tasks.consensus.majority_vote import MajorityVote
from tasks.consensus.resolution import decide, human_vote_counts, resolve_items

from .conftest import FIXTURES, TOY_CLASSES, as_dict, read_csv


def test_wilson_interval_known_values():
    low, high = wilson_interval(np.array([8, 0, 0]), np.array([10, 10, 0]))
    assert low[0] == pytest.approx(0.4902, abs=1e-4) and high[0] == pytest.approx(0.9433, abs=1e-4)
    assert low[1] == 0.0 and high[1] == pytest.approx(0.2775, abs=1e-4)
    assert (low[2], high[2]) == (0.0, 1.0)


def _gold_crowd():
    items = [f"g{i}" for i in range(20)]
    gold = pa.table({"item_id": items, "label": ["yes"] * 20})
    rows = {"item_id": [], "source_id": [], "label": []}
    for src, n_right in [("good", 19), ("bad", 2), ("few", 0)]:
        n = 3 if src == "few" else 20
        for i in range(n):
            rows["item_id"].append(items[i]); rows["source_id"].append(src)
            rows["label"].append("yes" if i < n_right else "no")
    return pa.table(rows), gold


def test_score_sources_bans_only_with_enough_evidence():
    votes, gold = _gold_crowd()
    scores = score_sources(votes, gold, TOY_CLASSES, threshold=0.7, min_gold=10)
    by = {r["source_id"]: r for r in scores.to_pylist()}
    assert by["good"]["correct"] == 19 and by["good"]["n_gold"] == 20 and not by["good"]["banned"]
    assert by["bad"]["banned"] and by["bad"]["high"] < 0.7 and by["bad"]["threshold"] == 0.7
    assert by["few"]["accuracy"] == 0.0 and not by["few"]["banned"]  # 3 answers: not enough evidence
    conf = gold_confusion(votes, gold, TOY_CLASSES)
    cells = {(r["source_id"], r["true_label"], r["label"]): r["count"] for r in conf.to_pylist()}
    assert cells[("bad", "yes", "no")] == 18 and cells[("bad", "yes", "yes")] == 2


def test_all_sources_banned_leaves_a_clean_empty_result():
    votes, gold = _gold_crowd()
    scores = score_sources(votes, gold, TOY_CLASSES, threshold=1.0, min_gold=1)
    assert all(scores["banned"].to_pylist())
    left = exclude_banned(votes, scores)
    assert left.num_rows == 0
    labels = DawidSkene(TOY_CLASSES).fit_predict(left)
    assert labels.num_rows == 0
    decided = resolve_items(labels, human_vote_counts(left), 0.9, 3)
    assert decided.num_rows == 0


def test_decisions_follow_confidence_and_overlap():
    d = decide(np.array([0.95, 0.6, 0.6, np.nan]), np.array([3, 2, 5, 5]), 0.9, 5)
    assert d.tolist() == ["resolved", "needs_more", "adjudicate", "adjudicate"]
    with pytest.raises(ValueError, match="1.5"):
        decide(np.array([0.5]), np.array([1]), 1.5, 3)


def test_adjudicated_labels_override():
    labels = pa.table({"item_id": ["a", "b"], "label": ["no", "no"], "confidence": [0.55, 0.99]})
    votes = pa.table({"item_id": ["a", "a", "b"], "source_id": ["h1", "m1", "h1"], "label": ["no", "yes", "no"]})
    counts = human_vote_counts(votes, human_sources=pa.array(["h1"]))
    out = resolve_items(labels, counts, 0.9, 1, adjudications=pa.table({"item_id": ["a"], "label": ["yes"]}))
    rows = {r["item_id"]: r for r in out.to_pylist()}
    assert rows["a"]["label"] == "yes" and rows["a"]["confidence"] == 1.0 and rows["a"]["adjudicated"]
    assert rows["a"]["decision"] == "resolved" and rows["a"]["n_votes"] == 1
    assert rows["b"]["decision"] == "resolved" and not rows["b"]["adjudicated"]


def _wiki():
    t = read_csv(FIXTURES / "krippendorff_wikipedia" / "answers_long.csv")
    return pa.table({"item_id": t["unit"], "source_id": t["coder"], "label": t["value"]})


def test_krippendorff_wikipedia_example():
    expected = json.loads((FIXTURES / "krippendorff_wikipedia" / "expected.json").read_text())
    out = krippendorff_alpha(_wiki(), ["1", "2", "3", "4"], n_boot=300, seed=1)
    assert out["alpha"] == pytest.approx(expected["expected_alpha"]["nominal"], abs=1e-12)
    assert out["low"] < out["alpha"] < out["high"] and out["n_items"] == 12


def test_vectorised_alpha_matches_the_krippendorff_package_on_random_counts():
    rng = np.random.default_rng(0)
    counts = rng.multinomial(4, [0.5, 0.3, 0.2], size=500)
    counts[::7] = 0
    counts[::11, 0] = 1
    ref = krippendorff.alpha(value_counts=counts[counts.sum(1) >= 2], level_of_measurement="nominal")
    assert alpha_from_counts(counts) == pytest.approx(ref, abs=1e-12)


def test_fleiss_kappa_and_fixed_overlap_check(toy):
    full = toy.filter(pa.compute.not_equal(toy["item_id"], "t1"))
    _, counts = value_counts(full, TOY_CLASSES)
    n = 5
    p_i = ((counts ** 2).sum(1) - n) / (n * (n - 1))
    pj = counts.sum(0) / counts.sum()
    expected = (p_i.mean() - (pj ** 2).sum()) / (1 - (pj ** 2).sum())
    assert fleiss_kappa(full, TOY_CLASSES) == pytest.approx(expected)
    with pytest.raises(ValueError, match="fixed overlap"):
        fleiss_kappa(toy, TOY_CLASSES)


def test_cohen_pairs_match_sklearn_and_skip_thin_pairs():
    from sklearn.metrics import cohen_kappa_score
    rng = np.random.default_rng(3)
    a = rng.integers(0, 3, 40)
    b = np.where(rng.random(40) < 0.7, a, rng.integers(0, 3, 40))
    votes = pa.table({"item_id": [f"i{i}" for i in range(40)] * 2 + ["x", "y"],
                      "source_id": ["A"] * 40 + ["B"] * 40 + ["C", "C"],
                      "label": [str(v) for v in np.concatenate([a, b])] + ["0", "1"]})
    pairs = cohen_kappa_pairs(votes, ["0", "1", "2"], min_shared=10)
    assert pairs.num_rows == 1
    assert pairs["kappa"][0].as_py() == pytest.approx(cohen_kappa_score(a, b))
    assert pairs["n_shared"][0].as_py() == 40


def test_per_label_and_consensus_agreement(toy):
    table = per_label_alpha(toy, TOY_CLASSES)
    assert table["alpha"][0].as_py() == pytest.approx(table["alpha"][1].as_py())  # binary: same question
    agree = agreement_with_consensus(toy, MajorityVote(TOY_CLASSES).fit_predict(toy), TOY_CLASSES)
    assert as_dict(agree, "source_id", "agreement") == pytest.approx({"w1": 0.6, "w2": 0.8, "w3": 1.0,
                                                                      "w4": 0.4, "w5": 0.8})


def test_calibration():
    conf = np.array([0.95, 0.95, 0.65, 0.65])
    ok = np.array([1, 1, 1, 0])
    assert expected_calibration_error(conf, ok, n_bins=10) == pytest.approx(0.5 * 0.05 + 0.5 * 0.15)
    table = reliability_table(conf, ok, n_bins=10)
    assert table["n"].to_pylist()[9] == 2 and table["accuracy"][6].as_py() == 0.5
    assert table["accuracy"][0].as_py() is None
