"""Submits (stored once per client id, answered the same on retry), judgment pulls and annotator records.

Split from `core` to keep the leasing logic readable; these functions work on a `Queue`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from typing import Any

import orjson

from annotation_app.comments import comment_op
from annotation_app.core import (
    Annotator,
    ApiError,
    Queue,
    Task,
    hash_token,
    shown,
    slot_of,
)
from annotation_app.store import Op

CLIENT_ID_MAX = 200
DURATION_MAX_MS = 86_400_000
COMMENT_MAX = 4_000
NOTE_KINDS = frozenset({"adjudication"})
"""Task kinds whose submit may carry a note (`comment`) and a `guideline_question` flag: the expert's
word on a conflict is kept with their answer and put in the item's thread; an ordinary answer carries none."""

__all__ = ["CLIENT_ID_MAX", "COMMENT_MAX", "DURATION_MAX_MS", "NOTE_KINDS", "judgment_columns", "note_fields",
           "note_ops", "pulled_columns", "stored_before", "duration_of", "record", "submit", "pull", "create_annotator",
           "update_annotator", "rotate_token", "me"]


def judgment_columns(column: str, answer: Any) -> tuple[str, str]:
    """The stored `labels` (JSON list) and `answer` (JSON) of one answer in its kind's JSON form.

    Choices keep their labels in `labels`, as judgments always had them; every judgment also keeps its
    answer as JSON, which is what structured kinds (column `answer`) are pulled from."""
    if column == "label":
        labels = [answer]
    elif column == "labels":
        labels = answer
    else:
        labels = []
    return orjson.dumps(labels).decode(), orjson.dumps(answer).decode()


def pulled_columns(column: str, labels_json: str, answer_json: str | None) -> dict[str, Any]:
    """A stored judgment's `label`, `labels` and `answer` as the pull API returns them (`JUDGMENT_SCHEMA`):
    only the kind's own column is filled, plus `labels` for single-label (all labels chosen, as ever)."""
    labels = orjson.loads(labels_json)
    if column == "answer":
        return {"label": None, "labels": None, "answer": answer_json}
    return {"label": labels[0] if column == "label" and labels else None, "labels": labels, "answer": None}


def note_fields(body: dict[str, Any], task_kind: str) -> tuple[str | None, bool]:
    """The submit's `comment` (stripped, None when empty) and `guideline_question` flag, checked."""
    comment, flag = body.get("comment"), body.get("guideline_question", False)
    if comment is None and not flag:
        return None, False
    if task_kind not in NOTE_KINDS:
        raise ApiError(422, "note_not_allowed", f"a {task_kind} task takes no 'comment' or 'guideline_question'; only "
                       f"{', '.join(sorted(NOTE_KINDS))} tasks do")
    if comment is not None and (not isinstance(comment, str) or len(comment) > COMMENT_MAX):
        raise ApiError(422, "invalid_comment", f"'comment' must be a string of at most {COMMENT_MAX} characters, "
                       f"got {shown(comment)}")
    if not isinstance(flag, bool):
        raise ApiError(422, "invalid_guideline_question", f"'guideline_question' must be true or false, got {shown(flag)}")
    return (comment.strip() or None) if comment is not None else None, flag


def note_ops(t: Task, author: str, client_id: str, comment: str | None, flag: bool) -> list[Op]:
    """The comments an adjudicator's submit puts in the item's thread, written with the judgment: the note
    (kind adjudication_note) so reviewers and the next expert read it where the item's discussion is, and
    the flag as a guideline question (its body the note, or a sentence naming the item) so it reaches the
    project owner's list of open questions. Their client ids derive from the submit's: stored once."""
    ops = []
    if comment is not None:
        ops.append(comment_op(t.project_id, t.item_id, author, "adjudication_note", comment,
                              client_id=f"adjudication_note:{client_id}")[0])
    if flag:
        body = comment or f"Adjudicating item {t.item_id}, the guidelines did not settle it: please add a rule for such cases."
        ops.append(comment_op(t.project_id, t.item_id, author, "guideline_question", body,
                              client_id=f"guideline_question:{client_id}")[0])
    return ops


async def stored_before(q: Queue, a: Annotator, lease_id: str, body: dict[str, Any]) -> tuple[str, dict | None]:
    """The submit's client id, and the answer already given for it (a retry) or None: a retry is answered
    as the first time and stores nothing, whether the first is committed or still in flight."""
    client_id = body.get("client_id")
    if not isinstance(client_id, str) or not 0 < len(client_id) <= CLIENT_ID_MAX:
        raise ApiError(422, "invalid_client_id",
                       f"'client_id' must be a string of 1-{CLIENT_ID_MAX} characters, unique per submit")
    key = (a.annotator_id, client_id)
    done = q.submitted.get(key)
    if done is None and key in q.pending:
        await asyncio.shield(q.pending[key])
        done = q.submitted.get(key)
    if done is not None and done["lease_id"] != lease_id:
        raise ApiError(409, "client_id_reused", f"client_id {shown(client_id)} was already used for another task")
    return client_id, done


