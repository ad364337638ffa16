"""`annoflow demo`: the whole loop on a sample project (the bundled YouTube spam one by default), from a clean state."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

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


def _print_summary(s: dict, kind_lines: list[str]) -> None:
    t = Table(title=f"annoflow demo: {s['project']}", show_header=False)
    t.add_column("", style="bold")
    t.add_column("")
    w = s
    metric = s["metric"]  # the kind's headline metric (`export.evaluate`), by its title where the kind gives one
    titles = s.get("metric_titles") or {}
    fmt = lambda m, v: "-" if v is None else format(v, (s.get("metric_formats") or {}).get(m, ".1%"))
    t.add_row(f"{titles.get(metric, metric)} vs true answers", fmt(metric, s[metric]))
    for m, v in s[f"{metric}_by_method"].items():
        t.add_row(f"  {m}", f"{fmt(metric, v[metric])} of {v['items']:,} items")
    for m, title in titles.items():
        if m != metric:
            t.add_row(f"{title} vs true answers", fmt(m, s.get(m)))
    t.add_row("items / resolved", f"{w['items']:,} / {w['resolved']:,}")
    t.add_row("auto-accepted", f"{w['auto_accepted']:,} ({w['auto_accepted_share']:.1%})")
    t.add_row("human judgments", f"{w['human_judgments']:,} ({w['human_judgments_per_item']} per item, "
              f"{w['human_judgments_per_human_labeled_item']} per human-labeled item)")
    agreement = s.get("agreement") or {}
    if agreement.get("alpha") is not None:
        interval = (f" [{agreement['low']:.3f}, {agreement['high']:.3f}]"
                    if agreement.get("low") is not None and agreement.get("high") is not None else "")
        t.add_row("agreement (Krippendorff's alpha)", f"{agreement['alpha']:.3f}{interval}")
    for line in kind_lines:  # what only the answer kind measures (per-label alpha, span F1 between annotators)
        t.add_row("agreement", line)
    d = s.get("drafts")
    if d and d.get("kept_share") is not None:  # a machine draft people edit: what they did not have to type
        t.add_row("draft words kept", f"{d['kept_share']:.1%} of {d['draft_words']:,} draft words in {d['judgments']:,} judgments"
                  + (f" (draft WER {d['draft_wer']:.2f})" if d.get("draft_wer") is not None else ""))
    t.add_row("rounds", str(len(s["rounds"])))
    e = s["export"]
    t.add_row("export", f"{e.get('version')} ({e.get('n_rows', 0):,} rows) at {e.get('path')}" if e.get("status") == "published"
              else f"{e.get('status')}: {e.get('message')}")
    t.add_row("wall time", f"{s['seconds']} s")
    console.print(t)
    console.print(f"[dim]{s['simulation']} — SIMULATED annotators labeled through the app's HTTP API.[/]")


@app.command()
def demo(
    project: Annotated[Path, typer.Option(help="Sample project to run (any folder of examples/, with truth/labels.csv or .jsonl).")] = EXAMPLE,
    annotators: Annotated[int, typer.Option(min=2, help="Simulated annotators.")] = 8,
    keep: Annotated[bool, typer.Option(help="Keep the state of an earlier run instead of starting clean.")] = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run the whole loop on a sample project with simulated annotators and print what happened."""
    cfg = run_or_exit(lambda: load_project(project))
    if not keep:
        for name in ("annoflow.duckdb", "annoflow.duckdb.wal", "app.sqlite", "app.sqlite-wal", "app.sqlite-shm"):
            (cfg.state_dir / name).unlink(missing_ok=True)
        for name in ("exports", "models"):
            shutil.rmtree(cfg.state_dir / name, ignore_errors=True)
    prepare_prefect_env(cfg, verbose)
    from flows.demo import demo_flow

    summary = run_or_exit(lambda: demo_flow(project_dir=cfg.root, config=cfg, annotators=annotators))
    if as_json:
        print(json.dumps(summary, default=str))
        return
    from tasks.kinds import kind_of

    _print_summary(summary, kind_of(cfg).consensus.summary_lines(summary.get("agreement") or {}))
    from annoflow_cli.prefect_server import configured_api_url

    console.print(
        "\nLook around:\n"
        f"  annotation app   uv run annoflow app --config {project}   then  uv run annoflow annotators add me --config {project}\n"
        f"  Prefect UI       {(configured_api_url() or '').removesuffix('/api')}   (the project's server; "
        f"`uv run annoflow server status --config {project}`)\n"
        f"  state            uv run annoflow status --config {project}"
    )
