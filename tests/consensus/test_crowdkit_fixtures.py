"""Reproduce crowd-kit's own expected outputs (tests/fixtures/consensus/crowdkit, Apache-2.0)."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tasks.consensus.dawid_skene import DawidSkene
from tasks.consensus.glad import GLAD
from tasks.consensus.majority_vote import MajorityVote, WeightedMajorityVote
from tasks.consensus.one_coin import OneCoinDawidSkene

from .conftest import (
    CROWDKIT,
    SIMPLE_CLASSES,
    TOY_CLASSES,
    answers,
    as_dict,
    gold,
    read_csv,
)


def _labels(path):
    return as_dict(read_csv(path), "task", "agg_label")


def _probas(path):
    t = read_csv(path)
    return {c: dict(zip(t["task"].to_pylist(), map(float, t[c].to_pylist())))
            for c in t.column_names if c != "task"}


def _skills(path):
    t = read_csv(path)
    return {w: float(s) for w, s in zip(t["worker"].to_pylist(), t[t.column_names[1]].to_pylist())}


def _check_probas(ours: pa.Table, expected: dict, atol: float):
    for cls, per_task in expected.items():
        got = as_dict(ours, "item_id", cls)
        for task, p in per_task.items():
            assert got[task] == pytest.approx(p, abs=atol), (cls, task)


def _check_labels(ours: pa.Table, expected: dict):
    assert as_dict(ours, "item_id", "label") == expected


DATASETS = [("toy", TOY_CLASSES), ("simple", SIMPLE_CLASSES)]


@pytest.mark.parametrize("name,classes", DATASETS)
def test_majority_vote(name, classes):
    votes = answers(CROWDKIT / "inputs" / f"{name}_answers_df.csv")
    mv = MajorityVote(classes)
    _check_labels(mv.fit_predict(votes), _labels(CROWDKIT / "expected_mv" / f"{name}_labels_result_mv.csv"))
    _check_probas(mv.probas_, _probas(CROWDKIT / "expected_mv" / f"{name}_probas_result_mv.csv"), 1e-5)
    assert as_dict(mv.skills_, "source_id", "skill") == pytest.approx(
        _skills(CROWDKIT / "expected_mv" / f"{name}_skills_result_mv.csv"), abs=1e-5)


@pytest.mark.parametrize("name,classes", DATASETS)
def test_wawa(name, classes):
    votes = answers(CROWDKIT / "inputs" / f"{name}_answers_df.csv")
    wawa = WeightedMajorityVote(classes, mode="wawa")
    d = CROWDKIT / "expected_wawa"
    _check_labels(wawa.fit_predict(votes), _labels(d / f"{name}_labels_result_wawa.csv"))
    _check_probas(wawa.probas_, _probas(d / f"{name}_probas_result_wawa.csv"), 1e-5)
    assert as_dict(wawa.skills_, "source_id", "skill") == pytest.approx(_skills(d / f"{name}_skills_result_wawa.csv"), abs=1e-5)


@pytest.mark.parametrize("name,classes", DATASETS)
def test_gold_majority_vote(name, classes):
    votes = answers(CROWDKIT / "inputs" / f"{name}_answers_df.csv")
    g = gold(CROWDKIT / "inputs" / f"{name}_gold_df.csv")
    gmv = WeightedMajorityVote(classes, mode="gold")
    d = CROWDKIT / "expected_gold_mv"
    _check_labels(gmv.fit_predict(votes, gold=g), _labels(d / f"{name}_labels_result_gold.csv"))
    _check_probas(gmv.probas_, _probas(d / f"{name}_probas_result_gold.csv"), 1e-5)
    assert as_dict(gmv.skills_, "source_id", "skill") == pytest.approx(_skills(d / f"{name}_skills_result_gold.csv"), abs=1e-5)


def test_gold_majority_vote_with_two_accepted_gold_labels():
    votes = answers(CROWDKIT / "inputs" / "multiple_gt_df.csv")
    g = gold(CROWDKIT / "inputs" / "multiple_gt_gt.csv")
    gmv = WeightedMajorityVote(("l1", "l2", "l3"), mode="gold")
    d = CROWDKIT / "expected_gold_mv"
    _check_labels(gmv.fit_predict(votes, gold=g), _labels(d / "multiple_gt_aggregated.csv"))
    assert as_dict(gmv.skills_, "source_id", "skill") == pytest.approx(_skills(d / "multiple_gt_skills.csv"))


@pytest.mark.parametrize("n_iter", [0, 1])
def test_dawid_skene_step_by_step(n_iter):
    d = CROWDKIT / "expected_ds_step_by_step"
    ds = DawidSkene(TOY_CLASSES, max_iter=n_iter, smoothing=0.0, diagonal_prior=0.0)
    _check_labels(ds.fit_predict(answers(d / "data.csv")), _labels(d / f"tasks_labels_iter_{n_iter}.csv"))
    _check_probas(ds.probas_, _probas(d / f"probas_iter_{n_iter}.csv"), 0.005)
    priors = read_csv(d / f"priors_iter_{n_iter}.csv")
    assert as_dict(ds.priors_, "label", "prior") == pytest.approx(
        {k: float(v) for k, v in as_dict(priors, "label", "prior").items()}, abs=0.005)
    errors = read_csv(d / f"errors_iter_{n_iter}.csv")
    conf = ds.confusions_
    for row in errors.to_pylist():
        for true in TOY_CLASSES:
            cell = conf.filter(pc.and_(pc.and_(pc.equal(conf["source_id"], row["worker"]),
                                               pc.equal(conf["label"], row["label"])),
                                       pc.equal(conf["true_label"], true)))
            assert cell["prob"][0].as_py() == pytest.approx(float(row[true]), abs=0.005)


def test_glad_e_step_on_single_task(simple):
    one = simple.filter(pc.equal(simple["item_id"], "1231239876--5fac0d234ffb2f3b00893eec"))
    probas = GLAD(("goose", "parrot"), max_iter=0).fit_predict_proba(one)
    expected = read_csv(CROWDKIT / "expected_glad" / "single_task_simple_df_e_step_probas.csv")
    assert probas["goose"][0].as_py() == pytest.approx(float(expected["0"][0].as_py()), abs=1e-6)
    assert probas["parrot"][0].as_py() == pytest.approx(float(expected["1"][0].as_py()), abs=1e-6)


@pytest.mark.parametrize("name,classes", DATASETS)
@pytest.mark.parametrize("method,cls", [("DawidSkene", DawidSkene), ("OneCoinDawidSkene", OneCoinDawidSkene),
                                        ("GLAD", GLAD)])
def test_same_labels_as_crowdkit_and_close_probabilities(name, classes, method, cls):
    """crowd-kit 1.4.2 outputs (generated_crowdkit_outputs): labels equal, probas near.

    The tolerance (mean absolute difference) is loose on purpose: crowd-kit stops EM earlier (it stops as soon as its
    objective falls) and GLAD's M-step optimiser differs, so only a confident agreement is asserted.
    """
    votes = answers(CROWDKIT / "inputs" / f"{name}_answers_df.csv")
    d = CROWDKIT / "generated_crowdkit_outputs"
    model = cls(classes)
    _check_labels(model.fit_predict(votes), _labels(d / f"{name}_{method}_labels.csv"))
    diffs = [abs(as_dict(model.probas_, "item_id", cls_)[task] - p)
             for cls_, per_task in _probas(d / f"{name}_{method}_probas.csv").items()
             for task, p in per_task.items()]
    assert np.mean(diffs) < 0.05


@pytest.mark.parametrize("cls", [DawidSkene, OneCoinDawidSkene, GLAD])
def test_em_methods_recover_ground_truth(cls, toy, toy_truth, simple, simple_truth):
    assert as_dict(cls(TOY_CLASSES).fit_predict(toy), "item_id", "label") == toy_truth
    assert as_dict(cls(SIMPLE_CLASSES).fit_predict(simple), "item_id", "label") == simple_truth


def test_ds_overlap_case_gives_exact_shares():
    """crowd-kit's overlap test: 3 items x 300 sources, 'yes' unless (source - item) % 3 == 0."""
    n = 300
    s, i = np.meshgrid(np.arange(n), np.arange(3), indexing="ij")
    lab = np.where((s - i) % 3 != 0, "yes", "no")
    votes = pa.table({"item_id": i.ravel().astype(str), "source_id": s.ravel().astype(str), "label": lab.ravel()})
    ds = DawidSkene(TOY_CLASSES, max_iter=20, smoothing=0.0, diagonal_prior=0.0)  # crowd-kit: plain ML
    probas = ds.fit_predict_proba(votes)
    assert np.allclose(probas["yes"].to_numpy(), 2 / 3, atol=0.005)
    assert as_dict(ds.priors_, "label", "prior") == pytest.approx({"no": 1 / 3, "yes": 2 / 3}, abs=0.005)
