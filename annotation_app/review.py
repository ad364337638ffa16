"""A reviewer's decision on one answer (accept, correct, reject) and the rework a rejection sends back.

A decision is a judgment of the review task, so it is pulled, stored and retried exactly like an
answer (`submit.record`); what is particular to review is decided here, on the event loop, before
anything is written: the first decision on a target wins (a second one, by anyone, is refused and
stores nothing), a correction is checked by the kind like any submit, and a rejection puts its comment
in the item's thread (kind "rejection") and, for a person's answer, creates a rework task that only that
person will be offered, both in the same transaction as the decision.
"""

from __future__ import annotations

import time
from typing import Any

from annotation_app.comments import comment_op
from annotation_app.core import DECISIONS, Annotator, ApiError, Queue, Task, shown
from annotation_app.submit import duration_of, judgment_columns, record, stored_before

__all__ = ["COMMENT_MAX", "decide"]

COMMENT_MAX = 5_000
_DONE = {"accept": "accepted", "correct": "corrected", "reject": "rejected"}


def _comment(body: dict[str, Any], decision: str) -> str | None:
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > COMMENT_MAX):
        raise ApiError(422, "invalid_comment", f"'comment' must be text of at most {COMMENT_MAX} characters, "
                       f"got {shown(comment)}")
    comment = (comment or "").strip() or None
    if decision == "reject" and comment is None:
        raise ApiError(422, "comment_required", "a rejection needs a 'comment' telling the annotator what to fix "
                       "(they see it above their answer)")
    return comment


def _rework_base(review: dict[str, Any]) -> str:
    """The assignment a rework descends from: reworks of reworks stay `rework:<first assignment>:<n>`."""
    base = review.get("assignment_id") or review["target"]
    return base.removeprefix("rework:").rsplit(":", 1)[0] if base.startswith("rework:") else base


async def decide(q: Queue, a: Annotator, lease_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Store a reviewer's decision on the reviewed answer of a leased review task (see the module doc)."""
    client_id, done = await stored_before(q, a, lease_id, body)
    if done is not None:
        return done
    t = q.leased_to(a, lease_id)
    if t.kind != "review":
        raise ApiError(409, "wrong_endpoint", f"lease {lease_id} is not a review: submit its answer with "
                       f"POST /api/annotate/leases/{lease_id}/submit")
    p = q.projects[t.project_id]
    review = t.context["review"]
    decision = body.get("decision")
    if decision not in DECISIONS:
        raise ApiError(422, "invalid_decision", f"'decision' must be one of {', '.join(DECISIONS)}, got {shown(decision)}")
    comment = _comment(body, decision)
    if decision == "correct":
        answer = p.parse_answer(body, t.payload, "correction")
    elif body.get("answer") is not None:
        raise ApiError(422, "unexpected_answer", f"'answer' goes with decision 'correct' only, not {decision!r}")
    else:
        answer = review["answer"] if decision == "accept" else None
    now = time.time()
    duration = duration_of(body, t, now)
    key = (t.project_id, review["target"])
    prior = q.decided.get(key)
    if prior is not None:
        raise ApiError(409, "already_reviewed", f"this answer was already {_DONE[prior[1]]} by {prior[0]!r}; "
                       f"nothing was stored: skip this task (POST /api/review/leases/{lease_id}/skip)")
    labels_json, answer_json = ("null", None) if answer is None else judgment_columns(p.kind.storage.column, answer)
    rework, base = None, _rework_base(review)
    if decision == "reject" and review["origin"] == "human" and review["source_id"] in q.annotators:
        rework = _rework_task(q, t, a, review, comment, f"rework:{base}:{q.reworks.get(base, 0) + 1}")
    # The thread shows why it was rejected (a retried decision is answered above and adds nothing).
    also = [comment_op(t.project_id, t.item_id, a.annotator_id, "rejection", comment,
                       client_id=f"reject:{client_id}")[0]] if decision == "reject" else []
    if rework is not None:
        also.append(q.new_task(rework))
    q.decided[key] = (a.annotator_id, decision)  # before the await: a concurrent second decision is refused
    if rework is not None:
        q.reworks[base] = q.reworks.get(base, 0) + 1
    try:
        out = await record(q, a, t, client_id, labels_json, answer_json, duration, now, decision=decision,
                           comment=comment, also=also)
    except ApiError:
        del q.decided[key]
        if rework is not None:
            q.reworks[base] -= 1
        raise
    q._count_decision(t.project_id, review, a.annotator_id, decision)
    if rework is not None:
        q.tasks[rework.assignment_id] = rework
        q._enqueue(p, rework)
    return out


def _rework_task(q: Queue, t: Task, reviewer: Annotator, review: dict[str, Any], comment: str | None,
                 assignment_id: str) -> Task:
    """The rejected answer, sent back to its author with the reviewer's comment (first in their queue)."""
    context = {"rework": {"annotator_id": review["source_id"], "comment": comment, "reviewer": reviewer.annotator_id,
                          "answer": review["answer"], "target": review["target"]}}
    return Task(0, assignment_id, t.project_id, t.item_id, "rework", t.priority, t.payload, t.media_uri,
                None, None, None, context)
