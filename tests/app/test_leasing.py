"""Leasing through HTTP: priority, leases that expire and come back, one item per annotator, skip."""

from __future__ import annotations

import time

import httpx
import pytest

from tasks.errors import RequestRefusedError


def push(admin: httpx.Client, pid: str, tasks: list[dict]) -> dict:
    return admin.post(f"/api/projects/{pid}/tasks", json={"tasks": tasks}).json()


def nxt(c: httpx.Client, pid: str) -> dict | None:
    return c.post(f"/api/annotate/{pid}/next").json()["task"]


def submit(c: httpx.Client, lease: str, label: str = "pos", client_id: str | None = None, **kw) -> dict:
    body = {"client_id": client_id or f"c-{lease}", "label": label, **kw}
    return c.post(f"/api/annotate/leases/{lease}/submit", json=body).json()


def test_highest_priority_first_and_next_is_repeatable(admin, new_project, new_annotator):
    pid = new_project()
    push(admin, pid, [{"assignment_id": f"{pid}-{i}", "item_id": f"i{i}", "payload": f"text {i}", "priority": p}
                      for i, p in enumerate([1, 5, 3])])
    a = new_annotator()
    first = nxt(a, pid)
    assert first["payload"] == "text 1"
    assert nxt(a, pid)["lease_id"] == first["lease_id"]  # a retried `next` returns the lease already held
    submit(a, first["lease_id"])
    assert nxt(a, pid)["payload"] == "text 2"


def test_lease_expires_and_is_reclaimed_for_others(admin, new_project, new_annotator):
    pid = new_project(lease_seconds=1)
    push(admin, pid, [{"assignment_id": f"{pid}-x", "item_id": "i1", "payload": "hello"}])
    a, b = new_annotator(), new_annotator()
    lease = nxt(a, pid)["lease_id"]
    assert nxt(b, pid) is None
    time.sleep(1.3)
    got = nxt(b, pid)
    assert got is not None and got["payload"] == "hello"
    with pytest.raises(RequestRefusedError) as e:
        submit(a, lease)
    assert e.value.status == 409 and "expired" in str(e.value)
    assert nxt(a, pid) is None  # a already saw the item: never offered to them again
    assert admin.get(f"/api/projects/{pid}").json()["counts"]["expired"] == 1  # history's lease_expiries


def test_heartbeat_keeps_the_lease(admin, new_project, new_annotator):
    pid = new_project(lease_seconds=1)
    push(admin, pid, [{"assignment_id": f"{pid}-x", "item_id": "i1", "payload": "hello"}])
    a, b = new_annotator(), new_annotator()
    lease = nxt(a, pid)["lease_id"]
    for _ in range(3):
        time.sleep(0.5)
        a.post(f"/api/annotate/leases/{lease}/heartbeat")
    assert nxt(b, pid) is None
    assert submit(a, lease)["stored"] is True


def test_same_item_never_twice_to_one_annotator(admin, new_project, new_annotator):
    pid = new_project()
    push(admin, pid, [{"assignment_id": f"{pid}-{k}", "item_id": "same", "payload": "t"} for k in range(3)]
         + [{"assignment_id": f"{pid}-other", "item_id": "other", "payload": "u", "priority": -1}])
    a, b = new_annotator(), new_annotator()
    t = nxt(a, pid)
    submit(a, t["lease_id"])
    t2 = nxt(a, pid)
    assert t2["payload"] == "u"
    submit(a, t2["lease_id"])
    assert nxt(a, pid) is None
    assert nxt(b, pid)["payload"] == "t"


def test_skip_gives_the_task_to_someone_else(admin, new_project, new_annotator):
    pid = new_project()
    push(admin, pid, [{"assignment_id": f"{pid}-x", "item_id": "i1", "payload": "hard one"}])
    a, b = new_annotator(), new_annotator()
    lease = nxt(a, pid)["lease_id"]
    a.post(f"/api/annotate/leases/{lease}/skip")
    assert nxt(a, pid) is None
    assert nxt(b, pid)["payload"] == "hard one"


def test_adjudication_only_to_experts_and_exclusions_hold(admin, new_project, new_annotator):
    pid = new_project()
    a, expert = new_annotator(), new_annotator(roles=["expert"])
    push(admin, pid, [
        {"assignment_id": f"{pid}-adj", "item_id": "i1", "payload": "disputed", "kind": "adjudication", "priority": 9},
        {"assignment_id": f"{pid}-ex", "item_id": "i2", "payload": "not for a", "priority": 5,
         "exclude_annotators": [a.annotator_id]},
    ])
    assert nxt(a, pid) is None
    assert nxt(expert, pid)["payload"] == "disputed"


def test_cancelled_task_cannot_be_submitted(admin, new_project, new_annotator):
    pid = new_project()
    push(admin, pid, [{"assignment_id": f"{pid}-{k}", "item_id": f"i{k}", "payload": "t"} for k in range(2)])
    a = new_annotator()
    lease = nxt(a, pid)["lease_id"]
    out = admin.post(f"/api/projects/{pid}/tasks/cancel", json={"assignment_ids": [f"{pid}-0", f"{pid}-1", "nope"]})
    assert out.json() == {"cancelled": 2, "already_finished": 0, "unknown": 1}
    with pytest.raises(RequestRefusedError) as e:
        submit(a, lease)
    assert e.value.status == 409 and e.value.code == "lease_cancelled"
    assert nxt(a, pid) is None


def test_push_is_idempotent(admin, new_project):
    pid = new_project()
    tasks = [{"assignment_id": f"{pid}-{k}", "item_id": f"i{k}", "payload": "t"} for k in range(5)]
    assert push(admin, pid, tasks[:3]) == {"created": 3, "existing": 0}
    assert push(admin, pid, tasks) == {"created": 2, "existing": 3}
    assert admin.get(f"/api/projects/{pid}").json()["counts"]["open"] == 5


def test_expert_who_labeled_an_item_can_still_adjudicate_it(admin, new_project, new_annotator):
    pid = new_project()
    expert = new_annotator(roles=["expert"])
    push(admin, pid, [{"assignment_id": f"{pid}-crowd", "item_id": "i1", "payload": "disputed"}])
    submit(expert, nxt(expert, pid)["lease_id"])
    push(admin, pid, [
        {"assignment_id": f"{pid}-adj", "item_id": "i1", "payload": "disputed", "kind": "adjudication"},
        {"assignment_id": f"{pid}-more", "item_id": "i1", "payload": "disputed"},
    ])
    task = nxt(expert, pid)
    assert task["payload"] == "disputed", "the adjudication, not the extra crowd slot of a seen item"
    skip = expert.post(f"/api/annotate/leases/{task['lease_id']}/skip")
    assert skip.status_code == 200
    assert nxt(expert, pid) is None, "a skipped adjudication is not offered to the same expert again"
