"""The `annoflow` command: one subcommand per stage, each running that stage's Prefect flow.

Each stage's commands live in their own module and register on the shared Typer app on import.
"""

from annoflow_cli import (  # noqa: F401  (registers the commands)
    annotators,
    consensus,
    demo,
    export,
    history,
    ingest,
    pipeline,
    prelabel,
    queue,
    questions,
    report,
    server,
    status,
)
from annoflow_cli.app import app

__all__ = ["app"]

if __name__ == "__main__":  # pragma: no cover
    app()
