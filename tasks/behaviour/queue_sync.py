"""Keeping the queue and the state database in step on pauses and bans, both ways.

DuckDB is the system of record (`sources.paused`, `sources.banned`, `annotator_events`); the queue
enforces it. The pipeline sends the queue its lists (`ensure_project`); admins who pause, resume or
unban from the app's dashboard change the queue at once and the app records the action, which the
pipeline pulls here (cursor in `queue_cursors`) and applies with the app's actor. The actions are
pulled BEFORE the lists are sent, so a pause made in the app is never undone by an older list.
"""

from __future__ import annotations

__all__ = ["apply_queue_actions", "send_lists", "sync_queue"]

from collections.abc import Callable
from typing import Any

import duckdb

from schemas.config import ProjectConfig
from tasks.behaviour.pause import (
    known_source,
    pause,
    paused_annotators,
    requalifying_annotators,
    resume,
    unban,
)
from tasks.queues.base import AnnotatorActions, QueueBackend
from tasks.store import transaction


def apply_queue_actions(con: duckdb.DuckDBPyConnection, queue: str, backend: QueueBackend) -> int:
    """Apply the actions taken in the queue since the stored cursor; returns how many changed the state.

    An action the state already reflects (a pause of an annotator the rules paused meanwhile) is
    skipped: the queue checked it against its own view, which may lag this one.
    """
    if not isinstance(backend, AnnotatorActions):
        return 0
    key = f"{queue}#annotator-actions"  # `queue`: the project's queue key (`dispatch.access.queue_name`)
    rows = con.execute("SELECT cursor FROM queue_cursors WHERE queue = ?", [key]).fetchall()
    actions, nxt = backend.pull_annotator_actions(rows[0][0] if rows else None)
    changed = 0
    for a in actions:
        # the app knows annotators who have not voted yet: a pause of one must hold here too
        con.execute("INSERT INTO sources (source_id, kind, name) VALUES (?, 'human', ?) ON CONFLICT DO NOTHING",
                    [f"human:{a['annotator_id']}", a["annotator_id"]]).fetchall()
        _, paused, banned = known_source(con, a["annotator_id"])
        actor = f"{a['actor']} (app)"
        if a["action"] == "pause" and not paused:
            pause(con, a["annotator_id"], a["reason"], actor)
        elif a["action"] == "resume" and paused:
            resume(con, a["annotator_id"], a["reason"], actor)
        elif a["action"] == "unban" and banned:
            unban(con, a["annotator_id"], a["reason"], actor)
        else:
            continue
        changed += 1
    if nxt is not None and actions:
        with transaction(con):
            con.execute("INSERT INTO queue_cursors (queue, cursor) VALUES (?, ?) ON CONFLICT (queue) DO UPDATE"
                        " SET cursor = excluded.cursor, updated_at = now()", [key, nxt]).fetchall()
    return changed


def send_lists(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, backend: QueueBackend,
               banned: list[str]) -> dict[str, Any]:
    """Send the queue who is banned, paused and re-qualifying; returns the paused and re-qualifying lists."""
    paused = paused_annotators(con)
    requalifying = requalifying_annotators(con)
    backend.ensure_project(cfg, excluded_annotators=banned, paused_annotators=paused,
                           requalifying_annotators=requalifying)
    return {"paused": paused, "requalifying": requalifying}


def sync_queue(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, queue: str, backend: QueueBackend,
               banned: Callable[[duckdb.DuckDBPyConnection], list[str]]) -> dict[str, Any]:
    """Pull the queue's actions into the state, then send the queue the state's lists (CLI, dispatch).

    `banned` reads the banned annotators after the actions were applied (`dispatch.stage.banned_annotators`)."""
    backend.ensure_project(cfg)  # the project must exist to be asked for its actions; lists left as they are
    applied = apply_queue_actions(con, queue, backend)
    return {"applied": applied, "banned": banned(con), **send_lists(con, cfg, backend, banned(con))}
