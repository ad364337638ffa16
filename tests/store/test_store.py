"""The state store: bounded wait for another writer, clear failure past it, migrations from older schemas."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from schemas.migrations import (
    MIGRATIONS,
    Migration,
    applied,
    latest_version,
    migrate,
    pending,
)
from tasks.errors import StoreLockedError, TerminalError
from tasks.store import insert_missing, open_store


def _hold_lock(db: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the database read-write, as a running flow would."""
    code = f"import duckdb, time, sys; c = duckdb.connect({str(db)!r}); print('held', flush=True); time.sleep({seconds}); c.close()"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    proc.stdout.close()
    return proc


def test_second_writer_waits_then_succeeds(tmp_path: Path) -> None:
    db = tmp_path / "state.duckdb"
    with open_store(db):
        pass
    holder = _hold_lock(db, 1.5)
    started = time.monotonic()
    with open_store(db, wait_seconds=30) as con:
        waited = time.monotonic() - started
        assert con.execute("SELECT count(*) FROM items").fetchone() == (0,)
    holder.wait()
    assert waited >= 0.5, "the open had to wait for the other process"


def test_second_writer_fails_clearly_past_its_bound(tmp_path: Path) -> None:
    db = tmp_path / "state.duckdb"
    with open_store(db):
        pass
    holder = _hold_lock(db, 10)
    try:
        started = time.monotonic()
        with pytest.raises(StoreLockedError, match=rf"held by process {holder.pid}.*waited 1s"):
            with open_store(db, wait_seconds=1):
                pass
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()


def test_migration_from_an_older_schema_keeps_data(tmp_path: Path) -> None:
    v2 = Migration(2, "item_language", "ALTER TABLE items ADD COLUMN language VARCHAR DEFAULT 'und';")
    registry = (MIGRATIONS[0], v2)
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    assert migrate(con, target=1, migrations=registry) == [1]
    con.execute("INSERT INTO items (item_id, kind, payload, source) VALUES ('a' , 'text', 'kept', 's')")
    assert [m.version for m in pending(con, registry)] == [2]
    assert migrate(con, migrations=registry) == [2]
    assert con.execute("SELECT payload, language FROM items").fetchall() == [("kept", "und")]
    assert applied(con) == [1, 2]
    assert migrate(con, migrations=registry) == [], "applying again is a no-op"
    con.close()


def test_real_registry_upgrades_a_version_1_database(tmp_path: Path) -> None:
    db = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, target=1)
    con.execute("INSERT INTO items (item_id, kind, payload, source) VALUES ('a', 'text', 'kept', 's')")
    con.close()
    with open_store(db) as con:
        assert applied(con) == list(range(1, latest_version() + 1))
        assert con.execute("SELECT payload FROM items").fetchall() == [("kept",)]


def test_a_failing_migration_rolls_back(tmp_path: Path) -> None:
    bad = Migration(2, "broken", "ALTER TABLE items ADD COLUMN x INT; SELECT * FROM no_such_table;")
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    migrate(con, target=1, migrations=(MIGRATIONS[0], bad))
    with pytest.raises(duckdb.CatalogException):
        migrate(con, migrations=(MIGRATIONS[0], bad))
    assert applied(con) == [1]
    assert "x" not in [r[0] for r in con.execute("DESCRIBE items").fetchall()]


def test_newer_database_than_code_is_refused(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    migrate(con)
    con.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    with pytest.raises(TerminalError, match="newer than this code"):
        pending(con)


def test_insert_missing_is_idempotent_and_dedupes_within_a_batch(tmp_path: Path) -> None:
    import pyarrow as pa

    with open_store(tmp_path / "db.duckdb") as con:
        rows = pa.table({"item_id": ["a", "b", "a"], "kind": ["text"] * 3, "payload": ["1", "2", "1 again"], "source": ["s"] * 3})
        assert insert_missing(con, "items", rows, ["item_id"]) == 2
        assert insert_missing(con, "items", rows, ["item_id"]) == 0
        assert con.execute("SELECT item_id, payload FROM items ORDER BY 1").fetchall() == [("a", "1"), ("b", "2")]
