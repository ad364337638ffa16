"""An adjudicator's note and guideline-question flag: taken on adjudication tasks only, checked, stored once,
and put in the item's comment thread (the note as an adjudication_note, the flag as a guideline question the
project owner sees in the open questions list) in the same write as the judgment."""

from __future__ import annotations

import sqlite3

import pytest

from tasks.errors import RequestRefusedError
from tests.app.test_leasing import nxt, push, submit

CONFLICT = {"conflict": {"answers": [{"source_id": "human:x", "source_type": "human", "answer": "pos",
                                      "reliability": {"value": None, "low": None, "high": None, "n": None, "metric": None}}],
                         "consensus": None, "posterior": None}}


def _stored(app_server, pid: str) -> list[tuple]:
    with sqlite3.connect(f"file:{app_server.db}?mode=ro", uri=True) as con:
        return con.execute("SELECT item_id, labels, comment FROM judgments WHERE project_id = ? ORDER BY seq",
                           (pid,)).fetchall()


def _thread(c, pid: str, item: str) -> list[tuple]:
    r = c.get(f"/api/items/{pid}/{item}/comments")
    assert r.status_code == 200, r.text
    return [(x["author"], x["kind"], x["body"]) for x in r.json()["comments"]]


def _adjudication(admin, pid: str, item: str) -> None:
    push(admin, pid, [{"assignment_id": f"{pid}-{item}", "item_id": item, "payload": "t", "kind": "adjudication",
                       "priority": 5.0, "context": CONFLICT}])


def test_note_and_flag_on_adjudication_only(app_server, admin, new_project, new_annotator):
    pid = new_project()
    push(admin, pid, [{"assignment_id": f"{pid}-l", "item_id": "plain", "payload": "t"},
                      {"assignment_id": f"{pid}-a", "item_id": "hard", "payload": "t", "kind": "adjudication",
                       "priority": 5.0, "context": CONFLICT}])
    person, expert = new_annotator(), new_annotator(roles=["expert"])

    lease = nxt(person, pid)["lease_id"]  # an ordinary task: a note is refused, nothing stored, the lease kept
    for extra, code in (({"comment": "why"}, "note_not_allowed"), ({"guideline_question": True}, "note_not_allowed")):
        with pytest.raises(RequestRefusedError) as e:
            submit(person, lease, **extra)
        assert e.value.status == 422 and e.value.code == code
    assert _stored(app_server, pid) == []
    submit(person, lease, "neg")

    task = nxt(expert, pid)
    assert task["context"] == CONFLICT
    for extra, code in (({"guideline_question": "yes"}, "invalid_guideline_question"),
                        ({"comment": "x" * 4001}, "invalid_comment"), ({"comment": 7}, "invalid_comment")):
        with pytest.raises(RequestRefusedError) as e:
            submit(expert, task["lease_id"], **extra)
        assert e.value.status == 422 and e.value.code == code
    first = submit(expert, task["lease_id"], "pos", client_id="adj", comment="  the guide is silent here ",
                   guideline_question=True)
    assert submit(expert, task["lease_id"], "pos", client_id="adj", comment="other", guideline_question=False) == first
    assert _stored(app_server, pid) == [("plain", '["neg"]', None), ("hard", '["pos"]', "the guide is silent here")]
    # the note and the question are in the item's thread, once each although the submit was sent twice
    me = expert.annotator_id
    assert _thread(expert, pid, "hard") == [(me, "adjudication_note", "the guide is silent here"),
                                            (me, "guideline_question", "the guide is silent here")]
    assert [(x["item_id"], x["author"], x["body"]) for x in admin.get(f"/api/projects/{pid}/questions").json()["questions"]] \
        == [("hard", me, "the guide is silent here")]
    assert _thread(admin, pid, "plain") == []  # refused notes left nothing behind


def test_flag_without_note_asks_about_the_item_and_a_note_alone_is_no_question(app_server, admin, new_project,
                                                                              new_annotator):
    pid = new_project()
    for item in ("flagged", "noted", "silent"):
        _adjudication(admin, pid, item)
    expert, other = new_annotator(roles=["expert"]), new_annotator(roles=["reviewer"])
    said = {}
    for _ in range(3):
        task = nxt(expert, pid)
        item = _item_of(app_server, task["lease_id"])
        extra = {"flagged": {"guideline_question": True}, "noted": {"comment": "b is right: the model misread it"},
                 "silent": {"comment": "   "}}[item]
        said[item] = submit(expert, task["lease_id"], "neg", client_id=f"adj-{item}", **extra)
        assert submit(expert, task["lease_id"], "neg", client_id=f"adj-{item}", **extra) == said[item]  # a retry
    me = expert.annotator_id
    (question,) = admin.get(f"/api/projects/{pid}/questions").json()["questions"]
    assert question["item_id"] == "flagged" and question["author"] == me and "item flagged" in question["body"]
    assert _thread(other, pid, "flagged") == [(me, "guideline_question", question["body"])]
    assert _thread(other, pid, "noted") == [(me, "adjudication_note", "b is right: the model misread it")]
    assert _thread(other, pid, "silent") == []  # a blank note is no note
    pulled = admin.get(f"/api/projects/{pid}/comments").json()["comments"]
    assert sorted((c["item_id"], c["kind"]) for c in pulled) == [("flagged", "guideline_question"),
                                                                 ("noted", "adjudication_note")]


def _item_of(app_server, lease_id: str) -> str:
    """The item of a lease (the annotate view names no item ids), from the app's store."""
    with sqlite3.connect(f"file:{app_server.db}?mode=ro", uri=True) as con:
        return con.execute("SELECT item_id FROM leases WHERE lease_id = ?", (lease_id,)).fetchone()[0]
