"""Box consolidation through the facet's `run` (Arrow in, Arrow out) on hand-computed cases."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from flows.consensus import consensus_report_markdown
from tasks.consensus.errors import ConsensusError
from tasks.consensus.gold import wilson_interval
from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings, run_consensus
from tasks.kinds import get
from tasks.kinds.boxes.geometry import iou_matrix

LABELS = ("car", "person")
_COLS = ["item_id", "source_id", "source_kind", "answer"]


def B(*boxes) -> str:
    return json.dumps([{"x": x, "y": y, "w": w, "h": h, "label": lab} for x, y, w, h, lab in boxes])


def votes(rows) -> pa.Table:
    return pa.table({k: pa.array([r[j] for r in rows], pa.string()) for j, k in enumerate(_COLS)})


def accepted(rows=()) -> pa.Table:
    return pa.table({"item_id": pa.array([r[0] for r in rows], pa.string()),
                     "answer": pa.array([r[1] for r in rows], pa.string())})


def settings(**kw) -> ConsensusSettings:
    return ConsensusSettings(classes=LABELS, kind="boxes", method="dawid_skene", **kw)


def run(v, gold=(), scoring=None, **kw):
    scoring = v.slice(0, 0) if scoring is None else scoring
    return run_consensus(settings(**kw), ConsensusInputs(v, scoring, accepted(gold), accepted()))


def row(out, item):
    return next(r for r in out.labels.to_pylist() if r["item_id"] == item)


def test_two_annotators_agreeing_give_one_fused_box():
    v = votes([("i", "a", "human", B((10, 10, 50, 40, "car"))), ("i", "b", "human", B((14, 12, 50, 40, "car")))])
    out = run(v)
    r = row(out, "i")
    boxes = json.loads(r["answer"])
    assert len(boxes) == 1
    b = boxes[0]
    # Equal learned weights: the fused box is the mean of the two.
    assert (b["x"], b["y"], b["w"], b["h"], b["label"]) == (12.0, 11.0, 50.0, 40.0, "car")
    assert b["sources"] == ["a", "b"] and 0.5 < b["confidence"] <= 1.0
    assert r["method"] == "box_dawid_skene" and r["n_votes"] == 2 and r["agreement"] == 1.0


def test_an_object_missed_by_one_is_kept_and_a_lone_invention_is_dropped():
    car, person = (10, 10, 60, 40, "car"), (200, 100, 30, 80, "person")
    rows = []
    for k in range(40):  # a history: a and b are thorough, c misses people and d invents boxes
        it = f"h{k}"
        rows += [(it, "a", "human", B(car, person)), (it, "b", "human", B(car, person)),
                 (it, "c", "human", B(car)), (it, "d", "human", B(car, person, (400 + k, 300, 40, 40, "car")))]
    rows += [("i", "a", "human", B(car, person)), ("i", "c", "human", B(car)),
             ("i", "d", "human", B(car, (500, 20, 30, 30, "person")))]
    out = run(votes(rows))
    got = json.loads(row(out, "i")["answer"])
    assert [(b["x"], b["y"], b["w"], b["h"], b["label"]) for b in got] == [car, person]
    kept_person = got[1]
    assert kept_person["sources"] == ["a"] and kept_person["confidence"] > 0.5
    learned = {r["source_id"]: json.loads(r["confusion"])["learned"] for r in out.source_stats.to_pylist()}
    assert learned["c"]["recall"] < 0.7 < learned["a"]["recall"]
    assert learned["d"]["precision"] < 0.8 < learned["a"]["precision"]


def test_gold_scores_by_hand_and_a_spammer_is_banned():
    truth = {f"g{k}": B((10, 10, 100, 50, "car"), (200, 200, 50, 100, "person")) for k in range(6)}
    rows = []
    for k, (g, ans) in enumerate(truth.items()):
        rows.append((g, "good", "human", B((12, 10, 100, 50, "car"), (200, 200, 50, 100, "person"))))
        rows.append((g, "spam", "human", B((400, 10 + k, 20, 20, "person"))))
    v = votes(rows)
    out = run(v, gold=list(truth.items()), scoring=v, min_answers_for_ban=5, ban_below=0.6)
    stats = {r["source_id"]: r for r in out.source_stats.to_pylist()}
    good = json.loads(stats["good"]["confusion"])["gold"]
    spam = json.loads(stats["spam"]["confusion"])["gold"]
    assert (good["tp"], good["fp"], good["fn"]) == (12, 0, 0) and good["precision"]["value"] == 1.0
    # The shifted car: IoU = (98 x 50) / (102 x 50); localisation error is its mean 1 - IoU over 12 matches.
    assert good["loc_error"] == pytest.approx((1 - 98 / 102) / 2)
    assert (spam["tp"], spam["fp"], spam["fn"]) == (0, 6, 12)
    low, high = wilson_interval(np.array([0.0]), np.array([9.0]))  # F1 cells: TP + (FP + FN) / 2
    assert (stats["spam"]["gold_low"], stats["spam"]["gold_high"]) == pytest.approx((low[0], high[0]))
    rlow, rhigh = wilson_interval(np.array([0.0]), np.array([12.0]))
    assert (spam["recall"]["low"], spam["recall"]["high"]) == pytest.approx((rlow[0], rhigh[0]))
    assert out.new_bans["source_id"].to_pylist() == ["spam"]
    ev = json.loads(out.new_bans["evidence"][0].as_py())
    assert ev["tp"] == 0 and ev["high"] < 0.6
    assert stats["spam"]["learned_accuracy"] is None  # banned: no longer in the fit
    r = row(out, "g0")
    assert r["method"] == "gold" and r["confidence"] == 1.0 and r["decision"] == "resolved"
    assert [b["sources"] for b in json.loads(r["answer"])] == [["gold"], ["gold"]]


def test_gold_pins_learning_so_a_precise_hand_weighs_more():
    # On gold, "p" draws exactly, "s" is 12 px off; on a new item the fused box leans to "p".
    gold_box = (100, 100, 80, 60, "car")
    rows, gold = [], []
    for k in range(20):
        g = f"g{k}"
        gold.append((g, B(gold_box)))
        rows += [(g, "p", "human", B(gold_box)), (g, "s", "human", B((112, 112, 80, 60, "car")))]
    rows += [("n", "p", "human", B((0, 0, 80, 60, "car"))), ("n", "s", "human", B((12, 0, 80, 60, "car")))]
    v = votes(rows)
    out = run(v, gold=gold, scoring=v)
    b = json.loads(row(out, "n")["answer"])[0]
    assert b["x"] < 3.0  # far nearer p's 0 than the mean 6
    learned = {r["source_id"]: json.loads(r["confusion"])["learned"] for r in out.source_stats.to_pylist()}
    assert learned["p"]["weight"] > 5 * learned["s"]["weight"]  # shrunk toward the pooled error: not infinite


def test_agreement_by_hand():
    # a: car + person; b: the same car shifted by 10 px, no person. One match of IoU 90*50 / (110*50).
    v = votes([("i", "a", "human", B((0, 0, 100, 50, "car"), (300, 300, 20, 40, "person"))),
               ("i", "b", "human", B((10, 0, 100, 50, "car")))])
    out = run(v)
    f1 = out.agreement["box_f1"]
    assert f1["n_pairs"] == 1 and f1["f1"] == pytest.approx(2 * 1 / 3, abs=1e-6)
    assert f1["mean_iou"] == pytest.approx(90 / 110, abs=1e-6)
    per = {r["label"]: r for r in f1["by_label"]}
    assert per["car"]["f1"] == 1.0 and per["person"]["f1"] == 0.0
    lines = get("boxes").consensus.summary_lines(out.agreement)
    assert lines[0].startswith("Box F1 between annotators (1 pairs") and "0.667" in lines[0]
    assert "car 1.000/0.818" in lines[1]
    # The run's report says what was measured (box F1), not an alpha that boxes do not measure.
    report = consensus_report_markdown({"method": "box_dawid_skene", "agreement": out.agreement}, lines)
    assert "- Box F1 between annotators" in report and "Krippendorff" not in report


def test_empty_answers_agree_on_no_objects():
    v = votes([("e", "a", "human", B()), ("e", "b", "human", B()), ("e", "c", "human", B())])
    r = row(run(v), "e")
    assert r["answer"] == "[]" and r["agreement"] == 1.0


def test_bad_input_names_item_and_source():
    with pytest.raises(ConsensusError, match=r"item 'i', source 'a'.*'truck'"):
        run(votes([("i", "a", "human", B((0, 0, 5, 5, "truck")))]))
    with pytest.raises(ConsensusError, match=r"item 'j', source 'b'.*not a list of boxes"):
        run(votes([("j", "b", "human", '[{"x": 1, "y": 2, "w": -3, "h": 4, "label": "car"}]')]))


def test_calibrated_on_a_simulated_crowd_and_spammers_learned():
    import random

    from tasks.consensus.calibration import expected_calibration_error
    from tasks.kinds.boxes.simulation import BoxErrors, simulate_boxes

    rng = random.Random(11)
    pool = [BoxErrors(jitter=0.04, miss=0.15, wrong_class=0.08, false_pos=0.15)] * 6 \
        + [BoxErrors(false_pos=1.5, spammer="uniform")] * 2
    truth, rows = {}, []
    for i in range(400):
        t = [(60.0 + 150 * k, 40.0 + 30 * (i % 5), 80.0, 60.0, rng.choice(LABELS)) for k in range(rng.randint(0, 3))]
        truth[str(i)] = t
        for a in rng.sample(range(len(pool)), 4):
            rows.append((str(i), f"s{a}", "human", B(*simulate_boxes(t, LABELS, rng, pool[a]))))
    out = run(votes(rows))
    conf, ok, iconf, iok = [], [], [], []
    for r in out.labels.to_pylist():
        got = json.loads(r["answer"])
        t = truth[r["item_id"]]
        right = []
        for b in got:
            hit = [iou_matrix(np.array([[b["x"], b["y"], b["w"], b["h"]]]), np.array([x[:4]]))[0, 0] >= 0.5
                   and x[4] == b["label"] for x in t]
            right.append(any(hit))
            conf.append(b["confidence"])
        ok += right
        iconf.append(r["confidence"])
        iok.append(all(right) and len(got) == len(t))
    # Half the lone boxes here are real (two careful annotators, one misses 15%) and half invented: the
    # confidence must say so rather than keep them all or drop them all.
    assert np.mean(ok) > 0.85 and np.mean(iok) > 0.75
    assert expected_calibration_error(np.array(conf), np.array(ok, float)) < 0.08
    assert expected_calibration_error(np.array(iconf), np.array(iok, float)) < 0.12
    learned = {r["source_id"]: json.loads(r["confusion"])["learned"] for r in out.source_stats.to_pylist()}
    assert max(learned[f"s{k}"]["precision"] for k in (6, 7)) < 0.2 < min(learned[f"s{k}"]["precision"] for k in range(6))



def test_answer_options_reach_the_facet():
    # Two boxes at IoU 0.75: one object at the default match_iou (0.5), two lone candidates at 0.8.
    v = votes([("i", "a", "human", B((0, 0, 100, 100, "car"))), ("i", "b", "human", B((0, 0, 100, 75, "car")))])
    one = run(v)
    assert len(json.loads(row(one, "i")["answer"])) == 1 and row(one, "i")["agreement"] == 1.0
    two = run(v, answer={"match_iou": 0.8})
    assert row(two, "i")["agreement"] < 1.0 and two.agreement["box_f1"]["f1"] == 0.0
    with pytest.raises(ValueError, match="match_iou"):
        run(v, answer={"match_iou": 1.5})
