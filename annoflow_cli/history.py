"""`annoflow history show` (the latest value of each metric) and `annoflow history export --out FILE`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

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

history_app = typer.Typer(no_args_is_help=True, help="Metrics recorded by every stage run, over time.")
app.add_typer(history_app, name="history")

_SCOPES = ("project", "source", "label", "pair", "state", "decision", "lf", "model", "agreement")


def _store(config):
    cfg = run_or_exit(lambda: load_project(config))
    if not cfg.db_path.exists():
        fail(AnnoflowError(f"no state yet at {cfg.db_path}: run `annoflow ingest` first"))
    from tasks.store import project_store

    return project_store(cfg)


@history_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write: .csv or .parquet.")],
    config: ConfigOpt = None,
) -> None:
    """Every recorded metric row (run, stage, time, scope, subject, metric, value, interval, n) as CSV/Parquet."""
    from tasks.history.read import export_history

    def write() -> int:
        with _store(config) as con:
            return export_history(con, out)

    n = run_or_exit(write)
    console.print(f"{n:,} history rows written to {out}", highlight=False)


@history_app.command("show")
def show(
    config: ConfigOpt = None,
    scope: Annotated[str, typer.Option("--scope", help=f"One of {', '.join(_SCOPES)}, or 'all'.")] = "project",
    as_json: JsonOpt = False,
) -> None:
    """The latest value of each metric of a scope, with when and by which stage it was measured."""
    if scope not in (*_SCOPES, "all"):
        fail(AnnoflowError(f"--scope {scope!r}: use one of {', '.join(_SCOPES)} or 'all'"))
    from tasks.history.read import latest

    def read() -> list[tuple]:
        with _store(config) as con:
            return latest(con, "" if scope == "all" else scope)

    rows = run_or_exit(read)
    keys = ("scope", "subject", "metric", "value", "low", "high", "n", "stage", "measured_at", "runs")
    if as_json:
        print(json.dumps([dict(zip(keys, r)) for r in rows], default=str))
        return
    t = Table(show_header=True)
    for k, justify in zip(keys, ("left",) * 3 + ("right",) * 4 + ("left",) * 2 + ("right",)):
        t.add_column(k, justify=justify)
    num = lambda v: "" if v is None else (f"{v:,.4g}" if isinstance(v, float) else f"{v:,}")
    for r in rows:
        t.add_row(r[0], r[1], r[2], num(r[3]), num(r[4]), num(r[5]), num(r[6]), r[7], f"{r[8]:%Y-%m-%d %H:%M:%S}", num(r[9]))
    console.print(t if rows else "no history recorded yet (history.enabled = false, or no stage has run)")
