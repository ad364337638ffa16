"""Reading history back: the headline of a run (for its Prefect artifact), the latest values (for
`annoflow history show`) and the whole table as CSV/Parquet (for people's own tools)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tasks.errors import ConfigError

__all__ = ["HEADLINE", "export_history", "headline", "headline_markdown", "latest"]

HEADLINE = ("items_total", "judgments", "seconds_per_judgment", "resolved_share", "auto_accept_share", "alpha",
            "queue_depth", "cost_per_label")
"""Project metrics a run's artifact shows: how fast work moves, how much is done, how good, what it costs."""

_FORMATS = {".csv": "(FORMAT csv, HEADER true)", ".parquet": "(FORMAT parquet, COMPRESSION zstd)"}


def headline(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """Each headline metric as it stood when the run finished: the run's own value, else the latest
    earlier one (a collect run has no alpha; the last consensus run's is the current one)."""
    return [dict(zip(("metric", "value", "low", "high", "n", "stage", "measured_at", "this_run"), r)) for r in con.execute(
        "SELECT metric, arg_max(value, (measured_at, run_id = $run)), arg_max(low, (measured_at, run_id = $run)),"
        " arg_max(high, (measured_at, run_id = $run)), arg_max(n, (measured_at, run_id = $run)),"
        " arg_max(stage, (measured_at, run_id = $run)), max(measured_at), bool_or(run_id = $run)"
        " FROM metric_history WHERE scope = 'project' AND subject = '' AND metric IN (SELECT unnest($metrics))"
        " AND measured_at <= (SELECT max(measured_at) FROM metric_history WHERE run_id = $run)"
        " GROUP BY metric", {"run": run_id, "metrics": list(HEADLINE)}).fetchall()]


def _fmt(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if metric.endswith("_share"):
        return f"{v:.1%}"
    if metric in ("items_total", "judgments", "queue_depth"):
        return f"{v:,.0f}"
    return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.1f}"


def headline_markdown(stage: str, run_id: str, rows: list[dict]) -> str:
    """The run's headline as a small table; values measured by an earlier run say which stage measured them."""
    order = {m: i for i, m in enumerate(HEADLINE)}
    lines = [f"# {stage}: headline numbers", "", f"Run `{run_id}`.", "",
             "| metric | value | interval | n | measured by |", "|---|---:|---:|---:|---|"]
    for r in sorted(rows, key=lambda r: order[r["metric"]]):
        interval = f"{_fmt(r['metric'], r['low'])} – {_fmt(r['metric'], r['high'])}" if r["low"] is not None else ""
        by = "this run" if r["this_run"] else f"{r['stage']} at {r['measured_at']:%Y-%m-%d %H:%M}"
        lines.append(f"| {r['metric']} | {_fmt(r['metric'], r['value'])} | {interval} | "
                     f"{'' if r['n'] is None else format(r['n'], ',')} | {by} |")
    if not rows:
        lines.append("| (history is off or nothing measured yet) | | | | |")
    return "\n".join(lines) + "\n"


def latest(con: duckdb.DuckDBPyConnection, scope: str = "project") -> list[tuple]:
    """(scope, subject, metric, value, low, high, n, stage, measured_at, runs) of each metric's latest value."""
    return con.execute(
        "SELECT scope, subject, metric, arg_max(value, measured_at), arg_max(low, measured_at),"
        " arg_max(high, measured_at), arg_max(n, measured_at), arg_max(stage, measured_at), max(measured_at),"
        " count(DISTINCT run_id) FROM metric_history WHERE $scope = '' OR scope = $scope"
        " GROUP BY ALL ORDER BY scope, subject, metric", {"scope": scope}).fetchall()


def export_history(con: duckdb.DuckDBPyConnection, out: Path) -> int:
    """Write every history row (oldest first) to `out`, CSV or Parquet by its suffix; returns the rows."""
    fmt = _FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{out}: history exports as .csv or .parquet (got {out.suffix or 'no suffix'!r})")
    out.parent.mkdir(parents=True, exist_ok=True)
    path = str(out).replace("'", "''")
    con.execute(f"COPY (SELECT * FROM metric_history ORDER BY measured_at, run_id, scope, subject, metric)"
                f" TO '{path}' {fmt}")
    return con.execute("SELECT count(*) FROM metric_history").fetchall()[0][0]
