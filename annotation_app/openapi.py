"""What the OpenAPI document says beyond the route signatures: the error body and which refusals each route gives.

Clients (and the schemathesis run in the tests) hold the app to this document, so every status a
route can answer is declared with the one error body the app sends, `{"error", "message"}`.
FastAPI's default 422 body (`{"detail": [...]}`) is replaced, because the app never sends it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from annotation_app.core import MAX_MESSAGE

__all__ = ["ErrorOut", "errors", "install"]


class ErrorOut(BaseModel):
    """Every refusal, whichever layer raised it."""

    error: str = Field(description="A stable code, e.g. 'unauthorized', 'unknown_lease', 'body_too_large'.")
    message: str = Field(max_length=MAX_MESSAGE, description="What failed and what to do next, for a person.")


_WHY = {
    400: "The body is not valid JSON.",
    401: "No token, or a token the app does not know (the body of such a request is not read).",
    403: "The token is valid but may not do this (deactivated, removed from the project, media outside the roots, "
         "or a role that does not reach this route: `wrong_role`).",
    404: "Unknown project, annotator, lease or media.",
    409: "Conflict: the id exists already, the lease ended, the client_id was used for another task, or someone "
         "else already decided on this reviewed answer (`already_reviewed`).",
    413: "The body is over the caller's size limit (refused before it is read when Content-Length says so).",
    422: "The request does not match the schema, or a label is not in the project's label set.",
    503: "The store could not commit the answer; retrying the same request is safe.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: each status with the error body and why it happens."""
    return {s: {"model": ErrorOut, "description": _WHY[s]} for s in statuses}


def install(app: FastAPI) -> None:
    """Build the document once, with the annotator token's security scheme (annotator routes declare it by hand)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["annotatorToken"] = {"type": "http", "scheme": "bearer", "description": "An annotator's token."}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
