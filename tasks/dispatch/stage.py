"""Dispatch stage: plan assignments from state, commit them, then push every pending one to the queue.

Two transactions on purpose. The new assignments commit first (state `pending`); then pending
tasks are pushed in batches of `queue.push_batch` and each pushed batch is marked `pushed` in a
transaction of its own. A crash between a push and its mark leaves those rows `pending`: the
next run pushes them again, which changes nothing on the backend (push is idempotent on
`assignment_id`), and marks them. Nothing is lost and nothing is doubled.

Review tasks (`tasks/review`) are planned and committed with the rest, their targets and contexts in
the same transaction; they go to the review queue (`tasks.review.queue`): the project's own queue, or
the built-in app that reviews a queue without a review workflow.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import duckdb
import pyarrow as pa
from prefect import task

from schemas.config import ProjectConfig
from schemas.tables import CHECK_CHUNK_ROWS, Assignments, check
from tasks.behaviour.queue_sync import sync_queue
from tasks.dispatch.access import backend_for, known_annotators, queue_name
from tasks.dispatch.conflict import with_conflict_context
from tasks.dispatch.plan import ASSIGNMENT_COLUMNS, PLANNED, plan_assignments
from tasks.errors import ContractError
from tasks.kinds import kind_of
from tasks.progress import track
from tasks.queues import TASK_SCHEMA, QueueBackend
from tasks.retries import STAGE_TASK
from tasks.review.policy import commit_reviews, plan_reviews
from tasks.review.queue import review_queue
from tasks.store import project_store, record_stage_run, transaction

__all__ = ["banned_annotators", "dispatch", "dispatch_task", "pending_task_batches", "suggestions_summary"]


def suggestions_summary(report: dict) -> str | None:
    """One line for the dispatch report when the kind withholds some machine sources' suggestions (the CLI and the flow
    print it): how many pushed tasks carry a suggestion, how many were left without one by the gate, and why."""
    withheld = report.get("withheld_sources") or {}
    if not withheld:
        return None
    return (f"Suggestions: shown on {report['suggestions_shown']:,} pushed tasks, withheld on {report['suggestions_withheld']:,} "
            f"(their only machine answers come from withheld sources): " + "; ".join(withheld.values()))


def banned_annotators(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Annotator ids of banned human sources (`human:<id>`)."""
    rows = con.execute(
        "SELECT DISTINCT substr(source_id, 7) FROM sources WHERE banned AND kind = 'human' "
        "AND starts_with(source_id, 'human:') ORDER BY 1").fetchall()
    return [r[0] for r in rows]


_SUGGESTION = "source_kind IN ('model', 'lf') AND {answer} IS NOT NULL AND CAST(to_json({answer}) AS VARCHAR) <> '[]'"
"""A machine vote that can be a task's suggestion (over one `votes` row): it says something."""

_PENDING = """
WITH p AS (
    SELECT assignment_id, item_id, kind, priority, annotator_id FROM assignments
    WHERE queue = $queue AND state = 'pending'
),
best AS (  -- the machine's suggestion, on every kind of task alike (gold must not stand out)
    SELECT item_id, CAST(to_json({answer}) AS VARCHAR) AS answer, confidence FROM votes
    WHERE """ + _SUGGESTION + """ AND NOT list_contains($withheld::VARCHAR[], source_id)
      AND item_id IN (SELECT item_id FROM p)
    QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY confidence DESC NULLS LAST, source_id) = 1
),
ctx AS (SELECT assignment_id, CAST(context AS VARCHAR) AS context, exclude_annotators FROM task_contexts
         WHERE assignment_id IN (SELECT assignment_id FROM p)),
targeted AS (  -- who holds a targeted gold slot of an item: they must not use up its open gold slots
    SELECT item_id, list(DISTINCT annotator_id) AS annotators FROM assignments
    WHERE kind = 'gold' AND annotator_id IS NOT NULL AND item_id IN (SELECT item_id FROM p)
    GROUP BY item_id
)
SELECT p.assignment_id, p.item_id, p.kind, p.priority, i.payload, i.uri AS media_uri, i.metadata,
    b.answer AS prelabel,
    b.confidence AS prelabel_score,
    CASE WHEN c.exclude_annotators IS NOT NULL
             THEN list_sort(list_distinct(list_concat(coalesce($banned::VARCHAR[], []), c.exclude_annotators)))
         WHEN p.annotator_id IS NOT NULL THEN list_filter($everyone::VARCHAR[], lambda x: x <> p.annotator_id)
         WHEN p.kind = 'gold' AND t.annotators IS NOT NULL
             THEN list_sort(list_distinct(list_concat(coalesce($banned::VARCHAR[], []), t.annotators)))
         ELSE $banned::VARCHAR[] END AS exclude_annotators,
    c.context
FROM p
JOIN (SELECT DISTINCT ON (item_id) item_id, payload, uri, CAST(metadata AS VARCHAR) AS metadata FROM items WHERE item_id IN (SELECT item_id FROM p)) i
    USING (item_id)
LEFT JOIN best b USING (item_id)
LEFT JOIN targeted t USING (item_id)
LEFT JOIN ctx c USING (assignment_id)
ORDER BY p.priority DESC, p.assignment_id
"""


