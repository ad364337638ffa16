"""`annoflow prelabel` and `annoflow lf-report`."""

from __future__ import annotations

import json
from contextlib import nullcontext

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


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _cell(v: object) -> str:
    return "-" if v is None else _pct(v) if isinstance(v, float) else str(v)


def _lf_table(rows: list[dict]) -> Table:
    """The common columns, then what the project's answer kind measures besides (a row's `more`)."""
    t = Table(title="Labeling functions and models")
    more = list(dict.fromkeys(k for r in rows for k in r.get("more", {})))
    cols = ("source", "polarity", "coverage", "overlap", "conflict", "gold n", "gold acc", "95% interval", "learned acc", *more)
    for c in cols:
        t.add_column(c, justify="left" if c in ("source", "polarity") else "right")
    for r in rows:
        iv = "-" if r["gold_acc_low"] is None else f"{_pct(r['gold_acc_low'])}–{_pct(r['gold_acc_high'])}"
        t.add_row(r["source_id"], r["polarity"] or "-", _pct(r["coverage"]), _pct(r["overlap"]), _pct(r["conflict"]),
                  str(r["n_gold"]), _pct(r["gold_accuracy"]), iv, _pct(r["learned_accuracy"]),
                  *(_cell(r.get("more", {}).get(k)) for k in more))
    return t


def _print(result: dict) -> None:
    from tasks.prelabel.routing import routing_advice

    r = result["routing"]
    console.print(_lf_table(result["lf_summary"]))
    if r.get("auto_accepts", True):
        _print_thresholds(r)
    for m in result["models"]:
        if m.get("quarantined"):
            console.print(f"Model {m['model']}: {m['quarantined']:,} inputs set aside, the rest stored (first: {m['first_problem']}); "
                          "see `annoflow status --quarantine`", highlight=False)
    advice = routing_advice(r)
    if advice:
        console.print(advice, highlight=False)
    console.print(
        f"Items {r['items']:,}, coverage {_pct(r['coverage'])}; routable {r['routable']:,}: auto {r['auto']:,}, audit {r['audit']:,}, "
        f"humans {r['human']:,} — auto-accept share {_pct(r['auto_accept_share'])}; sent back {r['revoked']:,}"
    )
    if r.get("auto_accepts", True):
        console.print(f"Gold accuracy {_pct(r['gold_accuracy'])}, ECE {r['ece']}; audit precision {_pct(r['audit_precision'])} on {r['audited']} items")
    console.print(f"State: {result['database']}")


def _print_thresholds(r: dict) -> None:
    """The thresholds and calibration tables, for a kind whose pre-labels can be auto-accepted."""
    t = Table(title="Thresholds (lowest confidence whose precision lower bound meets the target)")
    for c in ("key", "threshold", "precision", "lower bound", "evaluated"):
        t.add_column(c, justify="right")
    for x in r["thresholds"]:
        t.add_row(x["label"], "-" if x["threshold"] is None else f"{x['threshold']:.4f}", _pct(x["precision"]), _pct(x["precision_low"]), str(x["n_eval"]))
    console.print(t)
    k = Table(title="Calibration on gold per decision key (class; or label, for its present/absent decisions)")
    for c in ("key", "decisions", "accuracy", "mean confidence", "ECE"):
        k.add_column(c, justify="right")
    for c in r.get("calibration_by_key", []):
        k.add_row(c["key"], str(c["n"]), _pct(c["accuracy"]), _pct(c["mean_confidence"]), "-" if c["ece"] is None else f"{c['ece']:.4f}")
    console.print(k)


@app.command()
def prelabel(config: ConfigOpt = None, as_json: JsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Pre-label items with labeling functions and models; auto-accept the confident, queue the rest for humans."""
    cfg = run_or_exit(lambda: load_project(config))
    prepare_prefect_env(cfg, verbose)
    from flows.prelabel import prelabel_flow
    from tasks.progress import use_console

    with use_console() if not as_json else nullcontext():
        result = run_or_exit(lambda: prelabel_flow(project_dir=cfg.root, config=cfg))
    if as_json:
        print(json.dumps(result, default=str))
    else:
        _print(result)


@app.command("lf-report")
def lf_report_cmd(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Coverage, overlap, conflict, polarity, gold accuracy with its interval and learned accuracy per LF and model."""
    cfg = run_or_exit(lambda: load_project(config))
    from tasks.prelabel.stage import lf_report

    rows = run_or_exit(lambda: lf_report(cfg))
    if as_json:
        print(json.dumps(rows, default=str))
    else:
        console.print(_lf_table(rows))
