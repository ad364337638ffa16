"""The grid: fast review of machine labels, a page of audit tasks leased at once and decided by key.

An audit asks a person about an item the machine labeled on its own. The ordinary audit is blind (the
annotator labels it like any other item). The grid is the quick form for reviewers and experts: it
shows the machine's answer on purpose and takes accept or reject per tile, many per request. Each
decision is stored as the audit task's judgment with `decision` set (accept: the machine's answer;
reject: no answer), so the pipeline counts it as an audit that agreed or disagreed with the machine,
which is what its calibrated thresholds are fitted on.

A submit carries a page of decisions and is all or nothing: every decision is checked (its lease
live and the caller's, its client id new or a retry of the same decision) before any is stored, and
all new ones are stored in one commit. A retry of a page already stored stores nothing again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field

from annotation_app import submit as ops
from annotation_app.annotator_api import auth, body_of, doc, json_response
from annotation_app.core import Annotator, ApiError, Queue, Task, shown
from annotation_app.openapi import errors

__all__ = ["MAX_PAGE", "DecisionIn", "GridHeartbeatIn", "GridSubmitIn", "install", "router"]

MAX_PAGE = 500  # tiles per request; a page of decisions stays under the annotator body limit (64 KiB)
DECISIONS = ("accept", "reject")
_WEB = Path(__file__).parent / "web"
_INSERT = ("INSERT INTO judgments (judgment_id, project_id, assignment_id, item_id, annotator_id, labels, answer, "
           "duration_ms, submitted_at, client_id, lease_id, decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_ASSETS = {"grid.js": ("grid.js", "text/javascript"), "grid.css": ("grid.css", "text/css")}


class DecisionIn(BaseModel):
    lease_id: str = Field(description="A tile's lease, from POST /api/review/{project_id}/grid.")
    decision: Literal["accept", "reject"] = Field(description="accept: the machine's answer is right; reject: it is not.")
    client_id: str = Field(min_length=1, max_length=ops.CLIENT_ID_MAX, description="Unique per decision; a retry stores nothing new.")


class GridSubmitIn(BaseModel):
    decisions: list[DecisionIn] = Field(min_length=1, max_length=MAX_PAGE)


class GridHeartbeatIn(BaseModel):
    lease_ids: list[str] = Field(min_length=1, max_length=MAX_PAGE, description="The page's tiles still undecided.")


def tile(q: Queue, t: Task) -> dict[str, Any]:
    """One tile: the item as the annotator page shows it plus the machine's answer (never its score: a
    reviewer told how sure the machine was would lean on it, and the audit measures that very score)."""
    p = q.projects[t.project_id]
    view = q.view(t, p)
    return {"lease_id": t.lease_id, "item_id": t.item_id, "expires_at": t.lease_expires, "payload": t.payload,
            "media_url": view["media_url"], "machine": {"answer": t.prelabel}}


router = APIRouter(prefix="/api/review", tags=["review"], responses=errors(400, 401, 403, 413, 422))
page_router = APIRouter(include_in_schema=False)


@router.post("/{project_id}/grid", openapi_extra=doc(), responses=errors(404))
async def lease_grid(project_id: str, request: Request,
                     n: int = Query(200, ge=1, le=MAX_PAGE, description="How many tiles at most.")) -> Response:
    """Lease up to `n` open audit tasks (machine labels) with the machine's answer, for the grid page.

    Leases you hold from an earlier page come first. An empty `items` means nothing is left for you."""
    q, a = auth(request, "review")
    tasks = await q.lease_batch(a, project_id, n)
    p = q.projects[project_id]
    return json_response({
        "project_id": project_id, "task_kind": p.task_kind, "data_kind": p.data_kind, "labels": p.labels,
        "options": p.options, "lease_seconds": p.lease_seconds, "items": [tile(q, t) for t in tasks],
    })


def _checked(q: Queue, a: Annotator, body: dict[str, Any]) -> list[dict[str, Any]]:
    decisions = body.get("decisions")
    if not isinstance(decisions, list) or not 0 < len(decisions) <= MAX_PAGE:
        raise ApiError(422, "invalid_decisions", f"'decisions' must be a list of 1-{MAX_PAGE} objects "
                       "{lease_id, decision, client_id}")
    leases: set[str] = set()
    clients: set[str] = set()
    for i, d in enumerate(decisions):
        where = f"decisions[{i}]"
        if not isinstance(d, dict):
            raise ApiError(422, "invalid_decisions", f"{where}: expected an object, got {shown(d)}")
        if d.get("decision") not in DECISIONS:
            raise ApiError(422, "invalid_decision", f"{where}.decision: expected 'accept' or 'reject', got {shown(d.get('decision'))}")
        lid, cid = d.get("lease_id"), d.get("client_id")
        if not isinstance(lid, str) or not lid:
            raise ApiError(422, "invalid_decisions", f"{where}.lease_id: expected a lease id, got {shown(lid)}")
        if not isinstance(cid, str) or not 0 < len(cid) <= ops.CLIENT_ID_MAX:
            raise ApiError(422, "invalid_client_id", f"{where}.client_id: a string of 1-{ops.CLIENT_ID_MAX} characters, "
                           "unique per decision")
        if lid in leases or cid in clients:
            raise ApiError(422, "duplicate_decision", f"{where}: lease {lid} or client_id {shown(cid)} appears twice "
                           "in this page; send one decision per tile")
        leases.add(lid)
        clients.add(cid)
    return decisions


async def decide(q: Queue, a: Annotator, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Store a page of decisions in one commit (see the module docstring); the answer per decision, in order."""
    decisions = _checked(q, a, body)
    out: list[dict[str, Any] | None] = [None] * len(decisions)
    todo: list[tuple[int, dict[str, Any], Task]] = []
    for i, d in enumerate(decisions):
        key = (a.annotator_id, d["client_id"])
        if key not in q.submitted and key in q.pending:
            await asyncio.shield(q.pending[key])
        done = q.submitted.get(key)
        if done is not None:
            if done["lease_id"] != d["lease_id"]:
                raise ApiError(409, "client_id_reused", f"decisions[{i}]: client_id {shown(d['client_id'])} was "
                               "already used for another tile; nothing in this page was stored")
            out[i] = done
            continue
        try:
            t = q.leased_to(a, d["lease_id"])
        except ApiError as e:
            raise ApiError(e.status, e.code, f"decisions[{i}]: {e.message}; nothing in this page was stored, send "
                           "it again without this decision (or lease a new page)") from None
        if t.kind != "audit" or t.prelabel is None:
            raise ApiError(409, "not_a_grid_lease", f"decisions[{i}]: lease {d['lease_id']} is not a tile of the grid; "
                           "submit it with POST /api/annotate/leases/{lease_id}/submit")
        todo.append((i, d, t))
    if todo:
        await _store(q, a, todo, out)
    return out  # type: ignore[return-value]


