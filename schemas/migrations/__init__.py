"""Numbered schema migrations: `NNN_name.sql` files applied in order, each in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tasks.errors import TerminalError

__all__ = ["MIGRATIONS", "Migration", "applied", "latest_version", "migrate", "pending"]

_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def _discover() -> tuple[Migration, ...]:
    found = []
    for f in sorted(_DIR.glob("[0-9][0-9][0-9]_*.sql")):
        version, _, name = f.stem.partition("_")
        found.append(Migration(int(version), name, f.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return tuple(found)


MIGRATIONS = _discover()


def latest_version() -> int:
    return MIGRATIONS[-1].version


def _ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )


def applied(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Versions recorded in the database; reads only."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return []
    return [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()]


def pending(con: duckdb.DuckDBPyConnection, migrations: Sequence[Migration] = MIGRATIONS) -> list[Migration]:
    """Migrations not yet applied; reads only."""
    done = set(applied(con))
    newest = max(m.version for m in migrations)
    if done and max(done) > newest:
        raise TerminalError(
            f"database is at schema version {max(done)}, newer than this code ({newest}): "
            "upgrade annoflow (git pull && uv sync) before opening it"
        )
    return [m for m in migrations if m.version not in done]


def migrate(
    con: duckdb.DuckDBPyConnection, target: int | None = None, migrations: Sequence[Migration] = MIGRATIONS
) -> list[int]:
    """Apply pending migrations up to `target` (default: all), one transaction each."""
    todo = [m for m in pending(con, migrations) if target is None or m.version <= target]
    if not todo:
        return []
    _ensure_table(con)
    for m in todo:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(m.sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [m.version, m.name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return [m.version for m in todo]