_WITHHELD = """
SELECT count(*) FROM assignments p WHERE queue = $queue AND state = 'pending'
  AND EXISTS (SELECT 1 FROM votes WHERE item_id = p.item_id AND """ + _SUGGESTION + """ AND list_contains($withheld::VARCHAR[], source_id))
  AND NOT EXISTS (SELECT 1 FROM votes WHERE item_id = p.item_id AND """ + _SUGGESTION + """
                  AND NOT list_contains($withheld::VARCHAR[], source_id))
"""
"""Pending tasks left without a suggestion only because every machine source that answered their item is withheld."""


def pending_task_batches(con: duckdb.DuckDBPyConnection, queue: str, banned: Sequence[str],
                         annotators: Sequence[str] | None, batch_rows: int,
                         answer_column: str, withheld: Sequence[str] = ()) -> tuple[int, Iterator[pa.Table]]:
    """How many assignments of `queue` are pending, and those tasks as `TASK_SCHEMA` batches, highest priority first.

    Banned annotators are excluded from every task; a targeted gold task also excludes every
    other known annotator, so only its target can take it, and the item's untargeted gold tasks
    exclude its targets, so a target cannot strand their own slot by taking one of those first. The batches stream from a second
    cursor, so memory does not grow with the queue and `con` stays free to mark batches pushed.
    The pre-label is the most confident machine vote's answer (`answer_column`, the kind's
    `storage.column`) as JSON text, among the sources not `withheld` (the kind's `withheld_suggestions`);
    an empty one ("none") is no suggestion.
    """
    total = con.execute("SELECT count(*) FROM assignments WHERE queue = ? AND state = 'pending'", [queue]).fetchall()[0][0]
    params = {"queue": queue, "banned": sorted(set(banned)) or None,
              "everyone": sorted(set(banned) | set(annotators or ())), "withheld": sorted(withheld)}

    def batches() -> Iterator[pa.Table]:
        cur = con.cursor()
        try:
            with cur.sql(_PENDING.replace("{answer}", answer_column), params=params).to_arrow_reader(batch_size=batch_rows) as reader:
                for batch in reader:
                    yield pa.Table.from_batches([batch]).cast(TASK_SCHEMA)
        finally:
            cur.close()

    return int(total), batches()


def check_planned(con: duckdb.DuckDBPyConnection) -> None:
    """The Assignments contract over the planned rows, streamed in chunks; ids unique over all of them."""
    dup = con.execute(f"SELECT assignment_id FROM {PLANNED} GROUP BY 1 HAVING count(*) > 1 LIMIT 5").fetchall()
    if dup:
        raise ContractError(f"dispatch (new assignments): assignment ids planned twice: {[d[0] for d in dup]}")
    with con.sql(f"SELECT * FROM {PLANNED}").to_arrow_reader(batch_size=CHECK_CHUNK_ROWS) as reader:
        for batch in reader:
            check(pa.Table.from_batches([batch]).cast(ASSIGNMENT_COLUMNS), Assignments, "dispatch (new assignments)")


def _mark_pushed(con: duckdb.DuckDBPyConnection, ids: pa.Array) -> None:
    con.register("_pushed", pa.table({"assignment_id": ids}))
    try:
        with transaction(con):
            con.execute(
                "UPDATE assignments SET state = 'pushed', external_id = assignment_id, updated_at = now() "
                "WHERE state = 'pending' AND assignment_id IN (SELECT assignment_id FROM _pushed)").fetchall()
    finally:
        con.unregister("_pushed")


