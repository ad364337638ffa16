"""The queue's live state: projects, tasks, leases and annotators, held in memory and written through.

Why in memory: `next` and `submit` are the hot path (thousands a second). All decisions (which
task to lease, whether a lease is valid, whether a client id was seen) are made here, on the event
loop thread, without locks and without a database round trip; every change is then written to the
store and a submit is answered only after its commit. On start the state is rebuilt from the store,
so the store stays the only source of truth. `ApiError` carries the HTTP status for every refusal.
"""

from __future__ import annotations

import hashlib
import heapq
import reprlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from annotation_app.store import Op, Store
from tasks import kinds
from tasks.kinds.protocol import AnswerKind

__all__ = ["CONTEXT_KINDS", "KINDS", "ROLES", "ApiError", "Project", "Task", "Annotator", "Queue", "brief", "hash_token",
           "shown", "slot_of"]

KINDS = frozenset({"label", "gold", "audit", "adjudication", "review", "rework"})
CONTEXT_KINDS = frozenset({"adjudication", "review", "rework"})
"""Task kinds that may carry a `context` (shown to the one who takes the task); the others must look alike."""
ROLES = frozenset({"annotator", "reviewer", "expert"})
ANNOTATE_ROLES = frozenset({"annotator", "expert"})  # /api/annotate/* (no roles at all: an annotator, as in old stores)
REVIEW_ROLES = frozenset({"reviewer", "expert"})  # /api/review/*
DECISIONS = ("accept", "correct", "reject")
SCAN_LIMIT = 20_000
ENDED_MEMORY = 200_000


MAX_MESSAGE = 500  # characters; ErrorOut declares it
_SHOWN = reprlib.Repr()  # attributes, not keywords: Python 3.11's Repr takes none
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = _SHOWN.maxset = 6
_SHOWN.maxlevel = 2


def shown(value: Any) -> str:
    """A client's value as it may appear in an error message: short whatever its size (a 10 MB label
    must not come back in the 422), computed without building the full repr first."""
    try:
        return _SHOWN.repr(value)
    except ValueError:  # an int past Python's 4300-digit str() limit
        return f"<{type(value).__name__} too long to show>"


def brief(message: str) -> str:
    """An error message cut to MAX_MESSAGE characters, as the OpenAPI document promises."""
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


class ApiError(Exception):
    """A refusal with its HTTP status, a stable error code and a message for a human (at most 500 chars)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        message = brief(message)
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True)
class Project:
    project_id: str
    labels: list[str]
    task_kind: str = field(default_factory=lambda: kinds.names()[0])
    data_kind: str = "text"
    options: dict[str, Any] = field(default_factory=dict)  # the kind's page_config: for its widget and checks
    instructions: str = ""
    show_prelabels: bool = True
    lease_seconds: float = 600.0
    excluded: frozenset[str] = frozenset()  # annotators removed from this project (banned on evidence)
    paused: dict[str, str] = field(default_factory=dict)  # annotator -> why: no new work, past work counts
    requalifying: frozenset[str] = frozenset()  # paused annotators who may take gold tasks (their batch)
    heap: list = field(default_factory=list)  # annotation work: label, gold, audit, adjudication
    review_heap: list = field(default_factory=list)  # review tasks, leased only through /api/review
    rework: dict[str, list] = field(default_factory=dict)  # annotator -> their rejected answers sent back (a heap)
    counts: dict[str, int] = field(default_factory=lambda: {"open": 0, "leased": 0, "done": 0, "cancelled": 0, "expired": 0})

    @property
    def kind(self) -> AnswerKind:
        """The answer kind: what a submit must look like and which judgment column holds it."""
        return kinds.get(self.task_kind)

    def parse_answer(self, body: dict[str, Any], payload: str | None, where: str) -> Any:
        """The kind's check of one answer (a submit, or a pushed pre-label as `{"answer": ...}`): its JSON
        form, or a 422 whose code is the kind's reason and whose message says `where`."""
        try:
            return self.kind.queue.parse_submission(body, self.labels, self.options, payload)
        except ValueError as e:
            raise ApiError(422, getattr(e, "code", "invalid_answer"), f"{where}: {e}") from None

    def config(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id, "labels": self.labels, "task_kind": self.task_kind,
            "data_kind": self.data_kind, "options": self.options, "instructions": self.instructions,
            "show_prelabels": self.show_prelabels, "lease_seconds": self.lease_seconds,
            "excluded_annotators": sorted(self.excluded),
            "paused_annotators": dict(sorted(self.paused.items())),
            "requalifying_annotators": sorted(self.requalifying),
        }

    def held_back(self, annotator_id: str, t: Task) -> bool:
        """A paused annotator may hold no task here but a gold task of their re-qualification batch."""
        if annotator_id not in self.paused:
            return False
        return not (annotator_id in self.requalifying and t.kind == "gold")


