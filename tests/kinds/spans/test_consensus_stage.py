"""Span consolidation through the real consensus stage on a DuckDB file: labels.answer, decisions, gold
scores and bans, adjudication, incremental runs, agreement in the artifact and `annoflow status`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasks.consensus.gold import wilson_interval
from tasks.store import open_store

LABELS = ["person", "location"]
NAMES = ["Alice", "Bruno", "Chen", "Dora", "Emeka", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kemal", "Lena",
         "Mo", "Nia", "Oren", "Pia", "Quinn", "Rosa", "Sami", "Tove", "Uma", "Vik", "Wren", "Xia", "Yusuf",
         "Zoe", "Ada", "Ben", "Cleo", "Dev"]
PLACES = ["Paris", "Lagos", "Lima", "Oslo", "Quito", "Hanoi", "Cairo", "Perth", "Seoul", "Rome"]
N_GOLD, N_PLAIN = 12, 12


def text(i: int) -> tuple[str, dict, dict]:
    """'<name> went to <place> .' with its person and location spans (code-point offsets)."""
    name, place = NAMES[i % len(NAMES)], PLACES[i % len(PLACES)]
    t = f"{name} went to {place} ."
    p0 = len(name) + len(" went to ")
    return t, {"start": 0, "end": len(name), "label": "person"}, {"start": p0, "end": p0 + len(place), "label": "location"}


def ids():
    gold = [f"g{k:02d}" for k in range(N_GOLD)]
    plain = [f"t{k:02d}" for k in range(N_PLAIN)]
    return gold, plain


DISPUTED_GOLD = {"x0": "person", "x1": "person", "x2": "location", "x3": "location", "x4": None, "x5": None}


def build():
    """Items, human votes (item, annotator, spans), gold. alice and dave mark every entity of the clear items;
    bob misses the location of g00; mallory marks the name as a location everywhere (a spammer). On the
    disputed items (x*, d0, a0) the three disagree the same way: alice marks the name as a person, bob
    the same bounds as a location, dave nothing; gold settles x* evenly among the three, so such an item
    is a toss-up. On n0 two disagree (alice: person, bob: nothing)."""
    gold_ids, plain = ids()
    items, truth = {}, {}
    for k, i in enumerate([*gold_ids, *plain, *DISPUTED_GOLD, "d0", "a0", "n0"]):
        t, per, loc = text(k)
        items[i] = t
        truth[i] = [per, loc]
    votes = []
    for i in [*gold_ids, *plain]:
        per, loc = truth[i]
        votes += [(i, "alice", [per, loc]), (i, "dave", [per, loc]),
                  (i, "bob", [per] if i == "g00" else [per, loc]),
                  (i, "mallory", [{**per, "label": "location"}])]
    for i in (*DISPUTED_GOLD, "d0", "a0"):
        per = truth[i][0]
        votes += [(i, "alice", [per]), (i, "bob", [{**per, "label": "location"}]), (i, "dave", [])]
    for i, lab in DISPUTED_GOLD.items():
        truth[i] = [{**truth[i][0], "label": lab}] if lab else []
    per = truth["n0"][0]
    votes += [("n0", "alice", [per]), ("n0", "bob", [])]
    gold = [(i, truth[i]) for i in [*gold_ids, *DISPUTED_GOLD]]
    return items, votes, gold, truth


def insert_votes(con, votes, batch="a"):
    """As collect stores judgments: source human:<id>, kind human, one assignment per (item, slot)."""
    con.executemany("INSERT INTO sources (source_id, kind, name) VALUES (?, 'human', ?) ON CONFLICT DO NOTHING",
                    sorted({(f"human:{a}", a) for _i, a, _s in votes}))
    con.executemany(
        "INSERT INTO votes (vote_id, item_id, source_id, source_kind, answer, assignment_id, created_at)"
        " VALUES (md5(? || ? || ?), ?, ?, 'human', ?, md5(? || ?), now())",
        [[batch, i, a, i, f"human:{a}", json.dumps(s), i, a] for i, a, s in votes])


def seed(cfg, items, votes, gold):
    with open_store(cfg.db_path) as con:
        con.executemany("INSERT INTO items (item_id, kind, payload, source, state) VALUES (?, 'text', ?, 't', 'queued')",
                        [[i, t] for i, t in items.items()])
        insert_votes(con, votes)
        con.executemany("INSERT INTO gold (item_id, answer, origin) VALUES (?, ?, 'file')",
                        [[i, json.dumps(a)] for i, a in gold])
        con.execute("INSERT INTO sources (source_id, kind, name) VALUES ('adjudicator:erin', 'adjudicator', 'erin')")
        con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, answer, assignment_id)"
                    " VALUES ('adj1', 'a0', 'adjudicator:erin', 'adjudicator', ?, 'adj-a0')",
                    [json.dumps([{"start": 0, "end": len(items['a0'].split()[0]), "label": "location"}])])


def read(cfg, sql, params=None):
    with open_store(cfg.db_path) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture
def project(make_project):
    cfg = make_project(task_kind="spans", labels=LABELS, consensus={"target_confidence": 0.8},
                       gold={"ban_below": 0.6, "min_answers_for_ban": 5}, overlap={"initial": 2, "max": 3})
    items, votes, gold, truth = build()
    seed(cfg, items, votes, gold)
    return cfg, items, truth


def run(cfg):
    from tasks.consensus.stage import run_consensus_stage

    return run_consensus_stage(cfg)


def bare(answer: str) -> list[dict]:
    """A stored answer's spans without their lineage (confidence, sources)."""
    return [{k: s[k] for k in ("start", "end", "label")} for s in json.loads(answer)]


