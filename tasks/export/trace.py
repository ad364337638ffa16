"""Trace an exported label back to the votes and the method that produced it."""

from __future__ import annotations

from typing import Any

import duckdb

from schemas.config import ProjectConfig
from tasks.export import versions as V
from tasks.export.lineage import comments_of
from tasks.export.writers import parquet_list_sql
from tasks.kinds import kind_of
from tasks.store import project_store

__all__ = ["trace_item"]


def _records(cur: duckdb.DuckDBPyConnection) -> list[dict]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def trace_item(cfg: ProjectConfig, item_id: str, version: str | None = None) -> dict[str, Any]:
    """The item's row in `version` (default latest), its current decision and every vote on it."""
    v = V.resolve_version(cfg, version)
    with duckdb.connect() as mem:
        row = _records(mem.execute(f"SELECT * FROM {parquet_list_sql(V.data_files(cfg, v))} WHERE item_id = ?", [item_id]))
    col = kind_of(cfg).storage.column  # the answer column of votes, labels and gold
    with project_store(cfg) as con:
        votes = _records(con.execute(
            f"SELECT v.source_id, v.source_kind, v.{col}, v.confidence, v.created_at, s.banned"
            " FROM votes v LEFT JOIN sources s USING (source_id) WHERE v.item_id = ? ORDER BY v.created_at, v.source_id",
            [item_id]))
        current = _records(con.execute(
            f"SELECT {col}, confidence, method, decision, n_votes, n_human, agreement, sources, updated_at"
            " FROM labels WHERE item_id = ?", [item_id]))
        gold = _records(con.execute(f"SELECT {col}, origin FROM gold WHERE item_id = ?", [item_id]))
        comments = comments_of(con, item_id)
    return {"item_id": item_id, "version": v, "exported": row[0] if row else None, "current": current[0] if current else None,
            "gold": gold[0] if gold else None, "votes": votes, "comments": comments}
