"""The grid of machine labels through the API: a page of audits leased at once, decided in one submit.

Against the session's real app process: leasing respects roles, pauses and the annotator's own work;
a page of decisions is stored all or nothing, once per client id, and the pipeline's pull shows each
decision on its audit row (accept: the machine's answer; reject: none).
"""

from __future__ import annotations

import time
import uuid

import httpx


def audits(admin: httpx.Client, pid: str, n: int, *, label: str = "pos", start: int = 0, **extra) -> list[str]:
    items = [f"item-{pid}-{start + i}" for i in range(n)]
    tasks = [{"assignment_id": f"audit:{it}", "item_id": it, "kind": "audit", "payload": f"text {start + i}",
              "prelabel": label, "prelabel_score": 0.99, **extra} for i, it in enumerate(items)]
    assert admin.post(f"/api/projects/{pid}/tasks", json={"tasks": tasks}).status_code == 200
    return items


def pulled(admin: httpx.Client, pid: str) -> list[dict]:
    """The judgments as the pipeline pulls them from the app."""
    return admin.get(f"/api/projects/{pid}/judgments").json()["judgments"]


def grid(c: httpx.Client, pid: str, n: int = 200) -> httpx.Response:
    return c.post(f"/api/review/{pid}/grid", params={"n": n})


def decide(c: httpx.Client, decisions: list[tuple[str, str]], client_ids: list[str] | None = None) -> httpx.Response:
    ids = client_ids or [uuid.uuid4().hex for _ in decisions]
    return c.post("/api/review/grid/submit", json={"decisions": [
        {"lease_id": lid, "decision": d, "client_id": cid} for (lid, d), cid in zip(decisions, ids)]})


def test_grid_leases_a_page_with_the_machine_answer_and_decisions_reach_the_pull(admin, new_project, person) -> None:
    pid = new_project()
    items = audits(admin, pid, 30)
    admin.post(f"/api/projects/{pid}/tasks", json={"tasks": [
        {"assignment_id": f"label:{pid}", "item_id": f"other-{pid}", "payload": "plain work", "priority": 9}]})
    reviewer = person(roles=["reviewer"])
    page = grid(reviewer, pid, 20).json()
    assert len(page["items"]) == 20 and page["labels"] == ["pos", "neg"]
    assert {t["item_id"] for t in page["items"]} <= set(items)  # audits only, never the label task
    assert all(t["machine"] == {"answer": "pos"} and t["payload"].startswith("text ") for t in page["items"])
    assert "score" not in str(page["items"][0])
    again = grid(reviewer, pid, 25).json()["items"]  # a reload: the held tiles first, then 5 more
    assert [t["lease_id"] for t in again[:20]] == [t["lease_id"] for t in page["items"]] and len(again) == 25
    leases = [t["lease_id"] for t in again]
    ids = [uuid.uuid4().hex for _ in leases]
    decisions = [(lid, "reject" if i < 3 else "accept") for i, lid in enumerate(leases)]
    r = decide(reviewer, decisions, ids)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 25 and {x["decision"] for x in r.json()["results"]} == {"accept", "reject"}
    retry = decide(reviewer, decisions, ids)  # the same page again: the same answers, nothing stored twice
    assert retry.json()["results"] == r.json()["results"]
    rows = pulled(admin, pid)
    assert len(rows) == 25
    by_decision = {d: [row for row in rows if row["decision"] == d] for d in ("accept", "reject")}
    assert len(by_decision["reject"]) == 3 and len(by_decision["accept"]) == 22
    assert all(row["label"] == "pos" for row in by_decision["accept"])
    assert all(row["label"] is None and row["labels"] is None for row in by_decision["reject"])
    assert all(row["task_kind"] == "audit" for row in rows)  # grid decisions are audits with a decision
    assert all(row["annotator_id"] == reviewer.annotator_id for row in rows)
    assert admin.get(f"/api/projects/{pid}").json()["counts"]["done"] == 25


def test_grid_refuses_annotators_paused_reviewers_and_never_offers_own_work(admin, new_project, person) -> None:
    pid = new_project()
    items = audits(admin, pid, 4)
    plain = person()
    r = grid(plain, pid)
    assert r.status_code == 403 and r.json()["error"] == "wrong_role" and "reviewer" in r.json()["message"]
    expert = person(roles=["expert"])
    # the expert labeled item 0 as an annotator: the grid never asks them to judge that item
    admin.post(f"/api/projects/{pid}/tasks", json={"tasks": [
        {"assignment_id": f"own:{items[0]}", "item_id": items[0], "payload": "x", "priority": 100}]})
    own = expert.post(f"/api/annotate/{pid}/next").json()["task"]
    assert expert.post(f"/api/annotate/leases/{own['lease_id']}/submit", json={"label": "pos", "client_id": "o1"}).status_code == 200
    excluded = {items[1]}
    admin.post(f"/api/projects/{pid}/tasks", json={"tasks": [
        {"assignment_id": "audit:ex", "item_id": "ex-item", "kind": "audit", "payload": "x", "prelabel": "neg",
         "exclude_annotators": [expert.annotator_id]}]})
    got = {t["item_id"] for t in grid(expert, pid).json()["items"]}
    assert got == set(items[1:]) - set() and items[0] not in got and "ex-item" not in got and excluded <= got
    reviewer = person(roles=["reviewer"])
    admin.post(f"/api/projects/{pid}/annotators/{reviewer.annotator_id}/pause", json={"reason": "too fast"})
    r = grid(reviewer, pid)
    assert r.status_code == 403 and r.json()["error"] == "paused" and "too fast" in r.json()["message"]


