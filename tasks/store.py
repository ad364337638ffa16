"""The one place that opens the state database: bounded wait for the writer lock, then migrations.

DuckDB lets one process hold a file read-write and fails every other open at once, so a stage opens
the file, writes its batches and closes it; a second process retries with back-off for a bounded
time and then fails with a message naming the holder.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from schemas.config import ProjectConfig
from schemas.migrations import migrate
from tasks.errors import StoreLockedError

__all__ = ["connect", "open_store", "transaction", "insert_missing", "record_stage_run"]

log = logging.getLogger("annoflow.store")

_LOCK_MARKERS = ("Could not set lock", "Conflicting lock")


def _holder(message: str) -> str:
    m = re.search(r"PID (\d+)", message)
    return f"process {m.group(1)}" if m else "another process"


def connect(
    db_path: Path | str, *, read_only: bool = False, wait_seconds: float = 60.0, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the database, retrying while another process holds the lock, up to `wait_seconds`.

    `memory_limit` caps DuckDB's buffer pool (it spills past it): a streaming stage sets it so its
    memory does not grow with the size of the tables it appends to.
    """
    path = Path(db_path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    attempt = 0
    while True:
        try:
            # A stage commits one transaction per batch; at DuckDB's default 16 MB WAL threshold most
            # commits of a large run also checkpoint (rewrite) the tables they touched, which made
            # commits half of collect's time. The WAL is replayed after a crash, so nothing is lost;
            # the checkpoint happens once, when the stage closes the store.
            config = {"preserve_insertion_order": "false", "checkpoint_threshold": "1GB"}
            if memory_limit:
                config["memory_limit"] = memory_limit
            return duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.IOException as e:
            if not any(s in str(e) for s in _LOCK_MARKERS):
                raise
            attempt += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreLockedError(
                    f"{path} is held by {_holder(str(e))}; waited {wait_seconds:.0f}s (attempt {attempt}). "
                    "Another annoflow stage or a tool with the file open is still running: wait for it to "
                    "finish or stop it, then run again (state.lock_wait_seconds sets the wait)."
                ) from None
            if attempt == 1 or attempt % 20 == 0:
                log.warning("%s is locked by %s; waiting (up to %.0fs more)", path, _holder(str(e)), remaining)
            time.sleep(min(delay, remaining))
            delay = min(delay * 1.5, 1.0)


@contextmanager
def open_store(
    db_path: Path | str, *, read_only: bool = False, wait_seconds: float = 60.0, memory_limit: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Connection for one stage: migrated to the latest schema, closed on exit."""
    con = connect(db_path, read_only=read_only, wait_seconds=wait_seconds, memory_limit=memory_limit)
    try:
        if not read_only:
            migrate(con)
        yield con
    finally:
        con.close()


def project_store(cfg: ProjectConfig, *, memory_limit: str | None = None):
    """`open_store` for a project: its lock wait and its DuckDB memory cap (`state.memory_limit`)."""
    return open_store(cfg.db_path, wait_seconds=cfg.state.lock_wait_seconds,
                      memory_limit=memory_limit or cfg.state.memory_limit)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One batch's results and state change commit together or not at all."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def insert_missing(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table, key: list[str]) -> int:
    """Insert the rows of `rows` whose key is not stored yet (first row wins within the batch).

    This is how large tables stay idempotent without a PRIMARY KEY index (see migration 001).
    Returns the number of rows inserted.
    """
    if rows.num_rows == 0:
        return 0
    name = f"_incoming_{table}"
    con.register(name, rows)
    try:
        cols = ", ".join(f'"{c}"' for c in rows.column_names)
        keys = ", ".join(f'"{k}"' for k in key)
        # ANTI JOIN lets DuckDB build its hash table on the (small) batch and stream the stored table
        # past it (RIGHT_ANTI), so memory follows the batch size, not the table size.
        unique = len(key) == 1 and pc.count_distinct(rows.column(key[0])).as_py() == rows.num_rows
        batch = name if unique else f"(SELECT * FROM {name} QUALIFY row_number() OVER (PARTITION BY {keys}) = 1)"
        n = con.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {batch} b ANTI JOIN (SELECT {keys} FROM {table}) t USING ({keys})"
        ).fetchone()[0]
    finally:
        con.unregister(name)
    return int(n)


def read_dictionary_encoded(con: duckdb.DuckDBPyConnection, sql: str, columns: list[str], *,
                            params: dict | list | None = None, batch_rows: int = 1_000_000) -> pa.Table:
    """A query's result with `columns` dictionary-encoded as it streams in.

    Ids repeat across rows (an item's dozen votes, a source's millions): encoded, each distinct id
    is stored once plus a 4-byte index per row, instead of the whole string on every row.
    """
    with con.sql(sql, params=params).to_arrow_reader(batch_size=batch_rows) as reader:
        names = reader.schema.names
        schema = pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if f.name in columns else f
                            for f in reader.schema])
        batches = [pa.RecordBatch.from_arrays(
            [pc.dictionary_encode(b.column(i)) if name in columns else b.column(i) for i, name in enumerate(names)],
            schema=schema) for b in reader]
    return pa.Table.from_batches(batches, schema=schema).unify_dictionaries()


def plain_strings(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A dictionary-encoded column decoded (for a small result that meets plain string columns)."""
    return col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col


def record_stage_run(con: duckdb.DuckDBPyConnection, stage: str, status: str, stats: dict, started_at: float, *,
                     cfg: ProjectConfig | None = None, run_id: str | None = None) -> str:
    """Append the stage's outcome; `annoflow status` and the dashboards read this table.

    With the project's `cfg`, the run's metrics are appended to `metric_history` too (every stage
    records its run here, so history misses none). `run_id` is the id the stage already stamped on
    the rows it wrote (collect's votes), so history can measure exactly this run's rows.
    """
    import json
    import uuid
    from datetime import datetime, timezone

    run_id = run_id or uuid.uuid4().hex
    flow_run_id = None
    try:
        from prefect.runtime import flow_run

        flow_run_id = flow_run.get_id()
    except Exception:
        pass
    con.execute(
        "INSERT INTO stage_runs (run_id, stage, flow_run_id, status, stats, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, now())",
        [run_id, stage, flow_run_id, status, json.dumps(stats, default=str), datetime.fromtimestamp(started_at, timezone.utc)],
    ).fetchall()
    if cfg is not None:
        from tasks.history.write import append_run

        append_run(con, cfg, run_id, stage, stats)
    return run_id
