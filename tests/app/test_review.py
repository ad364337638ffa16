"""Review in the built-in app, over HTTP against the real app: roles, accept / correct / reject with a
comment, the rework loop (the annotator sees the comment and resubmits), conflicting decisions, checks of
a correction by the kind, retries stored once, counts in the stats, and all of it kept across a restart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from annotation_app.process import start_app
from tests.conftest import ADMIN_TOKEN

TEXT = "Ada Lovelace met Charles Babbage in London."


class Person:
    """An app user over plain HTTP: every call returns (status, body), refusals included."""

    def __init__(self, url: str, token: str, annotator_id: str = "admin") -> None:
        self.id = annotator_id
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def post(self, path: str, body: dict | None = None) -> tuple[int, Any]:
        r = self.http.post(path, json=body) if body is not None else self.http.post(path)
        return r.status_code, r.json()

    def get(self, path: str) -> tuple[int, Any]:
        r = self.http.get(path)
        return r.status_code, r.json()

    def ok(self, path: str, body: dict | None = None) -> Any:
        status, out = self.post(path, body)
        assert status in (200, 201), (path, status, out)
        return out


class Project:
    """A spans or choices project on the app, with people of each role."""

    def __init__(self, url: str, task_kind: str, labels: list[str]) -> None:
        self.url = url
        self.admin = Person(url, ADMIN_TOKEN)
        self.pid = f"r-{uuid.uuid4().hex[:8]}"
        assert self.admin.http.put(f"/api/projects/{self.pid}", json={"labels": labels, "task_kind": task_kind}).status_code == 200
        self.people: list[Person] = []

    def person(self, *roles: str) -> Person:
        aid = f"{roles[0] if roles else 'anyone'}-{uuid.uuid4().hex[:6]}"
        token = self.admin.ok("/api/annotators", {"annotator_id": aid, "roles": list(roles)})["token"]
        p = Person(self.url, token, aid)
        self.people.append(p)
        return p

    def push(self, *tasks: dict) -> dict:
        return self.admin.ok(f"/api/projects/{self.pid}/tasks", {"tasks": list(tasks)})

    def pull(self) -> list[dict]:
        return self.admin.http.get(f"/api/projects/{self.pid}/judgments", params={"limit": 1000}).json()["judgments"]

    def labelled(self, who: Person, item: str, answer: Any) -> dict:
        """`who` labels a fresh item; returns the pulled judgment."""
        aid = f"{self.pid}-{item}"
        self.push({"assignment_id": aid, "item_id": item, "payload": TEXT})
        task = who.ok(f"/api/annotate/{self.pid}/next")["task"]
        who.ok(f"/api/annotate/leases/{task['lease_id']}/submit", {"client_id": f"c-{item}", "answer": answer})
        return next(j for j in self.pull() if j["assignment_id"] == aid)

    def review_of(self, j: dict, answer: Any, n: int = 0) -> str:
        """The pipeline pushes a review task of judgment `j` (as dispatch does); returns its assignment id."""
        aid = f"review:{j['judgment_id']}:{n}"
        self.push({"assignment_id": aid, "item_id": j["item_id"], "kind": "review", "payload": TEXT,
                   "context": {"review": {"target": j["judgment_id"], "source_id": j["annotator_id"], "origin": "human",
                                          "answer": answer, "assignment_id": j["assignment_id"]}}})
        return aid

    def close(self) -> None:
        for p in [self.admin, *self.people]:
            p.http.close()


@pytest.fixture
def project(app_server) -> Iterator:
    made: list[Project] = []

    def make(task_kind: str = "spans", labels: list[str] = ("person", "place")) -> Project:
        made.append(Project(app_server.url, task_kind, list(labels)))
        return made[-1]

    yield make
    for p in made:
        p.close()


ADA = [{"start": 0, "end": 12, "label": "person"}]
ADA_WRONG = [{"start": 0, "end": 3, "label": "place"}]
FIXED = [{"start": 0, "end": 12, "label": "person"}, {"start": 17, "end": 32, "label": "person"}]


def test_reject_with_comment_sends_the_answer_back_and_the_resubmission_is_pulled(project):
    p = project()
    ann, rev = p.person("annotator"), p.person("reviewer")
    j = p.labelled(ann, "i1", ADA_WRONG)
    p.review_of(j, ADA_WRONG)
    assert ann.post(f"/api/review/{p.pid}/next")[0] == 403
    assert ann.ok(f"/api/annotate/{p.pid}/next")["task"] is None  # review tasks never reach /api/annotate
    task = rev.ok(f"/api/review/{p.pid}/next")["task"]
    assert task["context"]["review"]["answer"] == ADA_WRONG and task["context"]["review"]["source_id"] == ann.id
    assert task["suggestion"] is None and task["payload"] == TEXT
    lease = task["lease_id"]
    status, err = rev.post(f"/api/review/leases/{lease}/submit", {"decision": "reject", "client_id": "d1"})
    assert (status, err["error"]) == (422, "comment_required")
    body = {"decision": "reject", "comment": "Ada Lovelace is a person, and Babbage too", "client_id": "d1"}
    first = rev.ok(f"/api/review/leases/{lease}/submit", body)
    assert first["decision"] == "reject"
    assert rev.ok(f"/api/review/leases/{lease}/submit", body) == first  # a retry: answered the same, stored once
    [row] = [r for r in p.pull() if r["task_kind"] == "review"]
    assert (row["decision"], row["comment"], row["target"], row["annotator_id"]) == (
        "reject", body["comment"], j["judgment_id"], rev.id)
    assert row["answer"] is None and row["labels"] is None and row["label"] is None
    thread = rev.get(f"/api/items/{p.pid}/i1/comments")[1]["comments"]  # the rejection is in the item's thread, once
    assert [(c["kind"], c["author"], c["body"]) for c in thread] == [("rejection", rev.id, body["comment"])]

    rework = ann.ok(f"/api/annotate/{p.pid}/next")["task"]  # at once, before any other work
    assert rework["context"]["rework"]["comment"] == body["comment"]
    status, seen = ann.get(f"/api/items/{p.pid}/lease:{rework['lease_id']}/comments")  # the annotator reads the thread
    assert status == 200 and seen["item_id"] == "i1" and seen["comments"] == thread
    reply = ann.ok(f"/api/items/{p.pid}/lease:{rework['lease_id']}/comments",
                   {"body": "Babbage added", "reply_to": thread[0]["comment_id"]})
    assert [c["comment_id"] for c in rev.get(f"/api/items/{p.pid}/i1/comments")[1]["comments"]] == [
        thread[0]["comment_id"], reply["comment_id"]]
    assert rework["context"]["rework"]["answer"] == ADA_WRONG and rework["context"]["rework"]["reviewer"] == rev.id
    assert p.person("annotator").ok(f"/api/annotate/{p.pid}/next")["task"] is None  # nobody else gets it
    status, err = ann.post(f"/api/annotate/leases/{rework['lease_id']}/skip")
    assert (status, err["error"]) == (409, "rework_not_skippable")
    out = ann.ok(f"/api/annotate/leases/{rework['lease_id']}/submit", {"client_id": "fix-1", "answer": FIXED})
    assert out["decision"] == "resubmit"
    [again] = [r for r in p.pull() if r["task_kind"] == "rework"]
    assert again["decision"] == "resubmit" and again["annotator_id"] == ann.id and again["item_id"] == "i1"
    assert again["assignment_id"] == f"rework:{j['assignment_id']}:1"
    assert again["answer"] is not None and [s["end"] for s in _json(again["answer"])] == [12, 32]


def _json(text: str) -> Any:
    import orjson

    return orjson.loads(text)


def test_accept_and_correct_are_stored_as_the_reviewers_answer_and_counted(project):
    p = project()
    ann, rev = p.person("annotator"), p.person("reviewer")
    ok, wrong = p.labelled(ann, "i1", ADA), p.labelled(ann, "i2", ADA_WRONG)
    p.review_of(ok, ADA)
    p.review_of(wrong, ADA_WRONG)
    decided = {}
    for _ in range(2):
        task = rev.ok(f"/api/review/{p.pid}/next")["task"]
        target = task["context"]["review"]["target"]
        if target == ok["judgment_id"]:
            decided[target] = rev.ok(f"/api/review/leases/{task['lease_id']}/submit",
                                     {"decision": "accept", "client_id": f"d-{target}"})
        else:
            bad = {"decision": "correct", "client_id": f"d-{target}", "answer": [{"start": 0, "end": 99, "label": "person"}]}
            status, err = rev.post(f"/api/review/leases/{task['lease_id']}/submit", bad)
            assert status == 422 and "answer[0].end" in err["message"], err  # the kind names the field
            status, err = rev.post(f"/api/review/leases/{task['lease_id']}/submit",
                                   {**bad, "answer": [{"start": 0, "end": 12, "label": "animal"}]})
            assert (status, err["error"]) == (422, "unknown_label") and "answer[0].label" in err["message"]
            decided[target] = rev.ok(f"/api/review/leases/{task['lease_id']}/submit", {**bad, "answer": ADA})
    assert rev.ok(f"/api/review/{p.pid}/next")["task"] is None
    rows = {r["target"]: r for r in p.pull() if r["task_kind"] == "review"}
    assert rows[ok["judgment_id"]]["decision"] == "accept" and _json(rows[ok["judgment_id"]]["answer"]) == ADA
    assert rows[wrong["judgment_id"]]["decision"] == "correct" and _json(rows[wrong["judgment_id"]]["answer"]) == ADA
    assert ann.ok(f"/api/annotate/{p.pid}/next")["task"] is None  # no rework for accepted or corrected answers
    stats = [s for s in p.admin.http.get("/api/stats").json()["reviews"] if s["project_id"] == p.pid]
    assert stats == [{"project_id": p.pid, "source_id": ann.id, "reviewed": 2, "accepted": 1, "corrected": 1,
                      "rejected": 0, "acceptance_rate": 0.5, "rejection_rate": 0.0}]
    assert ann.get("/api/me")[1]["reviews"] == stats


def test_a_second_decision_on_the_same_answer_is_refused_and_nothing_is_stored(project):
    p = project("single_label", ["pos", "neg"])
    ann, rev1, rev2 = p.person("annotator"), p.person("reviewer"), p.person("expert")
    j = p.labelled(ann, "i1", "pos")
    p.review_of(j, "pos", 0)
    p.review_of(j, "pos", 1)  # the same answer pushed for review twice (two rounds of the policy)
    t1 = rev1.ok(f"/api/review/{p.pid}/next")["task"]
    t2 = rev2.ok(f"/api/review/{p.pid}/next")["task"]
    assert t1["lease_id"] != t2["lease_id"]
    rev1.ok(f"/api/review/leases/{t1['lease_id']}/submit", {"decision": "accept", "client_id": "a"})
    before = p.pull()
    status, err = rev2.post(f"/api/review/leases/{t2['lease_id']}/submit",
                            {"decision": "reject", "comment": "no", "client_id": "b"})
    assert (status, err["error"]) == (409, "already_reviewed") and rev1.id in err["message"]
    assert p.pull() == before
    assert ann.ok(f"/api/annotate/{p.pid}/next")["task"] is None  # the refused reject made no rework
    assert rev2.get(f"/api/items/{p.pid}/i1/comments")[1]["comments"] == []  # ... and left no rejection comment
    rev2.ok(f"/api/review/leases/{t2['lease_id']}/skip")
    assert rev2.ok(f"/api/review/{p.pid}/next")["task"] is None


def test_roles_are_enforced_per_route_and_nobody_reviews_their_own_work(project):
    p = project("single_label", ["pos", "neg"])
    ann, rev, exp, old = p.person("annotator"), p.person("reviewer"), p.person("expert"), p.person()
    status, err = rev.post(f"/api/annotate/{p.pid}/next")
    assert (status, err["error"]) == (403, "wrong_role") and "/api/review/" in err["message"] and "'annotator'" in err["message"]
    status, err = ann.post(f"/api/review/{p.pid}/next")
    assert (status, err["error"]) == (403, "wrong_role") and "/api/annotate/" in err["message"] and "'reviewer'" in err["message"]
    assert old.post(f"/api/review/{p.pid}/next")[0] == 403  # no roles: an annotator, as before roles existed
    for who in (old, exp):
        assert who.post(f"/api/annotate/{p.pid}/next")[0] == 200
    mine = p.labelled(exp, "i9", "neg")  # an expert labels, then reviews: never their own answer
    p.review_of(mine, "neg")
    assert exp.ok(f"/api/review/{p.pid}/next")["task"] is None
    assert rev.ok(f"/api/review/{p.pid}/next")["task"]["context"]["review"]["source_id"] == exp.id
    status, err = p.admin.post("/api/annotators", {"annotator_id": "x-bad-role", "roles": ["boss"]})
    assert status == 422 and "roles" in err["message"]


def test_review_pushes_are_checked(project):
    p = project("single_label", ["pos", "neg"])
    base = {"assignment_id": "rv-1", "item_id": "i1", "kind": "review", "payload": "t"}
    for context, field in (
        (None, "context.review"),
        ({"review": {"source_id": "a", "origin": "human", "answer": "pos"}}, "context.review.target"),
        ({"review": {"target": "j1", "source_id": "a", "origin": "robot", "answer": "pos"}}, "context.review.origin"),
        ({"review": {"target": "j1", "source_id": "a", "origin": "human", "answer": "maybe"}}, "context.review.answer"),
    ):
        status, err = p.admin.post(f"/api/projects/{p.pid}/tasks", {"tasks": [{**base, "context": context}]})
        assert status == 422 and field in err["message"], (context, err)
    assert p.admin.http.get(f"/api/projects/{p.pid}").json()["counts"]["open"] == 0


def test_review_state_survives_a_restart(tmp_path):
    app = start_app(tmp_path / "app.db", ADMIN_TOKEN, log=tmp_path / "app.log")
    p = Project(app.url, "spans", ["person", "place"])
    try:
        ann, rev1, rev2 = p.person("annotator"), p.person("reviewer"), p.person("reviewer")
        j = p.labelled(ann, "i1", ADA_WRONG)
        p.review_of(j, ADA_WRONG, 0)
        p.review_of(j, ADA_WRONG, 1)
        t1 = rev1.ok(f"/api/review/{p.pid}/next")["task"]
        t2 = rev2.ok(f"/api/review/{p.pid}/next")["task"]
        body = {"decision": "reject", "comment": "both names are people", "client_id": "d1"}
        first = rev1.ok(f"/api/review/leases/{t1['lease_id']}/submit", body)
        pulled = p.pull()
        app.stop()
        app.start()
        assert rev1.ok(f"/api/review/leases/{t1['lease_id']}/submit", body) == first  # still stored once
        status, err = rev2.post(f"/api/review/leases/{t2['lease_id']}/submit", {"decision": "accept", "client_id": "d2"})
        assert (status, err["error"]) == (409, "already_reviewed") and rev1.id in err["message"]
        assert p.pull() == pulled
        rework = ann.ok(f"/api/annotate/{p.pid}/next")["task"]
        assert rework["context"]["rework"]["comment"] == body["comment"]
        stats = p.admin.http.get("/api/stats").json()["reviews"]
        assert [(s["source_id"], s["rejected"], s["reviewed"]) for s in stats] == [(ann.id, 1, 1)]
        ann.ok(f"/api/annotate/leases/{rework['lease_id']}/submit", {"client_id": "fix", "answer": FIXED})
        app.stop()
        app.start()
        assert ann.ok(f"/api/annotate/{p.pid}/next")["task"] is None  # the rework is done and stays done
        j2 = next(r for r in p.pull() if r["task_kind"] == "rework")
        rev2.ok(f"/api/review/leases/{t2['lease_id']}/skip")  # the review decided by someone else, given back
        p.review_of(j2, FIXED)  # the resubmission reviewed and rejected again: a second rework of the same assignment
        t = rev2.ok(f"/api/review/{p.pid}/next")["task"]
        rev2.ok(f"/api/review/leases/{t['lease_id']}/submit", {"decision": "reject", "comment": "still", "client_id": "d3"})
        again = ann.ok(f"/api/annotate/{p.pid}/next")["task"]
        assert again["context"]["rework"]["comment"] == "still"
        ann.ok(f"/api/annotate/leases/{again['lease_id']}/submit", {"client_id": "fix2", "answer": FIXED})
        ids = [r["assignment_id"] for r in p.pull() if r["task_kind"] == "rework"]
        assert ids == [f"rework:{j['assignment_id']}:1", f"rework:{j['assignment_id']}:2"]
    finally:
        p.close()
        app.stop()