def duration_of(body: dict[str, Any], t: Task, now: float) -> int:
    duration = body.get("duration_ms")
    if duration is None:
        return int((now - t.leased_at) * 1000)
    if not isinstance(duration, int) or isinstance(duration, bool) or not 0 <= duration <= DURATION_MAX_MS:
        raise ApiError(422, "invalid_duration", f"'duration_ms' must be an integer 0..{DURATION_MAX_MS}, got {shown(duration)}")
    return duration


async def record(q: Queue, a: Annotator, t: Task, client_id: str, labels_json: str, answer_json: str | None,
                 duration: int, now: float, *, decision: str | None = None, comment: str | None = None,
                 also: list[Op] = ()) -> dict[str, Any]:
    """Finish the task and store its judgment (plus `also`, in the same transaction); answered only after
    the commit. Should the store refuse, the lease is put back so a retry of the same request succeeds."""
    lease_id = t.lease_id
    assert lease_id is not None
    key = (a.annotator_id, client_id)
    p = q.projects[t.project_id]
    jid = uuid.uuid4().hex
    q._end_lease(t, "submitted")
    t.status = "done"
    del q.tasks[t.assignment_id]
    q.finished[t.assignment_id] = "done"
    p.counts["leased"] -= 1
    p.counts["done"] += 1
    fut = q.store.write([
        ("INSERT INTO judgments (judgment_id, project_id, assignment_id, item_id, annotator_id, labels, answer, "
         "duration_ms, submitted_at, client_id, lease_id, decision, comment) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         (jid, t.project_id, t.assignment_id, t.item_id, a.annotator_id, labels_json, answer_json,
          duration, now, client_id, lease_id, decision, comment), False),
        ("UPDATE tasks SET status = 'done', lease_id = NULL WHERE assignment_id = ?", (t.assignment_id,), False),
        ("UPDATE leases SET ended = 'submitted' WHERE lease_id = ?", (lease_id,), False),
        *also,
    ])
    q.pending[key] = fut
    try:
        await asyncio.shield(fut)
    except Exception as e:  # the store refused the write: put the lease back so a retry can succeed
        q.finished.pop(t.assignment_id, None)
        q.tasks[t.assignment_id] = t
        t.status, t.lease_id, t.lease_annotator = "leased", lease_id, a.annotator_id
        q.leases[lease_id] = t
        q.ended.pop(lease_id, None)
        a.current[slot_of(t)] = lease_id
        p.counts["leased"] += 1
        p.counts["done"] -= 1
        raise ApiError(503, "store_error", f"the judgment was not stored ({e}); retry the same request") from None
    finally:
        q.pending.pop(key, None)
    resp = {"judgment_id": jid, "lease_id": lease_id, "project_id": t.project_id, "submitted_at": now, "stored": True,
            **({"decision": decision} if decision is not None else {})}
    q.submitted[key] = resp
    a.submitted += 1
    a.first_submit = a.first_submit or now
    a.last_submit = now
    return resp


