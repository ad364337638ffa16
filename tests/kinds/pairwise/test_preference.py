"""Per-item preference, reliability and position bias on simulated crowds; gold, ties and bad input."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy.stats import norm

from tasks.consensus.calibration import expected_calibration_error
from tasks.kinds.pairwise.bradley_terry import fit_strengths
from tasks.kinds.pairwise.preference import PreferenceModel, encode_judgments
from tasks.kinds.pairwise.simulation import PairAnnotator, simulate_comparisons

CAREFUL = [PairAnnotator(r) for r in (0.95, 0.85, 0.75, 0.65)]
FIRST_BIASED = PairAnnotator(0.3, (0.95, 0.05, 0.0), weight=2.0)  # true position bias (1 - .3)(.95 - .05) = .63
SPAMMER = PairAnnotator(0.0, (0.5, 0.5, 0.0))


def _crowd(seed=3, n=3000, **kw):
    return simulate_comparisons(np.random.default_rng(seed), [*CAREFUL, FIRST_BIASED, SPAMMER], n, per_item=3, **kw)


def _accuracy(table, truth):
    return float(np.mean(np.array(table["preferred"].to_pylist()) == np.array(truth["preference"].to_pylist())))


def _majority(crowd):
    """Majority of the judgments in the item's terms, ignoring who answered and the shown order."""
    j = crowd.judgments
    outcome = np.where(np.array(j["choice"].to_pylist()) == "A", 0, 1) ^ j["swapped"].to_numpy(zero_copy_only=False)
    item = pa.array(j["item_id"]).dictionary_encode()
    votes_b = np.bincount(item.indices.to_numpy(), outcome)
    count = np.bincount(item.indices.to_numpy())
    order = np.argsort(np.array(item.dictionary.to_pylist()))
    pred = np.where(votes_b > count / 2, "b", "a")[order]
    return float(np.mean(pred == np.array(crowd.truth["preference"].to_pylist())))


def test_position_biased_judge_is_measured_and_its_bias_removed():
    crowd = _crowd()
    model = PreferenceModel(ties=False).fit(crowd.judgments, crowd.items)
    src = {r["source_id"]: r for r in model.sources_.to_pylist()}
    biased, spam = src["ann004"], src["ann005"]
    assert biased["flag"] == "position_biased" and biased["position_bias"] == pytest.approx(0.63, abs=0.06)
    assert spam["flag"] == "spammer" and abs(spam["position_bias"]) < 0.1
    for k, r in enumerate((0.95, 0.85, 0.75, 0.65)):
        assert src[f"ann{k:03d}"]["reliability"] == pytest.approx(r, abs=0.06)
        assert src[f"ann{k:03d}"]["flag"] is None
    ours = _accuracy(model.preferences_, crowd.truth)
    assert ours > _majority(crowd) + 0.05
    model_no_order = PreferenceModel(ties=False).fit(crowd.judgments.set_column(
        3, "swapped", pa.array(np.zeros(crowd.judgments.num_rows, bool))), crowd.items)
    assert ours > _accuracy(model_no_order.preferences_, crowd.truth)  # the stored order is what removes the bias


def test_confidence_is_calibrated_and_ranking_recovered():
    crowd = _crowd(seed=4)
    model = PreferenceModel(ties=False).fit(crowd.judgments, crowd.items)
    p = model.preferences_
    right = np.array(p["preferred"].to_pylist()) == np.array(crowd.truth["preference"].to_pylist())
    assert expected_calibration_error(p["confidence"].to_numpy(), right) < 0.03
    true_order = [crowd.systems[k] for k in np.argsort(-crowd.strengths)]
    r = model.ranking_
    assert r["system"].to_pylist() == true_order or _kendall(r["system"].to_pylist(), true_order) > 0.85
    assert (r["low"].to_numpy() < r["strength"].to_numpy()).all() and (r["rank_low"].to_numpy() <= r["rank"].to_numpy()).all()
    assert model.n_iter_ < 200


def _kendall(a, b):
    from scipy.stats import kendalltau
    return kendalltau([a.index(x) for x in b], range(len(b))).statistic


def test_ties_are_learned_when_allowed():
    anns = [PairAnnotator(r, (0.45, 0.45, 0.1)) for r in (0.95, 0.9, 0.8)] + [PairAnnotator(0.0, (0.3, 0.3, 0.4))]
    crowd = simulate_comparisons(np.random.default_rng(5), anns, 2000, per_item=3, nu=0.8)
    model = PreferenceModel(ties=True).fit(crowd.judgments, crowd.items)
    assert model.strengths_.nu == pytest.approx(0.8, abs=0.25)
    pred = np.array(model.preferences_["preferred"].to_pylist())
    truth = np.array(crowd.truth["preference"].to_pylist())
    assert (pred == "tie").sum() > 0 and np.mean(pred[truth == "tie"] == "tie") > 0.8
    assert _accuracy(model.preferences_, crowd.truth) > 0.9


