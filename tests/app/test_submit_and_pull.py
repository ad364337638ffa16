"""Submits stored once, cursor pulls, and the 4xx answers for every kind of bad request."""

from __future__ import annotations

import httpx
import pytest

from tasks.errors import RequestRefusedError
from tests.app.test_leasing import nxt, push, submit


def judgments(admin: httpx.Client, pid: str, cursor: str = "", limit: int = 1000) -> dict:
    return admin.get(f"/api/projects/{pid}/judgments", params={"cursor": cursor, "limit": limit}).json()


def test_retried_submit_is_stored_once_and_answered_the_same(admin, new_project, new_annotator):
    pid = new_project()
    push(admin, pid, [{"assignment_id": f"{pid}-{k}", "item_id": f"i{k}", "payload": "t"} for k in range(2)])
    a = new_annotator()
    lease = nxt(a, pid)["lease_id"]
    first = submit(a, lease, "neg", client_id="once")
    again = submit(a, lease, "neg", client_id="once")
    assert first == again
    page = judgments(admin, pid)
    assert [j["client_id"] for j in page["judgments"]] == ["once"]
    other = nxt(a, pid)["lease_id"]
    with pytest.raises(RequestRefusedError) as e:
        submit(a, other, client_id="once")
    assert e.value.status == 409 and e.value.code == "client_id_reused"


def test_cursor_pull_pages_in_commit_order(admin, new_project, new_annotator):
    pid = new_project(task_kind="multi_label", labels=["a", "b", "c"])
    push(admin, pid, [{"assignment_id": f"{pid}-{k}", "item_id": f"i{k}", "payload": "t"} for k in range(5)])
    a = new_annotator()
    for k in range(5):
        lease = nxt(a, pid)["lease_id"]
        a.post(f"/api/annotate/leases/{lease}/submit", json={"client_id": f"c{k}", "labels": ["a", "c"][: k % 3]})
    p1 = judgments(admin, pid, limit=2)
    p2 = judgments(admin, pid, p1["next_cursor"], limit=2)
    p3 = judgments(admin, pid, p2["next_cursor"], limit=2)
    got = [j["client_id"] for p in (p1, p2, p3) for j in p["judgments"]]
    assert got == [f"c{k}" for k in range(5)]
    assert judgments(admin, pid, p1["next_cursor"], limit=2) == p2  # same cursor, same page
    assert judgments(admin, pid, p3["next_cursor"])["judgments"] == []
    assert p1["judgments"][1]["labels"] == ["a"] and p1["judgments"][1]["label"] is None
    j = p1["judgments"][0]
    assert set(j) == {"seq", "judgment_id", "assignment_id", "item_id", "annotator_id", "label", "labels", "answer",
                      "duration_ms", "submitted_at", "client_id", "task_kind", "decision", "comment", "target"}
    assert j["annotator_id"] == a.annotator_id and j["assignment_id"] == f"{pid}-0"
    assert (j["task_kind"], j["decision"], j["comment"], j["target"]) == ("label", None, None, None)


def test_gold_is_indistinguishable_and_shows_its_suggestion_like_any_task(admin, new_project, new_annotator):
    pid = new_project(show_prelabels=True)
    push(admin, pid, [
        {"assignment_id": f"{pid}-g", "item_id": "g1", "payload": "gold text", "kind": "gold",
         "prelabel": "pos", "prelabel_score": 0.99, "priority": 2},
        {"assignment_id": f"{pid}-l", "item_id": "l1", "payload": "plain text", "kind": "label",
         "prelabel": "pos", "prelabel_score": 0.6, "priority": 1},
    ])
    a = new_annotator()
    gold = nxt(a, pid)
    submit(a, gold["lease_id"])
    plain = nxt(a, pid)
    assert set(gold) == set(plain)
    # the same suggestion, and never the score (it would single out audits, the confident items)
    assert gold["suggestion"] == plain["suggestion"] == {"answer": "pos"}
    assert set(gold) == {"lease_id", "project_id", "expires_at", "lease_seconds", "data_kind", "task_kind",
                         "payload", "media_url", "suggestion", "remaining"}
    others = str({k: v for k, v in gold.items() if k != "payload"})
    assert not any(secret in others for secret in ("gold", pid + "-g", "g1", "0.99"))


