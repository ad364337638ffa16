"""Dispatch against a real annotation app and a real DuckDB file."""

from __future__ import annotations

import pytest

from tasks.dispatch import dispatch
from tasks.queues import BuiltinBackend
from tasks.store import open_store
from tests.conftest import ADMIN_TOKEN, seed_items


def _assignments(cfg):
    with open_store(cfg.db_path) as con:
        return con.execute("SELECT item_id, kind, round, slot, state, annotator_id FROM assignments "
                           "ORDER BY item_id, round, slot").fetchall()


def _counts(cfg):
    with BuiltinBackend(cfg.queue.url, ADMIN_TOKEN, cfg.name) as b:
        return b.counts()


def test_fixed_overlap_is_idempotent(queue_project):
    cfg = queue_project(overlap={"policy": "fixed", "initial": 2, "max": 2}, gold={"rate": 0.0})
    seed_items(cfg, [f"text {i}" for i in range(5)])
    r1 = dispatch(cfg)
    assert r1["created"] == 10 and r1["pushed"] == 10 and r1["new_to_backend"] == 10
    r2 = dispatch(cfg)
    assert r2["created"] == 0 and r2["pushed"] == 0
    rows = _assignments(cfg)
    assert len(rows) == 10 and {r[4] for r in rows} == {"pushed"}
    assert _counts(cfg)["open"] == 10


def _finish(cfg, decision: str, item: str, n_human: int | None = None):
    """What collect and consensus would leave: open slots done, the latest label row with a decision."""
    with open_store(cfg.db_path) as con:
        con.execute("UPDATE assignments SET state = 'done' WHERE item_id = ? AND state = 'pushed'", [item])
        done = con.execute("SELECT count(*) FROM assignments WHERE item_id = ? AND state = 'done' "
                           "AND kind <> 'adjudication'", [item]).fetchone()[0]
        con.execute("INSERT INTO labels (item_id, label, confidence, method, decision, n_votes, n_human, updated_at) "
                    "VALUES (?, 'ham', 0.6, 'dawid_skene', ?, ?, ?, now())",
                    [item, decision, done if n_human is None else n_human, done if n_human is None else n_human])


def test_adaptive_adds_one_slot_per_round_then_adjudication(queue_project):
    cfg = queue_project(overlap={"policy": "adaptive", "initial": 1, "max": 3}, gold={"rate": 0.0})
    a, b = seed_items(cfg, ["first", "second"], priorities=[0.2, 0.9])
    assert dispatch(cfg)["created_by_kind"] == {"label": 2}
    _finish(cfg, "needs_more", a)
    _finish(cfg, "resolved", b)
    assert dispatch(cfg)["created_by_kind"] == {"label": 1}  # round 1, slot 1 for `a` only
    assert dispatch(cfg)["created"] == 0  # still out: nothing new
    _finish(cfg, "needs_more", a, n_human=1)  # consensus has not counted the second vote yet
    assert dispatch(cfg)["created"] == 0
    _finish(cfg, "needs_more", a)
    assert dispatch(cfg)["created_by_kind"] == {"label": 1}
    _finish(cfg, "needs_more", a)  # three slots answered = overlap.max
    assert dispatch(cfg)["created_by_kind"] == {"adjudication": 1}
    assert dispatch(cfg)["created"] == 0
    rows = [r for r in _assignments(cfg) if r[0] == a]
    assert [(r[1], r[2], r[3]) for r in rows] == [("label", 0, 0), ("label", 1, 1), ("label", 2, 2),
                                                  ("adjudication", 3, 0)]


def test_a_ban_does_not_hold_an_item_back_from_more_votes(queue_project):
    """Two answered slots, one by an annotator banned since: consensus counts one human vote, for good."""
    cfg = queue_project(overlap={"policy": "adaptive", "initial": 2, "max": 4}, gold={"rate": 0.0})
    (a,) = seed_items(cfg, ["split"])
    assert dispatch(cfg)["created_by_kind"] == {"label": 2}
    with open_store(cfg.db_path) as con:
        con.execute("UPDATE assignments SET state = 'done' WHERE item_id = ?", [a])
        con.executemany("INSERT INTO votes (vote_id, item_id, source_id, source_kind, label) VALUES (?, ?, ?, 'human', 'ham')",
                        [[f"v{i}", a, f"human:{i}"] for i in range(2)])
    _finish(cfg, "needs_more", a, n_human=1)  # human:1 banned: its vote no longer counts
    assert dispatch(cfg)["created_by_kind"] == {"label": 1}


