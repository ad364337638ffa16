"""The app's own durable store: SQLite in WAL mode behind one writer thread with group commit.

Why this shape:
- One write connection, used only on the event loop. Request handlers hand it a list of
  statements and await a future; one flush per loop iteration runs everything queued since the
  last one in ONE transaction and commits, then resolves all futures. Under load a commit carries
  many submits, so commits/s stay low while submits/s are high (group commit). A submit is
  acknowledged only after its commit returned.
- WAL + `synchronous=NORMAL`: COMMIT appends the transaction's frames to the `-wal` file with
  write(2) before returning, without fsync. Once write(2) returns the bytes are in the kernel's page
  cache, which belongs to the OS, not to the process: SIGKILL (or any crash of the app) cannot lose
  them and the next open replays the WAL. Only a power loss or kernel crash can drop the last
  transactions since the last fsync (at checkpoint). `--synchronous full` fsyncs the WAL at every
  commit for that case too; group commit keeps its cost to one fsync per batch.
- Readers (judgment pulls) use their own connections per thread; WAL lets them read a committed
  snapshot while the writer appends. Judgment `seq` is assigned by the single writer in commit
  order, so "seq > cursor" never skips a row that commits later with a smaller number.
- The app never opens the pipeline's DuckDB file; this file is the app's alone.
- It holds token hashes and every judgment, so it is created mode 0600 (owner only) and an older,
  wider file is narrowed at start. SQLite gives the `-wal` and `-shm` files the database file's mode.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA", "Op", "Store", "connect"]

log = logging.getLogger("annotation_app.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    project_id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS annotators (
    annotator_id TEXT PRIMARY KEY,
    name TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    roles TEXT NOT NULL,
    projects TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    assignment_id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    priority REAL NOT NULL,
    payload TEXT,
    media_uri TEXT,
    prelabel TEXT,
    prelabel_score REAL,
    exclude_annotators TEXT,
    context TEXT,
    status TEXT NOT NULL,
    lease_id TEXT,
    lease_annotator TEXT,
    lease_expires REAL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status);
CREATE TABLE IF NOT EXISTS leases (
    lease_id TEXT PRIMARY KEY,
    assignment_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    annotator_id TEXT NOT NULL,
    leased_at REAL NOT NULL,
    ended TEXT
);
CREATE INDEX IF NOT EXISTS leases_seen ON leases (annotator_id, project_id, item_id);
CREATE TABLE IF NOT EXISTS judgments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    judgment_id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    assignment_id TEXT NOT NULL UNIQUE,
    item_id TEXT NOT NULL,
    annotator_id TEXT NOT NULL,
    labels TEXT NOT NULL,
    answer TEXT,
    duration_ms INTEGER,
    submitted_at REAL NOT NULL,
    client_id TEXT NOT NULL,
    lease_id TEXT NOT NULL,
    decision TEXT,
    comment TEXT,
    UNIQUE (annotator_id, client_id)
);
CREATE INDEX IF NOT EXISTS judgments_project ON judgments (project_id, seq);
-- pause / resume / unban asked for in the app (the dashboard); the pipeline pulls them by seq
CREATE TABLE IF NOT EXISTS annotator_actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id TEXT NOT NULL,
    annotator_id TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at REAL NOT NULL
);
-- comments and guideline questions: per-item threads (comments_api.py); the pipeline pulls them all
CREATE TABLE IF NOT EXISTS comments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    comment_id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    author TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    reply_to TEXT,
    client_id TEXT,
    created_at REAL NOT NULL,
    resolved_at REAL,
    resolved_by TEXT,
    resolution TEXT,
    UNIQUE (author, client_id)
);
CREATE INDEX IF NOT EXISTS comments_item ON comments (project_id, item_id, seq);
CREATE INDEX IF NOT EXISTS tasks_item ON tasks (project_id, item_id);
"""

# One unit of work for the writer: (sql, params, many). `many=True` runs executemany.
Op = tuple[str, Any, bool]


def connect(path: Path | str, *, read_only: bool = False, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """Open the store; read-only connections are for the pull endpoints' threads."""
    uri = f"file:{Path(path)}?mode=ro" if read_only else f"file:{Path(path)}"
    con = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30)
    con.execute("PRAGMA busy_timeout=30000")
    if not read_only:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(f"PRAGMA synchronous={synchronous}")
    return con


