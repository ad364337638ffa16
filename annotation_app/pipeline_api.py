"""The pipeline API (admin bearer token): projects, bulk task push, cancel, judgment pull, annotators.

Typed with pydantic so the OpenAPI schema documents every field; these calls are few and large
(a push carries thousands of tasks), so validation cost per request does not matter here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator

from annotation_app import submit as ops
from annotation_app.core import ApiError, Queue, shown
from annotation_app.gate import ADMIN
from annotation_app.openapi import errors
from tasks import kinds

__all__ = ["AnnotatorActionIn", "ProjectIn", "TaskIn", "PushIn", "CancelIn", "AnnotatorIn", "AnnotatorPatch", "router"]

_ID = r"^[A-Za-z0-9_.:@-]{1,200}$"
Role = Literal["annotator", "reviewer", "expert"]  # core.ROLES


class _Body(BaseModel):
    """Strict: a body that does not match the documented types is refused, not coerced (0 is not false)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ProjectIn(_Body):
    labels: list[Annotated[str, Field(min_length=1)]] = Field(
        json_schema_extra={"uniqueItems": True},
        description="The label set, unique, in display order (the page's shortcut keys follow it); at least one, "
        "except for a task kind that uses none (transcripts: `[]`).")
    task_kind: str = Field(kinds.names()[0], json_schema_extra={"enum": list(kinds.names())},
                           description="The answer kind (a registered one): which widget the page shows, what a submit is.")
    data_kind: Literal["text", "image", "audio"] = "text"
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="The kind's page options (its `page_config`: e.g. overlap allowed, snapping).")
    instructions: str = Field("", description="Shown to annotators above every task.")
    show_prelabels: bool = Field(True, description="Show pre-labels as suggestions, on every kind of task alike (never their score).")
    lease_seconds: float = Field(600, gt=0, le=86_400, description="An unsubmitted task returns to the queue after this.")
    excluded_annotators: list[str] | None = Field(
        None,
        description="Annotators who may no longer take tasks here (e.g. banned on gold); a task one of them holds goes back "
        "to the queue. Omitted: the project's current list is kept.")
    paused_annotators: dict[str, str] | None = Field(
        None, description="Annotators paused here (annotator id -> reason): no new tasks, the ones they hold go back to "
        "the queue, their next-task request is refused with the reason. Omitted: the current list is kept.")
    requalifying_annotators: list[str] | None = Field(
        None, description="Paused annotators who may take gold tasks only (their re-qualification batch).")

    @field_validator("task_kind")
    @classmethod
    def _registered(cls, v: str) -> str:
        kinds.get(v)  # a ValueError naming the known kinds
        return v

    @field_validator("options")
    @classmethod
    def _storable(cls, v: dict[str, Any]) -> dict[str, Any]:
        """The options are stored and served as JSON by orjson, which holds integers to 64 bits: refuse what
        it cannot write here (422) rather than fail later while saving the project (500)."""
        try:
            orjson.dumps(v)
        except TypeError as e:
            raise ValueError(f"options must be plain JSON with integers within 64 bits: {e}") from None
        return v


class TaskIn(_Body):
    # The one rule the fields cannot say alone: a task shows a text, a media file, or both.
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["payload"], "properties": {"payload": {"type": "string"}}},
        {"required": ["media_uri"], "properties": {"media_uri": {"type": "string", "minLength": 1}}},
    ]})

    assignment_id: str = Field(pattern=_ID, description="The pipeline's id; pushing it again changes nothing.")
    item_id: str = Field(min_length=1, description="One annotator never gets two tasks with the same item id.")
    kind: Literal["label", "gold", "audit", "adjudication", "review", "rework"] = Field(
        "label", description="review: context.review = {target, source_id, origin, answer, assignment_id}, leased "
        "through /api/review; rework: context.rework = {annotator_id, comment, answer}, offered to that annotator only.")
    priority: float = Field(0.0, description="Higher first; ties in push order.")
    payload: str | None = Field(None, description="The text shown (text items) or a caption.")
    media_uri: str | None = Field(None, description="file:// path under a media root, or an http(s) URL.")
    prelabel: Any = Field(None, description="Machine suggestion: an answer in the kind's JSON form (a label, a list "
                          "of labels, a structured answer), checked like a submit.")
    prelabel_score: float | None = None
    exclude_annotators: list[str] | None = Field(None, description="Annotators who must not get this task.")
    context: dict[str, Any] | None = Field(None, description="Adjudication (and review) tasks only: what the expert or "
                                           "reviewer is shown besides the item (the answers in conflict, their sources...).")


class PushIn(_Body):
    tasks: list[TaskIn] = Field(max_length=100_000)


class CancelIn(_Body):
    assignment_ids: list[str] = Field(max_length=100_000)


class AnnotatorIn(_Body):
    annotator_id: str = Field(pattern=_ID)
    name: str | None = None
    roles: list[Role] = Field(default_factory=list, description="'annotator' (also: no roles) works through "
                              "/api/annotate, 'reviewer' through /api/review, 'expert' through both and also "
                              "receives adjudication tasks.")
    projects: list[str] | None = Field(None, description="Projects this annotator may work on; null means all.")


class AnnotatorPatch(_Body):
    name: str | None = None
    roles: list[Role] | None = None
    projects: list[str] | None = None
    active: bool | None = None


class AnnotatorActionIn(_Body):
    reason: str = Field(min_length=1, max_length=1_000, description="Why; recorded with the action and shown to people.")
    actor: str = Field("admin", min_length=1, max_length=200, description="Who asked for it (recorded).")