def test_spans_stage_labels_decisions_scores_and_bans(project):
    cfg, items, truth = project
    out = run(cfg)
    gold_ids, plain = ids()
    assert out["new_bans"] == ["human:mallory"] and out["method"] == "span_dawid_skene"
    rows = {r[0]: r[1:] for r in read(cfg, "SELECT item_id, answer::VARCHAR, confidence, method, decision, n_votes,"
                                           " n_human, agreement, list_sort(sources) FROM labels")}
    assert set(rows) == set(items)
    for i in plain:  # three people agree, the spammer is banned and left out
        answer, conf, method, decision, n, n_h, agreement, sources = rows[i]
        assert bare(answer) == truth[i] and method == "span_dawid_skene"
        assert decision == "resolved" and conf >= 0.8
        assert (n, n_h, agreement) == (3, 3, 1.0) and sources == ["human:alice", "human:bob", "human:dave"]
    for i in [*gold_ids, *DISPUTED_GOLD]:  # accepted answers stand
        assert bare(rows[i][0]) == truth[i] and rows[i][1:4] == (1.0, "gold", "resolved")
    # g00: bob missed the location, so 2 of the 3 answers equal the gold answer.
    assert rows["g00"][6] == pytest.approx(2 / 3)
    # The adjudicator's answer wins over the crowd's (and over what the crowd would say).
    a0 = rows["a0"]
    assert bare(a0[0]) == [{"start": 0, "end": len(items["a0"].split()[0]), "label": "location"}]
    assert a0[1:4] == (1.0, "adjudicated", "resolved") and a0[6] == pytest.approx(1 / 3)
    # Three people disagree and the overlap budget (3) is spent: adjudicate; two disagree: one more vote.
    assert rows["d0"][3] == "adjudicate" and rows["d0"][1] < 0.8 and rows["d0"][4:6] == (3, 3)
    assert rows["n0"][3] == "needs_more" and rows["n0"][4:6] == (2, 2)
    states = dict(read(cfg, "SELECT item_id, state FROM items"))
    assert (states["d0"], states["n0"], states["t00"], states["g00"]) == ("adjudicate", "queued", "resolved", "resolved")


