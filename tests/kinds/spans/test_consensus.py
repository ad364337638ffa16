"""Span consolidation against hand-computed cases, gold scoring and bans, the facet, calibration."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from tasks.consensus.calibration import expected_calibration_error
from tasks.consensus.gold import wilson_interval
from tasks.kinds import get
from tasks.kinds.spans.consolidate import (
    SpanConsensusSettings,
    consolidate_spans,
    span_votes_table,
)
from tasks.kinds.spans.simulation import SpanErrors, simulate_spans
from tasks.kinds.spans.storage import SPANS_TYPE

LABELS = ("per", "loc")


def s(*spans):
    return [{"start": a, "end": b, "label": c} for a, b, c in spans]


def rows(result, item):
    return next(r for r in result.items.to_pylist() if r["item_id"] == item)


def test_unanimous_span_and_unanimous_nothing():
    v = span_votes_table(["i1"] * 3 + ["i2"] * 3, list("abc") * 2,
                         [s((0, 5, "per"))] * 3 + [s(), s(), s()])
    r = consolidate_spans(v, SpanConsensusSettings(labels=LABELS, target_confidence=0.9))
    one, two = rows(r, "i1"), rows(r, "i2")
    assert one["spans"] == s((0, 5, "per")) and one["span_confidence"][0] > 0.9
    assert two["spans"] == [] and two["span_confidence"] == []
    assert one["decision"] == "resolved" and one["n_votes"] == 3
    assert two["decision"] == "resolved"


def test_majority_boundary_and_type_win_and_lone_invention_is_dropped():
    # Two sources agree on (0, 5, per); one clips the boundary; one lone source invents (10, 14, loc).
    v = span_votes_table(["i"] * 3, list("abc"), [s((0, 5, "per")), s((0, 5, "per")), s((0, 4, "per"), (10, 14, "loc"))])
    r = consolidate_spans(v, SpanConsensusSettings(labels=LABELS))
    assert rows(r, "i")["spans"] == s((0, 5, "per"))


def test_abstain_is_not_a_vote_and_empty_answer_is():
    v = span_votes_table(["i"] * 3, list("abc"), [s((0, 5, "per")), None, s()])
    r = consolidate_spans(v, SpanConsensusSettings(labels=LABELS, max_overlap=3, min_votes=2, target_confidence=0.99))
    row = rows(r, "i")
    assert row["n_votes"] == 2
    assert row["decision"] == "needs_more"  # one for, one against: far from 0.99, overlap can grow
    v3 = span_votes_table(["i"] * 3, list("abc"), [s((0, 5, "per")), s((0, 5, "loc")), s()])
    r3 = consolidate_spans(v3, SpanConsensusSettings(labels=LABELS, max_overlap=3, target_confidence=0.99))
    assert rows(r3, "i")["decision"] == "adjudicate"  # overlap budget spent, still unsure


def test_machine_votes_do_not_use_the_human_budget():
    v = span_votes_table(["i"] * 3, ["a", "b", "lf"], [s((0, 5, "per"))] * 3, ["human", "human", "lf"])
    r = consolidate_spans(v, SpanConsensusSettings(labels=LABELS))
    assert rows(r, "i")["n_votes"] == 2


def test_no_overlap_in_output_unless_allowed():
    # Nested entities: "New York City" (loc) holding "New York" (loc) and a per inside.
    votes = [s((0, 13, "loc"), (20, 25, "per")), s((0, 13, "loc"), (20, 25, "per")), s((0, 8, "per"), (20, 25, "per"))]
    v = span_votes_table(["i"] * 3, list("abc"), votes)
    out = rows(consolidate_spans(v, SpanConsensusSettings(labels=LABELS)), "i")["spans"]
    assert out == s((0, 13, "loc"), (20, 25, "per"))
    nested = [s((0, 13, "loc"), (0, 8, "per"))] * 3
    v = span_votes_table(["j"] * 3, list("abc"), nested)
    assert rows(consolidate_spans(v, SpanConsensusSettings(labels=LABELS, allow_overlap=True)), "j")["spans"] == \
        s((0, 8, "per"), (0, 13, "loc"))
    flat = rows(consolidate_spans(v, SpanConsensusSettings(labels=LABELS)), "j")["spans"]
    assert len(flat) == 1


def test_unknown_type_names_item_and_source():
    v = span_votes_table(["i7"], ["ann3"], [s((0, 5, "org"))])
    with pytest.raises(ValueError, match=r"item 'i7', source 'ann3'.*'org'"):
        consolidate_spans(v, SpanConsensusSettings(labels=LABELS))


def test_gold_scores_by_hand_and_ban():
    # Gold on g1: (0,5,per),(10,14,loc). Source a: exact both; b: one right, one wrong type, one invented.
    items = ["g1", "g1", "g2", "g2"]
    v = span_votes_table(items, ["a", "b", "a", "b"],
                         [s((0, 5, "per"), (10, 14, "loc")), s((0, 5, "per"), (10, 14, "per"), (20, 22, "loc")),
                          s(), s((3, 4, "per"))])
    gold = pa.table({"item_id": ["g1", "g2"], "answer": pa.array([s((0, 5, "per"), (10, 14, "loc")), s()], SPANS_TYPE)})
    r = consolidate_spans(v, SpanConsensusSettings(labels=LABELS, min_answers_for_ban=2, ban_below=0.8), gold)
    src = {x["source_id"]: x for x in r.sources.to_pylist()}
    a, b = src["a"], src["b"]
    assert (a["n_gold"], a["gold_precision"], a["gold_recall"], a["f1"]) == (2, 1.0, 1.0, 1.0)
    # b: TP 1, FP 3 (wrong type, invented, invented on g2), FN 1 -> P 1/4, R 1/2, F1 = 1 / (1 + 2) = 1/3.
    assert b["gold_precision"] == pytest.approx(0.25) and b["gold_recall"] == pytest.approx(0.5)
    assert b["f1"] == pytest.approx(1 / 3)
    low, high = wilson_interval(np.array([1.0]), np.array([3.0]))
    assert (b["f1_low"], b["f1_high"]) == pytest.approx((low[0], high[0]))
    assert b["banned"] and not a["banned"]
    # Gold pins the truth of its items while learning: g1's answer is the gold answer.
    assert rows(r, "g1")["spans"] == s((0, 5, "per"), (10, 14, "loc"))


def _crowd(n_items, pools, seed):
    """Simulated crowd on texts of 30 words with 0-3 entities at random places (as in real text)."""
    rng = random.Random(seed)
    words = [f"w{k:02d}" for k in range(30)]
    text = " ".join(words)
    ids, srcs, answers, truths = [], [], [], {}
    for i in range(n_items):
        truth = []
        for k in sorted(rng.sample(range(0, 30, 3), rng.randint(0, 3))):
            truth.append((k * 4, (k + rng.randint(1, 2)) * 4 - 1, rng.choice(LABELS)))
        truths[str(i)] = set(truth)
        for a in rng.sample(range(len(pools)), 3):
            ids.append(str(i))
            srcs.append(f"s{a}")
            answers.append(s(*simulate_spans(truth, text, LABELS, rng, pools[a])))
    return span_votes_table(ids, srcs, answers), truths


def test_learns_to_discount_a_spammer_and_is_calibrated():
    pools = [SpanErrors(miss=0.1, bounds=0.1, wrong_type=0.05, spurious=0.2)] * 5 + [SpanErrors(spurious=1.5, spammer=True)] * 2
    votes, truths = _crowd(600, pools, seed=3)
    r = consolidate_spans(votes, SpanConsensusSettings(labels=LABELS))
    src = {x["source_id"]: x for x in r.sources.to_pylist()}
    assert max(src[f"s{k}"]["precision"] for k in (5, 6)) < 0.3 < min(src[f"s{k}"]["precision"] for k in range(5))
    conf, ok, item_conf, item_ok = [], [], [], []
    for row in r.items.to_pylist():
        got = {(d["start"], d["end"], d["label"]) for d in row["spans"]}
        for d, c in zip(row["spans"], row["span_confidence"]):
            conf.append(c)
            ok.append((d["start"], d["end"], d["label"]) in truths[row["item_id"]])
        item_conf.append(row["confidence"])
        item_ok.append(got == truths[row["item_id"]])
    # Span majority vote on the same crowd: a span is kept when 2 of its 3 annotators marked exactly it.
    answers: dict[str, list] = {}
    for row in votes.to_pylist():
        answers.setdefault(row["item_id"], []).append({(d["start"], d["end"], d["label"]) for d in row["answer"]})
    mv_ok = [{x for x in set().union(*a) if sum(x in b for b in a) >= 2} == truths[i] for i, a in answers.items()]
    assert np.mean(item_ok) > np.mean(mv_ok) + 0.05
    assert expected_calibration_error(np.array(conf), np.array(ok, float)) < 0.06
    assert expected_calibration_error(np.array(item_conf), np.array(item_ok, float)) < 0.2


def test_partitions_give_the_same_answer_as_one_pass():
    pools = [SpanErrors(miss=0.2, bounds=0.2, wrong_type=0.1, spurious=0.3)] * 6
    votes, _ = _crowd(300, pools, seed=5)
    one = consolidate_spans(votes, SpanConsensusSettings(labels=LABELS))
    many = consolidate_spans(votes, SpanConsensusSettings(labels=LABELS, partition_items=37))
    assert one.items["spans"].to_pylist() == many.items["spans"].to_pylist()
    assert np.allclose(one.items["confidence"].to_numpy(), many.items["confidence"].to_numpy())


def test_facet_reads_the_project_settings(make_project):
    cfg = make_project(task_kind="spans", labels=list(LABELS), answer={"allow_overlap": True},
                       consensus={"target_confidence": 0.8}, overlap={"initial": 2, "max": 4})
    facet = get("spans").consensus
    st = facet.settings(cfg)
    assert (st.labels, st.allow_overlap, st.target_confidence, st.min_votes, st.max_overlap) == (LABELS, True, 0.8, 2, 4)
    v = span_votes_table(["i"] * 2, list("ab"), [s((0, 5, "per"))] * 2)
    assert facet.consolidate(v, None, cfg).items["spans"].to_pylist() == [s((0, 5, "per"))]


def test_text_length_sets_how_telling_an_agreement_is():
    # Two of three sources mark the same span, the third marks nothing. In a 3-word text a chance
    # agreement is likely, in a 60-word text it is not: the span is surer in the long text.
    short, long_ = "Alice met Bob", "Alice met Bob " + " ".join(f"w{k}" for k in range(57))
    v = span_votes_table(["s"] * 3 + ["l"] * 3, list("abc") * 2, [s((0, 5, "per")), s((0, 5, "per")), s()] * 2)
    texts = pa.table({"item_id": ["s", "l"], "payload": [short, long_]})
    r = consolidate_spans(v, SpanConsensusSettings(labels=LABELS), texts=texts)
    assert rows(r, "l")["span_confidence"][0] > rows(r, "s")["span_confidence"][0]


def test_a_span_bridging_two_neighbours_does_not_hide_either():
    # Three sources mark two neighbouring entities; a fourth marks one span over both. The bridging span
    # makes the three spans rivals of one cluster; the cluster may still hold two true spans.
    two = s((0, 5, "per"), (6, 11, "loc"))
    v = span_votes_table(["i"] * 4, list("abcd"), [two, two, two, s((0, 11, "per"))])
    r = consolidate_spans(v, SpanConsensusSettings(labels=LABELS))
    row = rows(r, "i")
    assert row["spans"] == two and min(row["span_confidence"]) > 0.9


def test_invented_spans_length_profile_is_learned():
    # The crowd invents one-character spans ("." or "*"); its entities are words. Two sources agreeing
    # on a one-character span is then weaker evidence than two agreeing on a word at the same place.
    rng = random.Random(7)
    ids, srcs, answers = [], [], []
    for i in range(300):
        for a in "abc":
            spans = [(0, 5, "per")] if rng.random() < 0.9 else []
            if rng.random() < 0.6:
                k = rng.randrange(10, 60, 2)
                spans.append((k, k + 1, rng.choice(LABELS)))
            ids.append(str(i))
            srcs.append(a)
            answers.append(s(*spans))
    ids += ["dot"] * 3 + ["word"] * 3
    srcs += list("abc") * 2
    answers += [s((20, 21, "loc")), s((20, 21, "loc")), s(), s((20, 25, "loc")), s((20, 25, "loc")), s()]
    r = consolidate_spans(span_votes_table(ids, srcs, answers), SpanConsensusSettings(labels=LABELS))
    dot, word = rows(r, "dot"), rows(r, "word")
    assert word["spans"] == s((20, 25, "loc"))
    assert dot["spans"] == [] or dot["span_confidence"][0] < word["span_confidence"][0] - 0.1


def test_facet_agreement_counts_humans_only(make_project):
    cfg = make_project(task_kind="spans", labels=list(LABELS))
    v = span_votes_table(["i"] * 3, ["a", "b", "lf"], [s((0, 5, "per")), s((0, 5, "per")), s((6, 9, "loc"))],
                         ["human", "human", "lf"])
    out = get("spans").consensus.agreement(v, pa.table({"item_id": ["i"], "payload": ["Alice met Bob"]}), cfg)
    assert out["pairs"].filter(pa.compute.is_null(out["pairs"]["label"]))["strict_f1"].to_pylist() == [1.0]
    assert out["alpha"] == pytest.approx(1.0)  # the LF disagrees on "Bob", but it is not an annotator


def test_gold_recalibrates_when_the_crowd_shares_its_errors():
    # On a third of the items all three annotators stretch the same entity the same way (a shared
    # convention): independence is broken and the model is sure of wrong spans. Gold on 30% of the
    # items brings the other items' confidences back to how often they are right.
    rng = random.Random(11)
    ids, srcs, answers, truths = [], [], [], {}
    for i in range(900):
        start = rng.randrange(0, 40, 4)
        truth = (start, start + 3, rng.choice(LABELS))
        shared = rng.random() < 0.33
        truths[str(i)] = {truth}
        for a in range(3):
            span = (truth[0], truth[1] + 4, truth[2]) if shared else truth
            if not shared and rng.random() < 0.1:
                span = (truth[0], truth[1] + 4, truth[2])
            ids.append(str(i))
            srcs.append(f"s{a}")
            answers.append(s(span))
    votes = span_votes_table(ids, srcs, answers)
    gold_ids = [str(i) for i in range(0, 900, 3)]
    gold = pa.table({"item_id": gold_ids, "answer": pa.array([s(*truths[g]) for g in gold_ids], SPANS_TYPE)})

    def ece(result):
        rows_ = [r for r in result.items.to_pylist() if int(r["item_id"]) % 3]
        conf = [c for r in rows_ for c in r["span_confidence"]]
        ok = [(d["start"], d["end"], d["label"]) in truths[r["item_id"]] for r in rows_ for d in r["spans"]]
        return expected_calibration_error(np.array(conf), np.array(ok, float))

    plain = consolidate_spans(votes, SpanConsensusSettings(labels=LABELS))
    calibrated = consolidate_spans(votes, SpanConsensusSettings(labels=LABELS), gold)
    assert ece(plain) > 0.2
    assert ece(calibrated) < 0.1
