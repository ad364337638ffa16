"""`annoflow demo`: the whole loop on the bundled YouTube spam project, from a clean state."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from annoflow_cli.app import (
    JsonOpt,
    VerboseOpt,
    app,
    console,
    load_project,
    prepare_prefect_env,
    run_or_exit,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "youtube-spam"


@app.command()
def demo(
    project: Annotated[Path, typer.Option(help="Sample project to run.")] = EXAMPLE,
    keep: Annotated[bool, typer.Option(help="Keep the state of an earlier demo run instead of starting clean.")] = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run the pipeline on a bundled sample project and print what happened."""
    cfg = run_or_exit(lambda: load_project(project))
    if not keep and cfg.db_path.exists():
        shutil.rmtree(cfg.state_dir / "exports", ignore_errors=True)
        cfg.db_path.unlink()
    prepare_prefect_env(cfg, verbose)
    from annoflow_cli.ingest import print_ingest
    from flows.ingest import ingest_flow
    from tasks.status import collect_status
    from tasks.store import open_store

    result = run_or_exit(lambda: ingest_flow(project_dir=cfg.root, config=cfg))
    with open_store(cfg.db_path) as con:
        status = collect_status(con)
    summary = {"project": cfg.name, "ingest": result, "status": status}
    if as_json:
        print(json.dumps(summary, default=str))
        return
    print_ingest(result)
    console.print(
        f"\n{status['items']['total']:,} items, {status['gold']} gold answers, "
        f"{status['quarantine']['total']} quarantined rows in {cfg.db_path}.\n"
        f"Next: `annoflow status --config {project}`; the run is in the Prefect UI after "
        f"`PREFECT_HOME={cfg.state_dir / 'prefect'} uv run prefect server start`."
    )
