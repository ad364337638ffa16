"""Shared pieces of the `annoflow` command: the Typer app, common options, error handling.

Prefect is imported only after the project is known, because its home folder (run history, the
project's server database) lives in the project's state folder.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console, ConsoleDimensions

from schemas.config import ProjectConfig, load_config
from tasks.errors import AnnoflowError, TransientError

__all__ = ["app", "console", "err_console", "ConfigOpt", "JsonOpt", "VerboseOpt", "prepare_prefect_env", "load_project", "run_or_exit", "fail"]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Scalable data annotation as workflow-as-code.")


class _Console(Console):
    """Rich's console, except that output to a pipe or file is as wide as its content: Rich would cut
    tables to 80 columns there (`annoflow status | less` showed three annotators as `human:ls…`)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        return size if self.is_terminal else ConsoleDimensions(max(size.width, 100_000), size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


console = _Console()
err_console = _Console(stderr=True)

ConfigOpt = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="annoflow.toml or its folder (default: the current folder)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's flow and task logs.")]


def prepare_prefect_env(cfg: ProjectConfig, verbose: bool = False, foreground: bool = True) -> None:
    """Per-project Prefect home and server (see prefect_server.py), no telemetry, quiet console logs.

    `foreground`: the command runs its flow in this process and reports the outcome itself, so the
    flow-run heartbeat (for spotting runs whose process died unseen) is switched off: the engine joins
    its thread for up to a second after every sync flow, a third of a repeated command's wall time.
    `serve` keeps heartbeats for the runs it starts.
    """
    from annoflow_cli.prefect_server import prefect_settings, start_message, use_project_server

    prefect_settings(cfg.state_dir / "prefect")
    if not verbose:
        for handler in ("CONSOLE", "CONSOLE_FLOW_RUNS", "CONSOLE_TASK_RUNS"):
            os.environ.setdefault(f"PREFECT_LOGGING_HANDLERS_{handler}_LEVEL", "CRITICAL")
    run_or_exit(lambda: use_project_server(cfg.state_dir, Path(os.environ["PREFECT_HOME"]), 60 * cfg.state.server_idle_minutes,
                                           on_start=lambda rec: err_console.print(start_message(rec), highlight=False)))
    if foreground:
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        # held for the rest of this short-lived process (an environment variable cannot say "none")
        _PROCESS_SETTINGS.enter_context(temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))


_PROCESS_SETTINGS = ExitStack()


def load_project(config: Path | None) -> ProjectConfig:
    return load_config(config or Path.cwd())


def fail(e: BaseException) -> None:
    err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
    raise typer.Exit(3 if isinstance(e, TransientError) else 2)


def run_or_exit(fn: Any) -> Any:
    """Run a stage; user errors become one clear message and a non-zero exit, never a traceback."""
    try:
        return fn()
    except AnnoflowError as e:
        fail(e)