def test_spans_stage_confidence_and_sources_per_span(project):
    """Each stored span carries its confidence and the sources whose answer held exactly that span."""
    cfg, _items, _truth = project
    run(cfg)
    rows = {r[0]: (json.loads(r[1]), r[2], r[3]) for r in read(cfg, "SELECT item_id, answer::VARCHAR, confidence, method FROM labels")}
    gold_ids, plain = ids()
    people = ["human:alice", "human:bob", "human:dave"]
    for i in plain:  # all three marked both spans exactly (the banned spammer's vote is no lineage)
        spans, conf, _ = rows[i]
        assert [s["sources"] for s in spans] == [people, people]
        # A span is at least as sure as the whole answer it belongs to (every span right and none missing).
        assert all(conf - 1e-4 <= s["confidence"] <= 1.0 for s in spans)
    for i in [*gold_ids, *DISPUTED_GOLD]:  # accepted answers: certain, their own source
        assert all(s["confidence"] == 1.0 and s["sources"] == ["gold"] for s in rows[i][0])
    assert [(s["confidence"], s["sources"]) for s in rows["a0"][0]] == [(1.0, ["adjudicator"])]
    # d0: alice marked the name as a person, bob as a location, dave nothing: whichever span stands,
    # exactly one of them proposed it.
    by_label = {"person": ["human:alice"], "location": ["human:bob"]}
    assert all(s["sources"] == by_label[s["label"]] for s in rows["d0"][0])
    # n0: only alice marked the person.
    assert all(s["sources"] == ["human:alice"] and 0 < s["confidence"] < 1 for s in rows["n0"][0])
    # Confidences are stored rounded, so a re-run moving one by a hair does not rewrite the label.
    from tasks.kinds.spans.consensus import SPAN_CONFIDENCE_DIGITS
    assert all(round(s["confidence"], SPAN_CONFIDENCE_DIGITS) == s["confidence"] for r in rows.values() for s in r[0])


def test_spans_stage_gold_scores_by_hand(project):
    cfg, _items, _truth = project
    run(cfg)
    stats = {r[0]: r[1:] for r in read(cfg, "SELECT source_id, n_votes, n_gold, gold_correct, gold_accuracy, gold_low,"
                                            " gold_high, learned_accuracy, confusion FROM source_stats")}
    alice, bob, dave, mallory = (stats[f"human:{a}"] for a in ("alice", "bob", "dave", "mallory"))
    # Sources are scored on every accepted answer: the gold file's and the adjudicated a0 (location).
    n_ref = N_GOLD + len(DISPUTED_GOLD) + 1
    # On the clear gold items alice finds all 24 spans; on the 7 disputed ones her person is right twice,
    # wrong five times (three of them hide a location: missed): TP 26, FP 5, FN 3; 14 items exactly right.
    assert alice[:3] == (N_GOLD + N_PLAIN + len(DISPUTED_GOLD) + 3, n_ref, 14)
    assert alice[3] == pytest.approx(26 / (26 + 4))
    # dave: 24 clear spans, nothing on the disputed ones (right twice, five missed): TP 24, FP 0, FN 5.
    assert dave[1:3] == (n_ref, 14) and dave[3] == pytest.approx(24 / 26.5)
    # bob: 23 of the 24 clear spans; on the disputed ones his location is right 3 times: TP 26, FP 4, FN 3.
    assert bob[1:3] == (n_ref, 14) and bob[3] == pytest.approx(26 / 29.5)
    low, high = wilson_interval(np.array([26.0]), np.array([29.5]))
    assert (bob[4], bob[5]) == pytest.approx((low[0], high[0]))
    g = json.loads(bob[7])["gold"]
    assert (g["tp"], g["fp"], g["fn"]) == (26, 4, 3)
    assert g["precision"]["value"] == pytest.approx(26 / 30) and g["recall"]["value"] == pytest.approx(26 / 29)
    r_low, r_high = wilson_interval(np.array([26.0]), np.array([29.0]))
    assert (g["recall"]["low"], g["recall"]["high"]) == pytest.approx((r_low[0], r_high[0]))
    # mallory: 12 invented spans, 24 missed: F1 0 over 0 + 36/2 = 18, upper bound far below 0.6 -> banned.
    assert mallory[1:4] == (N_GOLD, 0, 0.0) and mallory[6] is None
    _, m_high = wilson_interval(np.array([0.0]), np.array([18.0]))
    assert mallory[5] == pytest.approx(m_high[0])
    banned = read(cfg, "SELECT source_id, ban_evidence FROM sources WHERE banned")
    assert [b[0] for b in banned] == ["human:mallory"]
    ev = json.loads(banned[0][1])
    assert (ev["n_gold"], ev["tp"], ev["fp"], ev["fn"], ev["f1"]) == (N_GOLD, 0, 12, 24, 0.0)
    assert ev["high"] == pytest.approx(m_high[0], abs=1e-6) and ev["threshold"] == 0.6
    assert 0.5 < alice[6] <= 1.0


