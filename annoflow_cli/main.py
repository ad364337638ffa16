"""The `annoflow` command: one subcommand per stage, each running that stage's Prefect flow.

Prefect is imported only after the project is known, because its home folder (run history,
ephemeral server database) lives in the project's state folder.
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from schemas.config import ProjectConfig, find_config, load_config
from tasks.errors import AnnoflowError, TransientError

__all__ = ["app", "prepare_prefect_env"]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Scalable data annotation as workflow-as-code.")
console = Console()
err_console = Console(stderr=True)

ConfigOpt = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="annoflow.toml or its folder (default: the current folder)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's flow and task logs.")]


def prepare_prefect_env(cfg: ProjectConfig, verbose: bool = False) -> None:
    """Per-project Prefect home, no telemetry, quiet console logs (the CLI prints its own summary)."""
    prefect_home = cfg.state_dir / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(prefect_home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if not verbose:
        for handler in ("CONSOLE", "CONSOLE_FLOW_RUNS", "CONSOLE_TASK_RUNS"):
            os.environ.setdefault(f"PREFECT_LOGGING_HANDLERS_{handler}_LEVEL", "CRITICAL")


def _load(config: Path | None) -> ProjectConfig:
    return load_config(config or Path.cwd())


def _fail(e: BaseException) -> None:
    err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
    raise typer.Exit(3 if isinstance(e, TransientError) else 2)


def _run(fn: Any) -> Any:
    """Run a stage; user errors become one clear message and a non-zero exit, never a traceback."""
    try:
        return fn()
    except AnnoflowError as e:
        _fail(e)


def _print_ingest(result: dict) -> None:
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
    g = result["gold"]
    if g["gold_rows"]:
        console.print(f"Gold: {g['gold_stored']} stored, {g['gold_quarantined']} quarantined of {g['gold_rows']} rows")
    console.print(f"State: {result['database']}")


@app.command()
def ingest(
    config: ConfigOpt = None,
    source: Annotated[
        Optional[list[str]], typer.Option("--source", "-s", help="File, glob, folder or URL to ingest instead of the configured sources.")
    ] = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Ingest the project's sources (JSONL, CSV, Parquet, media folders, HTTP URLs) into its DuckDB state."""
    cfg = _run(lambda: _load(config))
    prepare_prefect_env(cfg, verbose)
    from flows.ingest import ingest_flow
    from schemas.config import SourceConfig
    from tasks.progress import use_console

    sources = None
    if source:
        base = Path.cwd()
        sources = [SourceConfig(path=s if "://" in s or Path(s).is_absolute() else str((base / s).resolve())) for s in source]
    with use_console() if not as_json else nullcontext():
        result = _run(lambda: ingest_flow(project_dir=cfg.root, config=cfg, sources=sources))
    if as_json:
        print(json.dumps(result, default=str))
    else:
        _print_ingest(result)


@app.command()
def status(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    quarantine: Annotated[bool, typer.Option("--quarantine", "-q", help="Also list the latest quarantined rows.")] = False,
) -> None:
    """Counts of items, quarantined rows, votes, assignments, labels and export versions."""
    cfg = _run(lambda: _load(config))
    from tasks.status import collect_status, quarantine_sample
    from tasks.store import open_store

    if not cfg.db_path.exists():
        _fail(AnnoflowError(f"no state yet at {cfg.db_path}: run `annoflow ingest` first"))

    def read() -> tuple[dict, list[dict]]:
        with open_store(cfg.db_path, wait_seconds=cfg.state.lock_wait_seconds) as con:
            return collect_status(con), quarantine_sample(con, 50) if quarantine else []

    st, sample = _run(read)
    st["database"] = str(cfg.db_path)
    if quarantine:
        st["quarantine"]["latest"] = sample
    if as_json:
        print(json.dumps(st, default=str))
        return
    console.print(f"[bold]{st['project']['name'] if st['project'] else '?'}[/]  {st['database']}")
    t = Table(show_header=True)
    t.add_column("what")
    t.add_column("count", justify="right")
    t.add_row("items", f"{st['items']['total']:,}")
    for k, v in st["items"]["by_state"].items():
        t.add_row(f"  state {k}", f"{v:,}")
    t.add_row("gold items", f"{st['gold']:,}")
    t.add_row("quarantined rows", f"{st['quarantine']['total']:,}")
    for k, v in st["quarantine"]["by_reason"].items():
        t.add_row(f"  {k}", f"{v:,}")
    t.add_row("votes", f"{st['votes']['total']:,}")
    for k, v in st["votes"]["by_source_kind"].items():
        t.add_row(f"  from {k}", f"{v:,}")
    t.add_row("sources (banned)", f"{st['votes']['sources']:,} ({st['votes']['banned_sources']})")
    for k, v in st["assignments"]["by_state"].items():
        t.add_row(f"assignments {k}", f"{v:,}")
    t.add_row("labels", f"{st['labels']['total']:,}")
    for k, v in st["labels"]["by_decision"].items():
        t.add_row(f"  {k}", f"{v:,}")
    t.add_row("export versions", str(len(st["exports"])))
    console.print(t)
    if sample:
        q = Table(title="Latest quarantined rows")
        for col in ("stage", "source", "row", "field", "reason", "detail"):
            q.add_column(col, overflow="fold")
        for r in sample:
            q.add_row(r["stage"], r["source"], str(r["source_row"] or ""), r["field"] or "", r["reason"], r["detail"] or "")
        console.print(q)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
