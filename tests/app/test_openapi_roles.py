"""Every route of the app's OpenAPI document, called with an annotator's and a reviewer's token: each reaches
only its own routes (the other role's answer 403 `wrong_role`, the pipeline's and the dashboard's 401/403),
and no response to either contains a gold item's answer, even when the pipeline pushed it with the task.
A route added later is swept too: it is refused to both unless it is listed here as theirs."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import orjson

from tests.conftest import ADMIN_TOKEN

# What the reference answer of the gold item looks like; no other answer in this test has a span 4..12.
GOLD = [{"start": 4, "end": 12, "label": "place"}]
TEXT = "The Seine flows through Paris."
OTHER = [{"start": 24, "end": 29, "label": "place"}]
MEDIA = "/api/annotate/media/{lease_id}"  # a capability (the lease id), for <img>/<audio>: no token at all


def _theirs(role: str, path: str) -> bool:
    if path in ("/api/me", "/healthz", MEDIA):
        return True
    return path.startswith({"annotator": "/api/annotate/", "reviewer": "/api/review/"}[role])


def _holds_gold(value: Any) -> bool:
    """The gold answer anywhere in a response: as a value, or as JSON text inside one."""
    if value == GOLD:
        return True
    if isinstance(value, str) and value[:1] == "[":
        try:
            return _holds_gold(orjson.loads(value))
        except orjson.JSONDecodeError:
            return False
    if isinstance(value, dict):
        return any(_holds_gold(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_gold(v) for v in value)
    return False


def _setup(url: str) -> tuple[httpx.Client, dict[str, tuple[str, httpx.Client]], list[str]]:
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
    tag = uuid.uuid4().hex[:6]
    # hidden: suggestions are off, and the gold task was pushed with its answer as the pre-label (a pipeline bug
    # the app must not turn into a leak); shown: suggestions on, and a review of the gold item whose pre-label is
    # the gold answer (a review task never shows its pre-label; the reviewed answer is someone's own).
    hidden, shown = f"gold-hidden-{tag}", f"gold-review-{tag}"
    for pid, show in ((hidden, False), (shown, True)):
        admin.put(f"/api/projects/{pid}", json={"labels": ["person", "place"], "task_kind": "spans",
                                                "show_prelabels": show}).raise_for_status()
    people = {}
    for role in ("annotator", "reviewer"):
        aid = f"{role}-{tag}"
        token = admin.post("/api/annotators", json={"annotator_id": aid, "roles": [role]}).json()["token"]
        people[role] = (aid, httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30))
    admin.post(f"/api/projects/{hidden}/tasks", json={"tasks": [
        {"assignment_id": f"{hidden}-{i}", "item_id": f"g{i}", "kind": "gold", "payload": TEXT, "prelabel": GOLD}
        for i in range(2)]}).raise_for_status()
    admin.post(f"/api/projects/{shown}/tasks", json={"tasks": [
        {"assignment_id": f"{shown}-r", "item_id": "g1", "kind": "review", "payload": TEXT, "prelabel": GOLD,
         "context": {"review": {"target": f"j-{tag}", "source_id": f"someone-{tag}", "origin": "human",
                                "answer": OTHER, "assignment_id": f"{shown}-g"}}}]}).raise_for_status()
    return admin, people, [hidden, shown]


def _fill(path: str, pid: str, aid: str, lease: str) -> str:
    values = {"project_id": pid, "lease_id": lease, "annotator_id": aid, "action": "pause"}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_every_route_keeps_each_role_to_its_own_and_never_shows_a_gold_answer(app_server):
    admin, people, projects = _setup(app_server.url)
    seen: list[tuple[str, str, Any]] = []
    try:
        # the work each role can do, with the tasks that carry the gold answer: views and submit answers kept
        _, ann = people["annotator"]
        gold_view = ann.post(f"/api/annotate/{projects[0]}/next").json()
        seen.append(("annotator", "next", gold_view))
        assert gold_view["task"] is not None and gold_view["task"]["suggestion"] is None
        _, rev = people["reviewer"]
        review_view = rev.post(f"/api/review/{projects[1]}/next").json()
        seen.append(("reviewer", "next", review_view))
        assert review_view["task"]["context"]["review"]["answer"] == OTHER
        assert review_view["task"]["suggestion"] is None
        leases = {"annotator": gold_view["task"]["lease_id"], "reviewer": review_view["task"]["lease_id"]}
        spec = admin.get("/openapi.json").json()
        routes = [(m.upper(), path) for path, ops in spec["paths"].items() for m in ops]
        # skips last: they give the leases back, which the other calls use
        routes.sort(key=lambda r: r[1].endswith("/skip"))
        assert len(routes) >= 25
        for role, (aid, client) in people.items():
            for method, path in routes:
                for pid in projects:
                    url = _fill(path, pid, aid, leases[role])
                    r = client.request(method, url, json={} if method in ("POST", "PUT", "PATCH") else None)
                    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text
                    seen.append((role, f"{method} {url}", body))
                    if _theirs(role, path):
                        assert r.status_code not in (401, 403), (role, method, url, r.status_code, body)
                    elif path.startswith(("/api/annotate/", "/api/review/")):
                        assert (r.status_code, body["error"]) == (403, "wrong_role"), (role, method, url, body)
                    else:
                        assert r.status_code in (401, 403), (role, method, url, r.status_code, body)
        # a submit that went through: the annotator's own answer comes back, never the gold one
        again = ann.post(f"/api/annotate/{projects[0]}/next").json()["task"]
        assert again is not None and again["lease_id"] != leases["annotator"]
        seen.append(("annotator", "submit", ann.post(f"/api/annotate/leases/{again['lease_id']}/submit",
                                                     json={"client_id": "x", "answer": OTHER, "next": True}).json()))
        leaked = [(role, what) for role, what, body in seen if _holds_gold(body)]
        assert leaked == []
        assert _holds_gold({"x": orjson.dumps(GOLD).decode()})  # the check itself finds it where it would be
    finally:
        admin.close()
        for _, c in people.values():
            c.close()


def test_an_expert_reaches_both_and_the_pipeline_reaches_neither(app_server):
    with httpx.Client(base_url=app_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        pid = f"roles-{uuid.uuid4().hex[:6]}"
        admin.put(f"/api/projects/{pid}", json={"labels": ["a", "b"]}).raise_for_status()
        token = admin.post("/api/annotators", json={"annotator_id": f"expert-{pid}", "roles": ["expert"]}).json()["token"]
        with httpx.Client(base_url=app_server.url, headers={"Authorization": f"Bearer {token}"}) as expert:
            assert expert.post(f"/api/annotate/{pid}/next").status_code == 200
            assert expert.post(f"/api/review/{pid}/next").status_code == 200
        for path in (f"/api/annotate/{pid}/next", f"/api/review/{pid}/next"):
            assert admin.post(path).status_code == 401  # the admin token is not a person
