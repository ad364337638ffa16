"""The default model on hostile crowds, GLAD's class priors, calibrated confidences and the human-vote floor."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bench.crowds import hostile_crowd, sparse_replay
from tasks.consensus.calibration import calibrate_posterior, certified_tail, fit_gold_calibration
from tasks.consensus.dawid_skene import DawidSkene
from tasks.consensus.glad import GLAD
from tasks.consensus.label_model import LabelModel
from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings, run_consensus
from tasks.consensus.resolution import decide

from .conftest import as_dict


def _scored(labels: pa.Table, truth: dict) -> tuple[np.ndarray, np.ndarray]:
    got = dict(zip(labels["item_id"].to_pylist(), zip(labels["label"].to_pylist(), labels["confidence"].to_pylist())))
    conf = np.array([got[i][1] for i in truth])
    ok = np.array([got[i][0] == t for i, t in truth.items()])
    return conf, ok


@pytest.mark.parametrize("seed", [0, 1])
def test_shrinkage_beats_plain_dawid_skene_when_two_sources_in_five_are_spammers(seed):
    votes, truth, classes = hostile_crowd("spammers_40pct", seed)
    _, ok_default = _scored(LabelModel(classes).fit_predict(votes), truth)
    _, ok_plain = _scored(DawidSkene(classes).fit_predict(votes), truth)
    assert ok_default.mean() >= ok_plain.mean() + 0.005


def test_strengths_follow_how_much_sources_differ():
    """A crowd of near-identical sources earns a strong prior; one with spammers a weak skill prior."""
    rng = np.random.default_rng(3)
    n_items, per_item, k = 1500, 4, 3
    truth = rng.integers(0, k, n_items)
    item = np.repeat(np.arange(n_items), per_item)
    source = rng.integers(0, 40, len(item))
    right = rng.random(len(item)) < 0.8
    label = np.where(right, truth[item], (truth[item] + rng.integers(1, k, len(item))) % k)
    same = pa.table({"item_id": item.astype(str), "source_id": source.astype(str), "label": label.astype(str)})
    alike = LabelModel([str(c) for c in range(k)]).fit(same).hierarchy_
    votes, _, classes = hostile_crowd("spammers_40pct", 0)
    mixed = LabelModel(classes).fit(votes).hierarchy_
    assert alike.skill_strength > 4 * mixed.skill_strength
    assert min(alike.matrix_strength) >= 100


def test_glad_keeps_a_minority_class_by_default():
    votes, truth, classes = hostile_crowd("minority_5pct_biased", 0)
    true_share = np.mean([t == "c1" for t in truth.values()])
    uniform = GLAD(classes).fit(votes)
    assert uniform.priors_["prior"].to_pylist() == [0.5, 0.5]
    share = np.mean(np.asarray(uniform.labels_["label"].to_pylist()) == "c1")
    assert share >= 0.75 * true_share
    drifting = GLAD(classes, priors="estimate").fit(votes)  # what the default avoids
    assert np.mean(np.asarray(drifting.labels_["label"].to_pylist()) == "c1") < 0.5 * true_share


@pytest.mark.parametrize("target", [0.8, 0.9])
def test_resolved_items_are_as_accurate_as_the_target_on_a_sparse_crowd(target):
    votes, truth, classes = hostile_crowd("sparse_1to3", 0)
    conf, ok = _scored(LabelModel(classes).fit_predict(votes), truth)
    resolved = conf >= target
    assert resolved.mean() > 0.15
    assert ok[resolved].mean() >= target - 0.01


def test_the_plug_in_posterior_is_what_broke_the_promise():
    votes, truth, classes = hostile_crowd("sparse_1to3", 0)
    conf, ok = _scored(DawidSkene(classes).fit_predict(votes), truth)
    assert ok[conf >= 0.9].mean() < 0.89


def _crowd_wrong_together(seed=0, n_items=1500, trap_share=0.25):
    """Binary; on trap items most sources give the same wrong answer, which no vote pattern reveals."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_items)
    trap = rng.random(n_items) < trap_share
    item = np.repeat(np.arange(n_items), 3)
    source = rng.integers(0, 30, len(item))
    p_right = np.where(trap[item], 0.25, 0.92)
    label = np.where(rng.random(len(item)) < p_right, truth[item], 1 - truth[item])
    votes = pa.table({"item_id": item.astype(str), "source_id": source.astype(str), "label": label.astype(str)})
    return votes, {str(i): str(t) for i, t in enumerate(truth)}


