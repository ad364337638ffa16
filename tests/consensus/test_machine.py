"""Machine evidence in consensus (one calibrated source), and identical runs giving identical outputs."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bench.routed import simulate
from tasks.consensus.dawid_skene import DawidSkene
from tasks.consensus.pipeline import ConsensusSettings, run_consensus
from tasks.store import open_store
from tests.consensus.test_stage import read, run, seed


def _prelabels(cfg, probs: dict[str, float]):
    """Pre-label rows as the prelabel stage writes them: P(spam) per item, routed to people when unsure."""
    with open_store(cfg.db_path) as con:
        con.executemany(
            "INSERT INTO prelabels (item_id, label, confidence, probs, route, n_sources, combiner)"
            " VALUES (?, ?, ?, ?, ?, 3, 'log_odds')",
            [[i, "spam" if p >= 0.5 else "ham", max(p, 1 - p), json.dumps({"ham": 1 - p, "spam": p}),
              "human" if max(p, 1 - p) < 0.95 else "auto"] for i, p in probs.items()])


def _typical_project(make_project, evidence: str, rng_seed: int = 0):
    """Easy items the rules and model agree on, and unsure items two people label.

    The model learnt from the rules, so on every item the two rules say what the model says:
    three correlated machine votes. On the unsure items the machine is right 60% of the time at
    about 0.55-0.65 confidence; the people are right 9 times in 10. Item ``x``: two people say
    ham, the model says spam at 0.54, both rules follow it.
    """
    rng = np.random.default_rng(rng_seed)
    cfg = make_project(consensus={"method": "label_model", "bootstrap": 0, "machine_evidence": evidence},
                       state={"dir": f".annoflow-{evidence}"})
    votes, probs, truth = [], {}, {}
    flip = {"ham": "spam", "spam": "ham"}
    for j in range(120):  # easy: the machines agree and are right
        i, t = f"e{j:03d}", ("spam" if j % 2 else "ham")
        probs[i] = 0.99 if t == "spam" else 0.01
        votes += [(i, s, k, t) for s, k in (("model:m", "model"), ("lf:a", "lf"), ("lf:b", "lf"))]
    for j in range(60):  # unsure: routed to two people
        i, t = f"u{j:03d}", ("spam" if j % 3 == 0 else "ham")
        m = t if rng.random() < 0.6 else flip[t]
        p = rng.uniform(0.54, 0.66)
        probs[i] = p if m == "spam" else 1 - p
        votes += [(i, s, k, m) for s, k in (("model:m", "model"), ("lf:a", "lf"), ("lf:b", "lf"))]
        # Pairs rotate: with fixed pairs two answers per item cannot tell who is right (the model
        # is not identifiable and any fit of the people is as good as another).
        for h in (f"human:{j % 6}", f"human:{(j + 1 + (j // 6) % 5) % 6}"):
            votes.append((i, h, "human", t if rng.random() < 0.9 else flip[t]))
        truth[i] = t
    truth["x"] = "ham"
    probs["x"] = 0.54
    votes += [("x", s, k, "spam") for s, k in (("model:m", "model"), ("lf:a", "lf"), ("lf:b", "lf"))]
    votes += [("x", "human:0", "human", "ham"), ("x", "human:1", "human", "ham")]
    seed(cfg, votes)
    _prelabels(cfg, probs)
    return cfg, truth


def test_agreeing_people_not_overruled_by_an_unsure_correlated_machine(make_project):
    before, truth = _typical_project(make_project, "votes")
    run(before)
    after, _ = _typical_project(make_project, "calibrated")
    out = run(after)
    assert read(before, "SELECT label FROM labels WHERE item_id = 'x'") == [("spam",)]  # the old way: overruled
    assert read(after, "SELECT label, n_votes, n_human FROM labels WHERE item_id = 'x'") == [("ham", 5, 2)]
    got = {b: dict(read(cfg, "SELECT item_id, label FROM labels WHERE item_id LIKE 'u%'")) for b, cfg in
           (("before", before), ("after", after))}
    acc = {b: np.mean([g[i] == truth[i] for i in g]) for b, g in got.items()}
    assert acc["after"] > acc["before"]
    machine = out["fit"]["machine"]
    # Fitted where people looked (the unsure items and x, not the easy ones): worth little there,
    # and not made more sure than its 0.54-0.66 (right 60% of the time).
    assert machine["n_items"] == 61 and machine["bands"][0] == 0.7
    assert machine["calibrated_confidence"] < 0.7 and machine["scale"][0] < 1.2


@pytest.mark.parametrize("accuracy", [0.6, 0.9])
def test_routed_items_at_least_as_accurate_as_people_alone(accuracy):
    classes, inputs, routed, truth = simulate(accuracy, seed=11, n_items=1500)
    labels = run_consensus(ConsensusSettings(classes=tuple(classes), bootstrap=0), inputs).labels
    ours = dict(zip(labels["item_id"].to_pylist(), labels["label"].to_pylist()))
    human = inputs.votes.filter(pc.equal(inputs.votes["source_kind"], "human"))
    ds = DawidSkene(classes).fit(human.select(["item_id", "source_id", "label"]), inputs.gold).labels_
    alone = dict(zip(ds["item_id"].to_pylist(), ds["label"].to_pylist()))
    acc_ours = np.mean([ours[i] == truth[i] for i in routed])
    acc_alone = np.mean([alone[i] == truth[i] for i in routed])
    assert len(routed) > 300
    assert acc_ours >= acc_alone


def test_identical_runs_identical_outputs(make_project):
    """Same data written in two orders into two files: every output of the stage is equal."""
    rng = np.random.default_rng(3)
    votes = []
    for j in range(80):
        t = "spam" if j % 3 == 0 else "ham"
        for h in rng.choice(6, size=int(rng.integers(2, 5)), replace=False):
            votes.append((f"i{j:02d}", f"human:{h}", "human", t if rng.random() < 0.8 else "spam"))
        votes.append((f"i{j:02d}", "lf:a", "lf", "spam" if rng.random() < 0.5 else None))
    gold = [(f"i{j:02d}", "spam" if j % 3 == 0 else "ham") for j in range(0, 80, 8)]
    outputs = []
    for name, order in (("a", votes), ("b", [votes[k] for k in rng.permutation(len(votes))])):
        cfg = make_project(consensus={"bootstrap": 300}, state={"dir": f".annoflow-{name}"})
        seed(cfg, order, gold)
        out = run(cfg)
        outputs.append((
            read(cfg, "SELECT * EXCLUDE (updated_at, run_id) FROM labels ORDER BY item_id"),
            read(cfg, "SELECT * EXCLUDE (updated_at) FROM source_stats ORDER BY source_id"),
            read(cfg, "SELECT fit, agreement, decisions, params FROM consensus_state"),
            json.dumps(out["agreement"], sort_keys=True)))
    assert outputs[0][3] == outputs[1][3] and json.loads(outputs[0][3])["low"] is not None
    assert outputs[0] == outputs[1]


def test_core_agreement_ignores_input_order():
    """The core alone: the same votes shuffled give the same agreement interval, pairs and labels."""
    classes, inputs, _routed, _truth = simulate(0.7, seed=5, n_items=600)
    s = ConsensusSettings(classes=tuple(classes), bootstrap=200, min_shared_for_kappa=5)
    shuffled = inputs.votes.take(pa.array(np.random.default_rng(0).permutation(inputs.votes.num_rows)))
    a = run_consensus(s, inputs)
    b = run_consensus(s, type(inputs)(**{**inputs.__dict__, "votes": shuffled}))
    assert a.agreement == b.agreement and a.agreement["low"] is not None and a.agreement["pairs"]["n_pairs"] > 0
    la, lb = a.labels.sort_by("item_id"), b.labels.sort_by("item_id")
    for col in ("item_id", "label", "decision", "n_votes", "n_human", "agreement"):
        assert la[col].equals(lb[col]), col
    # EM sums in another order: equal to rounding, not necessarily to the last bit
    np.testing.assert_allclose(la["confidence"].to_numpy(), lb["confidence"].to_numpy(), atol=1e-9)


def _people_and_machine(machine_signal: float, sharpness: float = 1.0, rng_seed: int = 0, n: int = 2000):
    """Two people at 0.8 on every item, and a pre-label whose log-odds carry ``machine_signal`` of the
    truth, scaled by ``sharpness`` (below 1: under-confident)."""
    from tasks.consensus.votes import encode_votes

    rng = np.random.default_rng(rng_seed)
    y = rng.integers(0, 2, n)
    logit = machine_signal * (2 * y - 1) + rng.normal(0, 1.0, n)
    p = 1 / (1 + np.exp(-sharpness * logit))
    z = np.log(np.clip(np.column_stack([1 - p, p]), 1e-6, 1))
    items = [f"i{j:05d}" for j in range(n)]
    rows = [(items[j], f"h{(j + d) % 10}", ["ham", "spam"][y[j] if rng.random() < 0.8 else 1 - y[j]])
            for j in range(n) for d in (0, 1)]
    people = encode_votes(pa.table({"item_id": [r[0] for r in rows], "source_id": [r[1] for r in rows],
                                    "label": [r[2] for r in rows]}), ("ham", "spam"))
    return z, people, y


def test_calibration_follows_what_the_machine_is_worth():
    from tasks.consensus.machine import bands, calibrated_probs, fit_calibration

    n = 2000
    no_gold, everywhere = np.full(n, -1), np.ones(n, dtype=bool)
    # A pre-label that says 0.9 or 0.1 at random: worth nothing, whatever its confidence says.
    z, people, _ = _people_and_machine(0.0)
    z = np.where(np.random.default_rng(1).random((n, 1)) < 0.5, np.log([[0.1, 0.9]]), np.log([[0.9, 0.1]]))
    scale, _bias = fit_calibration(z, everywhere, people, no_gold, everywhere)
    assert np.unique(bands(z)).tolist() == [2] and scale[2] < 0.3  # its band; empty bands keep the prior
    # One that is right more often than its probabilities say: trusted more than face value.
    z, people, y = _people_and_machine(3.0, sharpness=1 / 3)
    scale, bias = fit_calibration(z, everywhere, people, no_gold, everywhere)
    c = calibrated_probs(z, scale, bias)
    assert c.max(axis=1).mean() > np.exp(z).max(axis=1).mean() + 0.05
    right = c.argmax(axis=1) == y
    assert abs(c.max(axis=1).mean() - right.mean()) < 0.03  # calibrated: confidence matches accuracy