def test_gold_clamps_items_and_anchors_reliability():
    crowd = _crowd(seed=6, n=400)
    gold = crowd.truth.slice(0, 100)
    model = PreferenceModel(ties=False).fit(crowd.judgments, crowd.items, gold=gold)
    got = model.preferences_.slice(0, 100)
    assert got["preferred"].to_pylist() == gold["preference"].to_pylist()
    assert (got["confidence"].to_numpy() == 1.0).all()


def test_bad_input_names_item_and_source():
    crowd = _crowd(n=20)
    bad = crowd.judgments.set_column(2, "choice", pa.array(["A"] * 59 + ["C"]))
    with pytest.raises(ValueError, match=r"judgment row 59 \(item 'i0000019', source 'ann\d+'\): unknown choice 'C'"):
        PreferenceModel().fit(bad, crowd.items)
    with pytest.raises(ValueError, match="unknown item_id 'i0000019'"):
        PreferenceModel().fit(crowd.judgments, crowd.items.slice(0, 19))
    tie = crowd.judgments.set_column(2, "choice", pa.array(["tie"] + ["A"] * 59))
    with pytest.raises(ValueError, match="ties are not allowed"):
        PreferenceModel(ties=False).fit(tie, crowd.items)


def _strengths_from_raw_votes(judgments, items, n_systems):
    """Reliability-blind Bradley–Terry: every judgment one comparison, whoever answered (the contrast)."""
    enc = encode_judgments(judgments, items)
    a, b = enc.system_a[enc.item], enc.system_b[enc.item]
    return fit_strengths(a, b, (enc.outcome == 0) * 1.0, (enc.outcome == 1) * 1.0, np.zeros(len(a)), n_systems,
                         ties="none").theta


def test_a_spammer_and_a_position_biased_judge_do_not_move_the_ranking():
    # Every item is judged by three careful judges, a spammer and a judge who reads 10% of the time and
    # otherwise answers "first": 40% of the votes are junk. The strengths with and without the junk votes
    # must agree; a fit that counts every vote alike is pulled towards zero by them (the contrast shows the
    # bound can fail).
    careful = [PairAnnotator(r) for r in (0.95, 0.85, 0.75)]
    junk = [PairAnnotator(0.0, (0.5, 0.5, 0.0)), PairAnnotator(0.1, (0.95, 0.05, 0.0))]
    for seed in (0, 1):
        crowd = simulate_comparisons(np.random.default_rng(seed), careful + junk, 1500, n_systems=6, per_item=5)
        clean = crowd.judgments.filter(pc.is_in(crowd.judgments["source_id"],
                                                value_set=pa.array(["ann000", "ann001", "ann002"])))
        with_junk = PreferenceModel(ties=False).fit(crowd.judgments, crowd.items)
        without = PreferenceModel(ties=False).fit(clean, crowd.items)
        assert with_junk.ranking_["system"].to_pylist() == without.ranking_["system"].to_pylist()
        assert np.abs(with_junk.strengths_.theta - without.strengths_.theta).max() < 0.05
        src = {r["source_id"]: r["flag"] for r in with_junk.sources_.to_pylist()}
        assert src["ann003"] == "spammer" and src["ann004"] == "position_biased"
        blind = _strengths_from_raw_votes(crowd.judgments, crowd.items, 6)
        assert np.abs(blind - without.strengths_.theta).max() > 0.3


def test_strength_intervals_cover_the_true_strengths_when_many_outcomes_are_uncertain():
    # Two careful judges and three spammers, two judgments per item: many items' outcomes stay uncertain.
    # The 95% intervals must cover the true (centred) strengths about 95% of the time over replicate
    # crowds. Treating the items' posteriors as observed comparisons (complete-data information) covers
    # about 82% here; the observed information (complete less missing) about 96%.
    judges = [PairAnnotator(0.9), PairAnnotator(0.8)] + [PairAnnotator(0.0, (0.5, 0.5, 0.0))] * 3
    z = norm.ppf(0.975)
    hits = []
    for seed in range(20):
        crowd = simulate_comparisons(np.random.default_rng(seed), judges, 600, n_systems=6, per_item=2)
        fit = PreferenceModel(ties=False).fit(crowd.judgments, crowd.items).strengths_
        truth = crowd.strengths - crowd.strengths.mean()
        hits.append(np.abs(fit.theta - truth) <= z * np.sqrt(np.diag(fit.cov)))
    assert 0.9 <= np.mean(hits) <= 0.995
