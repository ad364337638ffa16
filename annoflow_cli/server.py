"""`annoflow server start|status|stop`: the project's background Prefect server (see prefect_server.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from annoflow_cli.app import ConfigOpt, JsonOpt, app, console, err_console, load_project, run_or_exit
from annoflow_cli.prefect_server import ProjectServer, api_healthy, configured_api_url

server_app = typer.Typer(no_args_is_help=True, help="The project's background Prefect server (API and UI).")
app.add_typer(server_app, name="server")


def project_server(cfg) -> ProjectServer:
    """The project's server, with the Prefect home the project's commands use."""
    return ProjectServer(cfg.state_dir, Path(os.environ.get("PREFECT_HOME") or cfg.state_dir / "prefect"))


def _describe(srv: ProjectServer) -> dict:
    rec = srv.running()
    if rec is None:
        return {"running": False, "log": str(srv.log_path)}
    return {"running": True, "healthy": api_healthy(rec.url), "pid": rec.pid, "port": rec.port, "api_url": rec.url,
            "ui_url": rec.ui_url, "home": rec.home, "uptime_s": round(time.time() - rec.started_at),
            "clients": sorted(srv.live_clients()), "idle_s": round(min(srv.idle_for(), time.time() - rec.started_at)),
            "stops_after_idle_s": rec.idle_seconds, "log": str(srv.log_path)}


def _print(d: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(d))
    elif not d["running"]:
        console.print(f"not running (the next command that runs a flow starts it); log: {d['log']}", soft_wrap=True)
    else:
        state = "running" if d["healthy"] else "running but not answering"
        console.print(f"{state}: UI {d['ui_url']}  API {d['api_url']}  pid {d['pid']}, up {d['uptime_s']} s, "
                      f"clients {d['clients'] or 'none'}, idle {d['idle_s']} s of {d['stops_after_idle_s']:g} s allowed",
                      soft_wrap=True)


@server_app.command("start")
def server_start(
    config: ConfigOpt = None,
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default: a free one).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start the server now (commands that run a flow start it anyway); reuse it if it runs."""
    cfg = run_or_exit(lambda: load_project(config))
    srv = project_server(cfg)
    run_or_exit(lambda: srv.ensure(port=port, idle_seconds=60 * cfg.state.server_idle_minutes))
    srv.release()  # this command is done with it: the idle clock starts now
    _print(_describe(srv), as_json)
    if configured_api_url():
        err_console.print(f"note: PREFECT_API_URL is set ({configured_api_url()}): commands use that server, not this one",
                          soft_wrap=True)


@server_app.command("status")
def server_status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Whether the project's server runs, where, for how long, and who uses it."""
    cfg = run_or_exit(lambda: load_project(config))
    _print(_describe(project_server(cfg)), as_json)


@server_app.command("stop")
def server_stop(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Stop the server now (it also stops by itself after `state.server_idle_minutes` without use)."""
    cfg = run_or_exit(lambda: load_project(config))
    rec = run_or_exit(lambda: project_server(cfg).stop())
    if as_json:
        print(json.dumps({"stopped": rec is not None, "pid": rec.pid if rec else None}))
    else:
        console.print(f"stopped the server on port {rec.port} (pid {rec.pid})" if rec else "no server was running")
