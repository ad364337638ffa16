"""Builds the FastAPI app: store, queue state, both APIs, the annotator web page and error format.

Every refusal is JSON `{"error": code, "message": text}` with a 4xx status, whichever layer raised
it (the request gate, our checks, FastAPI's body validation, unknown routes), so clients show one
kind of message. Messages quote what the client sent only in short (`core.shown`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from annotation_app import annotator_api, dashboard_api, openapi, pipeline_api
from annotation_app.core import ApiError, Queue, brief, shown
from annotation_app.gate import RequestGate
from annotation_app.store import Store
from tasks import kinds

__all__ = ["create_app"]

_WEB = Path(__file__).parent / "web"
_WIDGET_ASSETS = {"audio_tools.js": _WEB / "audio_tools.js"}


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": brief(message)}, status_code=status, headers=headers)


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(x)[:60] for x in err.get("loc", ()) if x != "body")  # a key may be any client string
    return f"{loc or 'body'}: {err.get('msg')} (got {shown(err.get('input'))})"[:300]


def _methods_at(app: FastAPI, scope: dict[str, Any]) -> list[str]:
    """Every method some route serves at this request's path (a path is often several routes, one per method)."""
    return [m for m in _METHODS if any(r.matches({**scope, "method": m})[0] == Match.FULL for r in app.router.routes)]


def create_app(db_path: Path | str, admin_token: str, *, media_roots: list[Path | str] = (),
               synchronous: str = "NORMAL", reclaim_seconds: float = 1.0, max_body_mb: float = 128,
               project_dbs: dict[str, Path | str] | None = None) -> FastAPI:
    """The app over the store at `db_path`; state is loaded now, the writer starts with the server.

    `max_body_mb` bounds the pipeline's request bodies (bulk pushes); annotators get a fixed small limit.
    `project_dbs` maps a project to its pipeline database, read by the quality dashboard (dashboard_api.py).
    """
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
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:  # Starlette's Allow lists only the first matching route's methods
            headers = {"Allow": ", ".join(_methods_at(app, request.scope))}
        return _error(exc.status_code, code, f"{request.method} {shown(request.url.path)}: {exc.detail}", headers)

    app.include_router(pipeline_api.router)
    app.include_router(annotator_api.router)
    dashboard_api.install(app, project_dbs or {})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse((_WEB / "index.html").read_text(encoding="utf-8"))

    @app.get("/kinds/{task_kind}/widget.js", include_in_schema=False)
    async def widget(task_kind: str) -> FileResponse:
        """The answer kind's widget for the page (`kind.queue.widget`), served from the kind's package."""
        try:
            kind = kinds.get(task_kind)
        except ValueError as e:
            raise ApiError(404, "unknown_task_kind", str(e)) from None
        return FileResponse(kind.queue.widget, media_type="text/javascript")

    @app.get("/assets/{asset}", include_in_schema=False)
    async def widget_asset(asset: str) -> FileResponse:
        """Scripts several kinds' widgets share (the audio tools), loaded by the widgets themselves."""
        if asset not in _WIDGET_ASSETS:
            raise ApiError(404, "not_found", f"no widget asset {shown(asset)!r}")
        return FileResponse(_WIDGET_ASSETS[asset], media_type="text/javascript")

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict:
        return {"ok": True}

    openapi.install(app)
    app.add_middleware(RequestGate, queue=queue, admin_token=admin_token, admin_max_body=int(max_body_mb * 2**20))
    return app
