"""`annoflow run` (the pipeline once) and `annoflow serve` (deployments, schedules and the app, locally)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import httpx
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


def _start_prefect_server(cfg, port: int) -> tuple[subprocess.Popen, str]:
    """A Prefect server (API + UI) on 127.0.0.1 with the project's PREFECT_HOME."""
    url = f"http://127.0.0.1:{port}/api"
    log = open(cfg.state_dir / "prefect-server.log", "ab")  # noqa: SIM115 (the child keeps it open)
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "PREFECT_API_URL": ""}, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"the Prefect server did not start; see {cfg.state_dir / 'prefect-server.log'}")


@app.command()
def serve(
    config: ConfigOpt = None,
    port: Annotated[int, typer.Option(help="Port of the Prefect server started when PREFECT_API_URL is not set.")] = 4200,
    with_app: Annotated[bool, typer.Option(help="Also run the built-in annotation app (queue.backend = builtin).")] = True,
    verbose: VerboseOpt = False,
) -> None:
    """Serve the project's deployments (pipeline, schedules, event triggers) in this process.

    Starts a local Prefect server with its UI unless PREFECT_API_URL points at one, and the
    annotation app when the project uses it. Ctrl-C stops everything.
    """
    cfg = run_or_exit(lambda: load_project(config))
    prepare_prefect_env(cfg, verbose)
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
    children: list[subprocess.Popen] = []
    if not os.environ.get("PREFECT_API_URL"):
        server, url = _start_prefect_server(cfg, port)
        children.append(server)
        os.environ["PREFECT_API_URL"] = url
        console.print(f"Prefect UI: {url.removesuffix('/api')}")
    if with_app and cfg.queue.backend.value == "builtin":
        from urllib.parse import urlparse

        from annotation_app.process import AppProcess
        from tasks.dispatch.access import admin_token

        u = urlparse(cfg.queue.url)
        ann = AppProcess(cfg.state_dir / "app.sqlite", admin_token(cfg, create=True), u.port or 8765,
                         [Path(cfg.root)], log=cfg.state_dir / "app.log").start()
        children.append(ann.proc)
        console.print(f"Annotation app: {ann.url}  (add annotators: annoflow annotators add NAME)")
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
        err_console.print("stopped")
