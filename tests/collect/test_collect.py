"""Collect against a real annotation app and a real DuckDB file: votes, cursor safety, quarantine."""

from __future__ import annotations

import uuid
from datetime import UTC

import pyarrow as pa
import pytest

import tasks.collect as collect_mod
from tasks.collect import collect
from tasks.dispatch import dispatch, queue_name
from tasks.http import make_client
from tasks.queues import BuiltinBackend
from tasks.queues.base import LIVE_SCHEMA
from tasks.store import open_store
from tests.conftest import ADMIN_TOKEN, seed_items
from tests.judgment_pages import JudgmentPages


def _label_all(url: str, project: str, answers: dict[str, str], roles: tuple[str, ...] = ()) -> str:
    """A new annotator answers every task offered (answers by payload); returns the annotator id."""
    aid = f"c-{uuid.uuid4().hex[:8]}"
    with BuiltinBackend(url, ADMIN_TOKEN, project) as b:
        token = b.create_annotator(aid, roles=roles)
    with make_client(url, token) as c:
        task = c.post(f"/api/annotate/{project}/next").json()["task"]
        while task:
            task = c.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                          json={"client_id": uuid.uuid4().hex, "label": answers[task["payload"]],
                                "duration_ms": 1234, "next": True}).json()["next"]["task"]
    return aid


def _q(cfg, sql, params=()):
    with open_store(cfg.db_path) as con:
        return con.execute(sql, list(params)).fetchall()


@pytest.fixture
def labelled(queue_project, app_server):
    """Two items, two slots each, answered by two annotators: four judgments waiting."""
    cfg = queue_project(overlap={"policy": "fixed", "initial": 2, "max": 2}, gold={"rate": 0.0})
    seed_items(cfg, ["buy now", "nice song"])
    dispatch(cfg)
    answers = {"buy now": "spam", "nice song": "ham"}
    annotators = [_label_all(app_server.url, cfg.name, answers) for _ in range(2)]
    return cfg, annotators


def test_collect_stores_votes_and_finishes_assignments(labelled):
    cfg, annotators = labelled
    r = collect(cfg)
    assert (r["pulled"], r["stored"], r["quarantined"]) == (4, 4, 0)
    votes = _q(cfg, "SELECT v.source_id, v.source_kind, v.label, v.duration_ms, i.payload FROM votes v "
                    "JOIN items i USING (item_id) ORDER BY 1, 5")
    assert {v[0] for v in votes} == {f"human:{a}" for a in annotators}
    assert {(v[1], v[2], v[4], v[3]) for v in votes} == {("human", "spam", "buy now", 1234), ("human", "ham", "nice song", 1234)}
    assert _q(cfg, "SELECT DISTINCT state FROM assignments") == [("done",)]
    assert _q(cfg, "SELECT count(*) FROM assignments a JOIN votes v USING (assignment_id) "
                   "WHERE a.annotator_id = substr(v.source_id, 7)") == [(4,)]
    assert _q(cfg, "SELECT count(*) FROM sources WHERE kind = 'human'") == [(2,)]
    assert _q(cfg, "SELECT cursor FROM queue_cursors WHERE queue = ?", [queue_name(cfg)])[0][0] == r["cursor_to"]
    again = collect(cfg)
    assert (again["pulled"], again["stored"]) == (0, 0)


