"""The transcript consensus facet through `run_consensus`: gold WER, bans, agreement, decisions, answers."""

import json

import numpy as np
import pyarrow as pa
import pytest

from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings, run_consensus
from tasks.consensus.resolution import decide
from tasks.kinds import get

FACET = get("transcript").consensus


def _votes(rows):
    return pa.table({"item_id": [r[0] for r in rows], "source_id": [r[1] for r in rows],
                     "source_kind": [r[2] if len(r) > 3 else "human" for r in rows],
                     "answer": [json.dumps({"text": r[-1]}) for r in rows]})


def _answers(rows):
    return pa.table({"item_id": pa.array([r[0] for r in rows], pa.string()),
                     "answer": pa.array([json.dumps({"text": r[1]}) for r in rows], pa.string())})


def _run(votes, gold=(), adjudications=(), **settings):
    v = _votes(votes)
    g, a = _answers(gold), _answers(adjudications)
    ref = {r[0] for r in gold} | {r[0] for r in adjudications}
    scoring = v.filter(pa.array([i in ref for i in v["item_id"].to_pylist()]))
    s = ConsensusSettings(classes=(), kind="transcript", **settings)
    return run_consensus(s, ConsensusInputs(v, scoring, g, a))


def test_gold_wer_per_source_with_jiwer_counts():
    # Gold "one two three four". a: every word (H 4). b: "one too three": two->too a substitution, four
    # deleted (H 2, S 1, D 1: WER 2/4). c: an extra "five" (H 4, I 1: WER 1/4). Word accuracy, the ban
    # rule's measure, is hits over edit operations: 4/4, 2/4, 4/5.
    out = _run([("g1", "a", "One, two, three, four."), ("g1", "b", "one too three"), ("g1", "c", "one two three four five"),
                ("c1", "a", "hello"), ("c1", "b", "hello"), ("c1", "c", "hello")], gold=[("g1", "one two three 4")])
    stats = {r["source_id"]: r for r in out.source_stats.to_pylist()}
    gold = {s: json.loads(stats[s]["confusion"])["gold"] for s in "abc"}
    assert [(gold[s]["hits"], gold[s]["substitutions"], gold[s]["deletions"], gold[s]["insertions"]) for s in "abc"] == \
        [(4, 0, 0, 0), (2, 1, 1, 0), (4, 0, 0, 1)]
    assert [gold[s]["wer"] for s in "abc"] == [0.0, 0.5, 0.25]
    assert [stats[s]["gold_accuracy"] for s in "abc"] == [1.0, 0.5, 0.8]
    assert stats["b"]["gold_low"] < 0.5 < stats["b"]["gold_high"]
    assert [stats[s]["n_gold"] for s in "abc"] == [4, 4, 5]  # edit operations scored: hits out of these
    labels = {r["item_id"]: r for r in out.labels.to_pylist()}
    assert labels["g1"]["method"] == "gold" and json.loads(labels["g1"]["answer"]) == {"text": "one two three 4"}
    assert labels["g1"]["confidence"] == 1.0 and labels["g1"]["decision"] == "resolved"
    assert labels["g1"]["agreement"] == pytest.approx(1 / 3)   # only a's transcript equals gold after the rule


def test_wer_interval_comes_from_clips():
    votes, gold = [], []
    for k in range(12):
        gold.append((f"g{k}", "a b c d"))
        votes.append((f"g{k}", "s", "a b c d" if k % 2 else "a b"))  # half the clips lose two of four words
    out = _run(votes, gold=gold)
    g = json.loads(out.source_stats.to_pylist()[0]["confusion"])["gold"]
    assert g["wer"] == 0.25 and g["n_clips"] == 12
    assert 0.05 < g["wer_low"] < 0.25 < g["wer_high"] < 0.45


