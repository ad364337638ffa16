"""Segment consolidation through the facet's `run` (Arrow in, Arrow out): matching and fusion on hand-computed
cases, gold precision / recall / F1 per source, bans, pairwise agreement, and calibration on a simulated crowd."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from tasks.consensus.calibration import expected_calibration_error
from tasks.consensus.errors import ConsensusError
from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings, run_consensus
from tasks.kinds import get
from tasks.kinds.regions.corners import corner_iou

LABELS = ("alice", "bob", "music")
_COLS = ["item_id", "source_id", "source_kind", "answer"]


def S(*regions) -> str:
    return json.dumps([{"start_s": s, "end_s": e, "label": lab, **(t[0] if t else {})} for s, e, lab, *t in regions])


def votes(rows) -> pa.Table:
    return pa.table({k: pa.array([r[j] for r in rows], pa.string()) for j, k in enumerate(_COLS)})


def accepted(rows=()) -> pa.Table:
    return pa.table({"item_id": pa.array([r[0] for r in rows], pa.string()),
                     "answer": pa.array([r[1] for r in rows], pa.string())})


def run(v, gold=(), scoring=None, **kw):
    s = ConsensusSettings(classes=LABELS, kind="segments", method="dawid_skene", **kw)
    return run_consensus(s, ConsensusInputs(v, v.slice(0, 0) if scoring is None else scoring, accepted(gold), accepted()))


def row(out, item):
    return next(r for r in out.labels.to_pylist() if r["item_id"] == item)


def regions(out, item):
    return [(r["start_s"], r["end_s"], r["label"]) for r in json.loads(row(out, item)["answer"])]


def test_two_annotators_agreeing_give_one_fused_region():
    # IoU of [1.0, 3.0] and [1.2, 3.4]: overlap 3.0 - 1.2 = 1.8 over union 3.4 - 1.0 = 2.4 -> 0.75 >= 0.5: one event.
    assert corner_iou(np.array([[1.0, 3.0]]), np.array([[1.2, 3.4]]))[0] == pytest.approx(0.75)
    out = run(votes([("c", "a", "human", S((1.0, 3.0, "alice"))), ("c", "b", "human", S((1.2, 3.4, "alice")))]))
    r = row(out, "c")
    got = json.loads(r["answer"])
    # Each source's boundary error (in seconds) is measured against the other's region: both are off by 0.2 s at
    # the start and 0.4 s at the end, a mean squared error of (0.04 + 0.16) / 2 = 0.1 each; equal errors, equal
    # weights: the fused region is the mean of the two, [1.1, 3.2].
    assert [(g["start_s"], g["end_s"], g["label"]) for g in got] == [(1.1, 3.2, "alice")]
    assert got[0]["sources"] == ["a", "b"] and 0.5 < got[0]["confidence"] <= 1.0
    assert r["method"] == "segment_fusion" and r["n_votes"] == 2 and r["agreement"] == 1.0


def test_regions_below_the_iou_threshold_stay_apart():
    # [0, 2] and [1.5, 4]: overlap 0.5 over union 4 -> 0.125 < 0.5: two candidate events, each drawn by one of two.
    out = run(votes([("c", "a", "human", S((0.0, 2.0, "bob"))), ("c", "b", "human", S((1.5, 4.0, "bob")))]),
              answer={"match_iou": 0.5})
    assert len(json.loads(row(out, "c")["answer"])) <= 1
    assert row(out, "c")["agreement"] < 1.0


def test_an_event_missed_by_one_is_kept_a_lone_invention_dropped_and_careful_boundaries_weigh_more():
    speech, music = (1.0, 4.0, "alice"), (6.0, 9.0, "music")
    rows = []
    rng = random.Random(3)
    for k in range(40):  # a history: a is careful, b draws loose boundaries, c misses the music, d invents regions
        it = f"h{k}"
        loose = [(s + rng.gauss(0, 0.3), e + rng.gauss(0, 0.3), lab) for s, e, lab in (speech, music)]
        rows += [(it, "a", "human", S(speech, music)), (it, "b", "human", S(*loose)),
                 (it, "c", "human", S(speech)), (it, "d", "human", S(speech, music, (9.5, 9.9, "bob")))]
    rows += [("x", "a", "human", S((1.0, 4.0, "alice"), music)), ("x", "b", "human", S((1.6, 4.6, "alice"))),
             ("x", "c", "human", S((1.0, 4.0, "alice"))), ("x", "d", "human", S((1.0, 4.0, "alice"), music, (9.5, 9.9, "bob")))]
    out = run(votes(rows))
    got = regions(out, "x")
    # the music half the clip's answers drew is kept (c is known to miss it); d's lone bob is dropped
    assert [g[2] for g in got] == ["alice", "music"]
    start = got[0][0]
    # three sources say 1.0, loose b says 1.6: the fused start stays near 1.0, far below the plain mean 1.15
    assert 1.0 <= start < 1.1
    learned = {r["source_id"]: json.loads(r["confusion"])["learned"] for r in out.source_stats.to_pylist()}
    assert learned["c"]["recall"] < 0.7 < learned["a"]["recall"]
    assert learned["d"]["precision"] < 0.8 < learned["a"]["precision"]
    assert learned["b"]["weight"] < learned["a"]["weight"]


def test_gold_precision_recall_by_hand_and_a_spammer_is_banned():
    gold_answer = S((0.0, 2.0, "alice"), (3.0, 5.0, "bob"))
    # x: [0.1, 2.0] alice (IoU 1.9/2.0 = 0.95: hit), [3, 4] bob (IoU 1/2 = 0.5: hit), [6, 7] alice (nothing there)
    #    -> TP 2, FP 1, FN 0: precision 2/3, recall 1, F1 = 2 / (2 + (1 + 0) / 2) = 0.8
    # y: [0, 2] bob (right place, wrong label: an FP and alice an FN), [3, 5] bob (hit)
    #    -> TP 1, FP 1, FN 1: precision 0.5, recall 0.5, F1 0.5
    scoring = votes([("g", "x", "human", S((0.1, 2.0, "alice"), (3.0, 4.0, "bob"), (6.0, 7.0, "alice"))),
                     ("g", "y", "human", S((0.0, 2.0, "bob"), (3.0, 5.0, "bob")))])
    v = votes([("c", "x", "human", S((0.0, 1.0, "alice"))), ("c", "y", "human", S((0.0, 1.0, "alice")))])
    out = run(v, gold=[("g", gold_answer)], scoring=scoring)
    stats = {r["source_id"]: r for r in out.source_stats.to_pylist()}
    gx = json.loads(stats["x"]["confusion"])["gold"]
    gy = json.loads(stats["y"]["confusion"])["gold"]
    assert (gx["tp"], gx["fp"], gx["fn"]) == (2, 1, 0) and (gy["tp"], gy["fp"], gy["fn"]) == (1, 1, 1)
    assert gx["precision"]["value"] == pytest.approx(2 / 3) and gx["recall"]["value"] == 1.0
    assert stats["x"]["gold_accuracy"] == pytest.approx(0.8) and stats["y"]["gold_accuracy"] == pytest.approx(0.5)
    # A spammer whose regions never match gold: F1 interval's upper bound under ban_below after enough gold.
    gold = [(f"g{k}", S((1.0, 3.0, "alice"))) for k in range(12)]
    spam = votes([(f"g{k}", "spam", "human", S((5.0, 6.0, "music"))) for k in range(12)]
                 + [(f"g{k}", "good", "human", S((1.05, 3.0, "alice"))) for k in range(12)])
    v = votes([("c", "spam", "human", S((5.0, 6.0, "music"))), ("c", "good", "human", S((1.0, 3.0, "alice")))])
    out = run(v, gold=gold, scoring=spam)
    assert out.new_bans["source_id"].to_pylist() == ["spam"]
    evidence = json.loads(out.new_bans["evidence"][0].as_py())
    assert evidence["tp"] == 0 and evidence["fp"] == 12 and evidence["fn"] == 12 and "segment F1" in evidence["rule"]
    assert regions(out, "c") == [(1.0, 3.0, "alice")]  # the banned source no longer counts


def test_gold_items_keep_their_answer_and_its_text():
    g = S((0.5, 1.5, "alice", {"text": "hello there"}))
    out = run(votes([("g", "a", "human", S((0.5, 1.4, "alice")))]), gold=[("g", g)])
    r = row(out, "g")
    assert r["method"] == "gold" and r["confidence"] == 1.0
    assert json.loads(r["answer"]) == [{"start_s": 0.5, "end_s": 1.5, "label": "alice", "confidence": 1.0,
                                        "sources": ["gold"], "text": "hello there"}]


def test_a_fused_region_takes_the_text_of_its_most_reliable_member():
    rows = [("c", "a", "human", S((0.0, 2.0, "alice", {"text": "good morning"}))),
            ("c", "b", "human", S((0.1, 2.0, "alice", {"text": "good mourning"})))]
    got = json.loads(row(run(votes(rows)), "c")["answer"])
    assert got[0]["text"] in {"good morning", "good mourning"} and got[0]["sources"] == ["a", "b"]


def test_pairwise_segment_f1_per_pair():
    # a & b share clip c: a has 2 regions, b 2, one matches -> F1 = 2 x 1 / (2 + 2) = 0.5; a & z agree fully -> 1.0;
    # b & z: 1 match of 2 + 2 -> 0.5. Pooled: 2 x (1 + 2 + 1) / (4 + 4 + 4) = 0.667.
    rows = [("c", "a", "human", S((0.0, 1.0, "alice"), (2.0, 3.0, "bob"))),
            ("c", "b", "human", S((0.0, 1.0, "alice"), (5.0, 6.0, "bob"))),
            ("c", "z", "human", S((0.0, 1.0, "alice"), (2.0, 3.0, "bob")))]
    out = run(votes(rows))
    f1 = out.agreement["segment_f1"]
    pairs = {(p["source_a"], p["source_b"]): p["f1"] for p in f1["lowest_pairs"]}
    assert pairs == {("a", "b"): 0.5, ("b", "z"): 0.5, ("a", "z"): 1.0}
    assert f1["f1"] == pytest.approx(2 * 4 / 12, abs=1e-6)
    lines = get("segments").consensus.summary_lines(out.agreement)
    assert lines[0].startswith("Segment F1 between annotators (3 pairs")


def test_an_unknown_label_or_a_broken_answer_stops_the_run_naming_item_and_source():
    with pytest.raises(ConsensusError, match="item 'c', source 'a': segment label 'carol'"):
        run(votes([("c", "a", "human", S((0.0, 1.0, "carol")))]))
    with pytest.raises(ConsensusError, match="item 'c', source 'b': answer .* is not a list of regions"):
        run(votes([("c", "a", "human", S((0.0, 1.0, "bob"))), ("c", "b", "human", S((2.0, 1.0, "bob")))]))


def _crowd(n_clips: int, seed: int):
    """Clips of 10 s with 1-4 non-overlapping true regions; 3-5 of 8 simulated annotators each (one spammer)."""
    sim = get("segments").simulation
    rng = random.Random(seed)
    pool = [sim.annotator(acc, LABELS, rng, None) for acc in (0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5)]
    pool.append(sim.annotator(0.9, LABELS, rng, "uniform"))
    truth, rows = {}, []
    for c in range(n_clips):
        cuts = sorted(rng.uniform(0, 10) for _ in range(2 * rng.randint(1, 4)))
        regs = [{"start_s": round(cuts[i], 3), "end_s": round(cuts[i + 1], 3), "label": rng.choice(LABELS)}
                for i in range(0, len(cuts), 2) if cuts[i + 1] - cuts[i] > 0.3]
        truth[f"c{c}"] = regs
        for k in rng.sample(range(len(pool)), rng.randint(3, 5)):
            rows.append((f"c{c}", f"s{k}", "human", json.dumps(sim.answer(pool[k], regs, rng, LABELS, '{"duration_s": 10}'))))
    return truth, votes(rows)


def test_confidences_are_calibrated_on_a_simulated_crowd():
    truth, v = _crowd(500, seed=7)
    out = run(v)
    conf, right, item_conf, item_right = [], [], [], []
    for r in out.labels.to_pylist():
        true = truth[r["item_id"]]
        t = np.array([[x["start_s"], x["end_s"]] for x in true]).reshape(-1, 2)
        got = json.loads(r["answer"])
        hits = 0
        for g in got:
            ok = False
            if len(t):
                iou = corner_iou(np.repeat([[g["start_s"], g["end_s"]]], len(t), axis=0), t)
                ok = any(i >= 0.5 and x["label"] == g["label"] for i, x in zip(iou, true))
            conf.append(g["confidence"])
            right.append(ok)
            hits += ok
        item_conf.append(r["confidence"])
        item_right.append(hits == len(got) == len(true))
    region_ece = expected_calibration_error(np.array(conf), np.array(right, float))
    item_ece = expected_calibration_error(np.array(item_conf), np.array(item_right, float))
    assert np.mean(right) > 0.85  # the crowd's answers consolidate well
    assert region_ece < 0.08, region_ece
    assert item_ece < 0.12, item_ece