def test_fixed_overlap_sends_needs_more_to_adjudication(queue_project):
    cfg = queue_project(overlap={"policy": "fixed", "initial": 2, "max": 5}, gold={"rate": 0.0})
    (a,) = seed_items(cfg, ["only"])
    dispatch(cfg)
    _finish(cfg, "needs_more", a)
    assert dispatch(cfg)["created_by_kind"] == {"adjudication": 1}


def test_consensus_adjudicate_decision_and_audits(queue_project):
    cfg = queue_project(overlap={"initial": 2, "max": 4}, gold={"rate": 0.0})
    (a,) = seed_items(cfg, ["disputed"])
    (audited,) = seed_items(cfg, ["auto but audited"], state="auto_accepted", audit=True)
    seed_items(cfg, ["auto, not audited"], state="auto_accepted")
    assert dispatch(cfg)["created_by_kind"] == {"label": 2, "audit": 1}
    assert [r[1] for r in _assignments(cfg) if r[0] == audited] == ["audit"]
    _finish(cfg, "adjudicate", a)
    assert dispatch(cfg)["created_by_kind"] == {"adjudication": 1}


def test_new_items_are_queued_only_without_prelabelers(queue_project):
    plain = queue_project(gold={"rate": 0.0})
    seed_items(plain, ["fresh one", "fresh two"], state="new")
    assert dispatch(plain)["created"] == 4
    with open_store(plain.db_path) as con:
        assert con.execute("SELECT DISTINCT state FROM items").fetchall() == [("queued",)]
    with_lf = queue_project(gold={"rate": 0.0},
                            prelabel={"labeling_functions": [{"name": "x", "sql": "NULL"}]})
    seed_items(with_lf, ["waits for pre-labeling"], state="new")
    assert dispatch(with_lf)["created"] == 0


def test_priority_orders_pushed_tasks(queue_project, app_server):
    from tests.app.conftest import make_client

    cfg = queue_project(overlap={"policy": "fixed", "initial": 1, "max": 1}, gold={"rate": 0.0})
    seed_items(cfg, ["low", "high", "mid"], priorities=[0.1, 0.9, 0.5])
    dispatch(cfg)
    with BuiltinBackend(cfg.queue.url, ADMIN_TOKEN, cfg.name) as b:
        import uuid

        aid = f"ord-{uuid.uuid4().hex[:6]}"
        token = b.create_annotator(aid)
    seen = []
    with make_client(app_server.url, token) as c:
        task = c.post(f"/api/annotate/{cfg.name}/next").json()["task"]
        while task:
            seen.append(task["payload"])
            task = c.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                          json={"client_id": uuid.uuid4().hex, "label": "ham", "next": True}).json()["next"]["task"]
    assert seen == ["high", "mid", "low"]


def test_crash_between_push_and_mark_is_safe(queue_project, monkeypatch):
    from tasks.dispatch import stage

    cfg = queue_project(overlap={"policy": "fixed", "initial": 2, "max": 2}, gold={"rate": 0.0})
    seed_items(cfg, ["a", "b", "c"])

    def crash(con, ids):
        raise RuntimeError("simulated crash after the push, before marking")

    monkeypatch.setattr(stage, "_mark_pushed", crash)
    with pytest.raises(RuntimeError):
        dispatch(cfg)
    assert {r[4] for r in _assignments(cfg)} == {"pending"}
    assert _counts(cfg)["open"] == 6  # the push itself happened
    monkeypatch.undo()
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", ADMIN_TOKEN)
    r = dispatch(cfg)
    assert r["created"] == 0 and r["pushed"] == 6 and r["new_to_backend"] == 0
    assert {r[4] for r in _assignments(cfg)} == {"pushed"}
    assert _counts(cfg)["open"] == 6
