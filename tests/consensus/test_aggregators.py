"""Behaviour of the aggregators beyond the peer fixtures: EM, edge cases, errors, warm start."""

import numpy as np
import pyarrow as pa
import pytest

from tasks.consensus.dawid_skene import DawidSkene
from tasks.consensus.errors import InvalidVotesError, UnknownLabelError
from tasks.consensus.glad import GLAD
from tasks.consensus.label_model import LabelModel
from tasks.consensus.majority_vote import MajorityVote, WeightedMajorityVote
from tasks.consensus.multilabel import MultiLabel
from tasks.consensus.one_coin import OneCoinDawidSkene
from tasks.consensus.votes import empty_votes

from .conftest import TOY_CLASSES, as_dict

ALL = [MajorityVote, DawidSkene, OneCoinDawidSkene, GLAD, LabelModel,
       lambda c: WeightedMajorityVote(c, mode="wawa")]
EM = [DawidSkene, OneCoinDawidSkene, GLAD, LabelModel]


def synthetic(n_items=400, n_sources=30, per_item=5, k=3, seed=0, abstain=0.0):
    """Confusion-matrix sources with accuracies between 0.55 and 0.95."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    acc = rng.uniform(0.55, 0.95, n_sources)
    item = np.repeat(np.arange(n_items), per_item)
    source = rng.integers(0, n_sources, len(item))
    right = rng.random(len(item)) < acc[source]
    wrong = (truth[item] + rng.integers(1, k, len(item))) % k
    label = np.where(right, truth[item], wrong).astype(str).astype(object)
    label[rng.random(len(item)) < abstain] = None
    votes = pa.table({"item_id": pa.array(item.astype(str)), "source_id": pa.array(source.astype(str)),
                      "label": pa.array(label, pa.string())})
    return votes, {str(i): str(t) for i, t in enumerate(truth)}, tuple(str(c) for c in range(k))


def accuracy(labels, truth):
    got = as_dict(labels, "item_id", "label")
    return np.mean([got.get(i) == t for i, t in truth.items()])


@pytest.mark.parametrize("cls", [DawidSkene, OneCoinDawidSkene, GLAD, LabelModel])
def test_log_likelihood_never_decreases(cls):
    votes, _, classes = synthetic(abstain=0.1)
    model = cls(classes, tol=0.0, max_iter=60).fit(votes)
    ll = np.asarray(model.log_likelihood_)
    assert len(ll) > 5
    assert (np.diff(ll) >= -1e-7 * np.abs(ll[:-1])).all()


@pytest.mark.parametrize("cls", [DawidSkene, OneCoinDawidSkene, GLAD])
def test_em_reports_convergence_and_beats_majority_vote(cls):
    votes, truth, classes = synthetic(n_items=3000, seed=1)
    model = cls(classes, tol=1e-6).fit(votes)
    assert model.converged_ and 0 < model.n_iter_ < 100
    assert accuracy(model.labels_, truth) >= accuracy(MajorityVote(classes).fit_predict(votes), truth)


def test_iteration_cap_is_reported_as_not_converged():
    votes, _, classes = synthetic(seed=2)
    model = DawidSkene(classes, max_iter=2, tol=0.0).fit(votes)
    assert model.n_iter_ == 2 and not model.converged_


def test_ties_go_to_the_earlier_class_whatever_the_row_order():
    votes = pa.table({"item_id": ["a", "a", "b", "b"], "source_id": ["s1", "s2", "s1", "s2"],
                      "label": ["yes", "no", "no", "yes"]})
    for classes, winner in [(("no", "yes"), "no"), (("yes", "no"), "yes")]:
        labels = MajorityVote(classes).fit_predict(votes)
        assert as_dict(labels, "item_id", "label") == {"a": winner, "b": winner}
        assert as_dict(labels, "item_id", "confidence") == {"a": 0.5, "b": 0.5}


@pytest.mark.parametrize("cls", ALL)
def test_one_vote_item_and_one_vote_source(cls):
    votes, _, classes = synthetic(n_items=100, seed=3)
    extra = pa.table({"item_id": ["lonely"], "source_id": ["newcomer"], "label": ["2"]})
    labels = cls(classes).fit_predict(pa.concat_tables([votes, extra]))
    row = as_dict(labels, "item_id", "label")
    assert row["lonely"] == "2"
    conf = as_dict(labels, "item_id", "confidence")
    assert all(0.0 <= c <= 1.0 for c in conf.values())


@pytest.mark.parametrize("cls", ALL)
def test_empty_votes_give_empty_results(cls):
    model = cls(TOY_CLASSES)
    labels = model.fit_predict(empty_votes())
    assert labels.num_rows == 0 and labels.column_names == ["item_id", "label", "confidence"]
    assert model.probas_.column_names == ["item_id", "no", "yes"]


@pytest.mark.parametrize("cls", ALL)
def test_unknown_label_is_rejected_with_a_clear_message(cls):
    votes = pa.table({"item_id": ["i1", "i2", "i3"], "source_id": ["s1", "s2", "s3"],
                      "label": ["yes", "maybe", "perhaps"]})
    with pytest.raises(UnknownLabelError) as err:
        cls(TOY_CLASSES).fit(votes)
    msg = str(err.value)
    assert "'maybe'" in msg and "'perhaps'" in msg and "'s2'" in msg and "'i2'" in msg and "['no', 'yes']" in msg
    assert isinstance(err.value, ValueError)


def test_missing_column_and_bad_options_are_named():
    with pytest.raises(InvalidVotesError, match="source_id"):
        MajorityVote(TOY_CLASSES).fit(pa.table({"item_id": ["a"], "label": ["no"]}))
    with pytest.raises(ValueError, match="'sometimes'"):
        DawidSkene(TOY_CLASSES, abstain="sometimes")
    with pytest.raises(ValueError, match="'median'"):
        WeightedMajorityVote(TOY_CLASSES, mode="median")
    with pytest.raises(ValueError, match="'fixed'"):
        GLAD(TOY_CLASSES, priors="fixed")


def test_gold_items_are_clamped_and_move_the_rest(toy, toy_gold, toy_truth):
    anchored = DawidSkene(TOY_CLASSES).fit(toy, gold=toy_gold)
    probas = as_dict(anchored.probas_, "item_id", "yes")
    assert probas["t1"] == 1.0 and probas["t2"] == 1.0
    assert as_dict(anchored.labels_, "item_id", "label") == toy_truth
    # Gold that contradicts the crowd on t5 wins there and changes who looks reliable.
    contrarian = pa.table({"item_id": ["t5"], "label": ["yes"]})
    plain = DawidSkene(TOY_CLASSES).fit(toy)
    forced = DawidSkene(TOY_CLASSES).fit(toy, gold=contrarian)
    assert as_dict(plain.labels_, "item_id", "label")["t5"] == "no"
    assert as_dict(forced.probas_, "item_id", "yes")["t5"] == 1.0
    before, after = as_dict(plain.skills_, "source_id", "skill"), as_dict(forced.skills_, "source_id", "skill")
    assert after["w1"] > before["w1"] and after["w2"] < before["w2"]


def test_gold_clamping_for_every_iteration_count(toy, toy_gold):
    for n in (0, 1, 2):
        probas = as_dict(DawidSkene(TOY_CLASSES, max_iter=n).fit(toy, gold=toy_gold).probas_, "item_id", "yes")
        assert probas["t1"] == 1.0 and probas["t2"] == 1.0


def test_warm_start_converges_in_fewer_iterations():
    votes, truth, classes = synthetic(n_items=2000, n_sources=50, seed=4)
    cold = DawidSkene(classes, tol=1e-7).fit(votes)
    more, _, _ = synthetic(n_items=2000, n_sources=50, seed=5)
    grown = pa.concat_tables([votes, more.slice(0, 200)])
    warm = DawidSkene(classes, tol=1e-7).fit(grown, init=cold.params_)
    again = DawidSkene(classes, tol=1e-7).fit(grown)
    assert warm.converged_ and warm.n_iter_ < again.n_iter_
    assert accuracy(warm.labels_, truth) == pytest.approx(accuracy(again.labels_, truth), abs=0.005)


def test_warm_start_rejects_parameters_of_another_shape():
    votes, _, classes = synthetic(seed=6)
    binary = DawidSkene(TOY_CLASSES).fit(pa.table({"item_id": ["a"], "source_id": ["s"], "label": ["no"]}))
    with pytest.raises(ValueError, match="shape"):
        DawidSkene(classes).fit(votes, init=binary.params_)


def test_label_model_learns_one_sided_rules():
    """Rules that only ever vote one class: the label model must beat plain Dawid–Skene."""
    rng = np.random.default_rng(7)
    n = 3000
    truth = rng.integers(0, 2, n)
    rows = []
    for j in range(8):
        target = j % 2  # half the rules only say "1", half only say "0"
        fires = np.where(truth == target, rng.random(n) < 0.5, rng.random(n) < 0.08)
        lab = np.where(fires, str(target), None)
        rows.append(pa.table({"item_id": np.arange(n).astype(str), "source_id": np.full(n, f"lf{j}"),
                              "label": pa.array(lab, pa.string())}))
    votes = pa.concat_tables(rows)
    t = {str(i): str(v) for i, v in enumerate(truth)}
    lm = accuracy(LabelModel(("0", "1")).fit_predict(votes), t)
    ds = accuracy(DawidSkene(("0", "1")).fit_predict(votes), t)
    assert lm > 0.85 and lm > ds + 0.1


def test_weights_column_counts_votes_fractionally():
    votes = pa.table({"item_id": ["a"] * 3, "source_id": ["s1", "s2", "s3"], "label": ["no", "no", "yes"],
                      "weight": [0.2, 0.2, 1.0]})
    assert as_dict(MajorityVote(TOY_CLASSES).fit_predict(votes), "item_id", "label") == {"a": "yes"}


def test_multilabel_gives_per_label_outputs():
    votes = pa.table({
        "item_id": ["i1", "i1", "i1", "i1", "i2", "i2", "i2"],
        "source_id": ["a", "a", "b", "c", "a", "b", "c"],
        "label": ["cat", "dog", "cat", None, "dog", "dog", "cat"],
    })
    ml = MultiLabel(("cat", "dog", "bird"), make=MajorityVote).fit(votes)
    got = {(r["item_id"], r["label"]): r["present"] for r in ml.labels_.to_pylist()}
    assert got == {("i1", "cat"): True, ("i1", "dog"): False, ("i1", "bird"): False,
                   ("i2", "cat"): False, ("i2", "dog"): True, ("i2", "bird"): False}
    assert as_dict(ml.probas_, "item_id", "cat") == pytest.approx({"i1": 2 / 3, "i2": 1 / 3})
    assert set(ml.models_) == {"cat", "dog", "bird"}
