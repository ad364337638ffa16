"""`annoflow consensus`."""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import TYPE_CHECKING

from rich.table import Table

from annoflow_cli.app import (
    ConfigOpt,
    JsonOpt,
    VerboseOpt,
    app,
    console,
    load_project,
    prepare_prefect_env,
    run_or_exit,
)

if TYPE_CHECKING:
    from tasks.kinds.protocol import ConsensusFacet


def _f(x, nd=3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def print_consensus(summary: dict, kind: ConsensusFacet) -> None:
    """Agreement line, the kind's own agreement lines, decisions and the source leaderboard (also used by status)."""
    a = summary.get("agreement") or {}
    fit = summary.get("fit") or {}
    if summary.get("unchanged") and "labels_written" in summary:
        head = "unchanged (no new votes, gold or bans since the last run)"
    elif "labels_written" not in summary:
        head = f"last run {summary.get('updated_at')}"
    else:
        head = f"{summary.get('labels_written', 0):,} label rows written"
    console.print(f"[bold]Consensus[/] {summary.get('method')}: {head}; iterations {fit.get('n_iter')}, "
                  f"converged {fit.get('converged')}")
    kind_lines = kind.summary_lines(a)
    if a.get("alpha") is not None or not kind_lines:  # a kind measuring no alpha (boxes) says what it measures
        console.print(f"Krippendorff's alpha ({a.get('over', '-')}): [bold]{_f(a.get('alpha'))}[/] "
                      f"[{_f(a.get('low'))}, {_f(a.get('high'))}]  Fleiss' kappa: {_f(a.get('fleiss'))}  "
                      f"Cohen pairs: {(a.get('pairs') or {}).get('n_pairs', 0)}")
    for line in kind_lines:
        console.print(line)
    d = summary.get("decisions") or {}
    console.print("Decisions: " + (", ".join(f"{k} {v:,}" for k, v in d.items()) or "none"))
    if summary.get("new_bans"):
        console.print(f"[red]Newly banned:[/] {', '.join(summary['new_bans'])}")
    board = summary.get("leaderboard") or []
    if board:
        from tasks.figures import LEADERBOARD_COLUMNS, leaderboard_rows

        t = Table(title="Source leaderboard")
        for col in LEADERBOARD_COLUMNS:
            t.add_column(col, justify="left" if col in ("source", "kind") else "right")
        for row in leaderboard_rows(board):
            t.add_row(*row.values())
        console.print(t)


@app.command()
def consensus(config: ConfigOpt = None, as_json: JsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Aggregate votes into labels and decisions; score, ban and rank sources; report agreement."""
    cfg = run_or_exit(lambda: load_project(config))
    prepare_prefect_env(cfg, verbose)
    from flows.consensus import consensus_flow
    from tasks.progress import use_console

    with use_console() if not as_json else nullcontext():
        result = run_or_exit(lambda: consensus_flow(project_dir=cfg.root, config=cfg))
    if as_json:
        print(json.dumps(result, default=str))
    else:
        from tasks.kinds import kind_of

        print_consensus(result, kind_of(cfg).consensus)
