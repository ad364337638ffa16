"""Pausing annotators: the rules' findings and people's commands, written to `annotator_events` and `sources`.

A pause is not a ban: the annotator gets no new work and loses the tasks they hold, but their past
votes keep counting (consensus reads `banned`, never `paused`). `annotator_events` is the audit
trail; `sources.paused` is what dispatch and the queue read. Both change in one transaction.

Idempotency: a rule's events are keyed by (source, action, rule, episode), where the episode is
how many times the annotator was given a clean slate (`rules.CLEAN_SLATE`). Running the rules
again on the same state, or again after more judgments, adds nothing until the annotator was
resumed; people's commands are one event each.

Re-qualification (a gold-only batch that can end a pause) is `tasks.behaviour.requalify`.
"""

from __future__ import annotations

__all__ = [
    "OPEN_REQUALIFY",
    "RULES_ACTOR",
    "AnnotatorState",
    "apply_findings",
    "known_source",
    "list_annotators",
    "manual_event",
    "pause",
    "paused_annotators",
    "requalifying_annotators",
    "resume",
    "unban",
]

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from tasks.behaviour.rules import CLEAN_SLATE, Finding
from tasks.errors import InputError
from tasks.store import transaction

RULES_ACTOR = "annoflow"


@dataclass(frozen=True)
class AnnotatorState:
    """What `annoflow annotators list` and the dashboard show for one human source."""

    source_id: str
    paused: bool
    banned: bool
    reason: str | None
    judgments: int
    last_action: str | None
    requalifying: bool


def _source_id(annotator: str) -> str:
    return annotator if annotator.startswith("human:") else f"human:{annotator}"


def _event(con: duckdb.DuckDBPyConnection, event_id: str, source_id: str, action: str, rule: str | None,
           reason: str | None, evidence: dict[str, Any] | None, actor: str, run_id: str | None) -> int:
    """Insert one event unless its id is stored; returns 1 when it was new."""
    n = con.execute(
        "INSERT INTO annotator_events (event_id, source_id, action, rule, reason, evidence, actor, run_id)"
        " VALUES (?, ?, ?, ?, ?, ?::JSON, ?, ?) ON CONFLICT DO NOTHING",
        [event_id, source_id, action, rule, reason, json.dumps(evidence, default=str) if evidence else None,
         actor, run_id]).fetchall()
    return int(n[0][0]) if n else 0


def _episodes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    slate = ", ".join(f"'{a}'" for a in CLEAN_SLATE)
    return dict(con.execute(f"SELECT source_id, count(*) FROM annotator_events WHERE action IN ({slate})"
                            " GROUP BY 1").fetchall())


def _rule_event_id(source_id: str, action: str, rule: str, episode: int) -> str:
    return hashlib.md5("\x1f".join([source_id, action, rule, str(episode)]).encode()).hexdigest()


def _set_paused(con: duckdb.DuckDBPyConnection, source_id: str, reason: str) -> None:
    con.execute(
        "INSERT INTO sources (source_id, kind, name, paused, paused_at, pause_reason)"
        " VALUES (?, 'human', ?, true, now(), ?) ON CONFLICT (source_id) DO UPDATE SET paused = true,"
        " paused_at = excluded.paused_at, pause_reason = excluded.pause_reason",
        [source_id, source_id.removeprefix("human:"), reason]).fetchall()


def apply_findings(con: duckdb.DuckDBPyConnection, findings: Sequence[Finding], run_id: str | None,
                   pause_flagged: bool = True) -> dict[str, list[str]]:
    """Record each finding as a `flag` event and, when it asks for it, pause the annotator; one transaction.

    Returns the source ids newly flagged and newly paused (a re-run on the same state returns none).
    """
    flagged, paused = [], []
    with transaction(con):
        episodes = _episodes(con)
        already = {r[0] for r in con.execute("SELECT source_id FROM sources WHERE paused").fetchall()}
        for f in findings:
            ep = episodes.get(f.source_id, 0)
            if _event(con, _rule_event_id(f.source_id, "flag", f.rule, ep), f.source_id, "flag", f.rule, f.reason,
                      f.evidence, RULES_ACTOR, run_id):
                flagged.append(f.source_id)
            if not (f.pause and pause_flagged) or f.source_id in already:
                continue
            if _event(con, _rule_event_id(f.source_id, "pause", f.rule, ep), f.source_id, "pause", f.rule, f.reason,
                      f.evidence, RULES_ACTOR, run_id):
                _set_paused(con, f.source_id, f"{f.rule}: {f.reason}")
                already.add(f.source_id)
                paused.append(f.source_id)
    return {"flagged": sorted(set(flagged)), "paused": paused}


# ---- people's commands -------------------------------------------------------------------------------

def _state(con: duckdb.DuckDBPyConnection, source_id: str) -> tuple[bool, bool] | None:
    """(paused, banned) of a known human source; None when nobody by that id ever worked here."""
    row = con.execute("SELECT coalesce(paused, false), banned FROM sources WHERE source_id = ?", [source_id]).fetchall()
    if row:
        return bool(row[0][0]), bool(row[0][1])
    seen = con.execute("SELECT 1 FROM votes WHERE source_id = ? LIMIT 1", [source_id]).fetchall()
    return (False, False) if seen else None