class Store:
    """Owns the write connection; `write(ops)` returns a future that resolves after COMMIT.

    Group commit on the event loop: `write` queues the ops and schedules one flush with
    `call_soon`, so every request the loop handles in the same iteration joins that commit. No
    thread hand-off and no GIL ping-pong on the hot path (2 cores). The flush only appends to the
    WAL (no fsync with synchronous=NORMAL); checkpoints, which do fsync, run on a background thread
    with its own connection (PASSIVE: they never block the writer), so the loop never waits on a disk.
    """

    def __init__(self, path: Path | str, *, synchronous: str = "NORMAL", checkpoint_seconds: float = 1.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous.upper()
        self._pending: list[tuple[list[Op], asyncio.Future | None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._con: sqlite3.Connection | None = None
        self._scheduled = False
        self._checkpoint_seconds = checkpoint_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._local = threading.local()
        self.commits = 0
        self.committed_units = 0
        _owner_only(self.path)
        con = connect(self.path, synchronous=self._synchronous)
        con.executescript(SCHEMA)
        _migrate(con)
        con.close()

    def load(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `fn` on a fresh connection at start-up, before serving."""
        con = connect(self.path, synchronous=self._synchronous)
        try:
            return fn(con)
        finally:
            con.close()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._con = connect(self.path, synchronous=self._synchronous)
        self._con.execute("PRAGMA wal_autocheckpoint=0")
        self._thread = threading.Thread(target=self._checkpoints, name="store-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._pending:
            self._flush()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._con is not None:
            self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._con.close()
            self._con = None

    def write(self, ops: list[Op]) -> asyncio.Future:
        """Queue `ops` for the next group commit; the future resolves (or fails) after it."""
        assert self._loop is not None, "Store.start() was not called"
        fut = self._loop.create_future()
        self._queue((ops, fut))
        return fut

    def write_behind(self, ops: list[Op]) -> None:
        """Queue `ops` without waiting; they commit in order with everything queued before and after."""
        self._queue((ops, None))

    def _queue(self, unit: tuple[list[Op], asyncio.Future | None]) -> None:
        self._pending.append(unit)
        if not self._scheduled:
            self._scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        """A read on this thread's own connection (WAL snapshot of committed data)."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = connect(self.path, read_only=True)
        return con.execute(sql, tuple(params)).fetchall()

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        assert self._con is not None
        results = self._commit(self._con, batch)
        self.commits += 1
        self.committed_units += len(batch)
        for (_, fut), exc in zip(batch, results):
            if fut is None or fut.done():
                continue
            if exc is None:
                fut.set_result(None)
            else:
                fut.set_exception(exc)

    def _checkpoints(self) -> None:
        con = connect(self.path, synchronous=self._synchronous)
        try:
            while not self._stop.wait(self._checkpoint_seconds):
                try:
                    con.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as e:  # a busy checkpoint is simply tried again next time
                    log.debug("checkpoint skipped: %s", e)
        finally:
            con.close()

    @staticmethod
    def _commit(con: sqlite3.Connection, batch: list[tuple[list[Op], Any]]) -> list[BaseException | None]:
        try:
            con.execute("BEGIN IMMEDIATE")
            for ops, _ in batch:
                _apply(con, ops)
            con.execute("COMMIT")
            return [None] * len(batch)
        except sqlite3.Error:
            if con.in_transaction:
                con.execute("ROLLBACK")
        # Something in the batch failed: commit each unit alone so one bad unit fails only itself.
        results: list[BaseException | None] = []
        for ops, _ in batch:
            try:
                con.execute("BEGIN IMMEDIATE")
                _apply(con, ops)
                con.execute("COMMIT")
                results.append(None)
            except sqlite3.Error as e:
                log.error("store write failed: %s", e)
                if con.in_transaction:
                    con.execute("ROLLBACK")
                results.append(e)
        return results


def _migrate(con: sqlite3.Connection) -> None:
    """Bring a store written by an older app up to `SCHEMA` (idempotent; each step one statement)."""
    columns = {row[1] for row in con.execute("PRAGMA table_info(judgments)")}
    if "answer" not in columns:  # every answer as JSON (structured kinds are pulled from it)
        con.execute("ALTER TABLE judgments ADD COLUMN answer TEXT")
    for column in ("decision", "comment"):  # review decisions: accept | correct | reject, and why
        if column not in columns:
            con.execute(f"ALTER TABLE judgments ADD COLUMN {column} TEXT")
    if "context" not in {row[1] for row in con.execute("PRAGMA table_info(tasks)")}:
        con.execute("ALTER TABLE tasks ADD COLUMN context TEXT")  # what a reviewer / adjudicator is shown


def _owner_only(path: Path) -> None:
    """Create the store file mode 0600 before SQLite opens it, and narrow it and its WAL/SHM if they exist."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists() and p.stat().st_mode & 0o077:
            p.chmod(0o600)


def _apply(con: sqlite3.Connection, ops: list[Op]) -> None:
    for sql, params, many in ops:
        if many:
            con.executemany(sql, params)
        else:
            con.execute(sql, params)