def _push_pending(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, queue: str, backend: QueueBackend,
                  banned: Sequence[str], annotators: Sequence[str] | None, withheld: Sequence[str]) -> tuple[int, int, int, int]:
    """Push every pending task of `queue` in batches, marking each batch pushed; (sent, new to the backend, sent with a
    suggestion, sent without one because its item's machine sources are all `withheld`)."""
    column = kind_of(cfg).storage.column
    n_withheld = con.execute(_WITHHELD.replace("{answer}", column), {"queue": queue, "withheld": sorted(withheld)}
                             ).fetchall()[0][0] if withheld else 0
    n_pending, batches = pending_task_batches(con, queue, banned, annotators, cfg.queue.push_batch, column, withheld)
    sent = new_to_backend = suggested = 0
    with track("dispatch push", n_pending) as bar:
        for chunk in batches:
            new_to_backend += backend.push(with_conflict_context(con, kind_of(cfg), cfg.labels, chunk))
            _mark_pushed(con, chunk.column("assignment_id"))
            sent += chunk.num_rows
            suggested += chunk.num_rows - chunk.column("prelabel").null_count
            bar.advance(chunk.num_rows)
    return sent, new_to_backend, suggested, int(n_withheld)


def dispatch(cfg: ProjectConfig, backend: QueueBackend | None = None) -> dict:
    """Create the assignments the project needs now and push all pending ones; returns counts."""
    started = time.time()
    queue = queue_name(cfg)
    own = backend is None
    backend = backend or backend_for(cfg)
    rq = None
    try:
        rq = review_queue(cfg, queue, backend)
        with project_store(cfg) as con:
            # pauses and unbans made in the queue's dashboard first, so the lists sent are current
            synced = sync_queue(con, cfg, queue, backend, banned_annotators)
        banned, paused = synced["banned"], synced["paused"]
        annotators = known_annotators(backend, labelling=True)
        with project_store(cfg) as con:
            # paused annotators get no new work (their re-qualification batch is planned by its command),
            # but the tasks targeted at them must still exclude everyone else
            allowed = None if annotators is None else [a for a in annotators if a not in set(banned)]
            active = None if allowed is None else [a for a in allowed if a not in paused]
            plan_assignments(con, cfg, queue, active)
            plan_reviews(con, cfg, rq.name if rq else None, PLANNED)
            check_planned(con)
            by_kind = dict(con.execute(f"SELECT kind, count(*) FROM {PLANNED} GROUP BY 1 ORDER BY 1").fetchall())
            targeted = con.execute(f"SELECT count(annotator_id) FROM {PLANNED}").fetchall()[0][0]
            with transaction(con):
                # planned ids are distinct (DISTINCT ON in the plan, checked above): an anti-join is enough
                created = con.execute(
                    f"INSERT INTO assignments ({', '.join(ASSIGNMENT_COLUMNS.names)}) SELECT * FROM {PLANNED} p"
                    " ANTI JOIN (SELECT assignment_id FROM assignments) a USING (assignment_id)").fetchall()[0][0]
                con.execute(
                    "UPDATE items SET state = 'queued' WHERE state = 'new' AND item_id IN "
                    f"(SELECT item_id FROM {PLANNED} WHERE kind = 'label')").fetchall()
                reviews = commit_reviews(con)
            con.execute(f"DROP TABLE {PLANNED}").fetchall()
            gate = getattr(kind_of(cfg).queue, "withheld_suggestions", None)  # optional: kinds that gate suggestions
            withheld = dict(gate(con, cfg)) if gate is not None else {}
            sent, new_to_backend, suggested, held = _push_pending(con, cfg, queue, backend, banned, allowed, list(withheld))
            if rq is not None and rq.separate:  # review tasks of a queue without review go to the review app
                rq.backend.ensure_project(cfg)
                review_sent, review_new, _, _ = _push_pending(con, cfg, rq.name, rq.backend, banned, None, list(withheld))
                sent, new_to_backend = sent + review_sent, new_to_backend + review_new
            report = {
                "queue": queue,
                "created": created,
                "created_by_kind": by_kind,
                "targeted_gold": int(targeted),
                "review_targets": reviews,
                "pushed": sent,
                "new_to_backend": new_to_backend,
                "banned_excluded": len(banned),
                "paused": len(paused),
                "annotators": None if active is None else len(active),
                "suggestions_shown": suggested if cfg.queue.show_prelabels else 0,
                "suggestions_withheld": held if cfg.queue.show_prelabels else 0,
                "withheld_sources": withheld,
                "seconds": round(time.time() - started, 3),
            }
            record_stage_run(con, "dispatch", "completed", report, started, cfg=cfg)
        return report
    finally:
        if rq is not None and rq.separate:
            rq.backend.close()
        if own:
            backend.close()


@task(name="dispatch", **STAGE_TASK)
def dispatch_task(cfg: ProjectConfig) -> dict:
    return dispatch(cfg)
