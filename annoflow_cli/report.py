"""`annoflow report`: the quality dashboard as one self-contained HTML file, and the metrics as CSV/Parquet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from annoflow_cli.app import (
    ConfigOpt,
    JsonOpt,
    app,
    console,
    fail,
    load_project,
    run_or_exit,
)
from tasks.errors import AnnoflowError


@app.command()
def report(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the HTML report.")] = Path("report.html"),
    metrics: Annotated[Path | None, typer.Option(
        help="Also write the metric history (every run's measured metrics) to this .csv or .parquet file.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the dashboard's views (throughput, time per item, accuracy, agreement, audits, label drift,
    cost, funnel, leaderboard) as one HTML file that opens anywhere without a network."""
    cfg = run_or_exit(lambda: load_project(config))
    if metrics is not None and metrics.suffix.lower() not in (".csv", ".parquet"):
        fail(AnnoflowError(f"--metrics {metrics}: the file name must end in .csv or .parquet"))
    if not cfg.db_path.exists():
        fail(AnnoflowError(f"no state yet at {cfg.db_path}: run `annoflow ingest` first"))
    from tasks.report.html import write_report
    from tasks.report.metrics import export_metrics
    from tasks.store import open_store

    def build() -> tuple[dict, int | None]:
        with open_store(cfg.db_path, read_only=True, wait_seconds=cfg.state.lock_wait_seconds) as con:
            head = write_report(con, out, project=cfg.name)
            rows = export_metrics(con, metrics) if metrics is not None else None
        return head, rows

    try:
        head, rows = run_or_exit(build)
    except OSError as e:
        fail(AnnoflowError(f"cannot write {e.filename or out}: {e.strerror}"))
    if as_json:
        print(json.dumps({"report": str(out.resolve()), "metrics": str(metrics.resolve()) if metrics else None,
                          "metric_rows": rows, "headline": head}, default=str))
        return
    console.print(f"report: {out.resolve()}  ({head['items']:,} items, {head['human_judgments']:,} human judgments, "
                  f"{head['annotators']} annotators)", soft_wrap=True)
    if metrics is not None:
        console.print(f"metrics: {metrics.resolve()}  ({rows:,} rows)", soft_wrap=True)
