"""The consensus stage on real DuckDB files: labels, decisions, bans, adjudication, incremental runs."""

import json

import pytest

from tasks.errors import InputError
from tasks.store import open_store


def seed(cfg, votes, gold=(), items=None, sources=None, multi=False):
    """Write items, sources, votes (item, source, kind, label[, created_at]) and gold into the project's database."""
    items = items or sorted({v[0] for v in votes} | {g[0] for g in gold})
    with open_store(cfg.db_path) as con:
        con.executemany("INSERT INTO items (item_id, kind, payload, source, state) VALUES (?, 'text', ?, 'test', 'new')",
                        [[i, f"text of {i}"] for i in items])
        kinds = {v[1]: v[2] for v in votes}
        kinds.update(sources or {})
        con.executemany("INSERT INTO sources (source_id, kind, name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        [[s, k, s] for s, k in kinds.items()])
        add_votes(con, votes, multi)
        if gold:
            col = "labels" if multi else "label"
            con.executemany(f"INSERT INTO gold (item_id, {col}, origin) VALUES (?, ?, 'file')", [list(g) for g in gold])


def add_votes(con, votes, multi=False, batch="a"):
    col = "labels" if multi else "label"
    con.executemany(
        f"INSERT INTO votes (vote_id, item_id, source_id, source_kind, {col}) VALUES (md5(? || ? || ? || ?), ?, ?, ?, ?)",
        [[batch, v[0], v[1], str(v[3]), v[0], v[1], v[2], v[3]] for v in votes])


def crowd(n_items=30, bad=("carol",), good=("alice", "bob", "dave")):
    """Truth alternates ham/spam; good humans are right, bad ones always wrong."""
    truth = {f"i{j:02d}": ("spam" if j % 2 else "ham") for j in range(n_items)}
    flip = {"ham": "spam", "spam": "ham"}
    votes = [(i, s, "human", t) for i, t in truth.items() for s in good]
    votes += [(i, s, "human", flip[t]) for i, t in truth.items() for s in bad]
    return truth, votes


def read(cfg, sql, params=None):
    with open_store(cfg.db_path) as con:
        return con.execute(sql, params or []).fetchall()


def run(cfg):
    from tasks.consensus.stage import run_consensus_stage

    return run_consensus_stage(cfg)


def test_labels_decisions_and_bans(make_project):
    cfg = make_project(consensus={"method": "dawid_skene", "target_confidence": 0.9, "bootstrap": 50},
                       gold={"ban_below": 0.6, "min_answers_for_ban": 5}, overlap={"initial": 2, "max": 4})
    truth, votes = crowd()
    gold = [(i, t) for i, t in list(truth.items())[:10]]
    seed(cfg, votes, gold)
    out = run(cfg)
    assert out["new_bans"] == ["carol"]
    rows = read(cfg, "SELECT item_id, label, confidence, method, decision, n_votes, n_human, agreement, sources FROM labels")
    assert len(rows) == 30
    by = {r[0]: r for r in rows}
    assert all(by[i][1] == t for i, t in truth.items())
    assert {by[i][3] for i, _ in gold} == {"gold"} and by["i20"][3] == "dawid_skene"
    assert by["i20"][4] == "resolved" and by["i20"][5] == 3 and by["i20"][7] == 1.0
    assert sorted(by["i20"][8]) == ["alice", "bob", "dave"]  # carol's votes excluded once banned
    banned = read(cfg, "SELECT source_id, banned, ban_evidence, banned_at FROM sources WHERE banned")
    assert [b[0] for b in banned] == ["carol"] and banned[0][3] is not None
    ev = json.loads(banned[0][2])
    assert ev["n_gold"] == 10 and ev["correct"] == 0 and ev["high"] < 0.6
    stats = {r[0]: r for r in read(cfg, "SELECT source_id, n_gold, gold_correct, gold_low, gold_high, learned_accuracy,"
                                        " agreement_with_consensus, confusion FROM source_stats")}
    assert stats["alice"][1:3] == (10, 10) and stats["carol"][1:3] == (10, 0)
    assert stats["alice"][6] == 1.0 and stats["carol"][6] == 0.0 and stats["carol"][5] is None
    assert json.loads(stats["carol"][7])["gold"]["ham"]["spam"] == 5
    assert {r[0] for r in read(cfg, "SELECT DISTINCT state FROM items")} == {"resolved"}
    assert out["agreement"]["over"] == "human" and out["agreement"]["alpha"] is not None
    assert out["leaderboard"][0]["source_id"] == "carol" and out["leaderboard"][0]["banned"]

    # Next run with a new vote: the banned source's new votes are excluded from the start.
    with open_store(cfg.db_path) as con:
        add_votes(con, [("i20", "carol", "human", "ham")], batch="b")
    out2 = run(cfg)
    assert out2["new_bans"] == [] and not out2["unchanged"]
    assert sorted(read(cfg, "SELECT sources FROM labels WHERE item_id = 'i20'")[0][0]) == ["alice", "bob", "dave"]
    assert read(cfg, "SELECT n_votes, n_gold FROM source_stats WHERE source_id = 'carol'") == [(30, 10)]


def test_needs_more_and_adjudicate_use_human_overlap(make_project):
    cfg = make_project(consensus={"method": "majority_vote", "target_confidence": 0.9, "bootstrap": 0},
                       overlap={"initial": 2, "max": 2})
    votes = [("a", "h1", "human", "ham"), ("a", "h2", "human", "spam"),      # split, overlap spent
             ("b", "h1", "human", "ham"), ("b", "m1", "model", "spam"),      # split, one human
             ("c", "h1", "human", "spam"), ("c", "h2", "human", "spam")]     # unanimous
    seed(cfg, votes)
    out = run(cfg)
    got = dict(read(cfg, "SELECT item_id, decision FROM labels"))
    assert got == {"a": "adjudicate", "b": "needs_more", "c": "resolved"}
    assert dict(read(cfg, "SELECT item_id, state FROM items")) == {"a": "adjudicate", "b": "queued", "c": "resolved"}
    assert out["decisions"] == {"adjudicate": 1, "needs_more": 1, "resolved": 1}
    assert read(cfg, "SELECT n_votes, n_human FROM labels WHERE item_id = 'b'") == [(2, 1)]

    # The expert answers item a: the adjudication overrides aggregation and scores the humans.
    with open_store(cfg.db_path) as con:
        con.execute("INSERT INTO sources (source_id, kind, name) VALUES ('expert', 'adjudicator', 'expert')")
        add_votes(con, [("a", "expert", "adjudicator", "spam")], batch="adj")
    run(cfg)
    assert read(cfg, "SELECT label, confidence, method, decision FROM labels WHERE item_id = 'a'") == \
        [("spam", 1.0, "adjudicated", "resolved")]
    assert read(cfg, "SELECT state FROM items WHERE item_id = 'a'") == [("resolved",)]
    stats = {r[0]: r[1:] for r in read(cfg, "SELECT source_id, n_gold, gold_correct FROM source_stats")}
    assert stats["h1"] == (1, 0) and stats["h2"] == (1, 1) and "expert" not in stats


def test_incremental_noop_and_warm_start(make_project):
    cfg = make_project(consensus={"method": "dawid_skene", "bootstrap": 0})
    _truth, votes = crowd(n_items=40, bad=())
    seed(cfg, votes)
    first = run(cfg)
    assert first["labels_written"] == 40 and not first["fit"]["warm_start"]
    before = read(cfg, "SELECT item_id, updated_at, run_id FROM labels ORDER BY item_id")
    state_before = read(cfg, "SELECT updated_at FROM consensus_state")

    again = run(cfg)
    assert again["unchanged"] and again["labels_written"] == 0
    assert read(cfg, "SELECT item_id, updated_at, run_id FROM labels ORDER BY item_id") == before
    assert read(cfg, "SELECT updated_at FROM consensus_state") == state_before

    # One new, dissenting vote on one item: warm start, and only rows that changed are rewritten.
    with open_store(cfg.db_path) as con:
        con.execute("INSERT INTO sources (source_id, kind, name) VALUES ('erin', 'human', 'erin')")
        add_votes(con, [("i03", "erin", "human", "ham")], batch="b")
    third = run(cfg)
    assert third["fit"]["warm_start"] and not third["unchanged"]
    assert third["labels_written"] == 1
    after = {r[0]: r[1:] for r in read(cfg, "SELECT item_id, updated_at, run_id FROM labels")}
    old = {r[0]: r[1:] for r in before}
    assert [i for i in after if after[i] != old[i]] == ["i03"]
    assert read(cfg, "SELECT n_votes, label FROM labels WHERE item_id = 'i03'") == [(4, "spam")]
    assert read(cfg, "SELECT count(*) FROM labels")[0][0] == 40


def test_auto_labels_kept_unless_humans_voted(make_project):
    cfg = make_project(consensus={"method": "label_model", "bootstrap": 0})
    votes = [("x", "lf:a", "lf", "spam"), ("y", "lf:a", "lf", "spam"), ("y", "h1", "human", "ham")]
    seed(cfg, votes)
    with open_store(cfg.db_path) as con:
        con.execute("INSERT INTO labels (item_id, label, confidence, method, decision, n_votes, n_human)"
                    " VALUES ('x', 'spam', 0.99, 'auto', 'resolved', 1, 0), ('y', 'spam', 0.99, 'auto', 'resolved', 1, 0)")
    run(cfg)
    got = {r[0]: r[1:] for r in read(cfg, "SELECT item_id, method, n_human FROM labels")}
    assert got["x"] == ("auto", 0)                 # untouched
    assert got["y"][0] == "label_model" and got["y"][1] == 1   # audited by a human: consensus decides


def test_all_sources_banned(make_project):
    cfg = make_project(consensus={"method": "dawid_skene", "bootstrap": 0}, gold={"ban_below": 0.9, "min_answers_for_ban": 5})
    truth, votes = crowd(n_items=12, bad=("carol", "erin"), good=())
    gold = list(truth.items())
    seed(cfg, votes, gold)
    out = run(cfg)
    assert sorted(out["new_bans"]) == ["carol", "erin"]
    assert read(cfg, "SELECT count(*) FROM sources WHERE banned")[0][0] == 2
    assert read(cfg, "SELECT count(*) FROM labels")[0][0] == 0
    assert out["n_items"] == 0 and out["agreement"]["alpha"] is None
    assert read(cfg, "SELECT count(*) FROM source_stats")[0][0] == 2
    assert run(cfg)["unchanged"]


def test_unknown_label_names_item_source_and_label(make_project):
    cfg = make_project(consensus={"method": "majority_vote", "bootstrap": 0})
    seed(cfg, [("a", "h1", "human", "ham"), ("b", "h2", "human", "eggs")])
    with pytest.raises(InputError, match=r"'eggs' from source 'h2' on item 'b'"):
        run(cfg)
    assert read(cfg, "SELECT count(*) FROM labels")[0][0] == 0


def test_multi_label(make_project):
    cfg = make_project(task_kind="multi_label", labels=["red", "green", "blue"],
                       consensus={"method": "dawid_skene", "bootstrap": 0, "target_confidence": 0.8},
                       overlap={"initial": 3, "max": 3})
    sets = {"p": ["red"], "q": ["green", "blue"], "r": [], "s": ["red", "blue"]}
    votes = [(i, h, "human", s) for i, s in sets.items() for h in ("h1", "h2", "h3")]
    votes.append(("p", "h4", "human", ["blue"]))
    seed(cfg, votes, gold=[("s", ["red", "blue"])], multi=True)
    out = run(cfg)
    rows = {r[0]: r[1:] for r in read(cfg, "SELECT item_id, label, labels, method, decision, n_votes, agreement FROM labels")}
    assert {i: r[1] for i, r in rows.items()} == sets
    assert all(r[0] is None for r in rows.values())
    assert rows["s"][2] == "gold" and rows["q"][2] == "dawid_skene"
    assert rows["p"][4] == 4 and rows["p"][5] == pytest.approx(0.75)
    assert out["agreement"]["alpha"] is not None and len(out["agreement"]["per_label"]) == 3
    stats = {r[0]: r[1:] for r in read(cfg, "SELECT source_id, n_gold, gold_correct FROM source_stats")}
    assert stats["h1"] == (3, 3)  # one gold item, three binary cells
    assert run(cfg)["unchanged"]
    with open_store(cfg.db_path) as con:
        add_votes(con, [("r", "h4", "human", [])], multi=True, batch="b")
    assert run(cfg)["labels_written"] == 1


def test_consensus_flow(make_project, prefect_harness):
    from flows.consensus import consensus_flow

    cfg = make_project(consensus={"method": "dawid_skene", "bootstrap": 20})
    truth, votes = crowd(n_items=20)
    seed(cfg, votes, [(i, t) for i, t in list(truth.items())[:8]])
    out = consensus_flow(project_dir=cfg.root)
    assert out["n_items"] == 20 and out["new_bans"] == ["carol"]
    assert read(cfg, "SELECT count(*) FROM labels WHERE decision = 'resolved'")[0][0] == 20
    assert read(cfg, "SELECT status FROM stage_runs WHERE stage = 'consensus'") == [("completed",)]


def test_machine_votes_alone_do_not_resolve_unless_allowed(make_project):
    votes = [("m", "lf:a", "lf", "spam"), ("m", "lf:b", "lf", "spam"), ("m", "model:x", "model", "spam"),
             ("h", "human:1", "human", "ham"), ("h", "human:2", "human", "ham"), ("h", "lf:a", "lf", "ham")]
    for allowed, expected in ((False, ("needs_more", "queued")), (True, ("resolved", "resolved"))):
        cfg = make_project(consensus={"method": "majority_vote", "bootstrap": 0, "target_confidence": 0.9,
                                      "resolve_without_humans": allowed},
                           state={"dir": f".annoflow-{allowed}"})
        seed(cfg, votes)
        run(cfg)
        got = read(cfg, "SELECT l.decision, i.state FROM labels l JOIN items i USING (item_id) WHERE item_id = 'm'")
        assert got == [expected]
        assert read(cfg, "SELECT decision FROM labels WHERE item_id = 'h'") == [("resolved",)]
