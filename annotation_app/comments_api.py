"""Comment threads and guideline questions over HTTP (the rows and their rules: comments.py).

Who sees a thread: reviewers and experts of the project, the project owner (admin token), and the
annotator whose answer a reviewer sent back: they hold a rework task on the item, see why it was
rejected and may reply (kind `comment` only). Pages that know a lease but not the item id (the
annotator page, the review page) name the item as `lease:<lease id>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from annotation_app import comments
from annotation_app.annotator_api import auth, body_of, json_response
from annotation_app.core import Annotator, ApiError, Queue
from annotation_app.gate import ADMIN
from annotation_app.openapi import errors
from annotation_app.pipeline_api import Admin

__all__ = ["CommentIn", "ResolveIn", "install", "router"]

_WEB = Path(__file__).parent / "web"
_EITHER = {"security": [{"annotatorToken": []}, {"adminToken": []}]}


class CommentIn(BaseModel):
    body: str = Field(min_length=1, max_length=comments.BODY_MAX)
    kind: Literal["comment", "guideline_question", "rejection", "adjudication_note"] = Field(
        "comment", description="Annotators replying on their rework task may write `comment` only.")
    reply_to: str | None = Field(None, description="The comment_id answered, in the same thread.")
    client_id: str | None = Field(None, min_length=1, max_length=200, description="A retry with it is stored once.")


class ResolveIn(BaseModel):
    resolution: str = Field(min_length=1, max_length=comments.BODY_MAX, description="The answer, shown in the thread.")
    actor: str = Field("admin", min_length=1, max_length=200, description="Who resolved it (recorded).")


def _reworked_by(q: Queue, project_id: str, item_id: str, annotator_id: str) -> bool:
    """Whether a reviewer sent this annotator's answer on the item back to them (a rework task exists)."""
    return bool(q.store.read(
        "SELECT 1 FROM tasks WHERE project_id = ? AND item_id = ? AND kind = 'rework'"
        " AND json_extract(context, '$.rework.annotator_id') = ? LIMIT 1", (project_id, item_id, annotator_id)))


def _caller(request: Request, project_id: str, item: str) -> tuple[Queue, str, str, bool]:
    """(queue, author id, item id, may write any kind) for a thread request, or the refusal."""
    q: Queue = request.app.state.queue
    if getattr(request.state, "caller", None) == ADMIN:
        if item.startswith("lease:"):
            raise ApiError(404, "unknown_item", "the admin names items by item_id, not by lease")
        comments.known_item(q, project_id, item)
        return q, ADMIN, item, True
    q, a = auth(request, None)
    if item.startswith("lease:"):
        t = q.leased_to(a, item.removeprefix("lease:"))
        if t.project_id != project_id:
            raise ApiError(404, "unknown_item", f"lease {item} is not in project {project_id!r}")
        item = t.item_id
    else:
        comments.known_item(q, project_id, item)
    return q, a.annotator_id, item, _may_read(q, a, project_id, item)


def _may_read(q: Queue, a: Annotator, project_id: str, item_id: str) -> bool:
    """True for a reviewer or expert of the project, False for the rework annotator (replies only), else 403."""
    p = q.project(project_id)
    if a.projects is not None and project_id not in a.projects or a.annotator_id in p.excluded:
        raise ApiError(403, "wrong_project", f"annotator {a.annotator_id!r} may not work on project {project_id!r}")
    if a.may_review():
        return True
    if _reworked_by(q, project_id, item_id, a.annotator_id):
        return False
    raise ApiError(403, "wrong_role", "item threads are for reviewers and experts (role 'reviewer' or 'expert'), and "
                   "for the annotator of an answer sent back, on their rework task")


router = APIRouter(prefix="/api", tags=["comments"], responses=errors(400, 401, 403, 413, 422))


@router.get("/items/{project_id}/{item_id}/comments", openapi_extra=_EITHER, responses=errors(404))
async def get_thread(project_id: str, item_id: str, request: Request) -> Response:
    """The item's thread, oldest first (item_id, or `lease:<lease id>` for the item of your lease)."""
    q, _, item, _ = _caller(request, project_id, item_id)
    return json_response({"project_id": project_id, "item_id": item, "comments": comments.thread(q, project_id, item)})


@router.post("/items/{project_id}/{item_id}/comments", status_code=201, responses=errors(404, 409, 503),
             openapi_extra={**_EITHER, "requestBody": {"required": True, "content": {
                 "application/json": {"schema": CommentIn.model_json_schema()}}}})
async def post_comment(project_id: str, item_id: str, request: Request) -> Response:
    """Add to the item's thread: a comment, a guideline question for the project owner, a rejection's reason
    or an adjudication note. A retry with the same client_id is stored once."""
    q, author, item, any_kind = _caller(request, project_id, item_id)
    body = await body_of(request)
    if not any_kind and body.get("kind", "comment") != "comment":
        raise ApiError(403, "wrong_role", f"kind {body.get('kind')!r} needs the role 'reviewer' or 'expert'; "
                       "on your rework task you may reply with kind 'comment'")
    return json_response(await comments.add(q, project_id, item, author, body), status=201)


@router.get("/projects/{project_id}/questions", responses=errors(404))
def list_questions(project_id: str, q: Admin,
                   status: Literal["open", "resolved", "all"] = "open") -> Response:
    """The project's guideline questions (default: the open ones), for its owner to answer."""
    return json_response({"project_id": project_id, "questions": comments.questions(q, project_id, status)})


@router.post("/projects/{project_id}/questions/{comment_id}/resolve", responses=errors(404, 409))
async def resolve_question(project_id: str, comment_id: str, body: ResolveIn, q: Admin) -> Response:
    """Answer a guideline question and close it."""
    return json_response(await comments.resolve(q, project_id, comment_id, body.resolution, body.actor))


@router.get("/projects/{project_id}/comments", responses=errors(404))
def pull_comments(
    project_id: str, q: Admin,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{0,20}$", description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5_000,
) -> Response:
    """Every comment of the project (the pipeline re-reads them all: questions get resolved later)."""
    return json_response(comments.pull(q, project_id, int(cursor) if cursor else 0, limit))


def _panel() -> FileResponse:
    return FileResponse(_WEB / "comments.js", media_type="text/javascript")


def install(app: Any) -> None:
    app.include_router(router)
    app.add_api_route("/review/comments.js", _panel, methods=["GET"], include_in_schema=False)
