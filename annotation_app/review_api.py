"""The reviewer API (a reviewer's or expert's own bearer token): next review, decide, heartbeat, skip.

Separate from /api/annotate so a role is a route prefix: an annotator token is refused here and a
reviewer token there (403 `wrong_role`, naming the endpoint to use). Same hot-path style as the
annotator API: raw JSON bodies checked by hand, documented in the OpenAPI schema by `ReviewIn`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from annotation_app import review as decisions
from annotation_app import submit as ops
from annotation_app.annotator_api import auth, body_of, doc, json_response
from annotation_app.openapi import errors

__all__ = ["ReviewIn", "router"]


class ReviewIn(BaseModel):
    decision: Literal["accept", "correct", "reject"] = Field(
        description="accept the reviewed answer, correct it (send `answer`), or reject it (send `comment`): a "
        "rejected person's answer goes back to them with the comment.")
    answer: Any = Field(None, description="decision 'correct' only: the corrected answer in the kind's JSON form, "
                        "checked like any submit.")
    comment: str | None = Field(None, max_length=decisions.COMMENT_MAX,
                                description="Required to reject (the annotator sees it); optional otherwise.")
    client_id: str = Field(min_length=1, max_length=ops.CLIENT_ID_MAX,
                           description="Generated once per decision; a retry with it is stored once.")
    duration_ms: int | None = Field(None, ge=0, le=ops.DURATION_MAX_MS)


router = APIRouter(prefix="/api/review", tags=["reviewer"], responses=errors(400, 401, 403, 413, 422))


@router.post("/{project_id}/next", openapi_extra=doc(), responses=errors(404))
async def next_review(project_id: str, request: Request) -> Response:
    """Lease the next answer to review (never your own); `task.context.review` holds it; null when none is left."""
    q, a = auth(request, "review")
    return json_response({"task": await q.next(a, project_id, "review")})


@router.post("/leases/{lease_id}/submit", openapi_extra=doc(ReviewIn), responses=errors(404, 409, 503))
async def decide(lease_id: str, request: Request) -> Response:
    """Store your decision; 409 `already_reviewed` (nothing stored) when someone decided on this answer first."""
    q, a = auth(request, "review")
    return json_response(await decisions.decide(q, a, lease_id, await body_of(request)))


@router.post("/leases/{lease_id}/heartbeat", openapi_extra=doc(), responses=errors(404, 409))
async def heartbeat(lease_id: str, request: Request) -> Response:
    """Extend your review lease by the project's lease time."""
    q, a = auth(request, "review")
    return json_response(await q.heartbeat(a, lease_id))


@router.post("/leases/{lease_id}/skip", openapi_extra=doc(), responses=errors(404, 409))
async def skip(lease_id: str, request: Request) -> Response:
    """Give the review back for someone else; you will not get it again."""
    q, a = auth(request, "review")
    return json_response(await q.skip(a, lease_id))
