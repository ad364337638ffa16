"""Machine votes (labeling functions, models): deterministic ids, source registration, version turnover.

A machine source's vote id is md5(source_id, source_version, item_id): applying the same version twice
inserts nothing, and a new version (changed LF code, retrained model) writes new votes after the old
version's votes were deleted, so downstream aggregation never counts one source twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow as pa

__all__ = ["VOTE_SCHEMA", "bulk_vote_writes", "register_source", "retire_stale_votes", "vote_id_sql", "vote_ids", "votes_table"]

VOTE_SCHEMA = pa.schema(
    [
        ("vote_id", pa.string()),
        ("item_id", pa.string()),
        ("source_id", pa.string()),
        ("source_kind", pa.string()),
        ("source_version", pa.string()),
        ("label", pa.string()),
        ("confidence", pa.float64()),
        ("probs", pa.string()),
        ("run_id", pa.string()),
    ]
)

_SEP = "\x1f"


def vote_id_sql(source_id_expr: str, version_expr: str, item_expr: str) -> str:
    """SQL for the vote id; `vote_ids` computes the same value in Python."""
    return f"md5(concat_ws(chr(31), {source_id_expr}, {version_expr}, {item_expr}))"


def vote_ids(source_id: str, version: str, item_ids: list[str]) -> list[str]:
    prefix = f"{source_id}{_SEP}{version}{_SEP}"
    return [hashlib.md5((prefix + i).encode()).hexdigest() for i in item_ids]


def votes_table(
    item_ids: list[str] | pa.Array,
    labels: list[str | None] | pa.Array,
    *,
    source_id: str,
    kind: str,
    version: str,
    run_id: str | None,
    confidence: list[float] | pa.Array | None = None,
    probs: list[str] | pa.Array | None = None,
) -> pa.Table:
    """Votes of one source as an Arrow table in the `votes` column layout (created_at is the default)."""
    ids = item_ids.to_pylist() if isinstance(item_ids, (pa.Array, pa.ChunkedArray)) else list(item_ids)
    n = len(ids)
    return pa.table(
        {
            "vote_id": vote_ids(source_id, version, ids),
            "item_id": ids,
            "source_id": [source_id] * n,
            "source_kind": [kind] * n,
            "source_version": [version] * n,
            "label": labels,
            "confidence": confidence if confidence is not None else pa.nulls(n, pa.float64()),
            "probs": probs if probs is not None else pa.nulls(n, pa.string()),
            "run_id": [run_id] * n,
        },
        schema=VOTE_SCHEMA,
    )


def register_source(con: duckdb.DuckDBPyConnection, source_id: str, kind: str, name: str, version: str) -> None:
    con.execute(
        "INSERT INTO sources (source_id, kind, name, version) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (source_id) DO UPDATE SET version = excluded.version, kind = excluded.kind",
        [source_id, kind, name, version],
    )


def retire_stale_votes(con: duckdb.DuckDBPyConnection, source_id: str, version: str) -> int:
    """Delete the votes an earlier version of this machine source cast; returns how many."""
    return int(
        con.execute(
            "DELETE FROM votes WHERE source_id = ? AND source_version IS DISTINCT FROM ? AND source_kind IN ('lf', 'model')",
            [source_id, version],
        ).fetchall()[0][0]
    )


@contextmanager
def bulk_vote_writes(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Skip DICT_FSST compression while writing millions of votes on this connection.

    Vote and item ids are random hex that does not compress; analysing them for DICT_FSST made
    writing 12M LF votes about 2x slower (measured). Other compressions stay on; the setting is
    restored afterwards and never affects how the data is read.
    """
    before = con.execute("SELECT current_setting('disabled_compression_methods')").fetchall()[0][0]
    con.execute("SET disabled_compression_methods = 'dict_fsst'").fetchall()
    try:
        yield
    finally:
        if before:
            con.execute("SET disabled_compression_methods = ?", [before]).fetchall()
        else:
            con.execute("RESET disabled_compression_methods").fetchall()