def test_crash_after_write_before_cursor_rolls_back_everything(labelled, monkeypatch):
    cfg, _ = labelled
    real = collect_mod.insert_missing

    def write_then_crash(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("simulated crash after the votes were written, before the cursor")

    monkeypatch.setattr(collect_mod, "insert_missing", write_then_crash)
    with pytest.raises(RuntimeError):
        collect(cfg)
    assert _q(cfg, "SELECT count(*) FROM votes") == [(0,)]
    assert _q(cfg, "SELECT count(*) FROM queue_cursors") == [(0,)]
    assert _q(cfg, "SELECT DISTINCT state FROM assignments") == [("pushed",)]
    monkeypatch.setattr(collect_mod, "insert_missing", real)
    r = collect(cfg)
    assert (r["pulled"], r["stored"]) == (4, 4)
    assert _q(cfg, "SELECT count(*), count(DISTINCT vote_id) FROM votes") == [(4, 4)]


def test_cursor_reset_stores_nothing_twice(labelled):
    cfg, _ = labelled
    collect(cfg)
    _q(cfg, "DELETE FROM queue_cursors")
    r = collect(cfg)
    assert (r["pulled"], r["stored"], r["duplicates"], r["quarantined"]) == (4, 0, 4, 0)
    assert _q(cfg, "SELECT count(*) FROM votes") == [(4,)]


def test_paging_commits_page_by_page(queue_project, app_server):
    cfg = queue_project(overlap={"policy": "fixed", "initial": 1, "max": 1}, gold={"rate": 0.0},
                        queue={"pull_limit": 2})
    texts = [f"t{i}" for i in range(5)]
    seed_items(cfg, texts)
    dispatch(cfg)
    _label_all(app_server.url, cfg.name, {t: "ham" for t in texts})
    r = collect(cfg)
    assert (r["pulled"], r["stored"], r["pages"]) == (5, 5, 3)


def test_invalid_judgments_from_the_app_are_quarantined(queue_project, app_server):
    cfg = queue_project(overlap={"policy": "fixed", "initial": 1, "max": 1}, gold={"rate": 0.0})
    (item,) = seed_items(cfg, ["real item"])
    dispatch(cfg)
    with BuiltinBackend(app_server.url, ADMIN_TOKEN, cfg.name) as b:
        # the app's label set drifts from the project's (someone edited it by hand)
        b.client.put(f"/api/projects/{cfg.name}", json={"labels": ["ham", "spam", "maybe"]})
        # tasks the pipeline never dispatched: a known item under a foreign assignment, an unknown item
        b.push(pa.table({"assignment_id": ["foreign-1", "foreign-2"], "item_id": [item, "no-such-item"],
                         "payload": ["foreign known item", "foreign unknown item"]}))
    answers = {"real item": "maybe", "foreign known item": "ham", "foreign unknown item": "ham"}
    for _ in range(2):  # nobody gets the same item twice: a second annotator takes the foreign copy
        _label_all(app_server.url, cfg.name, answers)
    r = collect(cfg)
    assert r["stored"] == 0
    assert r["quarantined_by_reason"] == {"unknown_label": 1, "unknown_assignment": 1, "unknown_item": 1}
    rows = _q(cfg, "SELECT reason, field, stage FROM quarantine ORDER BY reason")
    assert rows == [("unknown_assignment", "assignment_id", "collect"), ("unknown_item", "item_id", "collect"),
                    ("unknown_label", "label", "collect")]
    assert collect(cfg)["quarantined"] == 0
    assert _q(cfg, "SELECT count(*) FROM quarantine") == [(3,)]


def test_unknown_annotator_duplicates_and_adjudicators(queue_project):
    from datetime import datetime

    cfg = queue_project(gold={"rate": 0.0})
    (item,) = seed_items(cfg, ["one"])
    with open_store(cfg.db_path) as con:
        con.execute("INSERT INTO assignments (assignment_id, item_id, queue, kind, round, slot, state) VALUES "
                    "('as-1', ?, 'q', 'label', 0, 0, 'pushed'), ('as-2', ?, 'q', 'adjudication', 1, 0, 'pushed'),"
                    " ('as-3', 'other', 'q', 'label', 0, 0, 'pushed')", [item, item])
    now = datetime.now(UTC)

    def j(jid, aid, ann, label="ham", it=item):
        return {"judgment_id": jid, "assignment_id": aid, "item_id": it, "annotator_id": ann, "label": label,
                "labels": [label], "duration_ms": 10, "submitted_at": now, "client_id": jid}

    rows = [j("j1", "as-1", "alice"), j("j2", "as-1", "bob"), j("j3", "as-1", "mallory"),
            j("j4", "as-2", "expert", "spam"), j("j5", "as-3", "alice")]
    r = collect(cfg, backend=JudgmentPages(["alice", "bob", "expert"], rows))
    assert r["stored"] == 2
    assert r["quarantined_by_reason"] == {"duplicate_judgment": 1, "unknown_annotator": 1,
                                          "assignment_item_mismatch": 1}
    assert _q(cfg, "SELECT vote_id, source_id, source_kind, label FROM votes ORDER BY 1") == [
        ("j1", "human:alice", "human", "ham"), ("j4", "adjudicator:expert", "adjudicator", "spam")]
    assert _q(cfg, "SELECT source_id, kind FROM sources ORDER BY 1") == [
        ("adjudicator:expert", "adjudicator"), ("human:alice", "human")]


def test_retract_withdraws_votes_whose_judgment_is_gone_and_records_them(labelled):
    cfg, _ = labelled
    assert collect(cfg)["stored"] == 4
    rows = _q(cfg, "SELECT v.assignment_id, v.vote_id, i.payload FROM votes v JOIN items i USING (item_id)"
                   " WHERE v.source_kind = 'human' ORDER BY 3, 1")
    (gone_a, gone_v, _), (kept_a, kept_v, _) = rows[:2]  # both "buy now" slots
    live = pa.Table.from_pylist([{"assignment_id": gone_a, "judgment_ids": []},
                                 {"assignment_id": kept_a, "judgment_ids": [kept_v, "judgment-never-seen"]}],
                                schema=LIVE_SCHEMA)
    queue = queue_name(cfg)
    with open_store(cfg.db_path) as con:
        assert collect_mod.retract(con, queue, live) == 1
        assert collect_mod.retract(con, queue, live) == 0  # twice changes nothing
    assert _q(cfg, "SELECT vote_id FROM votes WHERE assignment_id = ?", [gone_a]) == []
    assert _q(cfg, "SELECT vote_id FROM votes WHERE assignment_id = ?", [kept_a]) == [(kept_v,)]
    assert _q(cfg, "SELECT state, annotator_id FROM assignments WHERE assignment_id = ?", [gone_a]) == [("pushed", None)]
    [(reason, field, raw)] = _q(cfg, "SELECT reason, field, raw FROM quarantine WHERE stage = 'collect'")
    assert reason == "retracted" and field == "judgment_id" and gone_v in raw and gone_a in raw
