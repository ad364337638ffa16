"""Re-qualification: a paused annotator earns their way back with a gold-only batch.

`annoflow annotators requalify NAME` gives them `behaviour.requalify_items` gold tasks meant for
them alone (targeted gold assignments; the queue serves a re-qualifying annotator gold tasks only,
even while paused). Once they answered that many gold items after the batch started, the next
behaviour step resumes them (`requalify_pass`, a clean slate for the rules) if their accuracy
reaches `behaviour.requalify_accuracy`, else records `requalify_fail` and they stay paused; a new
batch can then be started. "Correct" is the answer's canonical text equal to gold's (as in
`tasks.behaviour.rules`).
"""

from __future__ import annotations

__all__ = ["check_requalifications", "start_requalification"]

import duckdb

from schemas.config import ProjectConfig
from tasks.behaviour.pause import (
    OPEN_REQUALIFY,
    RULES_ACTOR,
    known_source,
    manual_event,
    requalifying_annotators,
    resume,
)
from tasks.dispatch.plan import assignment_id_sql
from tasks.errors import InputError
from tasks.kinds import kind_of
from tasks.store import transaction


def start_requalification(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, queue: str, annotator: str,
                          actor: str) -> int:
    """Give a paused annotator `behaviour.requalify_items` gold tasks of their own; returns how many.

    The tasks are targeted gold assignments (`annotator_id` set, state `pending`): the next dispatch
    pushes them with every other annotator excluded, and the queue serves a re-qualifying annotator
    gold tasks only. Gold items they already answered or hold are not used again.
    """
    source_id, paused, banned = known_source(con, annotator)
    if not paused:
        raise InputError(f"annotator {annotator!r} is not paused: re-qualification is for paused annotators")
    if banned:
        raise InputError(f"annotator {annotator!r} is banned: `annoflow annotators unban` first")
    name = source_id.removeprefix("human:")
    if name in requalifying_annotators(con):
        raise InputError(f"annotator {annotator!r} already has an open re-qualification batch")
    n = cfg.behaviour.requalify_items
    col = kind_of(cfg).storage.column
    fresh = con.execute(
        f"SELECT item_id FROM gold WHERE {col} IS NOT NULL"
        " AND item_id NOT IN (SELECT item_id FROM votes WHERE source_id = ?)"
        " AND item_id NOT IN (SELECT item_id FROM assignments WHERE kind = 'gold' AND annotator_id = ?)"
        " ORDER BY md5(item_id || ?) LIMIT ?", [source_id, name, source_id, n]).fetchall()
    if len(fresh) < n:
        raise InputError(f"only {len(fresh)} gold items are left that {annotator!r} has not seen, the batch needs {n} "
                         "(behaviour.requalify_items): add gold items, or resume by hand with a reason")
    items = [r[0] for r in fresh]
    with transaction(con):
        con.execute(
            "INSERT INTO assignments (assignment_id, item_id, queue, kind, round, slot, priority, state, annotator_id)"
            f" SELECT {assignment_id_sql('g.item_id', repr('gold'), '0', 'g.slot')}, g.item_id, ?, 'gold', 0, g.slot,"
            " 1e9, 'pending', ? FROM (SELECT i.item_id, coalesce(max(a.slot) + 1, 0) AS slot"
            "  FROM unnest(?::VARCHAR[]) i(item_id) LEFT JOIN assignments a ON a.item_id = i.item_id AND a.kind = 'gold'"
            "  GROUP BY 1) g", [queue, name, items]).fetchall()
        manual_event(con, source_id, "requalify_start", f"gold-only batch of {n} items", actor, "requalify",
                      {"items": n, "item_ids": items})
    return n


def check_requalifications(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, run_id: str | None) -> dict[str, list[str]]:
    """Close every open batch whose gold answers are all in: pass resumes, fail keeps the pause."""
    col = kind_of(cfg).storage.column
    b = cfg.behaviour
    rows = con.execute(
        f"WITH o AS ({OPEN_REQUALIFY}),"
        f" v AS (SELECT v.source_id, v.item_id, CAST(to_json(v.{col}) AS VARCHAR) = CAST(to_json(g.{col}) AS VARCHAR)"
        "   AS correct FROM votes v JOIN gold g USING (item_id) JOIN o USING (source_id)"
        f"  WHERE v.source_kind = 'human' AND v.{col} IS NOT NULL AND v.created_at >= o.created_at"
        "  QUALIFY row_number() OVER (PARTITION BY v.item_id, v.source_id ORDER BY v.created_at DESC) = 1)"
        " SELECT o.source_id, o.items, count(v.item_id), count(v.item_id) FILTER (WHERE v.correct)"
        " FROM o LEFT JOIN v USING (source_id) GROUP BY 1, 2 ORDER BY 1").fetchall()
    passed, failed = [], []
    for source_id, items, n, correct in rows:
        if n < items:
            continue
        acc = correct / n
        evidence = {"answers": n, "correct": correct, "accuracy": round(acc, 3), "threshold": b.requalify_accuracy}
        if acc >= b.requalify_accuracy:
            resume(con, source_id, f"re-qualified: {correct}/{n} gold answers correct ({acc:.0%})", RULES_ACTOR,
                   action="requalify_pass", rule="requalify", evidence={**evidence, "run_id": run_id})
            passed.append(source_id)
        else:
            with transaction(con):
                manual_event(con, source_id, "requalify_fail",
                              f"re-qualification failed: {correct}/{n} gold answers correct ({acc:.0%}, "
                              f"needs {b.requalify_accuracy:.0%}); still paused", RULES_ACTOR, "requalify", evidence)
            failed.append(source_id)
    return {"requalified": passed, "requalify_failed": failed}
