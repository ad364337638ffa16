"""The app is generic over answer kinds: it asks the project's kind to check submits and pre-labels,
serves the kind's widget, and keeps every answer as JSON (older stores gain the column on start)."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from annotation_app.store import SCHEMA, Store
from tasks import kinds
from tests.app.test_leasing import nxt, push
from tests.app.test_submit_and_pull import judgments


@pytest.mark.parametrize(("task_kind", "answer", "label", "labels"), [
    ("single_label", "neg", "neg", ["neg"]),
    ("single_label", ["neg"], "neg", ["neg"]),
    ("multi_label", ["neg", "pos", "neg"], None, ["neg", "pos"]),
    ("multi_label", [], None, []),
])
def test_submit_takes_an_answer_for_every_kind(task_kind, answer, label, labels, admin, new_project, new_annotator):
    pid = new_project(task_kind=task_kind)
    push(admin, pid, [{"assignment_id": f"{pid}-0", "item_id": "i0", "payload": "t"}])
    a = new_annotator()
    lease = nxt(a, pid)["lease_id"]
    a.post(f"/api/annotate/leases/{lease}/submit", json={"client_id": "c0", "answer": answer})
    [j] = judgments(admin, pid)["judgments"]
    assert (j["label"], j["labels"], j["answer"]) == (label, labels, None)


def test_the_kind_refuses_bad_answers_and_pre_labels(app_server, admin, new_project, new_annotator):
    pid = new_project(task_kind="single_label")
    with httpx.Client(base_url=app_server.url) as raw:
        _refusals(raw, admin, pid, new_annotator)


def _refusals(raw, admin, pid, new_annotator) -> None:
    r = raw.post(f"/api/projects/{pid}/tasks", headers=admin.headers, json={"tasks": [
        {"assignment_id": f"{pid}-x", "item_id": "x", "payload": "t", "prelabel": "maybe"}]})
    assert r.status_code == 422 and r.json()["error"] == "unknown_label" and "pre-label" in r.json()["message"]
    push(admin, pid, [{"assignment_id": f"{pid}-0", "item_id": "i0", "payload": "t", "prelabel": ["pos"]}])
    a = new_annotator()
    task = nxt(a, pid)
    assert task["suggestion"] == {"answer": "pos"}  # stored normalised: the kind's JSON form
    for body, code in (({"answer": ["pos", "neg"]}, "invalid_labels"), ({"answer": 3}, "invalid_labels"),
                       ({"answer": "maybe"}, "unknown_label"), ({}, "invalid_labels")):
        r = raw.post(f"/api/annotate/leases/{task['lease_id']}/submit", headers=a.headers, json={"client_id": "c", **body})
        assert (r.status_code, r.json()["error"]) == (422, code), body
    assert judgments(admin, pid)["judgments"] == []


def test_projects_take_any_registered_kind_and_its_options(app_server, admin, new_annotator):
    with httpx.Client(base_url=app_server.url) as raw:
        r = raw.put("/api/projects/p-bad-kind", headers=admin.headers, json={"labels": ["a"], "task_kind": "no_such_kind"})
        _every_kind(raw, admin, new_annotator, r)


def _every_kind(raw, admin, new_annotator, r) -> None:
    assert r.status_code == 422 and "expected one of" in r.json()["message"]
    for name in kinds.names():
        r = raw.put(f"/api/projects/p-kind-{name}", headers=admin.headers,
                    json={"labels": ["a"], "task_kind": name, "options": {"snap": "tokens"}})
        assert r.status_code == 200 and r.json()["options"] == {"snap": "tokens"}, r.text
    me = new_annotator().get("/api/me").json()
    assert {p["project_id"]: p["options"] for p in me["projects"]}["p-kind-single_label"] == {"snap": "tokens"}


def test_the_app_serves_each_kinds_widget(app_server):
    with httpx.Client(base_url=app_server.url) as raw:
        for name in ("single_label", "multi_label", "spans"):
            r = raw.get(f"/kinds/{name}/widget.js")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
            assert r.text == kinds.get(name).queue.widget.read_text(encoding="utf-8")
            assert f'register("{name}"' in r.text
        r = raw.get("/kinds/nope/widget.js")
    assert r.status_code == 404 and r.json()["error"] == "unknown_task_kind"


def test_an_older_store_gains_the_answer_column_and_keeps_its_judgments(tmp_path):
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript(SCHEMA.replace("    answer TEXT,\n", ""))
    con.execute("INSERT INTO judgments (judgment_id, project_id, assignment_id, item_id, annotator_id, labels,"
                " duration_ms, submitted_at, client_id, lease_id) VALUES ('j', 'p', 'a', 'i', 'x', '[\"pos\"]', 1, 0, 'c', 'l')")
    con.commit()
    con.close()
    Store(path)
    Store(path)  # twice: the migration is idempotent
    con = sqlite3.connect(path)
    assert con.execute("SELECT labels, answer FROM judgments").fetchall() == [('["pos"]', None)]
    con.close()


def test_options_the_app_cannot_store_are_refused_not_a_server_error(app_server, admin):
    with httpx.Client(base_url=app_server.url) as raw:
        r = raw.put("/api/projects/p-huge-option", headers=admin.headers,
                    json={"labels": ["a"], "options": {"max": 10**30}})
    assert r.status_code == 422 and "64 bits" in r.text, r.text