_bearer = HTTPBearer(auto_error=False, scheme_name="adminToken", description="The app's admin token.")


def _queue(request: Request) -> Queue:
    return request.app.state.queue


def require_admin(request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Queue:
    """The request gate compared the token before the body was read; `_bearer` documents the scheme."""
    if getattr(request.state, "caller", None) != ADMIN:
        raise ApiError(401, "unauthorized", "this endpoint needs 'Authorization: Bearer <admin token>'")
    return _queue(request)


Admin = Annotated[Queue, Depends(require_admin)]
router = APIRouter(prefix="/api", tags=["pipeline"], responses=errors(400, 401, 413, 422))


def _project_out(q: Queue, pid: str) -> dict:
    p = q.project(pid)
    return {**p.config(), "counts": dict(p.counts)}


@router.put("/projects/{project_id}")
async def put_project(project_id: Annotated[str, Path(pattern=_ID)], body: ProjectIn, q: Admin) -> dict:
    """Create or update a project; tasks already pushed keep their place, submits check the new labels."""
    if len(set(body.labels)) != len(body.labels):
        raise ApiError(422, "invalid_project", f"labels must be unique, got {shown(body.labels)}")
    if not body.labels and kinds.get(body.task_kind).min_labels:
        raise ApiError(422, "invalid_project", f"task_kind {body.task_kind!r} needs labels, got []")
    _, created = await q.put_project(project_id, body.model_dump())
    return {**_project_out(q, project_id), "created": created}


@router.get("/projects")
async def list_projects(q: Admin) -> list[dict]:
    return [_project_out(q, pid) for pid in q.projects]


@router.get("/projects/{project_id}", responses=errors(404))
async def get_project(project_id: str, q: Admin) -> dict:
    return _project_out(q, project_id)


@router.post("/projects/{project_id}/tasks", responses=errors(404))
async def push_tasks(project_id: str, body: PushIn, q: Admin) -> dict:
    """Add tasks in bulk; assignment ids already known (in any state) are counted as existing and left alone."""
    return await q.push(project_id, [t.model_dump() for t in body.tasks])


@router.post("/projects/{project_id}/tasks/cancel", responses=errors(404))
async def cancel_tasks(project_id: str, body: CancelIn, q: Admin) -> dict:
    """Withdraw open or leased tasks; a lease on a cancelled task can no longer be submitted."""
    return await q.cancel(project_id, body.assignment_ids)


@router.get("/projects/{project_id}/judgments", responses=errors(404))
def pull_judgments(
    project_id: str, q: Admin,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{0,20}$",
                                        description="next_cursor of the previous page; empty for the start")] = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5_000,
) -> dict:
    """Judgments committed after `cursor`, in commit order; `next_cursor` is where the next pull starts."""
    return ops.pull(q, project_id, int(cursor) if cursor else 0, limit)


@router.post("/annotators", status_code=201, responses=errors(409))
async def create_annotator(body: AnnotatorIn, q: Admin) -> dict:
    """Create an annotator; the response carries its token, shown once (only a hash is stored)."""
    return await ops.create_annotator(q, body.annotator_id, body.name, body.roles, body.projects)


@router.get("/annotators")
async def list_annotators(q: Admin) -> list[dict]:
    return [a.public() for a in q.annotators.values()]


@router.patch("/annotators/{annotator_id}", responses=errors(404))
async def update_annotator(annotator_id: str, body: AnnotatorPatch, q: Admin) -> dict:
    return await ops.update_annotator(q, annotator_id, body.model_dump(exclude_unset=True))


@router.post("/annotators/{annotator_id}/token", responses=errors(404))
async def rotate_token(annotator_id: str, q: Admin) -> dict:
    """Issue a new token (the old one stops working at once)."""
    return await ops.rotate_token(q, annotator_id)


@router.get("/stats")
async def stats(q: Admin) -> dict:
    s = q.store
    return {"commits": s.commits, "committed_units": s.committed_units, "leases": len(q.leases),
            "projects": len(q.projects), "annotators": len(q.annotators), "reviews": q.review_stats()}


@router.post("/projects/{project_id}/annotators/{annotator_id}/{action}", responses=errors(404, 409))
async def annotator_action(project_id: str, annotator_id: str, action: Literal["pause", "resume", "unban"],
                           body: AnnotatorActionIn, q: Admin) -> dict:
    """Pause, resume or unban an annotator in this project now (the dashboard's buttons); the pipeline
    records it in its own state, with the reason and the actor, at its next collect or dispatch."""
    return await q.annotator_action(project_id, annotator_id, action, body.reason, body.actor)


@router.get("/projects/{project_id}/annotator-actions", responses=errors(404))
def pull_annotator_actions(
    project_id: str, q: Admin,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{0,20}$", description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
) -> dict:
    """Actions taken in the app after `cursor`, oldest first (the pipeline applies them to its state)."""
    q.project(project_id)
    rows = q.store.read(
        "SELECT seq, annotator_id, action, reason, actor, created_at FROM annotator_actions"
        " WHERE project_id = ? AND seq > ? ORDER BY seq LIMIT ?", (project_id, int(cursor) if cursor else 0, limit))
    actions = [dict(zip(("seq", "annotator_id", "action", "reason", "actor", "created_at"), r)) for r in rows]
    return {"actions": actions, "next_cursor": str(rows[-1][0] if rows else (cursor or "0"))}
