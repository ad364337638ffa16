"""`annoflow app`, `annoflow dispatch`, `annoflow collect`, `annoflow annotators add/list`, `annoflow simulate-crowd`.

Pausing, resuming, unbanning and re-qualifying annotators: annoflow_cli/annotators.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from enum import Enum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

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
from tasks.errors import ConfigError, ServiceError

annotators_app = typer.Typer(no_args_is_help=True, help="Annotators of the built-in annotation app.")
app.add_typer(annotators_app, name="annotators")

REPO_ROOT = Path(__file__).resolve().parent.parent


def _media_roots(cfg) -> list[Path]:
    """Folders the app may serve media from: the project folder and every local source folder."""
    roots = {Path(cfg.root).resolve()}
    for s in cfg.sources:
        if "://" in s.path:
            continue
        p = cfg.path(s.path)
        while any(ch in p.name for ch in "*?[") or p.suffix:
            p = p.parent
        roots.add(p.resolve())
    return sorted(roots)


@app.command("app")
def app_command(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default: the host of queue.url).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: the port of queue.url).")] = None,
) -> None:
    """Run the built-in annotation app for this project (foreground; Ctrl-C stops it).

    Its store is <state.dir>/app.sqlite. The admin token is env `queue.token_env` if set, else
    <state.dir>/queue_token, generated on first start with mode 0600; dispatch and collect read
    the same place.
    """
    cfg = run_or_exit(lambda: load_project(config))
    from tasks.dispatch.access import admin_token, token_file
    from tasks.queues import BuiltinBackend

    token = run_or_exit(lambda: admin_token(cfg, create=True))
    u = urlparse(cfg.queue.url)
    host, port = host or u.hostname or "127.0.0.1", port or u.port or 8765
    url = f"http://{host}:{port}"
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "annotation_app", "--db", str(cfg.state_dir / "app.sqlite"), "--host", host,
           "--port", str(port), "--project-db", f"{cfg.name}={cfg.db_path}"]
    for root in _media_roots(cfg):
        cmd += ["--media-root", str(root)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env={**os.environ, "ANNOFLOW_QUEUE_TOKEN": token})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a service manager's stop also stops the app
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                fail(ServiceError(f"the annotation app exited with {proc.returncode} (is port {port} in use?)"))
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                fail(ServiceError(f"the annotation app did not answer on {url} within 30 s"))
            time.sleep(0.2)
        with BuiltinBackend(url, token, cfg.name) as b:
            run_or_exit(lambda: b.ensure_project(cfg))
        where = f"env {cfg.queue.token_env}" if os.environ.get(cfg.queue.token_env) else str(token_file(cfg))
        console.print(f"Annotation app for [bold]{cfg.name}[/] at [link={url}/]{url}/[/link]")
        console.print(f"Admin token: {where}. API docs: {url}/docs. Quality dashboard: {url}/admin/dashboard")
        console.print("Add annotators: `annoflow annotators add NAME [--expert]`; then `annoflow dispatch`.")
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def _backend(cfg):
    from tasks.dispatch.access import admin_token
    from tasks.queues import BuiltinBackend

    if cfg.queue.backend.value != "builtin":
        raise ConfigError("annotator management here is for the built-in app (queue.backend = 'builtin')")
    return BuiltinBackend(cfg.queue.url, admin_token(cfg), cfg.name)


def _invite(cfg, name: str, as_json: bool) -> None:
    """Label Studio owns its users: print the organization's invite link instead of creating one."""
    from tasks.dispatch.access import backend_for

    def link() -> str:
        with backend_for(cfg) as b:
            return b.invite_url()

    url = run_or_exit(link)
    if as_json:
        print(json.dumps({"annotator_id": None, "invite_url": url}))
        return
    console.print(f"Label Studio manages its own users: send [bold]{name}[/] this sign-up link")
    console.print(f"  {url}", soft_wrap=True)
    console.print("  They sign up with their email and a password and then see the project; annoflow records them "
                  "as human:ls:<email>. (`POST /api/users` makes users who cannot log in.)")


class Role(str, Enum):
    """An app annotator's roles (the app's core.ROLES)."""

    annotator = "annotator"
    reviewer = "reviewer"
    expert = "expert"


