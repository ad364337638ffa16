"""The pairwise kind through its facets: storage validation in DuckDB, the app's check and Label Studio both ways,
consensus through the facet on a simulated crowd (a position-biased judge and a spammer among careful ones),
and the export formats read back (preference JSONL, the leaderboard)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import kendalltau

from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings
from tasks.errors import ConfigError, InputError
from tasks.kinds import get
from tasks.kinds.pairwise.simulation import PairAnnotator, simulate_comparisons
from tasks.kinds.protocol import AnswerError

KIND = get("pairwise")


def _item(a="Paris.", b="Lyon.", prompt="Capital of France?", sa="s1", sb="s2"):
    d = {"prompt": prompt, "a": a, "b": b, "system_a": sa, "system_b": sb}
    return json.dumps({k: v for k, v in d.items() if v is not None})


@pytest.fixture
def cfg(make_project):
    return make_project(task_kind="pairwise", answer={"allow_ties": False, "require_reason": False})


def _validate(cfg, answers, items):
    a = pa.table({"item_id": [x[0] for x in answers], "source_id": [x[1] for x in answers],
                  "answer": [x[2] if x[2] is None or isinstance(x[2], str) else json.dumps(x[2]) for x in answers]})
    i = pa.table({"item_id": list(items), "payload": list(items.values())})
    return KIND.storage.validate(a, i, cfg).to_pylist()


def test_validate_names_each_bad_answer_and_item(cfg):
    items = {"ok": _item(), "same": _item(b="Paris. "), "nob": _item(b=None)}
    probs = _validate(cfg, [
        ("ok", "human:x", {"choice": "A", "swapped": True}),
        ("ok", "human:x", {"choice": "tie", "swapped": False}),
        ("ok", "human:y", {"choice": "C", "swapped": False}),
        ("ok", "human:y", {"choice": "B"}),
        ("ok", "human:y", {"choice": "B", "swapped": "yes"}),
        ("same", "human:y", {"choice": "A", "swapped": False}),
        ("nob", "human:y", {"choice": "A", "swapped": False}),
        ("ok", None, {"choice": "B"}),  # gold may speak in the item's order
        ("gone", "human:y", {"choice": "A", "swapped": False}),
        ("ok", "human:z", "{not json"),
    ], items)
    by_row = {p["row"]: p for p in probs}
    assert sorted(by_row) == [1, 2, 3, 4, 5, 6, 8, 9]
    assert by_row[1]["reason"] == "tie_not_allowed" and by_row[1]["field"] == "choice"
    assert by_row[2]["reason"] == "unknown_choice"
    assert (by_row[3]["reason"], by_row[3]["field"]) == ("missing_field", "swapped")
    assert by_row[4]["reason"] == "not_a_boolean"
    assert by_row[5]["reason"] == "identical_candidates" and 'item "same"' in by_row[5]["detail"]
    assert by_row[6]["reason"] == "candidate_missing"
    assert by_row[8]["reason"] == "unknown_item"
    assert by_row[9]["reason"] == "malformed_json"


def test_json_round_trip_is_canonical():
    arr = KIND.storage.from_json(pa.array(['{"swapped": true, "choice": "B", "reason": " long "}', None]))
    assert KIND.storage.to_json(arr).to_pylist() == ['{"choice": "B", "swapped": true, "reason": "long"}', None]
    with pytest.raises(InputError, match="answer 0"):
        KIND.storage.from_json(pa.array(['{"choice": "Z"}']))


def test_app_check_and_label_studio_both_ways(cfg):
    opts = KIND.queue.page_config(cfg)
    assert opts == {"allow_ties": False, "require_reason": False, "max_reason_chars": 2000}
    got = KIND.queue.parse_submission({"answer": {"choice": "B", "swapped": True, "reason": " b is right "}}, [], opts, _item())
    assert got == {"choice": "B", "swapped": True, "reason": "b is right"}
    with pytest.raises(AnswerError) as e:
        KIND.queue.parse_submission({"answer": {"choice": "tie", "swapped": False}}, [], opts, _item())
    assert e.value.code == "tie_not_allowed"
    with pytest.raises(AnswerError) as e:
        KIND.queue.parse_submission({"answer": {"choice": "A", "swapped": False}}, [], opts, _item(b="Paris."))
    assert e.value.code == "identical_candidates"
    xml = KIND.queue.label_studio_config(cfg)
    assert '<Pairwise name="pairwise" toName="left,right"/>' in xml and "tie" not in xml.replace("maxSubmissions", "")
    # B shown first and chosen = the item's candidate a: a task in the item's order selects left...
    res = KIND.queue.to_label_studio(json.dumps(got), cfg)
    assert res[0]["value"] == {"selected": "left"} and res[1]["value"] == {"text": ["b is right"]}
    assert KIND.queue.from_label_studio(res, cfg) == {"choice": "A", "swapped": False, "reason": "b is right"}
    # ...a task showing b on the left selects right, and reads back as B with swapped true
    flipped = {"swapped": True}
    res = KIND.queue.to_label_studio(json.dumps(got), cfg, data=flipped)
    assert res[0]["value"] == {"selected": "right"}
    assert KIND.queue.from_label_studio(res, cfg, data=flipped) == {"choice": "B", "swapped": True, "reason": "b is right"}
    with pytest.raises(AnswerError, match=r"result\[0\].value.selected"):
        KIND.queue.from_label_studio([{"type": "pairwise", "from_name": "pairwise", "value": {"selected": "up"}}], cfg)


def test_label_studio_task_order_is_drawn_per_assignment_and_media_panes() -> None:
    """Each assignment's task shows an order drawn from its id (the same every push; both orders occur), the panes
    hold escaped text or the media player, and the comparison's fields stay in the item's order."""
    item = json.dumps({"prompt": "Which?", "a": "<b>x</b> & y", "b": "img/cat.png", "system_a": "s1", "system_b": "s2"})
    def media(uri: str) -> str:  # what the backend makes of a file under Label Studio's local-files storage
        return "/data/local-files/?d=img/cat.png"

    data = {aid: KIND.queue.label_studio_data(item, aid, media) for aid in (f"as-{k}" for k in range(40))}
    flips = [d["swapped"] for d in data.values()]
    assert 5 < sum(flips) < 35 and data == {aid: KIND.queue.label_studio_data(item, aid, media) for aid in data}
    d = next(d for d in data.values() if d["swapped"])
    assert (d["a"], d["b"]) == ("<b>x</b> & y", "img/cat.png")
    assert d["left"] == ('<div class="af-pane"><img src="/data/local-files/?d=img/cat.png" alt="candidate" '
                         'style="max-width: 100%; max-height: 60vh"/></div>')
    assert d["right"] == '<div class="af-pane" style="white-space: pre-wrap">&lt;b&gt;x&lt;/b&gt; &amp; y</div>'
    d = next(d for d in data.values() if not d["swapped"])
    assert d["left"].startswith('<div class="af-pane" style="white-space: pre-wrap">&lt;b&gt;') and "<img " in d["right"]
    audio = KIND.queue.label_studio_data(item.replace("img/cat.png", "https://e.org/say.mp3"), "as-0", str)
    assert '<audio controls="controls" preload="metadata" src="https://e.org/say.mp3"' in audio["left"] + audio["right"]
    # Label Studio's sanitizer drops data: sources: a file it cannot serve is refused, naming the task and file
    with pytest.raises(ConfigError, match=r"assignment 'as-3': the media candidate 'img/cat.png' is outside queue.local_files_root"):
        KIND.queue.label_studio_data(item, "as-3", lambda uri: "data:image/png;base64,AAAA")


def _crowd(seed=3, n_items=1500):
    rng = np.random.default_rng(seed)
    judges = [PairAnnotator(0.85), PairAnnotator(0.8), PairAnnotator(0.75), PairAnnotator(0.7),
              PairAnnotator(0.3, (0.95, 0.05, 0.0)),  # position-biased: guesses "first"
              PairAnnotator(0.0, (0.5, 0.5, 0.0))]    # spammer
    return simulate_comparisons(rng, judges, n_items, n_systems=6, per_item=3, nu=0.0)


def _inputs(crowd, gold_n=0):
    j = crowd.judgments
    answers = [json.dumps({"choice": c, "swapped": s}) for c, s in zip(j["choice"].to_pylist(), j["swapped"].to_pylist())]
    votes = pa.table({"item_id": j["item_id"], "source_id": j["source_id"],
                      "source_kind": pa.array(["human"] * j.num_rows), "answer": pa.array(answers)})
    payloads = pa.table({"item_id": crowd.items["item_id"], "payload": pa.array([
        _item(a=f"answer {i} by {sa}", b=f"answer {i} by {sb}", sa=sa, sb=sb) for i, sa, sb in
        zip(crowd.items["item_id"].to_pylist(), crowd.items["system_a"].to_pylist(), crowd.items["system_b"].to_pylist())])})
    truth = crowd.truth.slice(0, gold_n)
    gold = pa.table({"item_id": truth["item_id"], "answer": pa.array(
        [json.dumps({"choice": "A" if p == "a" else "B"}) for p in truth["preference"].to_pylist()], pa.string())})
    empty = pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())})
    scoring = votes.filter(pa.compute.is_in(votes["item_id"], value_set=truth["item_id"]))
    return ConsensusInputs(votes=votes, scoring_votes=scoring, gold=gold, adjudications=empty, payloads=payloads)


def test_consensus_recovers_preferences_ranking_and_flags_bad_judges():
    crowd = _crowd()
    s = ConsensusSettings(classes=(), kind="pairwise", answer={"allow_ties": False}, min_answers_for_ban=20, ban_below=0.6)
    out = KIND.consensus.run(_inputs(crowd, gold_n=100), s, {})
    labels = out.labels
    truth = dict(zip(crowd.truth["item_id"].to_pylist(), crowd.truth["preference"].to_pylist()))
    pref = {i: ("a" if (json.loads(a)["choice"] == "A") else "b") for i, a in
            zip(labels["item_id"].to_pylist(), labels["answer"].to_pylist())}
    acc = np.mean([pref[i] == truth[i] for i in pref if i not in set(crowd.truth["item_id"].to_pylist()[:100])])
    assert acc > 0.85
    conf = labels["confidence"].to_numpy()
    methods = labels["method"].to_pylist()
    assert methods.count("gold") == 100 and set(methods) == {"gold", "preference_em"}
    # calibrated: mean confidence of the consolidated items is close to their accuracy
    m = np.array([x == "preference_em" for x in methods])
    right = np.array([pref[i] == truth[i] for i in labels["item_id"].to_pylist()])
    assert abs(conf[m].mean() - right[m].mean()) < 0.05
    assert set(labels["decision"].to_pylist()) <= {"resolved", "needs_more", "adjudicate"}
    stats = {r["source_id"]: r for r in out.source_stats.to_pylist()}
    learned = {k: json.loads(v["confusion"])["learned"] for k, v in stats.items() if v["confusion"]}
    assert learned["ann004"]["flag"] == "position_biased" and learned["ann004"]["position_bias"] > 0.25
    assert learned["ann000"]["flag"] is None and stats["ann000"]["learned_accuracy"] > 0.75
    # the spammer's gold accuracy interval lies below 0.6: the shared ban rule fires and it leaves the fit
    assert out.new_bans["source_id"].to_pylist() == ["ann005"] and stats["ann005"]["gold_high"] < 0.6
    assert stats["ann005"]["learned_accuracy"] is None
    ranking = out.agreement["ranking"]
    found = {r["system"]: r["strength"] for r in ranking}
    tau = kendalltau([found[name] for name in crowd.systems], crowd.strengths).statistic
    assert tau > 0.85 and all(r["rank_low"] <= r["rank"] <= r["rank_high"] for r in ranking)
    assert KIND.consensus.summary_lines(out.agreement)[0].startswith("systems: 1.")


def test_without_gold_the_spammer_is_flagged_by_the_model():
    out = KIND.consensus.run(_inputs(_crowd(seed=5)), ConsensusSettings(classes=(), kind="pairwise",
                                                                         answer={"allow_ties": False}), {})
    assert out.agreement["flags"] == {"ann004": "position_biased", "ann005": "spammer"}
    assert out.new_bans.num_rows == 0 and set(out.labels["method"].to_pylist()) == {"preference_em"}


def test_consensus_refuses_an_item_that_is_no_comparison():
    from tasks.consensus.errors import ConsensusError

    crowd = _crowd(n_items=30)
    inputs = _inputs(crowd)
    bad = inputs.payloads.to_pylist()
    bad[0]["payload"] = _item(a="same", b="same")
    inputs = ConsensusInputs(votes=inputs.votes, scoring_votes=inputs.scoring_votes, gold=inputs.gold,
                             adjudications=inputs.adjudications, payloads=pa.Table.from_pylist(bad))
    with pytest.raises(ConsensusError, match="item 'i0000000'.*identical_candidates"):
        KIND.consensus.run(inputs, ConsensusSettings(classes=(), kind="pairwise"), {})


def test_export_files_read_back(cfg, tmp_path: Path):
    labels = pa.table({"item_id": ["i1", "i2", "i3"], "answer": [
        json.dumps({"choice": "A", "swapped": False, "p_a": 0.9, "p_b": 0.1, "p_tie": 0.0}),
        json.dumps({"choice": "B", "swapped": False, "p_a": 0.2, "p_b": 0.8, "p_tie": 0.0}),
        json.dumps({"choice": "tie", "swapped": False, "p_a": 0.1, "p_b": 0.1, "p_tie": 0.8})],
        "confidence": [0.9, 0.8, 0.8]})
    items = pa.table({"item_id": ["i1", "i2", "i3"], "payload": [
        _item(prompt="p1", a="good", b="bad", sa="big", sb="small"),
        _item(prompt="p2", a="meh", b="great", sa="small", sb="big"),
        _item(prompt="p3", a="x", b="y", sa="big", sb="small")]})
    with duckdb.connect() as con:
        con.register("l", labels)
        con.register("i", items)
        snap = con.sql(f"SELECT l.item_id, i.payload, {KIND.export.select_sql(cfg, 'l')}, l.confidence"
                       " FROM l JOIN i USING (item_id) ORDER BY 1").to_arrow_table()
    assert snap.schema.field("preference").type == KIND.export.arrow_type(cfg)
    src = tmp_path / "part-000.parquet"
    pq.write_table(snap, src)
    written = {name: w([src], tmp_path, cfg) for name, w in KIND.export.formats(cfg).items()}
    lines = [json.loads(x) for x in written["preference_jsonl"][0].read_text().splitlines()]
    assert [(x["prompt"], x["chosen"], x["rejected"], x["system_chosen"]) for x in lines] == [
        ("p1", "good", "bad", "big"), ("p2", "great", "meh", "big")]  # the tie is left out
    board = json.loads(written["leaderboard"][1].read_text())["systems"]
    assert [r["system"] for r in board] == ["big", "small"] and board[0]["low"] <= board[0]["strength"] <= board[0]["high"]
    csv = written["leaderboard"][0].read_text().splitlines()
    assert csv[0].startswith('"system","rank","strength","low","high"') and len(csv) == 3


def test_simulated_judges_answer_in_the_shown_order():
    sim = KIND.simulation
    rng = random.Random(7)
    careful = sim.annotator(1.0, [], rng, None)
    biased = sim.annotator(0.5, [], rng, "constant")
    answers = [sim.answer(careful, "b", rng, [], None) for _ in range(200)]
    # a careful judge always names the slot where b was shown, whichever order was drawn
    assert all(a["choice"] == ("A" if a["swapped"] else "B") for a in answers)
    assert 60 < sum(a["swapped"] for a in answers) < 140
    assert sim.answer(careful, json.dumps({"choice": "A", "swapped": True}), rng, [], None)["choice"] in ("A", "B")
    assert {sim.answer(biased, "a", rng, [], None)["choice"] for _ in range(50)} == {"A"}
    for a in answers[:5]:
        assert KIND.queue.parse_submission({"answer": a}, [], {"allow_ties": True}, _item()) == a
