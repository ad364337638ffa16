"""The queue backend interface: what dispatch and collect need from any human queue, in Arrow batches.

A backend is reached over HTTP only. Both directions are idempotent: pushing an assignment id that
the backend already has changes nothing, and pulling from the same cursor returns the same
judgments, so a stage that fails half-way can simply run again.

Tasks pushed (`TASK_SCHEMA`; only `assignment_id` and `item_id` are required, missing columns take
the defaults shown):
    assignment_id  string            the pipeline's id of this micro-task (idempotency key)
    item_id        string            one annotator never gets two tasks with the same item id
    kind           string  "label"   label | gold | audit | adjudication (never shown to annotators)
    priority       float64 0.0       higher first
    payload        string  null      text to label (text items)
    media_uri      string  null      file:// path or http(s) URL (image/audio items)
    metadata       string  null      the item's metadata (JSON text, e.g. an image's width/height), for
                                     the answer kind's conversions; backends never show it to annotators
    prelabel       string  null      machine suggestion: the answer's JSON text (`kind.storage.to_json`);
                                     a list<string> column of labels is accepted too
    prelabel_score float64 null
    exclude_annotators list<string> null
    context        string  null      what the one who takes the task sees besides the item (JSON object text):
                                     a review task's `{"review": {...}}` (tasks/review), an adjudication task's
                                     `{"conflict": {...}}` (tasks/dispatch/conflict.py); null for the others

Judgments pulled (`JUDGMENT_SCHEMA`):
    judgment_id, assignment_id, item_id, annotator_id: string
    label          string            the label (single-label projects; null otherwise)
    labels         list<string>      all labels chosen (choice projects; null for structured kinds)
    answer         string            the answer's JSON text (structured kinds, column `answer`; null for choices)
    duration_ms    int64             time the annotator spent
    submitted_at   timestamp[us, UTC]
    client_id      string            the annotator client's submit id
    task_kind      string            label | gold | audit | adjudication | review | rework (null: not said,
                                     e.g. Label Studio)
    decision       string            a reviewer's accept | correct | reject (review tasks; audits answered in
                                     the grid: accept | reject), `resubmit` on a rework; else null
    comment        string            the reviewer's or adjudicator's comment, null when none
    target         string            a review's target (the reviewed judgment id or `machine:<item>:<run>`)

A page may carry one more column, `answer_problem` (`ANSWER_PROBLEM`, string, JSON `{"reason",
"field", "detail"}`), on backends that receive answers they cannot read (Label Studio does not enforce
its labeling config): set on a judgment whose answer could not be converted, which collect then
quarantines under that reason; the answer columns then hold what was received, for the record.

Live judgments (`LIVE_SCHEMA`, backends where people can delete answers, `Retracting`):
    assignment_id  string
    judgment_ids   list<string>      the judgments the assignment has now (an edit keeps its first id)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import orjson
import pyarrow as pa

from schemas.config import ProjectConfig
from tasks.errors import ContractError

__all__ = [
    "PullAll",
    "TASK_SCHEMA",
    "ANSWER_PROBLEM",
    "JUDGMENT_SCHEMA",
    "ANNOTATOR_SCHEMA",
    "LIVE_SCHEMA",
    "QueueBackend",
    "AnnotatorAdmin",
    "AnnotatorActions",
    "Retracting",
    "task_rows",
    "answer_columns",
    "empty_judgments",
]

TASK_SCHEMA = pa.schema([
    ("assignment_id", pa.string()),
    ("item_id", pa.string()),
    ("kind", pa.string()),
    ("priority", pa.float64()),
    ("payload", pa.string()),
    ("media_uri", pa.string()),
    ("metadata", pa.string()),
    ("prelabel", pa.string()),
    ("prelabel_score", pa.float64()),
    ("exclude_annotators", pa.list_(pa.string())),
    ("context", pa.string()),
])

JUDGMENT_SCHEMA = pa.schema([
    ("judgment_id", pa.string()),
    ("assignment_id", pa.string()),
    ("item_id", pa.string()),
    ("annotator_id", pa.string()),
    ("label", pa.string()),
    ("labels", pa.list_(pa.string())),
    ("answer", pa.string()),
    ("duration_ms", pa.int64()),
    ("submitted_at", pa.timestamp("us", tz="UTC")),
    ("client_id", pa.string()),
    ("task_kind", pa.string()),
    ("decision", pa.string()),
    ("comment", pa.string()),
    ("target", pa.string()),
])

ANNOTATOR_SCHEMA = pa.schema([
    ("annotator_id", pa.string()),
    ("name", pa.string()),
    ("roles", pa.list_(pa.string())),
    ("active", pa.bool_()),
    ("submitted", pa.int64()),
])

ANSWER_PROBLEM = "answer_problem"
"""The optional judgment column saying why a backend could not read the answer (see the module docstring)."""

LIVE_SCHEMA = pa.schema([
    ("assignment_id", pa.string()),
    ("judgment_ids", pa.list_(pa.string())),
])

_REQUIRED = ("assignment_id", "item_id")
_KINDS = {"label", "gold", "audit", "adjudication", "review"}


@runtime_checkable
class QueueBackend(Protocol):
    """A human queue. Implementations: `BuiltinBackend` (the annotation app); Label Studio next."""

    name: str

    def ensure_project(self, config: ProjectConfig, excluded_annotators: Sequence[str] | None = None,
                       paused_annotators: Mapping[str, str] | None = None,
                       requalifying_annotators: Sequence[str] | None = None) -> str:
        """Create or update the project (labels, kinds, instructions, lease); returns the backend's project id.

        `excluded_annotators` (the banned ones) must get no more work in the project, including tasks
        already pushed, where the backend can enforce it; None leaves the backend's current list.
        `paused_annotators` (annotator id -> reason, `tasks.behaviour.pause`) likewise get no new
        work and lose the tasks they hold, and are told why; `requalifying_annotators` among them
        may take gold tasks only (their re-qualification batch). None leaves the current lists."""
        ...

    def push(self, tasks: pa.Table) -> int:
        """Send tasks (`TASK_SCHEMA` columns) in batches; returns how many were new to the backend."""
        ...

    def pull(self, cursor: str | None, limit: int = 5_000) -> tuple[pa.Table, str | None]:
        """Judgments after `cursor` (None: from the start) as `JUDGMENT_SCHEMA`, and the cursor to store
        once they are written. Pulling again from the same cursor returns the same rows."""
        ...

    def cancel(self, assignment_ids: Sequence[str]) -> int:
        """Withdraw tasks not yet answered; returns how many were withdrawn now."""
        ...

    def close(self) -> None:
        ...


@runtime_checkable
class AnnotatorAdmin(Protocol):
    """Annotator management, where the backend owns its annotators (the built-in app does)."""

    def create_annotator(self, annotator_id: str, *, name: str | None = None, roles: Sequence[str] = (),
                         projects: Sequence[str] | None = None) -> str:
        """Create an annotator and return its token (shown once; the backend stores only a hash)."""
        ...

    def list_annotators(self) -> pa.Table:
        """`ANNOTATOR_SCHEMA` rows."""
        ...


@runtime_checkable
class AnnotatorActions(Protocol):
    """A backend where admins can pause, resume or unban annotators themselves (the built-in app's dashboard)."""

    def pull_annotator_actions(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Actions after `cursor` (dicts `annotator_id, action, reason, actor`), oldest first, and the next cursor."""
        ...


@runtime_checkable
class Retracting(Protocol):
    """A backend where a judgment already pulled can disappear (Label Studio: an annotation deleted)."""

    def live_judgments(self, cursor: str | None) -> pa.Table:
        """`LIVE_SCHEMA` rows for every assignment whose judgments may have changed after `cursor` (None:
        every assignment): a stored vote of a listed assignment that is not among its ids was withdrawn."""
        ...


def task_rows(tasks: pa.Table) -> list[dict[str, Any]]:
    """Validate a task table and turn it into JSON-ready dicts (None fields dropped)."""
    missing = [c for c in _REQUIRED if c not in tasks.column_names]
    if missing:
        raise ContractError(f"task table lacks required columns {missing}; has {tasks.column_names}")
    unknown = [c for c in tasks.column_names if c not in TASK_SCHEMA.names]
    if unknown:
        raise ContractError(f"task table has unknown columns {unknown}; allowed: {TASK_SCHEMA.names}")
    for c in _REQUIRED:
        nulls = tasks.column(c).null_count
        if nulls:
            raise ContractError(f"task column {c!r} has {nulls} null values")
    rows = tasks.to_pylist()
    as_text = "prelabel" in tasks.column_names and pa.types.is_string(tasks.schema.field("prelabel").type)
    for i, r in enumerate(rows):
        for name in ("prelabel", "context") if as_text else ("context",):
            if isinstance(r.get(name), str):
                try:
                    r[name] = orjson.loads(r[name])
                except orjson.JSONDecodeError:
                    raise ContractError(f"task row {i} ({r['assignment_id']!r}): {name} is not JSON text: "
                                        f"{r[name][:80]!r}") from None
        kind = r.get("kind")
        if kind is not None and kind not in _KINDS:
            raise ContractError(f"task row {i} ({r['assignment_id']!r}): kind {kind!r} not in {sorted(_KINDS)}")
        if r.get("payload") is None and r.get("media_uri") is None:
            raise ContractError(f"task row {i} ({r['assignment_id']!r}): needs a payload or a media_uri")
        for k in [k for k, v in r.items() if v is None]:
            del r[k]
        r["assignment_id"], r["item_id"] = str(r["assignment_id"]), str(r["item_id"])
    return rows


def answer_columns(column: str, answer: Any) -> dict[str, Any]:
    """One answer (JSON form) as a judgment's `label`, `labels` and `answer` (`JUDGMENT_SCHEMA`): the
    kind's `storage.column` is filled (a single label is also its one-element `labels`), the others null."""
    if column == "label":
        return {"label": answer, "labels": [] if answer is None else [answer], "answer": None}
    if column == "labels":
        return {"label": None, "labels": answer, "answer": None}
    return {"label": None, "labels": None, "answer": None if answer is None else orjson.dumps(answer).decode()}


class PullAll:
    """Mixin for backends: every page after a cursor concatenated (small projects, tests, benchmarks)."""

    def pull_all(self, cursor: str | None, limit: int = 5_000) -> tuple[pa.Table, str | None]:
        tables = []
        while True:
            t, cursor = self.pull(cursor, limit)  # type: ignore[attr-defined]
            tables.append(t)
            if t.num_rows < limit:
                return pa.concat_tables(tables), cursor


def empty_judgments() -> pa.Table:
    return JUDGMENT_SCHEMA.empty_table()
