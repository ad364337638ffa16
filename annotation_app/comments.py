"""Per-item comment threads and guideline questions, kept in the app's store (table `comments`).

Why in the app: the people who write them (reviewers, experts, the annotator whose answer was sent
back) talk to the app, and a thread must be there the moment the next person opens the item. The
pipeline pulls every row (`pull`) into its DuckDB `comments` table, so exports can list the comments
and questions that touched a label. A guideline question stays open until the project owner resolves
it (`resolve`), which is why rows change after they are written and the pull is a full re-read
(comments are few; the pipeline upserts by comment_id).

`comment_op` is the one place a comment row is built, so other writers (a rejection of R1's review,
an adjudication note) can store their comment in the same transaction as their judgment.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from annotation_app.core import ApiError, Queue, shown
from annotation_app.store import Op

__all__ = ["BODY_MAX", "COLUMNS", "KINDS", "comment_op", "known_item", "pull", "questions", "resolve", "thread"]

KINDS = ("comment", "guideline_question", "rejection", "adjudication_note")
BODY_MAX = 5_000
COLUMNS = ("seq", "comment_id", "project_id", "item_id", "author", "kind", "body", "reply_to", "client_id",
           "created_at", "resolved_at", "resolved_by", "resolution")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM comments"
_INSERT = ("INSERT OR IGNORE INTO comments (comment_id, project_id, item_id, author, kind, body, reply_to, client_id,"
           " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_RESOLVE = "UPDATE comments SET resolved_at = ?, resolved_by = ?, resolution = ? WHERE comment_id = ? AND resolved_at IS NULL"


def _rows(rows: list[tuple]) -> list[dict[str, Any]]:
    return [dict(zip(COLUMNS, r)) for r in rows]


def comment_op(project_id: str, item_id: str, author: str, kind: str, body: str, *, reply_to: str | None = None,
               client_id: str | None = None, now: float | None = None) -> tuple[Op, str]:
    """The INSERT of one comment (ignored if the author already used `client_id`) and its new id."""
    if kind not in KINDS:
        raise ApiError(422, "invalid_comment", f"kind: expected one of {', '.join(KINDS)}, got {shown(kind)}")
    if not isinstance(body, str) or not body.strip() or len(body) > BODY_MAX:
        raise ApiError(422, "invalid_comment", f"body: a non-empty text of at most {BODY_MAX} characters, got {shown(body)}")
    cid = uuid.uuid4().hex
    return (_INSERT, (cid, project_id, item_id, author, kind, body.strip(), reply_to, client_id, now or time.time()), False), cid


def known_item(q: Queue, project_id: str, item_id: str) -> None:
    """404 `unknown_item` unless the project ever had a task on `item_id`."""
    q.project(project_id)
    if not q.store.read("SELECT 1 FROM tasks WHERE project_id = ? AND item_id = ? LIMIT 1", (project_id, item_id)):
        raise ApiError(404, "unknown_item", f"project {project_id!r} has no item {shown(item_id)}; comment on an item "
                       "that was pushed to it (its item_id, or lease:<your lease id>)")


def thread(q: Queue, project_id: str, item_id: str) -> list[dict[str, Any]]:
    return _rows(q.store.read(f"{_SELECT} WHERE project_id = ? AND item_id = ? ORDER BY seq", (project_id, item_id)))


async def add(q: Queue, project_id: str, item_id: str, author: str, body: dict[str, Any]) -> dict[str, Any]:
    """Store one comment (a retry with the same client_id returns the first) and return it."""
    client_id, reply_to = body.get("client_id"), body.get("reply_to")
    if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= 200):
        raise ApiError(422, "invalid_client_id", f"client_id: a string of 1-200 characters, got {shown(client_id)}")
    if reply_to is not None and not (isinstance(reply_to, str) and q.store.read(
            "SELECT 1 FROM comments WHERE comment_id = ? AND project_id = ? AND item_id = ?", (reply_to, project_id, item_id))):
        raise ApiError(422, "invalid_comment", f"reply_to: no comment {shown(reply_to)} in this item's thread")
    op, cid = comment_op(project_id, item_id, author, body.get("kind", "comment"), body.get("body"),
                         reply_to=reply_to, client_id=client_id)
    await q.store.write([op])
    if client_id is not None:
        row = _rows(q.store.read(f"{_SELECT} WHERE author = ? AND client_id = ?", (author, client_id)))[0]
        if row["item_id"] != item_id or row["project_id"] != project_id:
            raise ApiError(409, "client_id_reused", f"client_id {shown(client_id)} was already used for another comment")
        return row
    return _rows(q.store.read(f"{_SELECT} WHERE comment_id = ?", (cid,)))[0]


def questions(q: Queue, project_id: str, status: str = "open") -> list[dict[str, Any]]:
    """The project's guideline questions, oldest first: `open`, `resolved` or `all`."""
    q.project(project_id)
    where = {"open": " AND resolved_at IS NULL", "resolved": " AND resolved_at IS NOT NULL", "all": ""}[status]
    return _rows(q.store.read(f"{_SELECT} WHERE project_id = ? AND kind = 'guideline_question'{where} ORDER BY seq",
                              (project_id,)))


async def resolve(q: Queue, project_id: str, comment_id: str, resolution: str, actor: str) -> dict[str, Any]:
    """Close an open guideline question with the owner's answer (which the thread then shows)."""
    q.project(project_id)
    found = _rows(q.store.read(f"{_SELECT} WHERE comment_id = ? AND project_id = ? AND kind = 'guideline_question'",
                               (comment_id, project_id)))
    if not found:
        raise ApiError(404, "unknown_question", f"project {project_id!r} has no guideline question {shown(comment_id)}; "
                       f"see GET /api/projects/{project_id}/questions")
    if found[0]["resolved_at"] is not None:
        raise ApiError(409, "already_resolved", f"question {comment_id} was already resolved by {found[0]['resolved_by']!r}: "
                       f"{shown(found[0]['resolution'])}")
    await q.store.write([(_RESOLVE, (time.time(), actor, resolution, comment_id), False)])
    return _rows(q.store.read(f"{_SELECT} WHERE comment_id = ?", (comment_id,)))[0]


def pull(q: Queue, project_id: str, cursor: int, limit: int) -> dict[str, Any]:
    """Every comment of the project after `cursor` (by seq), resolved or not, for the pipeline."""
    q.project(project_id)
    rows = _rows(q.store.read(f"{_SELECT} WHERE project_id = ? AND seq > ? ORDER BY seq LIMIT ?", (project_id, cursor, limit)))
    return {"comments": rows, "next_cursor": str(rows[-1]["seq"] if rows else cursor), "has_more": len(rows) == limit}
