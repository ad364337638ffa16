"""The rating kind's consensus facet on simulated crowds: a consensus on gold's scale whose confidence is
calibrated, each rater's leniency and range recovered, a useless rater banned by the shared rule, ordinal
and interval alpha and weighted kappa in the agreement, gold MAE and exact rate with intervals."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tasks.consensus.calibration import expected_calibration_error
from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings
from tasks.kinds import get
from tasks.kinds.rating.consensus import RatingModel
from tasks.kinds.rating.simulation import Rater, simulate_ratings

KIND = get("rating")
RATERS = {"careful": Rater(noise=0.4), "lenient": Rater(bias=1.0, noise=0.4), "compressed": Rater(scale=0.5, noise=0.4),
          "noisy": Rater(noise=1.0), "stuck": Rater(bias=-10.0, noise=0.0)}
EMPTY = pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())})


def _crowd(n_items: int, n_gold: int, seed: int = 3, raters=RATERS):
    crowd = simulate_ratings(np.random.default_rng(seed), list(raters.values()), n_items, per_item=3)
    names = dict(zip([f"rater{k:03d}" for k in range(len(raters))], raters))
    r = crowd.ratings
    votes = pa.table({"item_id": r["item_id"], "source_id": pa.array([names[s] for s in r["source_id"].to_pylist()]),
                      "source_kind": pa.array(["human"] * r.num_rows),
                      "answer": pa.array([json.dumps({"score": int(x)}) for x in r["score"].to_pylist()])})
    true = np.clip(np.round(crowd.truth["score"].to_numpy()), 1, 5).astype(int)
    ids = crowd.truth["item_id"].to_pylist()
    gold = pa.table({"item_id": ids[:n_gold], "answer": [json.dumps({"score": int(t)}) for t in true[:n_gold]]})
    scoring = votes.filter(pc.is_in(votes["item_id"], value_set=gold["item_id"]))
    return ConsensusInputs(votes=votes, scoring_votes=scoring, gold=gold, adjudications=EMPTY), dict(zip(ids, true))


def _settings(**answer) -> ConsensusSettings:
    return ConsensusSettings(classes=("a", "b"), kind="rating", target_confidence=0.8, answer=answer)


def test_consensus_calibrated_bias_recovered_and_stuck_rater_banned() -> None:
    inputs, truth = _crowd(3000, 400)
    out = KIND.consensus.run(inputs, _settings(scale=[1, 5]), {})
    labels = out.labels.filter(pc.equal(out.labels["method"], "rating_model"))
    score = np.array([json.loads(a)["score"] for a in labels["answer"].to_pylist()])
    true = np.array([truth[i] for i in labels["item_id"].to_pylist()])
    conf = labels["confidence"].to_numpy()
    right = score == true
    # The stuck rater (always 1) is banned on gold, so its votes do not count.
    assert out.new_bans["source_id"].to_pylist() == ["stuck"]
    assert not any("stuck" in s for s in labels["sources"].to_pylist())
    # Calibrated: the confidence is the rate at which the score is the true one.
    ece = expected_calibration_error(conf, right)
    assert abs(conf.mean() - right.mean()) < 0.05 and ece < 0.06, (conf.mean(), right.mean(), ece)
    # Better than rounding the mean of the (unbanned) raters' scores.
    v = inputs.votes.filter(pc.invert(pc.equal(inputs.votes["source_id"], "stuck")))
    flat = pa.table({"item_id": v["item_id"], "s": pa.array([json.loads(a)["score"] for a in v["answer"].to_pylist()])})
    mean = dict(zip(*flat.group_by("item_id").aggregate([("s", "mean")]).to_pydict().values()))
    naive = np.array([int(np.clip(np.floor(mean[i] + 0.5), 1, 5)) for i in labels["item_id"].to_pylist()])
    assert right.mean() > (naive == true).mean() + 0.05, (right.mean(), (naive == true).mean())
    # Decisions: confident items resolve, unsure ones ask for another rating (adaptive overlap).
    decisions = dict(zip(*np.unique(labels["decision"].to_numpy(zero_copy_only=False), return_counts=True)))
    assert decisions.get("resolved", 0) > 0 and decisions.get("needs_more", 0) > 0, decisions
    assert np.all(conf[labels["decision"].to_numpy(zero_copy_only=False) == "resolved"] >= 0.8)
    # Per-rater leniency and range on gold's scale; gold MAE and exact rate with intervals.
    stats = {r["source_id"]: r for r in out.source_stats.to_pylist()}
    learned = {s: json.loads(r["confusion"])["learned"] for s, r in stats.items() if r["learned_accuracy"] is not None}
    # leniency = extra points on a mid-scale item (the lenient rater's +1 is clipped at 5 on the best items)
    assert abs(learned["careful"]["leniency"]) < 0.2 and 0.7 < learned["lenient"]["leniency"] < 1.2, learned
    assert abs(learned["compressed"]["leniency"]) < 0.2, learned
    assert abs(learned["compressed"]["scale"] - 0.5) < 0.15 and abs(learned["careful"]["scale"] - 1) < 0.15, learned
    assert learned["noisy"]["noise"] > 1.5 * learned["careful"]["noise"]
    gold = {s: json.loads(r["confusion"])["gold"] for s, r in stats.items()}
    for g in gold.values():
        assert g["mae_low"] <= g["mae"] <= g["mae_high"] and g["exact_low"] <= g["exact"] <= g["exact_high"]
    assert gold["careful"]["mae"] < gold["noisy"]["mae"] < gold["stuck"]["mae"]
    assert stats["stuck"]["gold_high"] < 0.6 <= stats["careful"]["gold_low"]
    # Agreement among the counting raters: ordinal and interval alpha, weighted kappa per pair.
    a = out.agreement
    assert a["alpha"] == a["alpha_ordinal"] and 0 < a["alpha_ordinal"] < 1 and 0 < a["alpha_interval"] < 1
    assert a["pairs"]["n_pairs"] == 6 and 0 < a["pairs"]["mean_kappa"] < 1, a["pairs"]
    assert not any("stuck" in (p["source_a"], p["source_b"]) for p in a["pairs"]["lowest"])
    assert a["gold"]["n"] == 400 and abs(a["gold"]["mean_confidence"] - a["gold"]["exact_rate"]) < 0.1
    lines = KIND.consensus.summary_lines(a)
    assert lines[0].startswith("Krippendorff's alpha: ordinal") and any("Weighted kappa" in x for x in lines)
    assert out.fit["gold_anchor"]["n_gold_units"] == 400


def test_criteria_units_and_conflict_view() -> None:
    rng = random.Random(5)
    votes, gold = [], []
    for k in range(60):
        t = {"accuracy": 1 + k % 5, "fluency": 1 + (k * 2) % 5}
        for s in ("a", "b", "c"):
            noisy = {c: min(5, max(1, v + (rng.choice([-1, 0, 0, 0, 1]) if s != "a" else 0))) for c, v in t.items()}
            votes.append({"item_id": f"i{k:02d}", "source_id": s, "source_kind": "human", "answer": json.dumps({"scores": noisy})})
        if k < 15:
            gold.append({"item_id": f"i{k:02d}", "answer": json.dumps({"scores": t})})
    v = pa.Table.from_pylist(votes)
    g = pa.Table.from_pylist(gold)
    inputs = ConsensusInputs(votes=v, scoring_votes=v.filter(pc.is_in(v["item_id"], value_set=g["item_id"])), gold=g,
                             adjudications=EMPTY)
    out = KIND.consensus.run(inputs, _settings(criteria=["fluency", "accuracy"]), {})
    rows = {r["item_id"]: r for r in out.labels.to_pylist()}
    assert rows["i00"]["method"] == "gold" and rows["i00"]["confidence"] == 1.0
    ans = json.loads(rows["i40"]["answer"])
    assert set(ans["scores"]) == set(ans["estimates"]) == {"accuracy", "fluency"}
    # The item is right only if every criterion is: its confidence is no more than its least sure criterion's.
    assert rows["i40"]["confidence"] <= min(e["confidence"] for e in ans["estimates"].values()) + 1e-6
    assert {r["label"] for r in out.agreement["per_label"]} == {"accuracy", "fluency"}
    post = json.loads(KIND.consensus.conflict_posterior(None, out.labels.slice(40, 1), None)[0].as_py())
    assert [p["criterion"] for p in post] == ["accuracy", "fluency"] and all(p["low"] <= p["mean"] <= p["high"] for p in post)


def test_a_score_outside_the_scale_stops_consensus_naming_it() -> None:
    from tasks.consensus.errors import ConsensusError

    v = pa.table({"item_id": ["i1"], "source_id": ["s"], "source_kind": ["human"], "answer": ['{"score": 7}']})
    with pytest.raises(ConsensusError, match="item 'i1', source 's': answer.score = 7"):
        KIND.consensus.run(ConsensusInputs(votes=v, scoring_votes=v.slice(0, 0), gold=EMPTY, adjudications=EMPTY),
                           _settings(), {})


def test_simulated_rater_answers_on_the_scale() -> None:
    sim = KIND.simulation
    rng = random.Random(1)
    good, spam, const = sim.annotator(1.0, [], rng, None), sim.annotator(0.5, [], rng, "uniform"), sim.annotator(0.5, [], rng, "constant")
    got = [sim.answer(good, '{"score": 4}', rng, [], None)["score"] for _ in range(200)]
    assert np.mean(np.array(got) == 4) > 0.9
    assert {sim.answer(const, {"scores": {"x": 5}}, rng, [], None)["scores"]["x"] for _ in range(20)} == {3}
    assert len({sim.answer(spam, {"score": 5}, rng, [], None)["score"] for _ in range(200)}) == 5


def test_facet_answers_are_the_core_models_consensus() -> None:
    # Without gold the facet adds nothing to RatingModel: per item and criterion its answer is the model's
    # rounded score with the model's interval and confidence, each source's learned bias/scale/noise is the
    # model's, and an answer agrees exactly when every score it gave is the final one. Two criteria, a
    # machine source and a rater who scored one item twice, so the per-answer grouping is exercised.
    rng = np.random.default_rng(11)
    crowd = simulate_ratings(rng, [Rater(noise=0.4), Rater(bias=0.8, noise=0.5), Rater(scale=0.6, noise=0.4),
                                   Rater(noise=1.0), Rater(spam=True)], 300, per_item=3)
    r = crowd.ratings
    second = np.clip(r["score"].to_numpy() + rng.integers(-1, 2, r.num_rows), 1, 5)
    answers = [{"item_id": i, "source_id": s, "source_kind": "machine" if s == "rater004" else "human",
                "answer": json.dumps({"scores": {"accuracy": int(x), "fluency": int(y)}})}
               for i, s, x, y in zip(r["item_id"].to_pylist(), r["source_id"].to_pylist(), r["score"].to_pylist(), second)]
    answers.append({**answers[0], "answer": json.dumps({"scores": {"accuracy": 1, "fluency": 5}})})  # a second answer
    votes = pa.Table.from_pylist(answers)
    out = KIND.consensus.run(ConsensusInputs(votes=votes, scoring_votes=votes.slice(0, 0), gold=EMPTY, adjudications=EMPTY),
                             _settings(criteria=["accuracy", "fluency"], interval=0.9), {})
    model = RatingModel((1, 5), max_iter=50, level=0.9).fit(
        pa.Table.from_pylist([{"item_id": a["item_id"], "source_id": a["source_id"], "criterion": c, "score": v}
                              for a in answers for c, v in json.loads(a["answer"])["scores"].items()]))
    core = {(u["item_id"], u["criterion"]): u for u in model.consensus_.to_pylist()}
    labels = {r["item_id"]: r for r in out.labels.to_pylist()}
    assert len(labels) == 300 and len(core) == 600
    for (item, crit), u in core.items():
        ans = json.loads(labels[item]["answer"])
        est = ans["estimates"][crit]
        assert ans["scores"][crit] == u["rounded"]
        assert est["mean"] == pytest.approx(min(max(u["score"], 1), 5), abs=1e-4)
        assert (est["low"], est["high"]) == pytest.approx((u["low"], u["high"]), abs=1e-4)
        assert est["confidence"] == pytest.approx(u["confidence"], abs=1e-6)
    for item, row in labels.items():
        conf = np.prod([core[(item, c)]["confidence"] for c in ("accuracy", "fluency")])
        assert row["confidence"] == pytest.approx(conf, abs=1e-6)
        final = json.loads(row["answer"])["scores"]
        mine = [a for a in answers if a["item_id"] == item]
        assert row["sources"] == sorted({a["source_id"] for a in mine}) and row["n_votes"] == len(row["sources"])
        assert row["n_human"] == sum(s != "rater004" for s in row["sources"])
        right = {s for s in row["sources"] if all(json.loads(a["answer"])["scores"] == final for a in mine if a["source_id"] == s)}
        assert row["agreement"] == pytest.approx(len(right) / len(row["sources"]), abs=1e-6)
    learned = {r["source_id"]: json.loads(r["confusion"])["learned"] for r in out.source_stats.to_pylist()}
    for rater in model.raters_.to_pylist():
        got = learned[rater["source_id"]]
        assert (got["bias"], got["scale"], got["noise"]) == pytest.approx((rater["bias"], rater["scale"], rater["noise"]), abs=1e-6)
    n_votes = dict(zip(out.source_stats["source_id"].to_pylist(), out.source_stats["n_votes"].to_pylist()))
    assert n_votes == {s: len({a["item_id"] for a in answers if a["source_id"] == s}) for s in n_votes}