@dataclass(slots=True)
class Task:
    seq: int
    assignment_id: str
    project_id: str
    item_id: str
    kind: str
    priority: float
    payload: str | None
    media_uri: str | None
    prelabel: Any  # the machine's suggestion in the kind's JSON form, None without one
    prelabel_score: float | None
    exclude: frozenset[str] | None
    context: Any = None  # review / adjudication tasks: what the reviewer or adjudicator is shown besides the item
    status: str = "open"
    lease_id: str | None = None
    lease_annotator: str | None = None
    lease_expires: float = 0.0
    leased_at: float = 0.0
    version: int = 0


def _stored_prelabel(p: Project, text: str | None, payload: str | None) -> Any:
    """A stored pre-label in the kind's JSON form (older stores kept a choice as a list of labels)."""
    if not text:
        return None
    try:
        return p.kind.queue.parse_submission({"answer": orjson.loads(text)}, p.labels, p.options, payload)
    except ValueError:  # the label set changed since the push: the suggestion is no longer one
        return None


def insert_tasks(tasks: list[Task], now: float) -> Op:
    return (
        "INSERT OR IGNORE INTO tasks (seq, assignment_id, project_id, item_id, kind, priority, payload, "
        "media_uri, prelabel, prelabel_score, exclude_annotators, context, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)",
        [(t.seq, t.assignment_id, t.project_id, t.item_id, t.kind, t.priority, t.payload, t.media_uri,
          orjson.dumps(t.prelabel).decode() if t.prelabel is not None else None, t.prelabel_score,
          orjson.dumps(sorted(t.exclude)).decode() if t.exclude else None,
          orjson.dumps(t.context).decode() if t.context is not None else None, now) for t in tasks],
        True,
    )


def _adjudication_key(assignment_id: str) -> str:
    return f"adjudication:{assignment_id}"


def _review_key(assignment_id: str) -> str:
    return f"review:{assignment_id}"


def _slot(project_id: str, kind: str) -> str:
    """Which of an annotator's current leases a task fills: an expert may hold one annotation task and
    one review task of the same project at once, each returned again by its own `next`."""
    return f"review:{project_id}" if kind == "review" else project_id


def slot_of(t: Task) -> str:
    return _slot(t.project_id, t.kind)


def rework_owner(t: Task) -> str:
    return t.context["rework"]["annotator_id"]


def review_target(t: Task) -> str:
    return t.context["review"]["target"]


@dataclass(slots=True)
class Annotator:
    annotator_id: str
    name: str | None
    token_hash: str
    roles: frozenset[str]
    projects: frozenset[str] | None
    active: bool = True
    created_at: float = 0.0
    seen: dict[str, set[str]] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)
    submitted: int = 0
    skipped: int = 0
    first_submit: float | None = None
    last_submit: float | None = None

    def may_annotate(self) -> bool:
        return not self.roles or bool(self.roles & ANNOTATE_ROLES)

    def may_review(self) -> bool:
        return bool(self.roles & REVIEW_ROLES)

    def public(self) -> dict[str, Any]:
        return {
            "annotator_id": self.annotator_id, "name": self.name, "roles": sorted(self.roles),
            "projects": sorted(self.projects) if self.projects is not None else None,
            "active": self.active, "submitted": self.submitted, "skipped": self.skipped,
        }


