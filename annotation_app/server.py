"""Builds the FastAPI app: store, queue state, both APIs, the annotator web page and error format.

Every refusal is JSON `{"error": code, "message": text}` with a 4xx status, whichever layer raised
it (our checks, FastAPI's body validation, unknown routes), so clients show one kind of message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from annotation_app import annotator_api, pipeline_api
from annotation_app.core import ApiError, Queue
from annotation_app.store import Store

__all__ = ["create_app"]

_WEB = Path(__file__).parent / "web"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
    return f"{loc or 'body'}: {err.get('msg')} (got {err.get('input')!r})"[:300]


def create_app(db_path: Path | str, admin_token: str, *, media_roots: list[Path | str] = (),
               synchronous: str = "NORMAL", reclaim_seconds: float = 1.0) -> FastAPI:
    """The app over the store at `db_path`; state is loaded now, the writer starts with the server."""
    if not admin_token:
        raise ValueError("an admin token is required (--admin-token or ANNOFLOW_QUEUE_TOKEN)")
    store = Store(db_path, synchronous=synchronous)
    queue = Queue(store)
    queue.load()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.start(asyncio.get_running_loop())

        async def reclaim_forever() -> None:
            while True:
                await asyncio.sleep(reclaim_seconds)
                queue.reclaim()

        reclaimer = asyncio.create_task(reclaim_forever())
        try:
            yield
        finally:
            reclaimer.cancel()
            store.stop()

    app = FastAPI(
        title="annoflow annotation app",
        version="1",
        description="Built-in human queue: a pipeline API (admin token) and an annotator API (per-annotator tokens).",
        lifespan=lifespan,
    )
    app.state.queue = queue
    app.state.admin_token = admin_token
    app.state.media_roots = [Path(r).resolve() for r in media_roots]

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        more = f" (and {len(errs) - 5} more)" if len(errs) > 5 else ""
        return _error(422, "invalid_request", "; ".join(_describe(e) for e in errs[:5]) + more)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, f"{request.method} {request.url.path}: {exc.detail}")

    app.include_router(pipeline_api.router)
    app.include_router(annotator_api.router)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse((_WEB / "index.html").read_text(encoding="utf-8"))

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict:
        return {"ok": True}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["annotatorToken"] = {"type": "http", "scheme": "bearer", "description": "An annotator's token."}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
