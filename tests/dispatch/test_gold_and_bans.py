"""Gold mix-in (rate and minimum per annotator) and banned annotators, on an app of their own."""

from __future__ import annotations

import uuid

import pytest

from tasks.dispatch import dispatch
from tasks.errors import RequestRefusedError
from tasks.http import make_client
from tasks.queues import BuiltinBackend
from tasks.store import open_store
from tests.conftest import ADMIN_TOKEN, seed_items


def _work_through(url: str, project: str, token: str, limit: int = 100) -> list[str]:
    """Payloads an annotator is served, in order, answering 'ham' to each."""
    seen = []
    with make_client(url, token) as c:
        task = c.post(f"/api/annotate/{project}/next").json()["task"]
        while task and len(seen) < limit:
            seen.append(task["payload"])
            task = c.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                          json={"client_id": uuid.uuid4().hex, "label": "ham", "next": True}).json()["next"]["task"]
    return seen


def test_gold_rate_and_minimum_per_annotator(queue_project, fresh_app):
    cfg = queue_project(queue={"url": fresh_app.url}, overlap={"policy": "fixed", "initial": 2, "max": 2},
                        gold={"rate": 0.2, "min_per_annotator": 2})
    with BuiltinBackend(fresh_app.url, ADMIN_TOKEN, cfg.name) as b:
        tokens = {a: b.create_annotator(a) for a in ("ann-a", "ann-b", "ann-c")}
    gold_texts = ["gold one", "gold two"]
    seed_items(cfg, [f"item {i}" for i in range(10)], priorities=[i / 10 for i in range(10)])
    seed_items(cfg, gold_texts, state="resolved", gold={"gold one": "ham", "gold two": "spam"})
    r = dispatch(cfg)
    # 20 label slots; gold share 0.2 → ceil(0.2 * 20 / 0.8) = 5 untargeted (3 + 2: at most one per
    # annotator per item); the minimum of 2 then needs one targeted slot, on the item with room left:
    # a slot beyond one per annotator per item could never be served and would stay open for good
    assert r["created_by_kind"] == {"label": 20, "gold": 6}
    assert r["targeted_gold"] == 1
    again = dispatch(cfg)
    assert again["created"] == 0 and again["pushed"] == 0
    with open_store(cfg.db_path) as con:
        per_item = dict(con.execute("SELECT item_id, count(*) FROM assignments WHERE kind = 'gold' GROUP BY 1").fetchall())
        targeted = con.execute("SELECT annotator_id, count(*) FROM assignments WHERE kind = 'gold' "
                               "AND annotator_id IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall()
    assert targeted == [("ann-a", 1)]
    assert sorted(per_item.values()) == [3, 3]  # one slot per annotator on each gold item
    # targeted gold comes among the work at the gold rate (within the first 2 / 0.2 = 10 tasks), not
    # as everyone's first two tasks, which would tell the annotator what they are
    streams = {a: _work_through(fresh_app.url, cfg.name, token, limit=10) for a, token in tokens.items()}
    for a, seen in streams.items():
        assert set(gold_texts) <= set(seen), (a, seen)
    assert not all(sorted(seen[:2]) == gold_texts for seen in streams.values()), streams


def test_banned_annotators_are_excluded(queue_project, fresh_app):
    cfg = queue_project(queue={"url": fresh_app.url}, overlap={"policy": "fixed", "initial": 1, "max": 1},
                        gold={"rate": 0.0, "min_per_annotator": 0})
    with BuiltinBackend(fresh_app.url, ADMIN_TOKEN, cfg.name) as b:
        bad, good = b.create_annotator("spammer-1"), b.create_annotator("honest-1")
    seed_items(cfg, ["x", "y"])
    with open_store(cfg.db_path) as con:
        con.execute("INSERT INTO sources (source_id, kind, name, banned) VALUES ('human:spammer-1', 'human', 'spammer-1', true)")
    r = dispatch(cfg)
    assert r["banned_excluded"] == 1 and r["annotators"] == 1
    with pytest.raises(RequestRefusedError) as refused:
        _work_through(fresh_app.url, cfg.name, bad)
    assert refused.value.code == "excluded"
    assert sorted(_work_through(fresh_app.url, cfg.name, good)) == ["x", "y"]


def test_a_ban_after_push_withdraws_the_work_already_pushed(queue_project, fresh_app):
    """Tasks pushed before the ban must not stay open to the banned annotator, nor stay stuck in their lease."""
    cfg = queue_project(queue={"url": fresh_app.url}, overlap={"policy": "fixed", "initial": 1, "max": 1},
                        gold={"rate": 0.0, "min_per_annotator": 0})
    with BuiltinBackend(fresh_app.url, ADMIN_TOKEN, cfg.name) as b:
        bad, good = b.create_annotator("spammer-2"), b.create_annotator("honest-2")
    seed_items(cfg, ["x", "y"])
    assert dispatch(cfg)["pushed"] == 2
    with make_client(fresh_app.url, bad) as c:
        held = c.post(f"/api/annotate/{cfg.name}/next").json()["task"]
    with open_store(cfg.db_path) as con:
        con.execute("INSERT INTO sources (source_id, kind, name, banned) VALUES ('human:spammer-2', 'human', 'spammer-2', true)")
    assert dispatch(cfg)["pushed"] == 0
    with make_client(fresh_app.url, bad) as c:
        with pytest.raises(RequestRefusedError) as late:
            c.post(f"/api/annotate/leases/{held['lease_id']}/submit", json={"client_id": "c1", "label": "spam"})
        assert late.value.status == 409 and late.value.code == "lease_withdrawn"
        with pytest.raises(RequestRefusedError) as refused:
            c.post(f"/api/annotate/{cfg.name}/next")
        assert refused.value.code == "excluded"
    # the withdrawn task went back to the queue: the honest annotator gets both items
    assert sorted(_work_through(fresh_app.url, cfg.name, good)) == ["x", "y"]
    # a later ensure_project without a list (collect does that) keeps the exclusion
    with BuiltinBackend(fresh_app.url, ADMIN_TOKEN, cfg.name) as b:
        b.ensure_project(cfg)
        assert b.client.get(f"/api/projects/{cfg.name}").json()["excluded_annotators"] == ["spammer-2"]