@annotators_app.command("add")
def annotators_add(
    name: Annotated[str, typer.Argument(help="Annotator id (letters, digits, _ . : @ -).")],
    expert: Annotated[bool, typer.Option("--expert", help="Same as --role expert.")] = False,
    role: Annotated[list[Role] | None, typer.Option(
        "--role", help="annotator (the default: labels items), reviewer (reviews others' answers in the app), expert "
        "(both, and adjudicates); repeat for several.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an annotator on this project and print their token (shown once) and link (Label Studio: the
    organization's sign-up link, since Label Studio owns its users)."""
    cfg = run_or_exit(lambda: load_project(config))
    if cfg.queue.backend.value == "label_studio":
        _invite(cfg, name, as_json)
        return
    roles = sorted({*(r.value for r in role or ()), *(["expert"] if expert else [])})

    def add() -> str:
        with _backend(cfg) as b:
            return b.create_annotator(name, roles=roles, projects=[cfg.name])

    token = run_or_exit(add)
    link = f"{cfg.queue.url.rstrip('/')}/"
    if as_json:
        print(json.dumps({"annotator_id": name, "roles": roles, "token": token, "url": link}))
        return
    shown_roles = f" ({', '.join(roles)})" if roles else ""
    console.print(f"Annotator [bold]{name}[/]{shown_roles}")
    console.print(f"  open  {link}")
    console.print(f"  token {token}   (shown once; `annoflow annotators add` again with a new name, or rotate via the API)")


@annotators_app.command("list")
def annotators_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Annotators with their roles and submit counts (the built-in app) and what the project decided about
    them: paused (and why), banned, re-qualifying, their last recorded action."""
    from tasks.behaviour.pause import list_annotators
    from tasks.store import project_store

    cfg = run_or_exit(lambda: load_project(config))

    def read_state() -> dict:
        with project_store(cfg) as con:
            return {s.source_id.removeprefix("human:"): s for s in list_annotators(con)}

    def read_app() -> dict:
        with _backend(cfg) as b:
            return {r["annotator_id"]: r for r in b.list_annotators().to_pylist()}

    state = run_or_exit(read_state)
    app_rows = run_or_exit(read_app) if cfg.queue.backend.value == "builtin" else {}
    rows = []
    for name in sorted(set(state) | set(app_rows)):
        s, a = state.get(name), app_rows.get(name) or {}
        rows.append({"annotator_id": name, "roles": a.get("roles") or [], "active": a.get("active"),
                     "submitted": a.get("submitted"), "judgments": s.judgments if s else 0,
                     "paused": bool(s and s.paused), "pause_reason": s.reason if s else None,
                     "banned": bool(s and s.banned), "requalifying": bool(s and s.requalifying),
                     "last_action": s.last_action if s else None})
    if as_json:
        print(json.dumps(rows))
        return
    t = Table(title="Annotators")
    for col in ("annotator", "roles", "active", "submitted", "judgments", "state", "last action", "pause reason"):
        t.add_column(col, justify="right" if col in ("submitted", "judgments") else "left")
    for r in rows:
        st = ("banned" if r["banned"] else "re-qualifying" if r["requalifying"] else "paused" if r["paused"] else "ok")
        t.add_row(r["annotator_id"], ", ".join(r["roles"]), "-" if r["active"] is None else str(r["active"]),
                  f"{r['submitted'] or 0:,}", f"{r['judgments']:,}", st, r["last_action"] or "-", r["pause_reason"] or "-")
    console.print(t)


def _run_stage(cfg, flow_name: str, as_json: bool, verbose: bool) -> dict:
    prepare_prefect_env(cfg, verbose)
    from tasks.progress import use_console

    if flow_name == "dispatch":
        from flows.dispatch import dispatch_flow as fn
    else:
        from flows.collect import collect_flow as fn
    with use_console() if not as_json else nullcontext():
        return run_or_exit(lambda: fn(project_dir=cfg.root, config=cfg))


@app.command()
def dispatch(config: ConfigOpt = None, as_json: JsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Create assignments for items needing human votes (overlap policy, gold mix) and push them to the queue."""
    cfg = run_or_exit(lambda: load_project(config))
    r = _run_stage(cfg, "dispatch", as_json, verbose)
    if as_json:
        print(json.dumps(r, default=str))
        return
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(r["created_by_kind"].items())) or "nothing new"
    console.print(f"Dispatch: created {r['created']:,} ({kinds}; targeted gold {r['targeted_gold']:,}), "
                  f"pushed {r['pushed']:,} ({r['new_to_backend']:,} new to the queue) in {r['seconds']} s")
    from tasks.dispatch.stage import suggestions_summary

    if line := suggestions_summary(r):
        console.print(line, highlight=False)


@app.command()
def collect(config: ConfigOpt = None, as_json: JsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Pull new judgments from the queue into DuckDB as human votes; quarantine invalid ones."""
    cfg = run_or_exit(lambda: load_project(config))
    r = _run_stage(cfg, "collect", as_json, verbose)
    if as_json:
        print(json.dumps(r, default=str))
        return
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(r["quarantined_by_reason"].items()))
    console.print(f"Collect: pulled {r['pulled']:,}, stored {r['stored']:,}, edits applied {r['revised']:,}, "
                  f"retracted {r['retracted']:,}, "
                  f"already stored {r['duplicates']:,}, "
                  f"quarantined {r['quarantined']:,}{f' ({reasons})' if reasons else ''} in {r['seconds']} s")


def _accuracy(value: str) -> tuple[float, float]:
    lo, _, hi = value.partition("-")
    try:
        a, b = float(lo), float(hi or lo)
    except ValueError:
        raise typer.BadParameter(f"expected A or LOW-HIGH between 0 and 1, got {value!r}") from None
    if not 0 <= a <= b <= 1:
        raise typer.BadParameter(f"expected 0 <= LOW <= HIGH <= 1, got {value!r}")
    return a, b


@app.command("simulate-crowd")
def simulate_crowd(
    annotators: Annotated[int, typer.Option("--annotators", "-n", min=1, help="Simulated annotators.")] = 10,
    accuracy: Annotated[str, typer.Option(help="Accuracy A, or a range LOW-HIGH drawn per annotator.")] = "0.65-0.95",
    spammers: Annotated[int, typer.Option(min=0, help="How many of them answer at random or always the same label.")] = 1,
    experts: Annotated[int, typer.Option(min=0, help="How many get the expert role (adjudication tasks).")] = 1,
    truth: Annotated[Path | None, typer.Option(help="CSV/JSONL/Parquet naming items and their true answers "
                                                      "(default: truth/labels.* in the project).")] = None,
    key_column: Annotated[str | None, typer.Option("--key-column", "--text-column",
                                                   help="Truth column naming the item, as in the gold file "
                                                        "(default: gold.key_field, e.g. text or file).")] = None,
    label_column: Annotated[str | None, typer.Option(help="Truth column with the true answer "
                                                          "(default: the answer kind's column, e.g. label).")] = None,
    seconds_per_task: Annotated[float, typer.Option(min=0, help="Mean think time per task.")] = 0.0,
    seed: int = 0,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """SIMULATION: fake annotators (confusion matrices, spammers) label every open task in the running app.

    For demos and benchmarks only; their ids start with 'sim-' so they are never mistaken for people.
    """
    cfg = run_or_exit(lambda: load_project(config))
    from tasks.dispatch.access import admin_token
    from tasks.kinds import kind_of
    from tasks.queues.simulated_crowd import make_crowd, run_simulated_crowd
    from tasks.queues.truth import default_truth_file, read_truth
    from tasks.store import open_store

    path = truth or default_truth_file(cfg)
    if not path.is_file():
        fail(ConfigError(f"no truth file at {path}: pass --truth FILE (a column naming the item, "
                         f"--key-column, and one with its answer, --label-column)"))
    if annotators < spammers:
        fail(ConfigError(f"--spammers {spammers} is more than --annotators {annotators}"))
    crowd = make_crowd(annotators, cfg.labels, accuracy=_accuracy(accuracy), spammer_share=spammers / annotators,
                       seconds_per_task=seconds_per_task, experts=experts, seed=seed, kind=kind_of(cfg))

    def load_truth():
        with open_store(cfg.db_path) as con:
            return read_truth(con, cfg, path, key_column, label_column)

    true_answer = run_or_exit(load_truth)

    err_console.print(f"[yellow]SIMULATION[/]: {annotators} simulated annotators ({spammers} spammers, "
                      f"{experts} experts) on {cfg.queue.url}")
    report = run_or_exit(lambda: run_simulated_crowd(cfg.queue.url, admin_token(cfg), cfg.name, true_answer,
                                                     crowd=crowd, seed=seed, payload=true_answer.payload))
    out = {"simulation": True, **report.summary(), "per_annotator": report.per_annotator,
           "items_without_truth": true_answer.unknown, "failures": report.failures}
    if as_json:
        print(json.dumps(out))
        return
    console.print(f"SIMULATION done: {out['submitted']:,} submits, {out['skipped']} skips, {out['errors']} errors "
                  f"in {out['elapsed_s']} s; tasks without a true answer: {true_answer.unknown}. Now run `annoflow collect`.")
    for failure in report.failures:
        err_console.print(f"[red]annotator failed:[/] {failure}")