def test_spans_stage_agreement_by_hand(project):
    from tasks.kinds.spans.agreement import krippendorff_alpha_bio
    from tasks.kinds.spans.consensus import parse_answers

    cfg, items, _truth = project
    a = run(cfg)["agreement"]
    f1 = a["span_f1"]
    # Spans a pair compares are those on the items both answered (mallory is banned, so out). On the 24
    # clear items alice and dave mark 48 spans, bob 47; on the 8 disputed items (x*, d0, a0) alice marks
    # 8 persons, bob 8 locations at the same bounds, dave nothing; on n0 alice a person, bob nothing
    # (dave did not answer n0). So alice~dave 56 vs 48 spans, alice~bob 57 vs 55, bob~dave 55 vs 48;
    # strict matches: alice~dave 48, alice~bob 47, bob~dave 47.
    assert f1["n_pairs"] == 3
    assert f1["strict"] == pytest.approx((2 * 48 + 2 * 47 + 2 * 47) / ((56 + 48) + (57 + 55) + (55 + 48)), abs=1e-6)
    by_type = {r["label"]: r for r in f1["by_type"]}
    # person: alice 24 + 8 (+ n0 against bob), bob 24, dave 24; every person of bob and dave is matched.
    assert by_type["person"]["strict"] == pytest.approx((2 * 24 * 3) / ((32 + 24) + (33 + 24) + (24 + 24)), abs=1e-6)
    # location: alice 24, dave 24, bob 23 + 8 (no rival of his type on the disputed items).
    assert by_type["location"]["strict"] == pytest.approx((48 + 46 + 46) / ((24 + 24) + (24 + 31) + (31 + 24)), abs=1e-6)
    assert by_type["location"]["overlap"] == by_type["location"]["strict"]  # no partial overlaps here
    assert f1["lowest_pairs"][0]["source_a"] == "human:alice" and f1["lowest_pairs"][0]["source_b"] == "human:bob"
    # Token-level alpha on the BIO tags of the people's answers (the spammer banned before it is measured).
    with open_store(cfg.db_path) as con:
        v = con.sql("SELECT item_id, source_id, source_kind, answer::VARCHAR AS answer FROM votes"
                    " WHERE source_kind = 'human' AND source_id <> 'human:mallory'").to_arrow_table()
    import pyarrow as pa

    texts = pa.table({"item_id": list(items), "payload": list(items.values())})
    assert a["alpha"] == pytest.approx(krippendorff_alpha_bio(parse_answers(v), texts, LABELS))
    assert 0.5 < a["alpha"] < 1 and a["over"] == "human" and a["n_items"] == len(items)


