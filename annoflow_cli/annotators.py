"""`annoflow annotators pause|resume|unban|requalify`: people's decisions about an annotator, recorded with who made them.

Each command changes the state database first (the record: `annotator_events`, `sources`), then
tells the queue (`tasks.behaviour.queue_sync`); when the queue cannot be reached the change stands
and reaches the queue at the next `annoflow dispatch`. `annoflow annotators list` (in queue.py)
shows the result.
"""

from __future__ import annotations

import getpass
import json
import os
from typing import Annotated

import typer

from annoflow_cli.app import (
    ConfigOpt,
    JsonOpt,
    console,
    err_console,
    load_project,
    run_or_exit,
)
from annoflow_cli.queue import annotators_app
from tasks.errors import AnnoflowError

__all__ = ["current_actor"]

ReasonOpt = Annotated[str | None, typer.Option("--reason", "-r", help="Why (required; recorded and shown to people).")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who decided (default: env ANNOFLOW_ACTOR or your login).")]
NameArg = Annotated[str, typer.Argument(help="Annotator id (as in the queue; `human:` is added).")]


def current_actor(actor: str | None) -> str:
    """The person a command is recorded as: --actor, env ANNOFLOW_ACTOR, else the login name."""
    if actor:
        return actor
    if os.environ.get("ANNOFLOW_ACTOR"):
        return os.environ["ANNOFLOW_ACTOR"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _tell_queue(cfg) -> str | None:
    """Send the queue the current lists; None when it was reached, else why not (the change still stands)."""
    from tasks.behaviour.queue_sync import sync_queue
    from tasks.dispatch.access import backend_for, queue_name
    from tasks.dispatch.stage import banned_annotators
    from tasks.store import project_store

    try:
        backend = backend_for(cfg)
        try:
            with project_store(cfg) as con:
                sync_queue(con, cfg, queue_name(cfg), backend, banned_annotators)
        finally:
            backend.close()
    except AnnoflowError as e:
        return str(e)
    return None


def _act(config, as_json: bool, what: str, fn) -> None:
    from tasks.store import project_store

    cfg = run_or_exit(lambda: load_project(config))

    def change() -> dict:
        with project_store(cfg) as con:
            return fn(cfg, con)

    out = run_or_exit(change)
    not_reached = _tell_queue(cfg)
    out["queue_updated"] = not_reached is None
    if as_json:
        print(json.dumps(out))
        return
    console.print(what.format(**out))
    if not_reached:
        err_console.print(f"note: the queue was not reached ({not_reached}); it learns this at the next "
                          "`annoflow dispatch`", highlight=False, soft_wrap=True)


_DECISIONS = {
    "pause": ("paused", "Pause an annotator: no new work, their open tasks go back to the queue, their past votes "
              "still count."),
    "resume": ("resumed", "End a pause; the behaviour rules then judge only what they do from now on."),
    "unban": ("unbanned", "Lift a ban: their votes count again from the next consensus run, and they may take work "
              "again."),
}


def _decision(action: str) -> None:
    """Register `annoflow annotators <action>` (pause, resume, unban: same options, same record)."""
    done, help_text = _DECISIONS[action]

    def command(name: NameArg, reason: ReasonOpt = None, actor: ActorOpt = None, config: ConfigOpt = None,
                as_json: JsonOpt = False) -> None:
        from tasks.behaviour import pause

        decide = getattr(pause, action)
        _act(config, as_json, f"{{source_id}} {done}.",
             lambda cfg, con: {"source_id": decide(con, name, reason or "", current_actor(actor)), "action": action})

    command.__doc__ = help_text
    annotators_app.command(action)(command)


for _action in _DECISIONS:
    _decision(_action)


@annotators_app.command("requalify")
def annotators_requalify(name: NameArg, actor: ActorOpt = None, config: ConfigOpt = None,
                         as_json: JsonOpt = False) -> None:
    """Give a paused annotator a gold-only batch (behaviour.requalify_items); passing it resumes them."""
    from tasks.behaviour.requalify import start_requalification
    from tasks.dispatch.access import queue_name

    def start(cfg, con) -> dict:
        n = start_requalification(con, cfg, queue_name(cfg), name, current_actor(actor))
        return {"source_id": f"human:{name.removeprefix('human:')}", "action": "requalify_start", "items": n}

    _act(config, as_json, "{source_id}: re-qualification batch of {items} gold tasks planned; `annoflow dispatch` "
         "sends it, the next consensus run scores it.", start)