def test_bad_pages_are_refused_whole_naming_the_decision(admin, new_project, person) -> None:
    pid = new_project(lease_seconds=1)
    audits(admin, pid, 3)
    reviewer = person(roles=["reviewer"])
    tiles = grid(reviewer, pid).json()["items"]
    ok = (tiles[0]["lease_id"], "accept")
    r = decide(reviewer, [ok, ("no-such-lease", "accept")])
    assert r.status_code == 404 and r.json()["error"] == "unknown_lease"
    assert "decisions[1]" in r.json()["message"] and "nothing in this page was stored" in r.json()["message"]
    r = decide(reviewer, [ok, (tiles[1]["lease_id"], "maybe")])
    assert r.status_code == 422 and r.json()["error"] == "invalid_decision" and "decisions[1].decision" in r.json()["message"]
    r = decide(reviewer, [ok, ok])
    assert r.status_code == 422 and r.json()["error"] == "duplicate_decision"
    time.sleep(1.3)  # every lease of the page expires
    r = decide(reviewer, [ok])
    assert r.status_code == 409 and r.json()["error"] == "lease_expired" and tiles[0]["lease_id"] in r.json()["message"]
    assert admin.get(f"/api/projects/{pid}").json()["counts"]["done"] == 0  # nothing of the refused pages stored
    other = person(roles=["reviewer"])
    fresh = grid(other, pid).json()["items"]
    assert len(fresh) == 3  # the expired tiles went back to the queue for someone else
    r = decide(reviewer, [(fresh[0]["lease_id"], "accept")])  # someone else's lease looks unknown
    assert r.status_code == 404 and r.json()["error"] == "unknown_lease"
    cid = uuid.uuid4().hex
    assert decide(other, [(fresh[0]["lease_id"], "accept")], [cid]).status_code == 200
    r = decide(other, [(fresh[1]["lease_id"], "accept")], [cid])  # a client id is one decision
    assert r.status_code == 409 and r.json()["error"] == "client_id_reused"
    label = person(roles=["expert"])
    admin.post(f"/api/projects/{pid}/tasks", json={"tasks": [{"assignment_id": "plain", "item_id": "plain", "payload": "p"}]})
    lease = label.post(f"/api/annotate/{pid}/next").json()["task"]["lease_id"]
    r = decide(label, [(lease, "accept")])
    assert r.status_code == 409 and r.json()["error"] == "not_a_grid_lease"


def test_grid_tiles_serve_media_through_the_lease(admin, new_project, person, media_root) -> None:
    pid = new_project(data_kind="image")
    admin.post(f"/api/projects/{pid}/tasks", json={"tasks": [
        {"assignment_id": f"img:{pid}", "item_id": f"img-{pid}", "kind": "audit",
         "media_uri": f"file://{media_root / 'cat.png'}", "prelabel": "neg"}]})
    reviewer = person(roles=["reviewer"])
    tile = grid(reviewer, pid).json()["items"][0]
    assert tile["media_url"] == f"/api/annotate/media/{tile['lease_id']}"
    img = reviewer.get(tile["media_url"])
    assert img.status_code == 200 and img.content.startswith(b"\x89PNG")


def test_multi_label_machine_answers_are_stored_whole_on_accept(admin, new_project, person) -> None:
    pid = new_project(labels=["a", "b", "c"], task_kind="multi_label")
    admin.post(f"/api/projects/{pid}/tasks", json={"tasks": [
        {"assignment_id": f"m:{pid}", "item_id": f"m-{pid}", "kind": "audit", "payload": "t", "prelabel": ["c", "a"]}]})
    reviewer = person(roles=["expert"])
    tile = grid(reviewer, pid).json()["items"][0]
    assert sorted(tile["machine"]["answer"]) == ["a", "c"]
    assert decide(reviewer, [(tile["lease_id"], "accept")]).status_code == 200
    (row,) = pulled(admin, pid)
    assert sorted(row["labels"]) == ["a", "c"] and row["decision"] == "accept"


def test_a_heartbeat_keeps_a_slow_page_alive_and_names_the_leases_it_cannot(admin, new_project, person) -> None:
    pid = new_project(lease_seconds=2)
    audits(admin, pid, 3)
    reviewer = person(["reviewer"])
    page = grid(reviewer, pid).json()
    assert page["lease_seconds"] == 2
    leases = [t["lease_id"] for t in page["items"]]
    for _ in range(2):  # 2.6 s in all: past the lease time, kept alive by the beats
        time.sleep(1.3)
        out = reviewer.post("/api/review/grid/heartbeat", json={"lease_ids": [*leases, "nope"]}).json()
        assert sorted(out["extended"]) == sorted(leases) and out["ended"] == {"nope": "unknown_lease"}
    assert decide(reviewer, [(lid, "accept") for lid in leases]).status_code == 200
    r = reviewer.post("/api/review/grid/heartbeat", json={"lease_ids": leases})
    assert set(r.json()["ended"].values()) == {"lease_submitted"}
    r = reviewer.post("/api/review/grid/heartbeat", json={"lease_ids": "all"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_lease_ids"
