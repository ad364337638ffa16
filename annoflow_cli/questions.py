"""`annoflow questions`: the guideline questions reviewers and experts raised, for the project owner.

Live from the built-in app (where people ask them); with another queue, as last pulled by `annoflow
collect` into the state database. `annoflow questions resolve ID --answer TEXT` answers one: the answer
shows in the item's thread and the question leaves the open list.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer

from annoflow_cli.annotators import current_actor
from annoflow_cli.app import ConfigOpt, JsonOpt, app, console, load_project, run_or_exit
from annoflow_cli.queue import _backend
from tasks.errors import ConfigError

questions_app = typer.Typer(help="Guideline questions raised in review, for the project owner to answer.",
                            invoke_without_command=True, no_args_is_help=False)
app.add_typer(questions_app, name="questions")

class Status(str, Enum):
    open = "open"
    resolved = "resolved"
    all = "all"


StatusOpt = Annotated[Status, typer.Option("--status", help="open (default), resolved or all.")]


def _from_state(cfg, status: str) -> list[dict]:
    from tasks.store import project_store

    where = {"open": "AND resolved_at IS NULL", "resolved": "AND resolved_at IS NOT NULL", "all": ""}[status]
    with project_store(cfg) as con:
        cur = con.execute(f"SELECT comment_id, item_id, author, body, created_at, resolved_at, resolved_by, resolution"
                          f" FROM comments WHERE kind = 'guideline_question' {where} ORDER BY created_at, comment_id")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


@questions_app.callback()
def questions(ctx: typer.Context, status: StatusOpt = Status.open, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List the project's guideline questions (default: the open ones)."""
    if ctx.invoked_subcommand is not None:
        return
    status = status.value
    cfg = run_or_exit(lambda: load_project(config))

    def read() -> list[dict]:
        if cfg.queue.backend.value == "builtin":
            with _backend(cfg) as b:
                return b.questions(status)
        return _from_state(cfg, status)

    rows = run_or_exit(read)
    if as_json:
        print(json.dumps({"status": status, "questions": rows}, default=str))
        return
    if not rows:
        console.print(f"No {'' if status == 'all' else status + ' '}guideline questions.")
        return
    for q in rows:
        console.print(f"[bold]{q['comment_id']}[/]  item {q['item_id']}  asked by {q['author']}", highlight=False)
        console.print(f"  {q['body']}", highlight=False, soft_wrap=True)
        if q.get("resolved_at"):
            console.print(f"  answered by {q['resolved_by']}: {q['resolution']}", highlight=False, soft_wrap=True)


@questions_app.command("resolve")
def resolve(
    comment_id: Annotated[str, typer.Argument(help="The question's id (first column of `annoflow questions`).")],
    answer: Annotated[str, typer.Option("--answer", "-a", help="The answer, shown in the item's thread.")],
    actor: Annotated[str | None, typer.Option("--actor", help="Who answers (default: env ANNOFLOW_ACTOR or your login).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a guideline question and close it (built-in app)."""
    cfg = run_or_exit(lambda: load_project(config))

    def go() -> dict:
        if cfg.queue.backend.value != "builtin":
            raise ConfigError("guideline questions are answered in the built-in app (queue.backend = 'builtin')")
        if not answer.strip():
            raise ConfigError("--answer is empty: write the answer people will read in the thread")
        with _backend(cfg) as b:
            return b.resolve_question(comment_id, answer.strip(), current_actor(actor))

    out = run_or_exit(go)
    if as_json:
        print(json.dumps(out, default=str))
        return
    console.print(f"Question {comment_id} answered by {out['resolved_by']}.", highlight=False)
