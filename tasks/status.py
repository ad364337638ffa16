"""What the state database holds right now, as one JSON-ready dict (for `annoflow status`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from tasks.review.stats import review_stats

if TYPE_CHECKING:
    from tasks.kinds.protocol import ConsensusFacet

__all__ = ["collect_status", "quarantine_sample"]


def _pairs(con: duckdb.DuckDBPyConnection, sql: str) -> dict:
    return {str(k): v for k, v in con.execute(sql).fetchall()}


def collect_status(con: duckdb.DuckDBPyConnection, consensus: ConsensusFacet) -> dict:
    """Counts per item state, quarantine reason, vote source kind, assignment state; labels; versions;
    reviewers' verdicts per annotator.

    `consensus` is the project's kind's consensus facet: it says which labels a stored answer uses,
    for the resolved labels' distribution (a label per item, each label of a set, a span's type).
    """
    project = con.execute("SELECT name, config_hash, updated_at FROM projects").fetchone()
    return {
        "project": {"name": project[0], "config_hash": project[1]} if project else None,
        "items": {
            "total": con.execute("SELECT count(*) FROM items").fetchone()[0],
            "by_state": _pairs(con, "SELECT state, count(*) FROM items GROUP BY ALL ORDER BY 1"),
            "by_kind": _pairs(con, "SELECT kind, count(*) FROM items GROUP BY ALL ORDER BY 1"),
        },
        "quarantine": {
            "total": con.execute("SELECT count(*) FROM quarantine").fetchone()[0],
            "by_reason": _pairs(con, "SELECT stage || ':' || reason, count(*) FROM quarantine GROUP BY ALL ORDER BY 2 DESC, 1"),
        },
        "gold": con.execute("SELECT count(*) FROM gold").fetchone()[0],
        "votes": {
            "total": con.execute("SELECT count(*) FROM votes").fetchone()[0],
            "by_source_kind": _pairs(con, "SELECT source_kind, count(*) FROM votes GROUP BY ALL ORDER BY 1"),
            "sources": con.execute("SELECT count(*) FROM sources").fetchone()[0],
            "banned_sources": con.execute("SELECT count(*) FROM sources WHERE banned").fetchone()[0],
        },
        "assignments": {"by_state": _pairs(con, "SELECT kind || ':' || state, count(*) FROM assignments GROUP BY ALL ORDER BY 1")},
        "labels": {
            "total": con.execute("SELECT count(*) FROM labels").fetchone()[0],
            "by_decision": _pairs(con, "SELECT decision, count(*) FROM labels GROUP BY ALL ORDER BY 1"),
            "by_method": _pairs(con, "SELECT method, count(*) FROM labels GROUP BY ALL ORDER BY 1"),
            "by_label": _pairs(con, f"SELECT lab, count(*) FROM (SELECT unnest({consensus.label_values_sql}) AS lab"
                                    " FROM labels WHERE decision = 'resolved') GROUP BY ALL ORDER BY 1"),
        },
        "exports": [
            {"version": v, "rows": n, "path": p, "created_at": str(c)}
            for v, n, p, c in con.execute("SELECT version, n_rows, path, created_at FROM export_versions ORDER BY created_at").fetchall()
        ],
        "consensus": _consensus(con),
        "review": review_stats(con),
        "model_spend": _model_spend(con),
        "last_runs": [
            {"stage": s, "status": st, "finished_at": str(f)}
            for s, st, f in con.execute(
                "SELECT stage, status, max(finished_at) FROM stage_runs GROUP BY stage, status ORDER BY 3 DESC LIMIT 10"
            ).fetchall()
        ],
    }


def _model_spend(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Per model source whose runs count calls (language models): calls, tokens and their cost over every run."""
    rows = con.execute(
        "SELECT 'model:' || substr(stage, 16), sum(TRY_CAST(stats ->> 'calls' AS BIGINT)), sum(TRY_CAST(stats ->> 'input_tokens' AS BIGINT)),"
        " sum(TRY_CAST(stats ->> 'output_tokens' AS BIGINT)), sum(TRY_CAST(stats ->> 'cost' AS DOUBLE)) FROM stage_runs"
        " WHERE stage LIKE 'prelabel.model.%' AND stats ->> 'calls' IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall()
    return [{"source_id": s, "calls": c, "input_tokens": i, "output_tokens": o, "cost": round(x or 0.0, 6)} for s, c, i, o, x in rows]


def _consensus(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The last consensus run's agreement and decisions and the top of the source leaderboard."""
    from tasks.consensus.summary import stored_summary

    summary = stored_summary(con)
    if summary is not None:
        summary["leaderboard"] = summary["leaderboard"][:10]
    return summary


def quarantine_sample(con: duckdb.DuckDBPyConnection, limit: int = 20) -> list[dict]:
    cur = con.execute(
        "SELECT stage, source, source_row, field, reason, detail FROM quarantine ORDER BY created_at DESC, source, source_row LIMIT ?",
        [limit],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
