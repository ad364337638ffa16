"""An adjudicator's note and guideline-question flag: taken on adjudication tasks only, checked, stored once."""

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
        return con.execute("SELECT item_id, labels, comment, guideline_question FROM judgments WHERE project_id = ? "
                           "ORDER BY seq", (pid,)).fetchall()


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
    assert _stored(app_server, pid) == [("plain", '["neg"]', None, 0), ("hard", '["pos"]', "the guide is silent here", 1)]