def test_a_source_failing_gold_is_banned_by_the_shared_rule_and_its_votes_ignored():
    votes, gold = [], []
    for k in range(6):
        gold.append((f"g{k}", "red green blue"))
        votes += [(f"g{k}", "good", "red green blue"), (f"g{k}", "bad", "zzz")]
    votes += [("c1", "good", "big cat"), ("c1", "bad", "tiny dog"), ("c1", "other", "big cat")]
    out = _run(votes, gold=gold, ban_below=0.6, min_answers_for_ban=5)
    assert out.new_bans["source_id"].to_pylist() == ["bad"]
    ev = json.loads(out.new_bans["evidence"][0].as_py())
    assert ev["hits"] == 0 and ev["high"] < 0.6 and ev["n_gold"] == 6 and "word accuracy" in ev["rule"]
    c1 = next(r for r in out.labels.to_pylist() if r["item_id"] == "c1")
    assert "bad" not in c1["sources"] and json.loads(c1["answer"])["text"] == "big cat"


def test_adjudicated_answer_stands():
    out = _run([("c1", "a", "x y"), ("c1", "b", "x z")], adjudications=[("c1", "x w")])
    r = out.labels.to_pylist()[0]
    assert (r["method"], json.loads(r["answer"])["text"], r["decision"]) == ("adjudicated", "x w", "resolved")


def test_pairwise_wer_by_hand():
    # c1: "a b c" vs "a b d": distance 1, lengths 3 and 3. c2: "a b" vs "a b c d": distance 2, lengths 2 and 4.
    # Symmetric WER pooled: (1 + 2) / ((3 + 3) / 2 + (2 + 4) / 2) = 3 / 6.
    out = _run([("c1", "x", "a b c"), ("c1", "y", "a b d"), ("c2", "x", "a b"), ("c2", "y", "a b c d")])
    pw = out.agreement["pairwise_wer"]
    assert (pw["n_pairs"], pw["n_items"], pw["wer"], pw["mean_pair_wer"]) == (1, 2, 0.5, 0.5)
    assert pw["least_agreeing"] == [{"source_a": "x", "source_b": "y", "n_items": 2, "wer": 0.5}]
    assert out.agreement["over"] == "human"
    assert FACET.summary_lines(out.agreement)[0].startswith("Word error rate between annotators (1 pairs, 2 clips)")


def test_answers_decisions_and_confidences():
    votes = []
    for k in range(30):
        votes += [(f"u{k}", s, f"Word{k} is here.") for s in ("a", "b", "c")]          # unanimous
    votes += [("split", "a", "one red fish"), ("split", "b", "one blue fish"), ("split", "c", "one green dish")]
    out = _run(votes, target_confidence=0.8, max_overlap=5)
    rows = {r["item_id"]: r for r in out.labels.to_pylist()}
    u = rows["u0"]
    ans = json.loads(u["answer"])
    assert ans["text"] == "Word0 is here."                      # the typing of a source that said exactly these words
    assert [w["word"] for w in ans["words"]] == ["word0", "is", "here"]
    assert all(0 <= w["confidence"] <= 1 for w in ans["words"])
    assert u["method"] == "rover" and u["agreement"] == 1.0 and u["n_votes"] == 3 and u["sources"] == ["a", "b", "c"]
    assert rows["split"]["confidence"] < u["confidence"]
    conf = np.array([r["confidence"] for r in out.labels.to_pylist()])
    n_h = np.array([r["n_human"] for r in out.labels.to_pylist()])
    assert [r["decision"] for r in out.labels.to_pylist()] == decide(conf, n_h, 0.8, 5, 1).tolist()
    assert rows["split"]["decision"] == "needs_more"
    assert out.params and out.fit["method"] == "rover"


def test_warm_start_uses_the_stored_profiles():
    votes = [(f"c{k}", s, "a b c") for k in range(5) for s in ("a", "b")]
    first = _run(votes)
    v = _votes(votes)
    e = _answers([])
    again = run_consensus(ConsensusSettings(classes=(), kind="transcript"), ConsensusInputs(v, v.slice(0, 0), e, e),
                          first.params)
    assert again.fit["warm_start"] is True and not first.fit["warm_start"]