def known_source(con: duckdb.DuckDBPyConnection, annotator: str) -> tuple[str, bool, bool]:
    source_id = _source_id(annotator)
    state = _state(con, source_id)
    if state is None:
        raise InputError(f"unknown annotator {annotator!r}: no source {source_id!r} in this project "
                         "(see `annoflow annotators list`)")
    return source_id, *state


def manual_event(con, source_id: str, action: str, reason: str, actor: str, rule: str = "manual",
                  evidence: dict | None = None) -> str:
    event_id = uuid.uuid4().hex
    _event(con, event_id, source_id, action, rule, reason, evidence, actor, None)
    return event_id


def _need_reason(reason: str | None, action: str) -> str:
    if not reason or not reason.strip():
        raise InputError(f"{action} needs a reason: pass --reason TEXT (it is recorded with who ran it)")
    return reason.strip()


def pause(con: duckdb.DuckDBPyConnection, annotator: str, reason: str, actor: str) -> str:
    """Pause by hand; refused when already paused."""
    reason = _need_reason(reason, "pause")
    source_id, paused, _ = known_source(con, annotator)
    if paused:
        raise InputError(f"annotator {annotator!r} is already paused; `annoflow annotators resume {annotator} "
                         "--reason TEXT` ends it")
    with transaction(con):
        manual_event(con, source_id, "pause", reason, actor)
        _set_paused(con, source_id, f"manual: {reason}")
    return source_id


def resume(con: duckdb.DuckDBPyConnection, annotator: str, reason: str, actor: str, *, action: str = "resume",
           rule: str = "manual", evidence: dict | None = None) -> str:
    """End a pause (a clean slate for the rules); refused when not paused."""
    reason = _need_reason(reason, action)
    source_id, paused, _ = known_source(con, annotator)
    if not paused:
        raise InputError(f"annotator {annotator!r} is not paused; nothing to resume")
    with transaction(con):
        manual_event(con, source_id, action, reason, actor, rule, evidence)
        con.execute("UPDATE sources SET paused = false, paused_at = NULL, pause_reason = NULL WHERE source_id = ?",
                    [source_id]).fetchall()
    return source_id


def unban(con: duckdb.DuckDBPyConnection, annotator: str, reason: str, actor: str) -> str:
    """Lift a ban (their votes count again from the next consensus run); refused when not banned."""
    reason = _need_reason(reason, "unban")
    source_id, _, banned = known_source(con, annotator)
    if not banned:
        raise InputError(f"annotator {annotator!r} is not banned; nothing to unban")
    with transaction(con):
        manual_event(con, source_id, "unban", reason, actor)
        con.execute("UPDATE sources SET banned = false, banned_at = NULL WHERE source_id = ?", [source_id]).fetchall()
    return source_id


# ---- re-qualification --------------------------------------------------------------------------------

OPEN_REQUALIFY = """
SELECT source_id, created_at, (evidence->>'items')::INTEGER AS items FROM annotator_events
WHERE action IN ('requalify_start', 'requalify_pass', 'requalify_fail', 'resume', 'unban', 'pause')
QUALIFY row_number() OVER (PARTITION BY source_id ORDER BY created_at DESC, action = 'requalify_start') = 1
    AND action = 'requalify_start'
"""


def requalifying_annotators(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Annotator ids (without `human:`) whose re-qualification batch is open."""
    rows = con.execute(f"SELECT source_id FROM ({OPEN_REQUALIFY}) JOIN sources USING (source_id)"
                       " WHERE paused ORDER BY 1").fetchall()
    return [r[0].removeprefix("human:") for r in rows]


def paused_annotators(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Annotator id (without `human:`) -> pause reason, for the queue."""
    rows = con.execute("SELECT source_id, coalesce(pause_reason, '') FROM sources WHERE paused AND kind = 'human'"
                       " AND starts_with(source_id, 'human:') ORDER BY 1").fetchall()
    return {r[0].removeprefix("human:"): r[1] for r in rows}


def list_annotators(con: duckdb.DuckDBPyConnection) -> list[AnnotatorState]:
    """Every human source with its pause/ban state, judgments and last recorded action."""
    open_batches = {f"human:{a}" for a in requalifying_annotators(con)}
    rows = con.execute(
        "WITH s AS (SELECT source_id FROM sources WHERE kind = 'human' UNION"
        "  SELECT DISTINCT source_id FROM votes WHERE source_kind = 'human'),"
        " n AS (SELECT source_id, count(*) AS n FROM votes WHERE source_kind = 'human' GROUP BY 1),"
        " e AS (SELECT source_id, arg_max(action, created_at) AS last FROM annotator_events GROUP BY 1)"
        " SELECT s.source_id, coalesce(src.paused, false), coalesce(src.banned, false), src.pause_reason,"
        "  coalesce(n.n, 0), e.last"
        " FROM s LEFT JOIN sources src USING (source_id) LEFT JOIN n USING (source_id) LEFT JOIN e USING (source_id)"
        " ORDER BY 1").fetchall()
    return [AnnotatorState(r[0], r[1], r[2], r[3], int(r[4]), r[5], r[0] in open_batches) for r in rows]
