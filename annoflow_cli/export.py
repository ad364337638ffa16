"""`annoflow export` (run), `export list`, `export show V`, `export diff A B`, `export trace ITEM`."""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Annotated

import typer
from rich.table import Table

from annoflow_cli.app import (
    ConfigOpt,
    JsonOpt,
    VerboseOpt,
    app,
    console,
    err_console,
    fail,
    load_project,
    prepare_prefect_env,
    run_or_exit,
)
from tasks.errors import AnnoflowError

export_app = typer.Typer(
    add_completion=False,
    invoke_without_command=True,
    help="Publish validated dataset versions; list, show, diff and trace them.",
)
app.add_typer(export_app, name="export")

ForceOpt = Annotated[bool, typer.Option("--force", help="Publish a new version even if nothing changed.")]
AcceptShiftOpt = Annotated[str | None, typer.Option(
    "--accept-shift", metavar="REASON",
    help="Publish although the label distribution moved beyond validation.max_label_shift; the reason is "
         "recorded in the version's manifest.")]


def _run(config, force: bool, as_json: bool, verbose: bool, accept_shift: str | None = None) -> None:
    cfg = run_or_exit(lambda: load_project(config))
    prepare_prefect_env(cfg, verbose)
    from flows.export import export_flow
    from tasks.export.stage import GateFailedError
    from tasks.progress import use_console

    try:
        with use_console() if not as_json else nullcontext():
            result = export_flow(project_dir=cfg.root, config=cfg, force=force, accept_shift=accept_shift)
    except GateFailedError as e:
        if as_json:
            print(json.dumps(e.result, default=str))
        err_console.print(f"[bold red]release gate failed:[/] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except AnnoflowError as e:
        fail(e)
    if as_json:
        print(json.dumps(result, default=str))
        return
    if result["status"] == "unchanged":
        console.print(f"{result['message']}: nothing published ({result['path']})")
        return
    console.print(f"[bold green]published {result['version']}[/] ({result['n_rows']:,} rows, parent {result['parent'] or 'none'})")
    console.print(f"  path:    {result['path']}")
    console.print(f"  content: {result['content_hash']}")
    console.print(f"  report:  {result['report']}")
    accepted = (result.get("manifest") or {}).get("shift_accepted")
    if accepted:
        console.print(f"  shift:   {accepted['observed']:.4f} vs {accepted['reference']} accepted: {accepted['reason']}", highlight=False)
    elif accept_shift:
        console.print("  shift:   within validation.max_label_shift; --accept-shift was not needed and is not recorded")
    console.print(f"  load:    load_version(cfg, {result['version']!r})  or  duckdb.sql(\"FROM '{result['path']}/data/**/*.parquet'\")")


@export_app.callback()
def export_main(
    ctx: typer.Context,
    config: ConfigOpt = None,
    force: ForceOpt = False,
    accept_shift: AcceptShiftOpt = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Without a subcommand: export the resolved labels as a new version if they pass the release gate."""
    if ctx.invoked_subcommand is None:
        _run(config, force, as_json, verbose, accept_shift)


@export_app.command("run")
def export_run(config: ConfigOpt = None, force: ForceOpt = False, accept_shift: AcceptShiftOpt = None,
               as_json: JsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Same as `annoflow export`."""
    _run(config, force, as_json, verbose, accept_shift)


@export_app.command("list")
def export_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Published versions, oldest first."""
    cfg = run_or_exit(lambda: load_project(config))
    from tasks.export.versions import list_versions

    versions = list_versions(cfg)
    if as_json:
        print(json.dumps([{k: m[k] for k in ("version", "parent", "created_at", "content_hash", "row_counts", "is_latest")}
                          for m in versions], default=str))
        return
    if not versions:
        console.print(f"no versions in {cfg.export_dir}: run `annoflow export`")
        return
    t = Table(title=f"Exports in {cfg.export_dir}")
    for col in ("version", "parent", "created", "rows", "labels", "content hash", ""):
        t.add_column(col, justify="right" if col == "rows" else "left")
    for m in versions:
        dist = ", ".join(f"{k} {v:,}" for k, v in m["label_distribution"].items())
        t.add_row(m["version"], m["parent"] or "-", m["created_at"][:19], f"{m['row_counts']['total']:,}", dist,
                  m["content_hash"][:12], "latest" if m["is_latest"] else "")
    console.print(t)


@export_app.command("show")
def export_show(
    version: Annotated[str, typer.Argument(help="Version name (v0003, 3) or 'latest'.")] = "latest",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A version's manifest: lineage, counts, files, validation result."""
    cfg = run_or_exit(lambda: load_project(config))
    from tasks.export.versions import read_manifest, version_dir

    m = run_or_exit(lambda: read_manifest(cfg, version))
    if as_json:
        print(json.dumps(m, default=str))
        return
    console.print(f"[bold]{m['version']}[/] of {m['project']} (parent {m['parent'] or 'none'}), created {m['created_at']}")
    console.print(f"  rows {m['row_counts']['total']:,}" + (f"  splits {m['row_counts'].get('by_split')}" if m.get("splits") else ""))
    console.print("  labels: " + ", ".join(f"{k} {v:,}" for k, v in m["label_distribution"].items()))
    console.print(f"  config {m['config_hash']}, code {m['code_version']}, flow run {m['flow_run_id'] or '-'}")
    console.print(f"  content hash {m['content_hash']}")
    val = m["validation"]
    console.print(f"  gate: {'passed' if val['success'] else 'FAILED'} ({val['mode']})")
    t = Table(show_header=True)
    for col in ("check", "result", "observed", "threshold"):
        t.add_column(col)
    for name, c in val["checks"].items():
        t.add_row(name, {True: "pass", False: "FAIL", None: "skipped"}[c["success"]], str(c.get("note") or c["observed"]),
                  "" if c["threshold"] is None else str(c["threshold"]))
    console.print(t)
    f = Table(title=str(version_dir(cfg, m["version"])))
    f.add_column("file")
    f.add_column("bytes", justify="right")
    f.add_column("sha256")
    for name, info in m["files"].items():
        f.add_row(name, f"{info['bytes']:,}", info["sha256"][:16])
    console.print(f)


@export_app.command("diff")
def export_diff(
    a: Annotated[str, typer.Argument(help="Older version (or 'latest').")],
    b: Annotated[str, typer.Argument(help="Newer version (default: latest).")] = "latest",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    flow_run: Annotated[bool, typer.Option("--flow", help="Run as a Prefect flow, publishing the diff as an artifact.")] = False,
) -> None:
    """Items added, removed, relabeled (from -> to counts) and confidence changes between two versions."""
    cfg = run_or_exit(lambda: load_project(config))
    if flow_run:
        prepare_prefect_env(cfg)
        from flows.export import export_diff_flow

        d = run_or_exit(lambda: export_diff_flow(a=a, b=b, project_dir=cfg.root, config=cfg))
    else:
        from tasks.export.diff import diff_versions

        d = run_or_exit(lambda: diff_versions(cfg, a, b))
    if as_json:
        print(json.dumps(d, default=str))
        return
    c = d["confidence"]
    t = Table(title=f"{d['a']} -> {d['b']}" + (" (same content)" if d["same_content"] else ""))
    t.add_column("what")
    t.add_column("items", justify="right")
    for k, v in (("rows " + d["a"], d["a_rows"]), ("rows " + d["b"], d["b_rows"]), ("added", d["added"]),
                 ("removed", d["removed"]), ("relabeled", d["relabeled"]), ("confidence changed", c["changed"]),
                 ("  increased", c["increased"]), ("  decreased", c["decreased"])):
        t.add_row(k, f"{v:,}")
    console.print(t)
    console.print(f"mean confidence change {c['mean_delta']:+.4f} (mean |change| {c['mean_abs_delta']:.4f}, max {c['max_abs_delta']:.4f})")
    if "parts" in d:  # answers made of parts: what changed inside them, per label
        parts = d["parts"]
        console.print(f"Answer parts: {parts['added']:,} added, {parts['removed']:,} removed, {parts['kept']:,} kept")
        u = Table(title="Answer parts by label")
        for col in ("label", "added", "removed", "kept"):
            u.add_column(col, justify="left" if col == "label" else "right")
        for label, v in parts["by_label"].items():
            u.add_row(label, f"{v['added']:,}", f"{v['removed']:,}", f"{v['kept']:,}")
        console.print(u)
    if d["relabel_pairs"]:
        p = Table(title="Relabeled")
        for col in ("from", "to", "items", "example item"):
            p.add_column(col, justify="right" if col == "items" else "left")
        for r in d["relabel_pairs"][:50]:
            p.add_row(str(r["from"]), str(r["to"]), f"{r['count']:,}", r["example"])
        console.print(p)


@export_app.command("trace")
def export_trace(
    item_id: Annotated[str, typer.Argument(help="The item id to trace.")],
    version: Annotated[str | None, typer.Option("--version", help="Version (default latest).")] = None,
    config: ConfigOpt = None,
) -> None:
    """An exported label with the method, votes and gold answer behind it."""
    cfg = run_or_exit(lambda: load_project(config))
    from tasks.export.trace import trace_item

    print(json.dumps(run_or_exit(lambda: trace_item(cfg, item_id, version)), default=str, indent=2))
