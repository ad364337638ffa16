"""What the last consensus run left in the store: agreement, decisions, fit and the source leaderboard, reviewers'
verdicts per annotator.

Kept free of Prefect so `annoflow status` can read it without importing the orchestration stack.
"""

from __future__ import annotations

__all__ = ["SCOPE", "leaderboard", "stored_summary"]

import json

import duckdb

from tasks.review.stats import review_stats

SCOPE = "labels"


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def leaderboard(con: duckdb.DuckDBPyConnection, limit: int = 20) -> list[dict]:
    """Sources ranked by gold accuracy lower bound, then learned accuracy; banned ones listed too."""
    cur = con.execute(
        "SELECT s.source_id, s.kind, s.n_votes, s.n_gold, s.gold_accuracy, s.gold_low, s.gold_high,"
        " s.learned_accuracy, s.agreement_with_consensus, coalesce(src.banned, false) AS banned"
        " FROM source_stats s LEFT JOIN sources src USING (source_id)"
        " ORDER BY banned DESC, s.gold_low DESC NULLS LAST, s.learned_accuracy DESC NULLS LAST, s.source_id"
        " LIMIT ?", [limit])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def stored_summary(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The last consensus run's agreement, decisions and fit, plus the current leaderboard."""
    exists = _one(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'consensus_state'")[0]
    row = _one(con, "SELECT method, n_votes, fit, agreement, decisions, updated_at FROM consensus_state"
                      " WHERE scope = ?", [SCOPE]) if exists else None
    if not row:
        return None
    banned = _one(con, "SELECT count(*) FROM sources WHERE banned")[0]
    return {"method": row[0], "n_votes": row[1], "fit": json.loads(row[2] or "{}"),
            "agreement": json.loads(row[3] or "{}"), "decisions": json.loads(row[4] or "{}"),
            "updated_at": str(row[5]), "banned_sources": banned, "leaderboard": leaderboard(con),
            "review": review_stats(con)}
