"""The metric history as a file for other tools: CSV or zstd Parquet, written by DuckDB's COPY."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

__all__ = ["export_metrics"]


def export_metrics(con: duckdb.DuckDBPyConnection, out: Path | str) -> int:
    """Write every `metric_history` row (oldest first) to `out` (.csv or .parquet); returns the row count.

    A database from before the history tables has none: the file then holds the header only.
    """
    out = Path(out)
    fmt = {".csv": "(FORMAT csv, HEADER)", ".parquet": "(FORMAT parquet, COMPRESSION zstd)"}[out.suffix.lower()]
    has = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'metric_history'").fetchall()[0][0]
    src = ("SELECT * FROM metric_history ORDER BY measured_at, run_id, scope, subject, metric" if has else
           "SELECT NULL::VARCHAR AS run_id, NULL::VARCHAR AS stage, NULL::TIMESTAMPTZ AS measured_at, NULL::VARCHAR AS scope, "
           "NULL::VARCHAR AS subject, NULL::VARCHAR AS metric, NULL::DOUBLE AS value, NULL::DOUBLE AS low, "
           "NULL::DOUBLE AS high, NULL::BIGINT AS n LIMIT 0")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    con.execute(f"COPY ({src}) TO '{_quoted(tmp)}' {fmt}").fetchall()
    os.replace(tmp, out)
    return con.execute("SELECT count(*) FROM metric_history").fetchall()[0][0] if has else 0


def _quoted(p: Path) -> str:
    return str(p).replace("'", "''")