def test_spans_stage_is_incremental(project):
    cfg, items, truth = project
    sql = "SELECT item_id, answer::VARCHAR, confidence, decision, run_id FROM labels"
    first = run(cfg)
    assert first["labels_written"] == len(items)
    before = {r[0]: r[1:] for r in read(cfg, sql)}
    again = run(cfg)
    assert again["unchanged"] and again["labels_written"] == 0
    assert {r[0]: r[1:] for r in read(cfg, sql)} == before
    # dave settles n0 with alice: n0 is rewritten (answer, votes, decision). The source rates are learned
    # again with the new vote, so an item's confidence may move; a row is rewritten only when it moved
    # beyond the stage's tolerance (1e-4): here only d0, the toss-up, by about a thousandth. Every clear
    # item keeps its row (same run id).
    with open_store(cfg.db_path) as con:
        insert_votes(con, [("n0", "dave", [truth["n0"][0]])], batch="b")
    third = run(cfg)
    assert not third["unchanged"]
    after = {r[0]: r[1:] for r in read(cfg, sql)}
    changed = [i for i in after if after[i] != before[i]]
    assert "n0" in changed and third["labels_written"] == len(changed)
    for i in changed:
        if i != "n0":
            assert bare(after[i][0]) == bare(before[i][0]) and after[i][2] == before[i][2]
            assert 1e-4 < abs(after[i][1] - before[i][1]) < 0.01
    gold_ids, plain = ids()
    assert not set(changed) & {*gold_ids, *plain, *DISPUTED_GOLD, "a0"}
    assert read(cfg, "SELECT n_human, decision, json_extract_string(answer, '$[0].label') FROM labels"
                     " WHERE item_id = 'n0'") == [(3, "resolved", "person")]


def test_spans_agreement_in_artifact_and_status(project, prefect_harness):
    from typer.testing import CliRunner

    from annoflow_cli.main import app
    from flows.common import artifact_key
    from flows.consensus import consensus_flow
    from tests.flows.test_reports import latest_artifact

    cfg, _items, _truth = project
    out = consensus_flow(project_dir=cfg.root)
    a = out["agreement"]
    lines = [f"Span F1 between annotators (3 pairs): strict {a['span_f1']['strict']:.3f}",
             "Per type span F1 (strict/overlap): location", f"{a['alpha']:.3f}"]
    report = latest_artifact(artifact_key(cfg, "consensus-report")).data
    status = CliRunner().invoke(app, ["status", "--config", str(cfg.root)])
    assert status.exit_code == 0, status.output
    for line in lines:
        assert line in report and line in status.output


def test_spans_stage_names_the_item_and_source_of_an_unreadable_answer(project):
    from tasks.errors import InputError

    cfg, _items, _truth = project
    with open_store(cfg.db_path) as con:
        con.execute("UPDATE votes SET answer = '{\"start\": 0}' WHERE item_id = 't03' AND source_id = 'human:bob'")
        labels_before = con.execute("SELECT count(*) FROM labels").fetchone()
    with pytest.raises(InputError, match=r"item 't03', source 'human:bob'.*not a list of spans"):
        run(cfg)
    assert read(cfg, "SELECT count(*) FROM labels")[0] == labels_before  # nothing half-written


def test_spans_agreement_sample_is_fixed_and_said(project, monkeypatch):
    from tasks.kinds.spans import consensus

    cfg, items, _truth = project
    monkeypatch.setattr(consensus, "AGREEMENT_ITEMS", 10)
    monkeypatch.setattr(consensus, "ALPHA_ITEMS", 5)
    a = run(cfg)["agreement"]
    assert (a["span_f1"]["n_items"], a["span_f1"]["of_items"], a["n_items"]) == (10, len(items), 5)
    lines = consensus.FACET.summary_lines(a)
    assert f"(on a fixed sample of 10 of {len(items)} items)" in lines[0]
    assert f"a fixed sample of 5 of {len(items)} items" in lines[-1]
    with open_store(cfg.db_path) as con:  # the same sample whatever the run
        con.execute("DELETE FROM consensus_state")
    assert run(cfg)["agreement"] == a
