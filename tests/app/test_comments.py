"""Item comment threads and guideline questions through the API of the session's real app process."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.app.test_grid import audits, grid


def thread(c: httpx.Client, pid: str, item: str) -> httpx.Response:
    return c.get(f"/api/items/{pid}/{item}/comments")


def post(c: httpx.Client, pid: str, item: str, body: str, kind: str = "comment", **extra) -> httpx.Response:
    return c.post(f"/api/items/{pid}/{item}/comments", json={"body": body, "kind": kind, **extra})


def test_reviewers_and_experts_share_a_thread_and_retries_are_stored_once(admin, new_project, person) -> None:
    pid = new_project()
    item = audits(admin, pid, 1)[0]
    reviewer, expert = person(["reviewer"]), person(["expert"])
    first = post(reviewer, pid, item, "Is a sarcastic review 'pos'?", client_id="c1")
    assert first.status_code == 201, first.text
    again = post(reviewer, pid, item, "Is a sarcastic review 'pos'?", client_id="c1")
    assert again.json()["comment_id"] == first.json()["comment_id"]
    reply = post(expert, pid, item, "No: label what is meant.", "adjudication_note", reply_to=first.json()["comment_id"])
    assert reply.status_code == 201
    got = thread(reviewer, pid, item).json()["comments"]
    assert [(c["author"], c["kind"], c["body"]) for c in got] == [
        (reviewer.annotator_id, "comment", "Is a sarcastic review 'pos'?"),
        (expert.annotator_id, "adjudication_note", "No: label what is meant.")]
    assert got[1]["reply_to"] == got[0]["comment_id"]
    assert thread(admin, pid, item).json()["comments"] == got


def test_bad_comments_are_refused_and_nothing_is_stored(admin, new_project, person) -> None:
    pid = new_project()
    item = audits(admin, pid, 1)[0]
    reviewer = person(["reviewer"])
    r = post(reviewer, pid, "no-such-item", "hello")
    assert r.status_code == 404 and r.json()["error"] == "unknown_item" and "no-such-item" in r.json()["message"]
    r = post(reviewer, "no-such-project", item, "hello")
    assert r.status_code == 404 and r.json()["error"] == "unknown_project"
    r = post(reviewer, pid, item, "hello", "gossip")
    assert r.status_code == 422 and "kind" in r.json()["message"] and "gossip" in r.json()["message"]
    r = post(reviewer, pid, item, "   ")
    assert r.status_code == 422 and "body" in r.json()["message"]
    r = post(reviewer, pid, item, "hello", reply_to="nope")
    assert r.status_code == 422 and "reply_to" in r.json()["message"]
    post(reviewer, pid, item, "first", client_id="same")
    other = audits(admin, pid, 1, start=5)[0]
    r = post(reviewer, pid, other, "second", client_id="same")
    assert r.status_code == 409 and r.json()["error"] == "client_id_reused"
    plain = person()
    r = thread(plain, pid, item)
    assert r.status_code == 403 and r.json()["error"] == "wrong_role"
    assert [c["body"] for c in thread(reviewer, pid, item).json()["comments"]] == ["first"]
    assert thread(reviewer, pid, other).json()["comments"] == []
    with httpx.Client(base_url=str(admin.base_url)) as anon:
        assert anon.get(f"/api/items/{pid}/{item}/comments").status_code == 401


def test_a_lease_names_its_item_for_pages_that_do_not_know_the_id(admin, new_project, person) -> None:
    pid = new_project()
    item = audits(admin, pid, 1)[0]
    reviewer = person(["reviewer"])
    lease = grid(reviewer, pid).json()["items"][0]["lease_id"]
    assert post(reviewer, pid, f"lease:{lease}", "via the lease").status_code == 201
    assert thread(reviewer, pid, item).json()["comments"][0]["body"] == "via the lease"
    r = thread(person(["reviewer"]), pid, f"lease:{lease}")  # someone else's lease names nothing
    assert r.status_code == 404 and r.json()["error"] == "unknown_lease"


def test_guideline_questions_are_listed_for_the_owner_until_resolved(admin, new_project, person) -> None:
    pid = new_project()
    items = audits(admin, pid, 2)
    expert = person(["expert"])
    q1 = post(expert, pid, items[0], "Does 'meh' count as neg?", "guideline_question").json()
    post(expert, pid, items[1], "just a note")
    q2 = post(expert, pid, items[1], "Emoji only: which label?", "guideline_question").json()
    open_ = admin.get(f"/api/projects/{pid}/questions").json()["questions"]
    assert [q["comment_id"] for q in open_] == [q1["comment_id"], q2["comment_id"]]
    r = admin.post(f"/api/projects/{pid}/questions/{q1['comment_id']}/resolve",
                   json={"resolution": "Yes, 'meh' is neg (guideline 3.2).", "actor": "owner"})
    assert r.status_code == 200 and r.json()["resolved_by"] == "owner"
    assert [q["comment_id"] for q in admin.get(f"/api/projects/{pid}/questions").json()["questions"]] == [q2["comment_id"]]
    resolved = admin.get(f"/api/projects/{pid}/questions", params={"status": "resolved"}).json()["questions"]
    assert resolved[0]["resolution"].startswith("Yes")
    with pytest.raises(Exception, match="already resolved"):
        admin.post(f"/api/projects/{pid}/questions/{q1['comment_id']}/resolve", json={"resolution": "again"})
    with pytest.raises(Exception, match="unknown_question|no guideline question"):
        admin.post(f"/api/projects/{pid}/questions/{uuid.uuid4().hex}/resolve", json={"resolution": "x"})
    r = expert.get(f"/api/projects/{pid}/questions")  # the owner's list needs the admin token
    assert r.status_code == 401
    pulled = admin.get(f"/api/projects/{pid}/comments").json()["comments"]
    assert len(pulled) == 3 and {c["kind"] for c in pulled} == {"guideline_question", "comment"}


def test_the_annotator_of_a_rejected_answer_reads_and_replies_on_their_rework(admin, new_project, person) -> None:
    pid = new_project()
    ann, reviewer, bystander = person(["annotator"]), person(["reviewer"]), person(["annotator"])
    admin.post(f"/api/projects/{pid}/tasks", json={"tasks": [
        {"assignment_id": f"{pid}-l", "item_id": "it", "payload": "meh, fine"},
        {"assignment_id": f"{pid}-other", "item_id": "other", "payload": "x"}]})
    lease = ann.post(f"/api/annotate/{pid}/next").json()["task"]["lease_id"]
    ann.post(f"/api/annotate/leases/{lease}/submit", json={"client_id": "a1", "label": "pos"})
    j = admin.get(f"/api/projects/{pid}/judgments").json()["judgments"][0]
    assert post(ann, pid, "it", "may I?").json()["error"] == "wrong_role"  # before any rejection: not theirs
    admin.post(f"/api/projects/{pid}/tasks", json={"tasks": [
        {"assignment_id": f"review:{j['judgment_id']}", "item_id": "it", "kind": "review", "payload": "meh, fine",
         "context": {"review": {"target": j["judgment_id"], "source_id": ann.annotator_id, "origin": "human",
                                "answer": "pos", "assignment_id": j["assignment_id"]}}}]})
    rlease = reviewer.post(f"/api/review/{pid}/next").json()["task"]["lease_id"]
    post(reviewer, pid, f"lease:{rlease}", "'meh' is lukewarm: see the neutral rule")  # the review's item, by lease
    r = reviewer.post(f"/api/review/leases/{rlease}/submit", json={"decision": "reject", "client_id": "r1",
                                                                    "comment": "lukewarm is neg here"})
    assert r.status_code == 200, r.text
    rework = ann.post(f"/api/annotate/{pid}/next").json()["task"]
    assert rework["context"]["rework"]["comment"] == "lukewarm is neg here"
    got = thread(ann, pid, f"lease:{rework['lease_id']}")
    assert got.status_code == 200 and got.json()["item_id"] == "it"
    assert [(c["kind"], c["body"]) for c in got.json()["comments"]] == [  # the decision put its comment there
        ("comment", "'meh' is lukewarm: see the neutral rule"), ("rejection", "lukewarm is neg here")]
    reply = post(ann, pid, f"lease:{rework['lease_id']}", "Understood, fixing it.",
                 reply_to=got.json()["comments"][1]["comment_id"])
    assert reply.status_code == 201 and reply.json()["author"] == ann.annotator_id
    r = post(ann, pid, f"lease:{rework['lease_id']}", "is this in the guide?", "guideline_question")
    assert r.status_code == 403 and r.json()["error"] == "wrong_role"  # annotators reply; questions are the reviewers'
    assert thread(ann, pid, "other").json()["error"] == "wrong_role"  # only the reworked item's thread
    assert thread(bystander, pid, "it").json()["error"] == "wrong_role"  # and only the reworked annotator
    assert [c["body"] for c in thread(reviewer, pid, "it").json()["comments"]][-1] == "Understood, fixing it."