async def submit(q: Queue, a: Annotator, lease_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Store one answer; a rework task's answer is the annotator's resubmission (decision "resubmit")."""
    client_id, done = await stored_before(q, a, lease_id, body)
    if done is not None:
        return done
    t = q.leased_to(a, lease_id)
    if t.kind == "review":
        raise ApiError(409, "wrong_endpoint", f"lease {lease_id} is a review: decide it with "
                       f"POST /api/review/leases/{lease_id}/submit")
    p = q.projects[t.project_id]
    answer = p.parse_answer(body, t.payload, f"project {t.project_id!r}")
    comment, flag = note_fields(body, t.kind)
    labels_json, answer_json = judgment_columns(p.kind.storage.column, answer)
    now = time.time()
    duration = duration_of(body, t, now)
    return await record(q, a, t, client_id, labels_json, answer_json, duration, now,
                        decision="resubmit" if t.kind == "rework" else None,
                        comment=comment, also=note_ops(t, a.annotator_id, client_id, comment, flag))


def pull(q: Queue, project_id: str, cursor: int, limit: int) -> dict[str, Any]:
    """Judgments committed after `cursor`, oldest first; runs on a worker thread with its own connection."""
    p = q.project(project_id)
    rows = q.store.read(
        "SELECT j.seq, j.judgment_id, j.assignment_id, j.item_id, j.annotator_id, j.labels, j.answer, j.duration_ms,"
        " j.submitted_at, j.client_id, t.kind, j.decision, j.comment,"
        " CASE WHEN t.kind = 'review' THEN json_extract(t.context, '$.review.target') END"
        " FROM judgments j LEFT JOIN tasks t ON t.assignment_id = j.assignment_id"
        " WHERE j.project_id = ? AND j.seq > ? ORDER BY j.seq LIMIT ?",
        (project_id, cursor, limit),
    )
    column = p.kind.storage.column
    out = []
    for seq, jid, aid, item, ann, labels, answer, dur, at, cid, kind, decision, comment, target in rows:
        out.append({
            "seq": seq, "judgment_id": jid, "assignment_id": aid, "item_id": item, "annotator_id": ann,
            **pulled_columns(column, labels, answer), "duration_ms": dur, "submitted_at": at, "client_id": cid,
            "task_kind": kind, "decision": decision, "comment": comment, "target": target,
        })
    nxt = rows[-1][0] if rows else cursor
    return {"judgments": out, "next_cursor": str(nxt), "has_more": len(rows) == limit}


def _new_token() -> str:
    return "af_" + secrets.token_urlsafe(24)


async def create_annotator(q: Queue, annotator_id: str, name: str | None, roles: list[str],
                           projects: list[str] | None) -> dict[str, Any]:
    if annotator_id in q.annotators:
        raise ApiError(409, "annotator_exists",
                       f"annotator {annotator_id!r} exists; POST /api/annotators/{annotator_id}/token issues a new token")
    token = _new_token()
    a = Annotator(annotator_id, name, hash_token(token), frozenset(roles),
                  frozenset(projects) if projects is not None else None, True, time.time())
    q.annotators[annotator_id] = a
    q.by_token[a.token_hash] = a
    await q.store.write([("INSERT INTO annotators VALUES (?, ?, ?, ?, ?, 1, ?)",
                          (annotator_id, name, a.token_hash, orjson.dumps(sorted(a.roles)).decode(),
                           orjson.dumps(sorted(projects)).decode() if projects is not None else None,
                           a.created_at), False)])
    return {**a.public(), "token": token}


def _annotator(q: Queue, annotator_id: str) -> Annotator:
    a = q.annotators.get(annotator_id)
    if a is None:
        raise ApiError(404, "unknown_annotator", f"no annotator {annotator_id!r}; create it with POST /api/annotators")
    return a


async def rotate_token(q: Queue, annotator_id: str) -> dict[str, Any]:
    a = _annotator(q, annotator_id)
    token = _new_token()
    del q.by_token[a.token_hash]
    a.token_hash = hash_token(token)
    q.by_token[a.token_hash] = a
    await q.store.write([("UPDATE annotators SET token_hash = ? WHERE annotator_id = ?",
                          (a.token_hash, annotator_id), False)])
    return {**a.public(), "token": token}


async def update_annotator(q: Queue, annotator_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    a = _annotator(q, annotator_id)
    if changes.get("name") is not None:
        a.name = changes["name"]
    if changes.get("roles") is not None:
        a.roles = frozenset(changes["roles"])
    if "projects" in changes:
        a.projects = frozenset(changes["projects"]) if changes["projects"] is not None else None
    if changes.get("active") is not None:
        a.active = bool(changes["active"])
    await q.store.write([("UPDATE annotators SET name = ?, roles = ?, projects = ?, active = ? WHERE annotator_id = ?",
                          (a.name, orjson.dumps(sorted(a.roles)).decode(),
                           orjson.dumps(sorted(a.projects)).decode() if a.projects is not None else None,
                           int(a.active), annotator_id), False)])
    return a.public()


_PAGE_FIELDS = ("project_id", "labels", "task_kind", "data_kind", "options", "instructions", "lease_seconds")


def me(q: Queue, a: Annotator) -> dict[str, Any]:
    """The annotator's own progress and the projects they may work on: nothing about other people or gold.

    A project's settings are shown only as far as the page needs them; who else was removed from a
    project is the pipeline's business, and a project the caller was removed from is not listed.
    """
    rate = None
    if a.first_submit and a.last_submit and a.submitted > 1 and a.last_submit > a.first_submit:
        rate = round((a.submitted - 1) / (a.last_submit - a.first_submit) * 3600, 1)
    projects = []
    for pid, p in q.projects.items():
        if (a.projects is not None and pid not in a.projects) or a.annotator_id in p.excluded:
            continue
        cfg = p.config()
        projects.append({**{k: cfg[k] for k in _PAGE_FIELDS}, "remaining": p.counts["open"] + p.counts["leased"]})
    return {**a.public(), "per_hour": rate, "projects": projects, "reviews": q.review_stats(a.annotator_id)}