def test_prelabels_hidden_when_project_disallows(admin, new_project, new_annotator):
    pid = new_project(show_prelabels=False)
    push(admin, pid, [{"assignment_id": f"{pid}-l", "item_id": "l1", "payload": "t", "prelabel": "pos"}])
    assert nxt(new_annotator(), pid)["suggestion"] is None


@pytest.mark.parametrize("case", ["unknown_label", "foreign", "bad_token", "no_token", "admin_route",
                                  "unknown_project", "wrong_project", "missing_client_id", "bad_json"])
def test_bad_requests_get_a_clear_4xx(case, app_server, admin, new_project, new_annotator):
    pid = new_project()
    push(admin, pid, [{"assignment_id": f"{pid}-{k}", "item_id": f"i{k}", "payload": "t"} for k in range(2)])
    a, b = new_annotator(), new_annotator()
    lease = nxt(a, pid)["lease_id"]
    raw = httpx.Client(base_url=app_server.url)
    if case == "unknown_label":
        r = raw.post(f"/api/annotate/leases/{lease}/submit", json={"client_id": "x", "label": "maybe"},
                     headers=a.headers)
        expected = (422, "unknown_label")
    elif case == "foreign":
        r = raw.post(f"/api/annotate/leases/{lease}/submit", json={"client_id": "x", "label": "pos"}, headers=b.headers)
        expected = (404, "unknown_lease")
    elif case == "bad_token":
        r = raw.post(f"/api/annotate/{pid}/next", headers={"Authorization": "Bearer nope"})
        expected = (401, "unauthorized")
    elif case == "no_token":
        r = raw.post(f"/api/annotate/{pid}/next")
        expected = (401, "unauthorized")
    elif case == "admin_route":
        r = raw.get(f"/api/projects/{pid}/judgments", headers=a.headers)
        expected = (401, "unauthorized")
    elif case == "unknown_project":
        r = raw.post("/api/annotate/nope/next", headers=a.headers)
        expected = (404, "unknown_project")
    elif case == "wrong_project":
        other = new_project()
        c = new_annotator(projects=[other])
        r = raw.post(f"/api/annotate/{pid}/next", headers=c.headers)
        expected = (403, "wrong_project")
    elif case == "missing_client_id":
        r = raw.post(f"/api/annotate/leases/{lease}/submit", json={"label": "pos"}, headers=a.headers)
        expected = (422, "invalid_client_id")
    else:
        r = raw.post(f"/api/annotate/leases/{lease}/submit", content=b"{nope", headers=a.headers)
        expected = (400, "invalid_json")
    raw.close()
    body = r.json()
    assert (r.status_code, body["error"]) == expected
    assert body["message"]


def test_media_served_only_under_roots_and_only_for_the_lease(admin, new_project, new_annotator, media_root, app_server):
    pid = new_project(data_kind="image")
    push(admin, pid, [
        {"assignment_id": f"{pid}-m", "item_id": "m1", "media_uri": (media_root / "cat.png").as_uri(), "priority": 1},
        {"assignment_id": f"{pid}-x", "item_id": "m2", "media_uri": "file:///etc/passwd"},
    ])
    a = new_annotator()
    t = nxt(a, pid)
    assert t["media_url"] == f"/api/annotate/media/{t['lease_id']}"
    r = httpx.get(app_server.url + t["media_url"])
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")
    submit(a, t["lease_id"])
    assert httpx.get(app_server.url + t["media_url"]).status_code == 404  # lease over: gone
    t2 = nxt(a, pid)
    r = httpx.get(app_server.url + t2["media_url"])
    assert r.status_code == 403 and r.json()["error"] == "media_outside_roots"


def test_page_and_openapi_are_served(app_server):
    page = httpx.get(app_server.url + "/")
    assert page.status_code == 200 and "<script" in page.text and "http" not in page.text.split("<script")[0].lower()
    spec = httpx.get(app_server.url + "/openapi.json").json()
    assert "/api/annotate/leases/{lease_id}/submit" in spec["paths"]
    assert "/api/projects/{project_id}/tasks" in spec["paths"]