async def _store(q: Queue, a: Annotator, todo: list[tuple[int, dict[str, Any], Task]], out: list) -> None:
    now = time.time()
    rows, task_ids, lease_ids, answers = [], [], [], []
    for i, d, t in todo:
        p = q.projects[t.project_id]
        answer = t.prelabel if d["decision"] == "accept" else None
        labels_json, answer_json = ops.judgment_columns(p.kind.storage.column, answer) if answer is not None else ("null", None)
        jid = uuid.uuid4().hex
        rows.append((jid, t.project_id, t.assignment_id, t.item_id, a.annotator_id, labels_json, answer_json,
                     int((now - t.leased_at) * 1000), now, d["client_id"], t.lease_id, d["decision"]))
        task_ids.append((t.assignment_id,))
        lease_ids.append((t.lease_id,))
        answers.append({"judgment_id": jid, "lease_id": t.lease_id, "project_id": t.project_id, "submitted_at": now,
                        "stored": True, "decision": d["decision"]})
    for _, _, t in todo:
        q._end_lease(t, "submitted")
        t.status = "done"
        del q.tasks[t.assignment_id]
        q.finished[t.assignment_id] = "done"
        p = q.projects[t.project_id]
        p.counts["leased"] -= 1
        p.counts["done"] += 1
    fut = q.store.write([
        (_INSERT, rows, True),
        ("UPDATE tasks SET status = 'done', lease_id = NULL WHERE assignment_id = ?", task_ids, True),
        ("UPDATE leases SET ended = 'submitted' WHERE lease_id = ?", lease_ids, True),
    ])
    keys = [(a.annotator_id, d["client_id"]) for _, d, _ in todo]
    for key in keys:
        q.pending[key] = fut
    try:
        await asyncio.shield(fut)
    except Exception as e:  # the store refused the page: every tile goes back to the caller, a retry can succeed
        for (_, d, t), row in zip(todo, rows):
            p = q.projects[t.project_id]
            q.finished.pop(t.assignment_id, None)
            q.tasks[t.assignment_id] = t
            t.status, t.lease_id, t.lease_annotator = "leased", d["lease_id"], a.annotator_id
            q.leases[d["lease_id"]] = t
            q.ended.pop(d["lease_id"], None)
            p.counts["leased"] += 1
            p.counts["done"] -= 1
        raise ApiError(503, "store_error", f"the decisions were not stored ({e}); retry the same request") from None
    finally:
        for key in keys:
            q.pending.pop(key, None)
    for (i, _, _), key, resp in zip(todo, keys, answers):
        q.submitted[key] = resp
        out[i] = resp
    a.submitted += len(todo)
    a.first_submit = a.first_submit or now
    a.last_submit = now


@router.post("/grid/submit", openapi_extra=doc(GridSubmitIn), responses=errors(404, 409, 503))
async def submit_grid(request: Request) -> Response:
    """Store a page of accept / reject decisions on machine labels: all of them or, on any refusal, none."""
    q, a = auth(request, "review")
    results = await decide(q, a, await body_of(request))
    return json_response({"stored": len(results), "results": results})


@router.post("/grid/heartbeat", openapi_extra=doc(GridHeartbeatIn))
async def heartbeat_grid(request: Request) -> Response:
    """Extend the leases of a page's tiles; `ended` lists those that cannot be (expired, unknown) and why."""
    q, a = auth(request, "review")
    lease_ids = (await body_of(request)).get("lease_ids")
    if not isinstance(lease_ids, list) or not 0 < len(lease_ids) <= MAX_PAGE or not all(isinstance(x, str) for x in lease_ids):
        raise ApiError(422, "invalid_lease_ids", f"'lease_ids' must be a list of 1-{MAX_PAGE} lease ids, got {shown(lease_ids)}")
    return json_response(await q.heartbeat_batch(a, lease_ids))


@page_router.get("/review/grid", response_class=HTMLResponse)
async def grid_page() -> HTMLResponse:
    """The page holds no data: it asks for the reviewer's token and calls the API above."""
    return HTMLResponse((_WEB / "grid.html").read_text(encoding="utf-8"))


@page_router.get("/review/grid/{asset}")
async def grid_asset(asset: str) -> FileResponse:
    if asset not in _ASSETS:
        raise ApiError(404, "not_found", f"no grid file {asset!r}")
    name, media_type = _ASSETS[asset]
    return FileResponse(_WEB / name, media_type=media_type)


def install(app) -> None:
    app.include_router(router)
    app.include_router(page_router)
