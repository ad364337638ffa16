"""`annoflow ingest`."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from annoflow_cli.app import (
    ConfigOpt,
    JsonOpt,
    VerboseOpt,
    app,
    console,
    err_console,
    load_project,
    prepare_prefect_env,
    run_or_exit,
)


def print_ingest(result: dict) -> None:
    t = Table(title="Ingest")
    for col in ("source", "rows", "new items", "duplicates", "quarantined", "rows/s"):
        t.add_column(col, justify="left" if col == "source" else "right")
    for r in result["sources"]:
        t.add_row(r["source"], f"{r['rows']:,}", f"{r['inserted']:,}", f"{r['duplicates']:,}", f"{r['quarantined']:,}", f"{r['rows_per_s'] or 0:,}")
    console.print(t)
    reasons: dict[str, int] = {}
    for r in result["sources"]:
        for k, v in r["quarantined_by_reason"].items():
            reasons[k] = reasons.get(k, 0) + v
    if reasons:
        console.print("Quarantined: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) + " — see `annoflow status --quarantine`")
    for r in result["sources"]:
        for note in r.get("notices", []):
            console.print(f"[yellow]notice:[/] {note}", highlight=False, soft_wrap=True)
    g = result["gold"]
    if g["gold_rows"]:
        console.print(f"Gold: {g['gold_stored']} stored, {g['gold_quarantined']} quarantined of {g['gold_rows']} rows")
    console.print(f"State: {result['database']}")


def ingest_errors(result: dict) -> list[str]:
    """What the user must fix: files that gave nothing usable, gold rows refused. Non-empty means exit 2."""
    return [r["error"] for r in result["sources"] if r.get("error")] + list(result["gold"].get("errors", []))


@app.command()
def ingest(
    config: ConfigOpt = None,
    source: Annotated[
        Optional[list[str]], typer.Option("--source", "-s", help="File, glob, folder or URL to ingest instead of the configured sources.")
    ] = None,
    gold_override: Annotated[
        Optional[str],
        typer.Option("--gold-override", help="Allow the gold file to change stored gold labels; the reason is recorded with each change."),
    ] = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Ingest the project's sources (JSONL, JSON arrays, CSV, Parquet, gzip'd or not, media folders, HTTP URLs).

    Bad rows are quarantined and the good ones stored. Exits 2 when a file gave nothing usable or
    gold rows were refused (each named on its own `error:` line); what was stored stays stored.
    """
    cfg = run_or_exit(lambda: load_project(config))
    prepare_prefect_env(cfg, verbose)
    from flows.ingest import ingest_flow
    from schemas.config import SourceConfig
    from tasks.progress import use_console

    sources = None
    if source:
        base = Path.cwd()
        sources = [SourceConfig(path=s if "://" in s or Path(s).is_absolute() else str((base / s).resolve())) for s in source]
    with use_console() if not as_json else nullcontext():
        result = run_or_exit(lambda: ingest_flow(project_dir=cfg.root, config=cfg, sources=sources, gold_override=gold_override))
    if as_json:
        print(json.dumps(result, default=str))
    else:
        print_ingest(result)
    errors = ingest_errors(result)
    for e in errors:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
    if errors:
        raise typer.Exit(2)
