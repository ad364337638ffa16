"""`annoflow status`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from annoflow_cli.app import (
    ConfigOpt,
    JsonOpt,
    app,
    console,
    fail,
    load_project,
    run_or_exit,
)
from tasks.errors import AnnoflowError


@app.command()
def status(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    quarantine: Annotated[bool, typer.Option("--quarantine", "-q", help="Also list the latest quarantined rows.")] = False,
) -> None:
    """Counts of items, quarantined rows, votes, assignments, labels and export versions."""
    cfg = run_or_exit(lambda: load_project(config))
    from tasks.kinds import kind_of
    from tasks.status import collect_status, quarantine_sample
    from tasks.store import project_store

    if not cfg.db_path.exists():
        fail(AnnoflowError(f"no state yet at {cfg.db_path}: run `annoflow ingest` first"))

    def read() -> tuple[dict, list[dict]]:
        with project_store(cfg) as con:
            return collect_status(con, kind_of(cfg).consensus), quarantine_sample(con, 50) if quarantine else []

    st, sample = run_or_exit(read)
    st["database"] = str(cfg.db_path)
    if quarantine:
        st["quarantine"]["latest"] = sample
    if as_json:
        print(json.dumps(st, default=str))
        return
    console.print(f"[bold]{st['project']['name'] if st['project'] else '?'}[/]  {st['database']}")
    t = Table(show_header=True)
    t.add_column("what")
    t.add_column("count", justify="right")
    t.add_row("items", f"{st['items']['total']:,}")
    for k, v in st["items"]["by_state"].items():
        t.add_row(f"  state {k}", f"{v:,}")
    t.add_row("gold items", f"{st['gold']:,}")
    t.add_row("quarantined rows", f"{st['quarantine']['total']:,}")
    for k, v in st["quarantine"]["by_reason"].items():
        t.add_row(f"  {k}", f"{v:,}")
    t.add_row("votes", f"{st['votes']['total']:,}")
    for k, v in st["votes"]["by_source_kind"].items():
        t.add_row(f"  from {k}", f"{v:,}")
    t.add_row("sources (banned)", f"{st['votes']['sources']:,} ({st['votes']['banned_sources']})")
    for k, v in st["assignments"]["by_state"].items():
        t.add_row(f"assignments {k}", f"{v:,}")
    t.add_row("labels", f"{st['labels']['total']:,}")
    for k, v in st["labels"]["by_decision"].items():
        t.add_row(f"  {k}", f"{v:,}")
    t.add_row("export versions", str(len(st["exports"])))
    for m in st.get("model_spend") or []:
        t.add_row(f"{m['source_id']} calls (tokens in/out, cost)",
                  f"{m['calls']:,} ({m['input_tokens']:,}/{m['output_tokens']:,}, {m['cost']:.4f})")
    console.print(t)
    if st.get("consensus"):
        from annoflow_cli.consensus import print_consensus

        print_consensus(st["consensus"], kind_of(cfg).consensus)
    if sample:
        q = Table(title="Latest quarantined rows")
        for col in ("stage", "source", "row", "field", "reason", "detail"):
            q.add_column(col, overflow="fold")
        for r in sample:
            q.add_row(r["stage"], r["source"], str(r["source_row"] or ""), r["field"] or "", r["reason"], r["detail"] or "")
        console.print(q)
