"""Appending a stage run's metrics to `metric_history`, once per run, and keeping the table bounded.

Called from `tasks.store.record_stage_run`, the one place every stage (CLI or flow) records its
run, so no stage can forget it. Idempotent by run id: a run already in the table adds nothing (the
check is a lookup on the run, and the insert skips keys already stored), so replaying a run's
recording is safe. Retention is applied on the same write, so no separate job is needed to keep
the table small.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import duckdb
import pyarrow as pa

from schemas.config import HistoryConfig, ProjectConfig
from tasks.history.metrics import RunContext, measure

__all__ = ["append_run", "prune"]

log = logging.getLogger("annoflow.history")

_COLUMNS = "run_id, stage, measured_at, scope, subject, metric, value, low, high, n"


def append_run(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, run_id: str, stage: str,
               stats: Mapping[str, Any] | None = None) -> int:
    """Measure and store the run's metrics (dated at the run's finish); returns the rows added."""
    if not cfg.history.enabled:
        return 0
    if con.execute("SELECT 1 FROM metric_history WHERE run_id = ? LIMIT 1", [run_id]).fetchall():
        return 0
    t0 = time.perf_counter()
    rows: pa.Table = measure(con, RunContext(cfg=cfg, run_id=run_id, stage=stage, stats=stats or {}))
    con.register("_history_rows", rows)
    try:
        n = con.execute(
            f"INSERT OR IGNORE INTO metric_history ({_COLUMNS})"
            " SELECT $run, $stage, coalesce((SELECT finished_at FROM stage_runs WHERE run_id = $run), now()),"
            " scope, subject, metric, value, low, high, n FROM _history_rows",
            {"run": run_id, "stage": stage}).fetchall()[0][0]
    finally:
        con.unregister("_history_rows")
    pruned = prune(con, cfg.history)
    log.debug("history: %s run %s wrote %d rows, pruned %d, in %.3fs", stage, run_id, n, pruned,
              time.perf_counter() - t0)
    return int(n)


def prune(con: duckdb.DuckDBPyConnection, h: HistoryConfig) -> int:
    """Drop runs older than `keep_days` and, per stage, all but the latest `keep_runs` runs."""
    n = 0
    if h.keep_days is not None:
        n += con.execute("DELETE FROM metric_history WHERE measured_at < now() - to_days(?)",
                         [h.keep_days]).fetchall()[0][0]
    if h.keep_runs is not None:
        n += con.execute(
            "DELETE FROM metric_history WHERE run_id IN (SELECT run_id FROM ("
            " SELECT run_id, row_number() OVER (PARTITION BY stage ORDER BY max(measured_at) DESC, run_id DESC) AS k"
            " FROM metric_history GROUP BY run_id, stage) WHERE k > ?)", [h.keep_runs]).fetchall()[0][0]
    return int(n)