class Queue:
    """Scheduling and validation; every mutation also goes to the store, in order."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.projects: dict[str, Project] = {}
        self.tasks: dict[str, Task] = {}  # open and leased only
        self.finished: dict[str, str] = {}  # assignment_id -> done | cancelled
        self.leases: dict[str, Task] = {}
        self.ended: dict[str, tuple[str, str]] = {}  # lease_id -> (annotator_id, reason)
        self.expiry: list[tuple[float, str]] = []
        self.annotators: dict[str, Annotator] = {}
        self.by_token: dict[str, Annotator] = {}
        self.submitted: dict[tuple[str, str], dict[str, Any]] = {}
        self.pending: dict[tuple[str, str], Any] = {}
        self.next_seq = 1
        # review bookkeeping (rebuilt on load from the review judgments):
        self.decided: dict[tuple[str, str], tuple[str, str]] = {}  # (project, target) -> (reviewer, decision)
        self.review_counts: dict[tuple[str, str], dict[str, int]] = {}  # (project, reviewed source) -> per decision
        self.reworks: dict[str, int] = {}  # reviewed assignment -> rework tasks made of it so far

    # ---- start-up -------------------------------------------------------------------------
    def load(self) -> None:
        self.store.load(self._load)

    def _load(self, con: Any) -> None:
        for pid, cfg in con.execute("SELECT project_id, config FROM projects"):
            self._set_project(pid, orjson.loads(cfg))
        for aid, name, th, roles, projects, active, created in con.execute(
            "SELECT annotator_id, name, token_hash, roles, projects, active, created_at FROM annotators"
        ):
            a = Annotator(aid, name, th, frozenset(orjson.loads(roles)),
                          frozenset(orjson.loads(projects)) if projects else None, bool(active), created)
            self.annotators[aid] = a
            self.by_token[th] = a
        for aid, pid, item, kind, assignment in con.execute(
            "SELECT DISTINCT l.annotator_id, l.project_id, l.item_id, t.kind,"
            " CASE WHEN t.kind IN ('adjudication', 'review') THEN l.assignment_id END"
            " FROM leases l LEFT JOIN tasks t ON t.assignment_id = l.assignment_id"
        ):
            if aid in self.annotators:
                seen = self.annotators[aid].seen.setdefault(pid, set())
                seen.add(item)
                if assignment is not None:
                    seen.add(_adjudication_key(assignment) if kind == "adjudication" else _review_key(assignment))
        now = time.time()
        for row in con.execute(
            "SELECT seq, assignment_id, project_id, item_id, kind, priority, payload, media_uri, prelabel, "
            "prelabel_score, exclude_annotators, status, lease_id, lease_annotator, lease_expires, context "
            "FROM tasks WHERE status IN ('open', 'leased') ORDER BY seq"
        ):
            t = Task(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                     _stored_prelabel(self.projects[row[2]], row[8], row[6]), row[9],
                     frozenset(orjson.loads(row[10])) if row[10] else None,
                     orjson.loads(row[15]) if row[15] else None)
            p = self.projects[t.project_id]
            self.tasks[t.assignment_id] = t
            if row[11] == "leased" and row[14] > now and row[13] in self.annotators:
                t.status, t.lease_id, t.lease_annotator, t.lease_expires = "leased", row[12], row[13], row[14]
                t.leased_at = now
                self.leases[t.lease_id] = t
                heapq.heappush(self.expiry, (t.lease_expires, t.lease_id))
                self.annotators[t.lease_annotator].current[_slot(t.project_id, t.kind)] = t.lease_id
                p.counts["leased"] += 1
            else:
                self._enqueue(p, t)
        for aid, status, pid in con.execute(
            "SELECT assignment_id, status, project_id FROM tasks WHERE status IN ('done', 'cancelled')"
        ):
            self.finished[aid] = status
            self.projects[pid].counts[status] += 1
        for pid, n in con.execute(  # leases taken back unanswered: history's lease_expiries
            "SELECT project_id, count(*) FROM leases WHERE ended = 'expired' GROUP BY project_id"
        ):
            if pid in self.projects:
                self.projects[pid].counts["expired"] = n
        for aid, cid, jid, lid, pid, at, decision in con.execute(
            "SELECT annotator_id, client_id, judgment_id, lease_id, project_id, submitted_at, decision"
            " FROM judgments ORDER BY seq"
        ):
            self.submitted[(aid, cid)] = {"judgment_id": jid, "lease_id": lid, "project_id": pid,
                                          "submitted_at": at, "stored": True,
                                          **({"decision": decision} if decision is not None else {})}
            a = self.annotators.get(aid)
            if a is not None:
                a.submitted += 1
        for pid, reviewer, decision, context in con.execute(
            "SELECT j.project_id, j.annotator_id, j.decision, t.context FROM judgments j"
            " JOIN tasks t ON t.assignment_id = j.assignment_id"
            " WHERE t.kind = 'review' AND j.decision IS NOT NULL ORDER BY j.seq"
        ):
            self._count_decision(pid, orjson.loads(context)["review"], reviewer, decision)
        for (aid,) in con.execute("SELECT assignment_id FROM tasks WHERE kind = 'rework'"):
            base = aid.removeprefix("rework:").rsplit(":", 1)[0]
            self.reworks[base] = self.reworks.get(base, 0) + 1
        self.next_seq = (con.execute("SELECT COALESCE(MAX(seq), 0) FROM tasks").fetchone()[0] or 0) + 1

    # ---- projects -------------------------------------------------------------------------
    def _set_project(self, pid: str, cfg: dict[str, Any]) -> Project:
        p = self.projects.get(pid)
        if p is None:
            p = self.projects[pid] = Project(pid, list(cfg["labels"]))
        p.labels = list(cfg["labels"])
        p.task_kind = cfg.get("task_kind") or kinds.names()[0]
        p.data_kind = cfg.get("data_kind", "text")
        p.options = dict(cfg.get("options") or {})
        p.instructions = cfg.get("instructions", "")
        p.show_prelabels = bool(cfg.get("show_prelabels", True))
        p.lease_seconds = float(cfg.get("lease_seconds", 600))
        if cfg.get("excluded_annotators") is not None:
            p.excluded = frozenset(cfg["excluded_annotators"])
        if cfg.get("paused_annotators") is not None:
            p.paused = dict(cfg["paused_annotators"])
        if cfg.get("requalifying_annotators") is not None:
            p.requalifying = frozenset(cfg["requalifying_annotators"])
        return p

    async def put_project(self, pid: str, cfg: dict[str, Any]) -> tuple[Project, bool]:
        created = pid not in self.projects
        p = self._set_project(pid, cfg)
        # An annotator removed from the project loses the task they hold here at once: it goes back
        # to the queue for someone else instead of waiting out the lease.
        for t in [t for t in self.leases.values() if t.project_id == pid and t.lease_annotator in p.excluded]:
            self._release(t, "withdrawn")
        self._release_paused(p)
        await self._save_project(p)
        return p, created

    def _release_paused(self, p: Project) -> None:
        """A paused annotator's leases go back to the queue at once (their re-qualification gold stays)."""
        for t in [t for t in self.leases.values()
                  if t.project_id == p.project_id and p.held_back(t.lease_annotator or "", t)]:
            self._release(t, "paused")

    async def _save_project(self, p: Project) -> None:
        await self.store.write([("INSERT OR REPLACE INTO projects VALUES (?, ?, ?)",
                                 (p.project_id, orjson.dumps(p.config()).decode(), time.time()), False)])

    async def annotator_action(self, pid: str, annotator_id: str, action: str, reason: str, actor: str) -> dict[str, Any]:
        """An admin's pause / resume / unban from the app (the dashboard): effective here at once, and
        recorded for the pipeline, which applies it to its state at the next collect or dispatch."""
        p = self.project(pid)
        if annotator_id not in self.annotators:
            raise ApiError(404, "unknown_annotator", f"no annotator {annotator_id!r}; see GET /api/annotators")
        if action == "pause":
            if annotator_id in p.paused:
                raise ApiError(409, "already_paused", f"annotator {annotator_id!r} is already paused in {pid!r}")
            p.paused = {**p.paused, annotator_id: f"manual: {reason}"}
            self._release_paused(p)
        elif action == "resume":
            if annotator_id not in p.paused:
                raise ApiError(409, "not_paused", f"annotator {annotator_id!r} is not paused in {pid!r}")
            p.paused = {k: v for k, v in p.paused.items() if k != annotator_id}
            p.requalifying = p.requalifying - {annotator_id}
        else:
            if annotator_id not in p.excluded:
                raise ApiError(409, "not_banned", f"annotator {annotator_id!r} is not banned in {pid!r}")
            p.excluded = p.excluded - {annotator_id}
        at = time.time()
        await self.store.write([
            ("INSERT INTO annotator_actions (project_id, annotator_id, action, reason, actor, created_at)"
             " VALUES (?, ?, ?, ?, ?, ?)", (pid, annotator_id, action, reason, actor, at), False),
            ("INSERT OR REPLACE INTO projects VALUES (?, ?, ?)", (pid, orjson.dumps(p.config()).decode(), at), False),
        ])
        return {"project_id": pid, "annotator_id": annotator_id, "action": action, "paused": annotator_id in p.paused,
                "banned": annotator_id in p.excluded}

    def project(self, pid: str) -> Project:
        p = self.projects.get(pid)
        if p is None:
            raise ApiError(404, "unknown_project", f"no project {pid!r}; create it with PUT /api/projects/{pid}")
        return p

    # ---- pipeline: push / cancel ------------------------------------------------------------
    async def push(self, pid: str, rows: list[dict[str, Any]]) -> dict[str, int]:
        p = self.project(pid)
        new: list[Task] = []
        seen_ids: set[str] = set()
        existing = 0
        for i, r in enumerate(rows):
            aid = r["assignment_id"]
            if aid in self.tasks or aid in self.finished or aid in seen_ids:
                existing += 1
                continue
            kind = r.get("kind") or "label"
            if kind not in KINDS:
                raise ApiError(422, "invalid_task", f"tasks[{i}] ({aid!r}): kind {kind!r} not in {sorted(KINDS)}")
            if r.get("payload") is None and not r.get("media_uri"):
                raise ApiError(422, "invalid_task", f"tasks[{i}] ({aid!r}): needs a payload or a media_uri")
            pre = r.get("prelabel")
            if pre is not None:
                pre = p.parse_answer({"answer": pre}, r.get("payload"), f"tasks[{i}] ({aid!r}) pre-label")
            ex = r.get("exclude_annotators")
            context = r.get("context")
            if context is not None and kind not in CONTEXT_KINDS:
                raise ApiError(422, "invalid_task", f"tasks[{i}] ({aid!r}): a {kind} task carries no context (only "
                               f"{', '.join(sorted(CONTEXT_KINDS))}): gold and audits must look like any other task")
            if kind in ("review", "rework"):
                context = _checked_context(p, kind, context, r.get("payload"), f"tasks[{i}] ({aid!r})")
                if kind == "review":  # belt and braces: the reviewed annotator is also excluded by id
                    ex = sorted({*(ex or ()), context["review"]["source_id"]})
            seen_ids.add(aid)
            new.append(Task(0, aid, pid, str(r["item_id"]), kind, float(r.get("priority") or 0.0),
                            r.get("payload"), r.get("media_uri"), pre, r.get("prelabel_score"),
                            frozenset(ex) if ex else None, context))
        now = time.time()
        for t in new:
            t.seq = self.next_seq
            self.next_seq += 1
        ops = [insert_tasks(new, now)]
        for t in new:
            self.tasks[t.assignment_id] = t
            self._enqueue(p, t)
        await self.store.write(ops)
        return {"created": len(new), "existing": existing}

    async def cancel(self, pid: str, ids: list[str]) -> dict[str, int]:
        p = self.project(pid)
        out = {"cancelled": 0, "already_finished": 0, "unknown": 0}
        done: list[tuple[str]] = []
        for aid in ids:
            t = self.tasks.get(aid)
            if t is None or t.project_id != pid:
                out["already_finished" if aid in self.finished else "unknown"] += 1
                continue
            if t.status == "leased":
                self._end_lease(t, "cancelled")
                p.counts["leased"] -= 1
            else:
                p.counts["open"] -= 1
            t.status = "cancelled"
            t.version += 1
            del self.tasks[aid]
            self.finished[aid] = "cancelled"
            p.counts["cancelled"] += 1
            done.append((aid,))
            out["cancelled"] += 1
        await self.store.write([("UPDATE tasks SET status = 'cancelled', lease_id = NULL WHERE assignment_id = ?",
                                 done, True)])
        return out

    def new_task(self, t: Task) -> Op:
        """Add a task made by the app itself (a rework); the returned op stores it (write it, then `_enqueue`)."""
        t.seq = self.next_seq
        self.next_seq += 1
        return insert_tasks([t], time.time())

    # ---- leasing --------------------------------------------------------------------------
    def _enqueue(self, p: Project, t: Task) -> None:
        t.status = "open"
        t.version += 1
        if t.kind == "review":
            heap = p.review_heap
        elif t.kind == "rework":
            heap = p.rework.setdefault(rework_owner(t), [])
        else:
            heap = p.heap
        heapq.heappush(heap, (-t.priority, t.seq, t.version, t))
        p.counts["open"] += 1

    def _count_decision(self, pid: str, review: dict[str, Any], reviewer: str, decision: str) -> None:
        """Remember who decided on a target first (a second decision is refused) and count the reviewed
        source's accepted / corrected / rejected answers (their stats)."""
        self.decided.setdefault((pid, review["target"]), (reviewer, decision))
        counts = self.review_counts.setdefault((pid, review["source_id"]), dict.fromkeys(DECISIONS, 0))
        counts[decision] += 1

    def review_stats(self, source_id: str | None = None) -> list[dict[str, Any]]:
        """Per project and reviewed source: how many of their answers reviewers accepted, corrected, rejected."""
        out = []
        for (pid, src), c in sorted(self.review_counts.items()):
            if source_id is not None and src != source_id:
                continue
            n = sum(c.values())
            out.append({"project_id": pid, "source_id": src, "reviewed": n, "accepted": c["accept"],
                        "corrected": c["correct"], "rejected": c["reject"],
                        "acceptance_rate": round(c["accept"] / n, 4), "rejection_rate": round(c["reject"] / n, 4)})
        return out

    def _end_lease(self, t: Task, reason: str) -> None:
        lid = t.lease_id
        assert lid is not None
        del self.leases[lid]
        a = self.annotators.get(t.lease_annotator or "")
        slot = _slot(t.project_id, t.kind)
        if a is not None and a.current.get(slot) == lid:
            del a.current[slot]
        if len(self.ended) >= ENDED_MEMORY:
            for k in list(self.ended)[: ENDED_MEMORY // 10]:
                del self.ended[k]
        self.ended[lid] = (t.lease_annotator or "", reason)
        t.lease_id = t.lease_annotator = None

    def _release(self, t: Task, reason: str) -> None:
        """Put a leased task back in the queue (expired, skipped or withdrawn); the annotator keeps it as seen."""
        lid = t.lease_id
        self._end_lease(t, reason)
        p = self.projects[t.project_id]
        p.counts["leased"] -= 1
        if reason == "expired":
            p.counts["expired"] += 1
        self._enqueue(p, t)
        self.store.write_behind([
            ("UPDATE tasks SET status = 'open', lease_id = NULL, lease_annotator = NULL, lease_expires = NULL "
             "WHERE assignment_id = ?", (t.assignment_id,), False),
            ("UPDATE leases SET ended = ? WHERE lease_id = ?", (reason, lid), False),
        ])

    def reclaim(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        n = 0
        while self.expiry and self.expiry[0][0] <= now:
            _, lid = heapq.heappop(self.expiry)
            t = self.leases.get(lid)
            if t is not None and t.lease_expires <= now:
                self._release(t, "expired")
                n += 1
        return n

    def _eligible(self, t: Task, a: Annotator, seen: set[str]) -> bool:
        if t.exclude is not None and a.annotator_id in t.exclude:
            return False
        if self.projects[t.project_id].held_back(a.annotator_id, t):
            return False
        if t.kind == "adjudication":
            # An expert who labeled the item in the crowd rounds may still adjudicate it (often every
            # expert has): only this same adjudication task is never offered to them twice.
            return "expert" in a.roles and _adjudication_key(t.assignment_id) not in seen
        if t.kind == "review":
            # Never one's own work; never a target someone already decided; the same task once. Having
            # labeled the item too does not bar a reviewer (as for adjudication).
            return (t.context["review"]["source_id"] != a.annotator_id
                    and (t.project_id, review_target(t)) not in self.decided
                    and _review_key(t.assignment_id) not in seen)
        if t.kind == "rework":  # the annotator's own answer sent back: theirs alone, seen or not
            return rework_owner(t) == a.annotator_id
        return t.item_id not in seen

    async def next(self, a: Annotator, pid: str, mode: str = "annotate") -> dict[str, Any] | None:
        """Lease the caller's next task: `mode` "annotate" takes their rework first, then annotation work
        by priority; "review" takes review tasks only (the routers check the caller's role)."""
        p = self.project(pid)
        if a.projects is not None and pid not in a.projects:
            raise ApiError(403, "wrong_project", f"annotator {a.annotator_id!r} is not assigned to project {pid!r}")
        if a.annotator_id in p.excluded:
            raise ApiError(403, "excluded", f"annotator {a.annotator_id!r} was removed from project {pid!r}")
        if a.annotator_id in p.paused and a.annotator_id not in p.requalifying:
            raise ApiError(403, "paused", f"annotator {a.annotator_id!r} is paused in project {pid!r} "
                           f"({p.paused[a.annotator_id] or 'no reason given'}); work already done still counts. "
                           "Ask the project admin to resume you or to give you a re-qualification batch")
        now = time.time()
        self.reclaim(now)
        cur = a.current.get(_slot(pid, "review" if mode == "review" else "label"))
        if cur is not None:
            return self.view(self.leases[cur], p)
        seen = a.seen.setdefault(pid, set())
        heaps = [p.review_heap] if mode == "review" else [p.rework.get(a.annotator_id, []), p.heap]
        chosen = None
        for heap in heaps:
            chosen = self._take(heap, a, seen)
            if chosen is not None:
                break
        if chosen is None:
            return None
        t = chosen
        t.status, t.lease_id, t.lease_annotator = "leased", uuid.uuid4().hex, a.annotator_id
        t.leased_at, t.lease_expires = now, now + p.lease_seconds
        p.counts["open"] -= 1
        p.counts["leased"] += 1
        self.leases[t.lease_id] = t
        heapq.heappush(self.expiry, (t.lease_expires, t.lease_id))
        a.current[slot_of(t)] = t.lease_id
        seen.add(t.item_id)
        if t.kind == "adjudication":
            seen.add(_adjudication_key(t.assignment_id))
        elif t.kind == "review":
            seen.add(_review_key(t.assignment_id))
        await self.store.write([
            ("UPDATE tasks SET status = 'leased', lease_id = ?, lease_annotator = ?, lease_expires = ? "
             "WHERE assignment_id = ?", (t.lease_id, a.annotator_id, t.lease_expires, t.assignment_id), False),
            ("INSERT INTO leases VALUES (?, ?, ?, ?, ?, ?, NULL)",
             (t.lease_id, t.assignment_id, pid, t.item_id, a.annotator_id, now), False),
        ])
        return self.view(t, p)

    def _take(self, heap: list, a: Annotator, seen: set[str]) -> Task | None:
        """The first task of `heap` the annotator may take, popped; the ones passed over go back."""
        aside, chosen = [], None
        while heap and len(aside) < SCAN_LIMIT:
            entry = heapq.heappop(heap)
            t = entry[3]
            if t.status != "open" or t.version != entry[2]:
                continue
            if self._eligible(t, a, seen):
                chosen = t
                break
            aside.append(entry)
        for entry in aside:
            heapq.heappush(heap, entry)
        return chosen

    def view(self, t: Task, p: Project) -> dict[str, Any]:
        """What an annotator sees: never the kind, the assignment id or the pipeline's item id.

        Every field is the same function of the item whatever the task's kind, so gold and audits
        cannot be told from ordinary work: the suggestion is shown on every task that has one
        (gold and audit items get machine votes like any other), and never with its score, since
        audits are by construction the items the machine was sure about.
        """
        # A review task shows the reviewed answer in its context, never a pushed pre-label (on a gold item
        # that could be the reference answer).
        shows = p.show_prelabels and t.prelabel is not None and t.kind != "review"
        suggestion = {"answer": t.prelabel} if shows else None
        media = t.media_uri
        if media and not media.startswith(("http://", "https://")):
            media = f"/api/annotate/media/{t.lease_id}"
        return {
            "lease_id": t.lease_id, "project_id": p.project_id, "expires_at": t.lease_expires,
            "lease_seconds": p.lease_seconds, "data_kind": p.data_kind, "task_kind": p.task_kind,
            "payload": t.payload, "media_url": media, "suggestion": suggestion,
            "remaining": p.counts["open"] + p.counts["leased"],
            **({"context": t.context} if t.context is not None else {}),
        }

    def leased_to(self, a: Annotator, lease_id: str) -> Task:
        """The annotator's own live lease, or a 4xx saying why not (foreign leases look unknown)."""
        t = self.leases.get(lease_id)
        if t is None or t.lease_annotator != a.annotator_id:
            ended = self.ended.get(lease_id)
            if ended is not None and ended[0] == a.annotator_id:
                raise ApiError(409, f"lease_{ended[1]}",
                               f"lease {lease_id} was {ended[1]}; request a new task with POST .../next")
            raise ApiError(404, "unknown_lease", f"no lease {lease_id!r} is held by you")
        if t.lease_expires <= time.time():
            self._release(t, "expired")
            raise ApiError(409, "lease_expired", f"lease {lease_id} expired; request a new task with POST .../next")
        return t

    async def heartbeat(self, a: Annotator, lease_id: str) -> dict[str, Any]:
        t = self.leased_to(a, lease_id)
        t.lease_expires = time.time() + self.projects[t.project_id].lease_seconds
        heapq.heappush(self.expiry, (t.lease_expires, lease_id))
        await self.store.write([("UPDATE tasks SET lease_expires = ? WHERE assignment_id = ?",
                                 (t.lease_expires, t.assignment_id), False)])
        return {"lease_id": lease_id, "expires_at": t.lease_expires}

    async def skip(self, a: Annotator, lease_id: str) -> dict[str, Any]:
        t = self.leased_to(a, lease_id)
        if t.kind == "rework":
            raise ApiError(409, "rework_not_skippable", "this task is your own answer, sent back by a reviewer with "
                           "a comment: fix it and submit it (it is offered to no one else)")
        self._release(t, "skipped")
        a.skipped += 1
        return {"lease_id": lease_id, "skipped": True}


_CONTEXT_FIELDS = {
    "review": {"target": str, "source_id": str, "origin": ("human", "machine")},
    "rework": {"annotator_id": str, "comment": str},
}


def _checked_context(p: Project, kind: str, context: Any, payload: str | None, where: str) -> dict[str, Any]:
    """A review or rework task's context as the app relies on it (contract: docs/review.md), its answer in
    the kind's JSON form; a 422 naming the field otherwise."""
    inner = context.get(kind) if isinstance(context, dict) else None
    if not isinstance(inner, dict):
        raise ApiError(422, "invalid_task", f"{where}: a {kind} task needs context.{kind} (an object)")
    for name, want in _CONTEXT_FIELDS[kind].items():
        v = inner.get(name)
        ok = v in want if isinstance(want, tuple) else isinstance(v, want) and v != ""
        if not ok:
            expected = " or ".join(map(repr, want)) if isinstance(want, tuple) else "a non-empty string"
            raise ApiError(422, "invalid_task", f"{where}: context.{kind}.{name} must be {expected}, got {shown(v)}")
    answer = inner.get("answer")
    if kind == "review" or answer is not None:
        answer = p.parse_answer({"answer": answer}, payload, f"{where} context.{kind}.answer")
    return {**context, kind: {**inner, "answer": answer}}
