"""The transcript prelabel facet on hand-made votes: which draft a clip gets, how sure it is, what counts as right,
what people kept of it. (The stage around it is tested with the example project: tests/flows/test_demo.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from tasks.errors import ConfigError
from tasks.kinds.transcript.drafts import kept_words, medoid
from tasks.kinds.transcript.options import TranscriptOptions
from tasks.kinds.transcript.prelabel import FACET, KEYS
from tasks.store import open_store

CFG = SimpleNamespace(answer_options=TranscriptOptions(), answer={}, queue=SimpleNamespace(show_prelabels=True))


def _draft(text: str, scores: list[float] | None = None) -> str:
    words = text.split()
    scores = scores or [0.5] * len(words)
    return json.dumps({"text": text, "words": [{"word": w, "start_s": 0.1 * k, "end_s": 0.1 * k + 0.1, "score": s}
                                               for k, (w, s) in enumerate(zip(words, scores))]})


def _votes(rows: list[tuple[str, str, str, float | None]]) -> pa.Table:
    return pa.table({"item_id": [r[0] for r in rows], "source_id": [r[1] for r in rows], "spoke": [True] * len(rows),
                     "answer": [r[2] for r in rows], "confidence": pa.array([r[3] for r in rows], pa.float64())})


def _gold(rows: dict[str, str]) -> pa.Table:
    return pa.table({"item_id": list(rows), "answer": [json.dumps({"text": t}) for t in rows.values()]})


def test_word_alignment_counts_kept_words_and_the_medoid_is_the_hypothesis_nearest_the_others() -> None:
    assert kept_words(["the", "cat", "sat", "on", "a", "mat"], ["the", "cat", "sat", "on", "the", "mat"]) == 5
    assert kept_words(["a", "b"], []) == 0 and kept_words([], ["a"]) == 0
    # "b c" is one edit from each of the others, which are two apart
    hyps = [["a", "c"], ["b", "c"], ["b", "d"]]
    k, agree = medoid(hyps, np.ones(3))
    assert k == 1 and agree == pytest.approx(0.5)
    assert medoid([["x"]], np.ones(1)) == (0, 1.0)
    # a tie goes to the more accurate source
    assert medoid([["a"], ["b"]], np.array([0.3, 0.9]))[0] == 1


def test_combine_learns_each_recogniser_on_gold_and_chooses_the_draft_the_others_agree_with() -> None:
    gold = {"g1": "the cat sat", "g2": "open the door", "g3": "it is cold"}
    votes = _votes([
        ("g1", "model:good", _draft("the cat sat"), 0.9), ("g1", "model:poor", _draft("a hat"), 0.2),
        ("g1", "model:fair", _draft("the cat sad"), 0.6),
        ("g2", "model:good", _draft("open the door"), 0.8), ("g2", "model:poor", _draft("open door"), 0.4),
        ("g3", "model:good", _draft("it is cold"), 0.9), ("g3", "model:poor", _draft("this old"), 0.1),
        ("x1", "model:good", _draft("bring a coat"), 0.7), ("x1", "model:poor", _draft("ring a goat"), 0.3),
        ("x1", "model:fair", _draft("bring a coat"), 0.5),
    ])
    combined, learned, name = FACET.combine(votes, _gold(gold), CFG)
    assert name == "draft_choice"
    # word accuracy on gold, Beta(1, 1) smoothed: good 9 of 9 words; poor 7 errors in 9 words (3 + 1 + 3)
    assert learned["model:good"] == pytest.approx(10 / 11) and learned["model:poor"] == pytest.approx(3 / 11)
    by_item = {r["item_id"]: r for r in combined.to_pylist()}
    assert json.loads(by_item["x1"]["answer"])["text"] == "bring a coat"
    assert json.loads(by_item["g1"]["answer"])["text"] == "the cat sat"
    assert all(0 <= r["confidence"] <= 1 for r in combined.to_pylist())


def test_confidence_is_calibrated_on_gold_into_the_chance_the_draft_is_exactly_right() -> None:
    """One recogniser whose mean word score is honest only in rank: a draft scoring s is exactly right with
    probability s**2. Calibrated on 300 gold clips, the confidence of 1000 other clips matches how often they are right."""
    rng = np.random.default_rng(7)
    rows, gold, truth = [], {}, {}
    for k in range(1300):
        s = rng.uniform(0.05, 0.95)
        right = rng.random() < s**2
        item = f"c{k:04d}"
        truth[item] = "one two three"
        rows.append((item, "model:asr", _draft("one two three" if right else "one too tree"), s))
        if k < 300:
            gold[item] = truth[item]
    combined, _, _ = FACET.combine(_votes(rows), _gold(gold), CFG)
    d = FACET.decide(combined, pa.array(sorted(truth)), [])
    ok = FACET.score(d, pa.array([json.dumps({"text": truth[i]}) for i in sorted(truth)]))
    test = np.arange(300, 1300)
    conf, hit = d.confidence[test], ok[test]
    assert abs(conf.mean() - hit.mean()) < 0.05
    for lo, hi in ((0.0, 0.2), (0.2, 0.5), (0.5, 1.0)):
        m = (conf >= lo) & (conf < hi)
        assert m.sum() > 50 and abs(conf[m].mean() - hit[m].mean()) < 0.08, (lo, hi, conf[m].mean(), hit[m].mean())


def test_decide_gives_an_unheard_clip_the_empty_draft_with_no_confidence_and_keys_empty_drafts_apart() -> None:
    votes = _votes([("a", "model:asr", _draft("hello there", [0.9, 0.4]), 0.65), ("b", "model:asr", _draft(""), None)])
    combined, _, _ = FACET.combine(votes, _gold({}), CFG)
    d = FACET.decide(combined, pa.array(["a", "b", "c"]), [])
    assert [json.loads(a)["text"] for a in d.answer.to_pylist()] == ["hello there", "", ""]
    assert list(d.key) == [KEYS[0], KEYS[1], KEYS[1]] and d.confidence[2] == 0.0
    assert json.loads(d.detail[0].as_py()) == [0.9, 0.4] and d.detail[2].as_py() == "[]"
    # right means the same words under the project's comparison rule: case and punctuation do not count
    ref = pa.array([json.dumps({"text": "Hello, there!"}), json.dumps({"text": ""}), None])
    assert FACET.score(d, ref).tolist() == [True, True, False]
    assert FACET.answer_text(d.answer).to_pylist() == ["hello there", "", ""]


def test_a_label_keeps_the_text_and_the_pre_label_keeps_the_word_timings(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as con:
        con.execute("CREATE TEMP TABLE _pl AS SELECT ? AS answer", [_draft("hi you")])
        lab, pre = FACET.answer_sql("labels", "answer"), FACET.answer_sql("prelabels", "answer")
        assert json.loads(con.execute(f"SELECT ({lab['answer']})::VARCHAR FROM _pl").fetchone()[0]) == {"text": "hi you"}
        assert len(json.loads(con.execute(f"SELECT ({pre['answer']})::VARCHAR FROM _pl").fetchone()[0])["words"]) == 2
        # an empty draft is stored as no draft, so no queue is offered an empty suggestion
        assert con.execute(f"SELECT ({pre['answer']}) FROM (SELECT ? AS answer)", [_draft("")]).fetchone() == (None,)


def test_audits_and_draft_use_are_read_from_the_state(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as con:
        con.execute("INSERT INTO projects (name, config_hash, config) VALUES ('p', 'h', ?)", [json.dumps({"answer": {}})])
        for item, draft, route in (("a", "the cat sat on a mat", "audit"), ("b", "open door", "human"), ("c", None, "audit")):
            con.execute("INSERT INTO prelabels (item_id, answer, confidence, route, n_sources, combiner) VALUES (?, ?::JSON, 0.5, ?, 1, 'x')",
                        [item, draft and _draft(draft), route])
        for item, text, who in (("a", "The cat sat on the mat.", "human:ann"), ("a", "the cat sat on a mat", "human:bob"),
                                ("b", "open the door", "human:ann"), ("c", "", "human:ann")):
            con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, answer) VALUES (?, ?, ?, 'human', ?::JSON)",
                        [f"{item}{who}", item, who, json.dumps({"text": text})])
        for item, text in (("a", "the cat sat on the mat"), ("c", "")):
            con.execute("INSERT INTO labels (item_id, answer, confidence, method, decision, n_votes, n_human) VALUES (?, ?::JSON, 0.9, 'rover',"
                        " 'resolved', 2, 2)", [item, json.dumps({"text": text})])
        audited = FACET.audited(con, [])
        assert audited.to_pylist() == [{"item_id": "a", "key": "text", "confidence": 0.5, "correct": False},
                                       {"item_id": "c", "key": "no speech", "confidence": 0.5, "correct": True}]
        use = FACET.draft_use(con, CFG)
        con.execute("INSERT INTO sources (source_id, kind, name, version) VALUES ('model:asr', 'model', 'asr', 'v1')")
        gated = FACET.draft_use(con, CFG)  # a recogniser with no gold clip: its drafts are withheld from the queue
    # drafts: 6 + 6 words of "a" (two people), 2 of "b": kept 5 + 6 + 2 ("open", "door"); "c" had no draft to keep
    assert use == {"shown": True, "withheld": {}, "judgments": 3, "draft_words": 14, "kept_words": 13,
                   "kept_share": round(13 / 14, 4), "draft_wer": round(1 / 6, 4)}
    assert gated["shown"] is False and "model:asr: no gold clip transcribed yet" in gated["withheld"]["model:asr"]


def test_transcript_projects_refuse_labeling_functions_and_local_models() -> None:
    cfg = SimpleNamespace(prelabel=SimpleNamespace(labeling_functions=[SimpleNamespace(name="kw")]))
    with pytest.raises(ConfigError, match="labeling functions \\['kw'\\]: a transcript project has no labeling functions"):
        FACET.lf_specs(cfg)
    with pytest.raises(ConfigError, match="python -m model_server --asr"):
        FACET.train("m", "audio", [], pa.table({}), pa.array([]), None, cfg)