def test_gold_lowers_the_confidence_of_a_crowd_that_is_wrong_together():
    votes, truth = _crowd_wrong_together()
    classes = ("0", "1")
    ids = sorted(truth)
    gold_ids = ids[::5]
    gold = pa.table({"item_id": gold_ids, "label": [truth[i] for i in gold_ids]})
    scored = {i: truth[i] for i in ids if i not in set(gold_ids)}
    blind_conf, blind_ok = _scored(LabelModel(classes).fit_predict(votes), scored)
    assert blind_ok[blind_conf >= 0.9].mean() < 0.85  # without gold the posterior cannot know
    model = LabelModel(classes).fit(votes, gold)
    conf, ok = _scored(model.labels_, scored)
    assert model.calibration_.n_gold == len(gold_ids)
    assert not (conf >= 0.9).any() or ok[conf >= 0.9].mean() >= 0.89
    assert not (conf >= 0.8).any() or ok[conf >= 0.8].mean() >= 0.79
    assert as_dict(model.labels_, "item_id", "confidence")[gold_ids[0]] == 1.0  # gold stays clamped


def test_gold_calibration_only_ever_lowers_confidence():
    conf = np.linspace(0.5, 0.999, 40)
    cal = fit_gold_calibration(conf, np.ones(40, bool))  # gold all right: no reason to raise anything
    grid = np.linspace(0.3, 1.0, 50)
    assert (cal.apply(grid) <= grid + 1e-12).all()
    worse = fit_gold_calibration(conf, np.arange(40) % 3 == 0)
    assert (worse.apply(np.array([0.99])) < 0.6).all()
    assert fit_gold_calibration([], []) is None


def _gold_split(truth: dict, every: int):
    ids = sorted(truth)
    gold_ids = set(ids[::every])
    gold = pa.table({"item_id": sorted(gold_ids), "label": [truth[i] for i in sorted(gold_ids)]})
    return gold, {i: truth[i] for i in ids if i not in gold_ids}


def test_scarce_gold_certifies_nothing_at_095_on_a_crowd_that_is_wrong_together():
    """19 gold items, all answered right, cannot certify 0.95 (nor 0.9): nothing resolves there."""
    votes, truth = _crowd_wrong_together()
    gold, scored = _gold_split(truth, 79)
    assert gold.num_rows == 19
    blind_conf, _ = _scored(LabelModel(("0", "1")).fit_predict(votes), scored)
    assert (blind_conf >= 0.95).sum() > 100  # what the posterior alone would have resolved
    model = LabelModel(("0", "1")).fit(votes, gold)
    conf, _ = _scored(model.labels_, scored)
    assert not (conf >= 0.9).any()
    # Same label as the forecast: calibration changes how sure a label is, not which label.
    free = ~np.isin(np.asarray(model.encoded_.item_ids.to_pylist()), gold["item_id"].to_pylist())
    assert (model.forecast_.argmax(axis=1)[free] == model.posteriors_.argmax(axis=1)[free]).all()


@pytest.mark.parametrize("target", [0.8, 0.9, 0.95])
def test_ample_gold_keeps_the_floor_and_still_resolves_on_a_seeded_sparse_crowd(target):
    votes, truth, classes = hostile_crowd("spammers_40pct", 0)
    votes = sparse_replay(votes, seed=0)
    gold, scored = _gold_split(truth, 4)
    conf, ok = _scored(LabelModel(classes).fit_predict(votes, gold), scored)
    resolved = conf >= target
    assert resolved.mean() > 0.05
    assert ok[resolved].mean() >= target - 0.01


def test_certified_tail_is_a_lower_bound_that_grows_with_evidence():
    conf = np.linspace(0.999, 0.6, 200)
    few, _ = certified_tail(conf[:19], np.ones(19), 0.9)
    many, _ = certified_tail(conf, np.ones(200), 0.9)
    assert few.max() == pytest.approx(0.1 ** (1 / 19))  # Clopper–Pearson with every answer right
    assert few.max() < 0.9 < many.max()
    assert (np.diff(many) >= 0).all()  # lower thresholds only add choices


