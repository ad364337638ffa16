"""The project admins' quality dashboard: the page, its two scripts, and its data (admin token).

The app keeps its own store; the dashboard's figures live in the pipeline's DuckDB file of each
project attached with `--project-db NAME=PATH` (`annoflow app` attaches its project). A request opens
that file read-only, computes the views (tasks/report/data.py) and closes it, so the app never holds
the pipeline's database: a stage that wants it waits at most for one request (its own lock wait is
bounded and logged). While a stage holds the file, DuckDB refuses every other open; the dashboard then
answers with the figures it computed last, marked `stale`, rather than making an admin wait minutes.
The aggregates over votes (the costly part) are kept per project and recomputed only when votes changed.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from annotation_app.core import ApiError
from annotation_app.openapi import errors
from annotation_app.pipeline_api import Admin
from tasks.errors import StoreLockedError
from tasks.report.data import dashboard_data
from tasks.store import open_store

__all__ = ["page_router", "router"]

_WEB = Path(__file__).parent / "web"
_ASSETS = {"chart.umd.min.js": _WEB / "vendor" / "chart.umd.min.js", "dashboard.js": _WEB / "dashboard.js"}
_LOCK_WAIT_SECONDS = 2.0

page_router = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/api", tags=["dashboard"], responses=errors(400, 401, 413, 422))


@page_router.get("/admin/dashboard", response_class=HTMLResponse)
async def dashboard_page() -> HTMLResponse:
    """The page holds no data (it asks for the admin token, then calls the API below), so it needs none."""
    return HTMLResponse((_WEB / "dashboard.html").read_text(encoding="utf-8"))


@page_router.get("/admin/dashboard/{asset}")
async def dashboard_asset(asset: str) -> FileResponse:
    if asset not in _ASSETS:
        raise ApiError(404, "not_found", f"no dashboard file {asset!r}")
    return FileResponse(_ASSETS[asset], media_type="text/javascript")


def _dbs(request: Request) -> dict[str, Path]:
    return request.app.state.project_dbs


@router.get("/dashboards")
def list_dashboards(request: Request, q: Admin) -> list[str]:
    """Projects whose pipeline database is attached to this app (`--project-db`)."""
    return sorted(_dbs(request))


def _json(data: dict[str, Any], stale: bool) -> Response:
    """Serialised once with `json` (FastAPI's encoder would walk every number of the series in Python)."""
    return Response(json.dumps({**data, "stale": stale}, separators=(",", ":"), default=str), media_type="application/json")


@router.get("/projects/{project_id}/dashboard", responses=errors(404, 503))
def project_dashboard(project_id: str, request: Request, q: Admin) -> Response:
    """Every series of the dashboard, computed now (or, while a stage writes, the last ones, `stale`)."""
    db = _dbs(request).get(project_id)
    if db is None:
        raise ApiError(404, "no_dashboard", f"project {project_id!r} has no pipeline database attached; "
                       f"attached: {sorted(_dbs(request)) or 'none'} (start the app with `annoflow app` or --project-db NAME=PATH)")
    if not db.exists():
        raise ApiError(404, "no_state", f"{db} does not exist yet: run `annoflow ingest` for {project_id!r} first")
    cache: dict[str, dict[str, Any]] = request.app.state.dashboard_cache
    try:
        with open_store(db, read_only=True, wait_seconds=_LOCK_WAIT_SECONDS) as con:
            data = dashboard_data(con, project=project_id, memo=request.app.state.dashboard_memo.setdefault(project_id, {}))
    except StoreLockedError as e:
        if project_id in cache:
            return _json(cache[project_id], stale=True)
        raise ApiError(503, "pipeline_busy", f"a pipeline stage holds {db} and nothing was computed before; try again "
                       f"when it finishes ({e})") from None
    with request.app.state.dashboard_lock:
        cache[project_id] = data
    return _json(data, stale=False)


def install(app, project_dbs: dict[str, Path | str]) -> None:
    """Attach the projects' databases and the routes to `app`."""
    app.state.project_dbs = {name: Path(p).resolve() for name, p in project_dbs.items()}
    app.state.dashboard_cache = {}
    app.state.dashboard_memo = {}  # per project: the vote aggregates and the votes' fingerprint they belong to
    app.state.dashboard_lock = threading.Lock()
    app.include_router(page_router)
    app.include_router(router)
