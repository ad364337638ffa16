"""`annoflow run` (the pipeline once) and `annoflow serve` (deployments, schedules and the app, locally)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

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

DEFAULT_UI_PORT = 4200  # Prefect's usual port: the UI stays where users expect it


@app.command()
def run(
    config: ConfigOpt = None,
    start_at: Annotated[str, typer.Option(help="First stage: ingest, prelabel, collect, consensus, dispatch, export.")] = "ingest",
    stop_after: Annotated[str, typer.Option(help="Last stage.")] = "export",
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run the annotation pipeline once (each stage a flow run; re-running is always safe)."""
    cfg = run_or_exit(lambda: load_project(config))
    prepare_prefect_env(cfg, verbose)
    from flows.pipeline import Stage, pipeline
    from tasks.errors import ConfigError
    from tasks.progress import use_console

    def stage(v: str) -> Stage:
        try:
            return Stage(v)
        except ValueError:
            raise ConfigError(f"unknown stage {v!r}; stages are {[s.value for s in Stage]}") from None

    first, last = run_or_exit(lambda: (stage(start_at), stage(stop_after)))
    with use_console() if not as_json else nullcontext():
        result = run_or_exit(lambda: pipeline(project_dir=cfg.root, config=cfg, start_at=first, stop_after=last))
    if as_json:
        print(json.dumps(result, default=str))
    else:
        for name, report in result.items():
            console.print(f"[bold]{name}[/]: {json.dumps(report, default=str)[:300]}")


@app.command()
def serve(
    config: ConfigOpt = None,
    port: Annotated[int | None, typer.Option(help="Port of the project's Prefect server (API and UI) on 127.0.0.1 "
                                                    "(default: the running one's, else 4200); unused when PREFECT_API_URL "
                                                    "is set.")] = None,
    with_app: Annotated[bool, typer.Option(help="Also run the built-in annotation app (queue.backend = builtin).")] = True,
    verbose: VerboseOpt = False,
) -> None:
    """Serve the project's deployments (pipeline, schedules, event triggers) in this process.

    Uses the project's Prefect server (started on `--port` if needed, its UI pointed at that port)
    unless PREFECT_API_URL points at another one, and runs the annotation app when the project uses
    it. Ctrl-C stops everything this command started.
    """
    cfg = run_or_exit(lambda: load_project(config))
    from annoflow_cli.prefect_server import configured_api_url
    from annoflow_cli.server import project_server

    srv = project_server(cfg)
    started = None
    if configured_api_url():
        if port is not None:
            err_console.print(f"--port {port} unused: PREFECT_API_URL is set ({configured_api_url()})")
    else:
        running = srv.running()
        want = port or (running.port if running else DEFAULT_UI_PORT)
        rec = run_or_exit(lambda: srv.ensure(port=want, idle_seconds=60 * cfg.state.server_idle_minutes))
        started = rec if running is None or running.pid != rec.pid else None
        os.environ["PREFECT_API_URL"] = rec.url
        console.print(f"Prefect UI: {rec.ui_url}")
    prepare_prefect_env(cfg, verbose, foreground=False)
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
    # a service manager's stop (SIGTERM) cleans up like Ctrl-C, also before Prefect's runner installs its own handler
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    children: list[subprocess.Popen] = []
    if with_app and cfg.queue.backend.value == "builtin":
        from urllib.parse import urlparse

        from annotation_app.process import AppProcess
        from tasks.dispatch.access import admin_token

        u = urlparse(cfg.queue.url)
        ann = AppProcess(cfg.state_dir / "app.sqlite", admin_token(cfg, create=True), u.port or 8765,
                         [Path(cfg.root)], log=cfg.state_dir / "app.log", project_dbs={cfg.name: cfg.db_path}).start()
        children.append(ann.proc)
        console.print(f"Annotation app: {ann.url}  (add annotators: annoflow annotators add NAME; "
                      f"quality dashboard: {ann.url}/admin/dashboard)")
    from prefect import serve as prefect_serve

    from deployments.serve import build_deployments

    try:
        deployments = build_deployments(cfg)
        console.print(f"Serving {len(deployments)} deployments of {cfg.name}; Ctrl-C stops.")
        prefect_serve(*deployments, print_starting_message=verbose)
    except KeyboardInterrupt:
        pass
    finally:
        for c in children:
            c.terminate()
        for c in children:
            try:
                c.wait(timeout=15)
            except subprocess.TimeoutExpired:
                c.kill()
        if started is not None:
            srv.stop()
        err_console.print("stopped")
