"""Comments and guideline questions from the built-in app into the state database (`comments`).

Why every collect re-reads them all: the app keeps the threads, and a guideline question changes after
it is written (the project owner resolves it). Comments are few (people write them), so a full re-read
replaced by comment_id is simpler than tracking updates, and running it twice changes nothing. Queues
without threads (Label Studio) have no `pull_comments`: nothing is pulled and the table stays as it was.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

__all__ = ["COMMENT_SCHEMA", "pull_comments", "store_comments"]

COMMENT_SCHEMA = pa.schema([
    ("comment_id", pa.string()), ("item_id", pa.string()), ("author", pa.string()), ("kind", pa.string()),
    ("body", pa.string()), ("reply_to", pa.string()), ("created_at", pa.float64()), ("resolved_at", pa.float64()),
    ("resolved_by", pa.string()), ("resolution", pa.string()),
])


def store_comments(con: duckdb.DuckDBPyConnection, queue: str, rows: list[dict[str, Any]]) -> int:
    """Insert or replace `rows` (the app's comment objects) in one statement; returns how many."""
    if not rows:
        return 0
    page = pa.Table.from_pylist([{k: r.get(k) for k in COMMENT_SCHEMA.names} for r in rows], schema=COMMENT_SCHEMA)
    con.register("_pulled_comments", page)
    try:
        con.execute(
            "INSERT OR REPLACE INTO comments SELECT comment_id, item_id, author, kind, body, reply_to,"
            " to_timestamp(created_at), to_timestamp(resolved_at), resolved_by, resolution, ?, now()"
            " FROM _pulled_comments", [queue])
    finally:
        con.unregister("_pulled_comments")
    return page.num_rows


def pull_comments(con: duckdb.DuckDBPyConnection, queue: str, backend: Any) -> int | None:
    """Pull every thread of the project from `backend` into `comments`; None when the queue has none."""
    pull = getattr(backend, "pull_comments", None)
    if pull is None:
        return None
    return store_comments(con, queue, pull())