def test_calibration_keeps_the_top_label():
    post = np.array([[0.9, 0.1], [0.2, 0.8], [0.55, 0.45], [0.3, 0.7], [1e-17, 1.0]])
    gold = np.array([[False, True], [True, False], [False, False], [False, False], [False, False]])  # gold wrong
    out, cal = calibrate_posterior(post, gold)
    assert out[-1, 1] < 0.6  # a forecast whose rest rounds to 0 is lowered too
    assert cal.n_gold == 2
    assert (out.argmax(axis=1) == post.argmax(axis=1)).all()
    assert np.allclose(out.sum(axis=1), 1.0)
    assert (out.max(axis=1) <= post.max(axis=1) + 1e-12).all()


def test_replayed_sparse_overlap_keeps_one_to_three_votes_per_item():
    votes, _, _ = hostile_crowd("spammers_40pct", 0)
    sparse = sparse_replay(votes, seed=1)
    per_item = np.unique(sparse["item_id"].to_numpy(zero_copy_only=False), return_counts=True)[1]
    assert per_item.min() == 1 and per_item.max() == 3
    assert sparse.num_rows == sparse_replay(votes, seed=1).num_rows


def test_decide_never_resolves_below_the_minimum_of_human_votes():
    d = decide(np.array([0.99, 0.99, 0.99, 0.5]), np.array([1, 2, 1, 5]), 0.9, 5, min_votes=2)
    assert d.tolist() == ["needs_more", "resolved", "needs_more", "adjudicate"]
    with pytest.raises(ValueError, match="min_votes"):
        decide(np.array([0.99]), np.array([1]), 0.9, 3, min_votes=4)


def test_consensus_core_holds_single_vote_items_for_the_policy_minimum():
    """Item a has one (certain) human vote and a model vote: needs_more under overlap.initial = 2."""
    rows = [("a", "h1", "human", "yes"), ("a", "m", "model", "yes"),
            ("b", "h1", "human", "no"), ("b", "h2", "human", "no"), ("b", "m", "model", "no")]
    votes = pa.table({"item_id": [r[0] for r in rows], "source_id": [r[1] for r in rows],
                      "source_kind": [r[2] for r in rows], "label": [r[3] for r in rows]})
    empty = pa.table({"item_id": pa.array([], pa.string()), "label": pa.array([], pa.string())})
    inputs = ConsensusInputs(votes=votes, scoring_votes=votes.slice(0, 0), gold=empty, adjudications=empty)
    for min_votes, expected in ((1, "resolved"), (2, "needs_more")):
        s = ConsensusSettings(classes=("no", "yes"), method="majority_vote", target_confidence=0.9,
                              max_overlap=3, min_votes=min_votes, bootstrap=0)
        labels = run_consensus(s, inputs).labels
        assert as_dict(labels, "item_id", "decision") == {"a": expected, "b": "resolved"}


def test_with_machine_evidence_gold_calibrates_the_combined_confidence_that_decides():
    """A machine that errs with the crowd, times the people's forecast: still nothing certified on 19 gold."""
    votes, truth = _crowd_wrong_together()
    gold, scored = _gold_split(truth, 79)
    # The machine follows the crowd's majority (wrong on the same trap items) at 0.9.
    shares = votes.group_by(["item_id", "label"]).aggregate([("source_id", "count")]).to_pylist()
    best: dict = {}
    for r in shares:
        if r["source_id_count"] > best.get(r["item_id"], ("", -1))[1]:
            best[r["item_id"]] = (r["label"], r["source_id_count"])
    ids = sorted(best)
    p1 = np.array([0.9 if best[i][0] == "1" else 0.1 for i in ids])
    machine = pa.table({"item_id": ids, "0": 1 - p1, "1": p1})
    human = votes.append_column("source_kind", pa.array(["human"] * votes.num_rows))
    empty = pa.table({"item_id": pa.array([], pa.string()), "label": pa.array([], pa.string())})
    inputs = ConsensusInputs(votes=human, scoring_votes=human.filter(pc.is_in(human["item_id"], gold["item_id"])),
                             gold=gold, adjudications=empty, machine=machine)
    s = ConsensusSettings(classes=("0", "1"), target_confidence=0.9, min_votes=2, bootstrap=0)
    labels = run_consensus(s, inputs).labels
    rows = [r for r in labels.to_pylist() if r["item_id"] in scored]
    assert max(r["confidence"] for r in rows) < 0.9
    assert not any(r["decision"] == "resolved" for r in rows)
    blind = run_consensus(s, ConsensusInputs(votes=human, scoring_votes=human.slice(0, 0), gold=empty.slice(0, 0),
                                             adjudications=empty, machine=machine)).labels
    assert sum(c >= 0.9 for c in blind["confidence"].to_pylist()) > 100  # what the evidence alone claims
