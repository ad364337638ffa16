"""Pre-label flow: labeling functions, models, then combination, calibration and routing."""

from __future__ import annotations

import uuid

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.common import artifact_key, project_config, publish_headline
from schemas.config import ProjectConfig
from tasks.events import emit
from tasks.prelabel.routing import routing_advice
from tasks.prelabel.stage import (
    apply_labeling_functions_task,
    apply_model_task,
    combine_and_route_task,
    lf_report,
)

__all__ = ["prelabel_flow", "prelabel_report_markdown"]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _thr(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def prelabel_report_markdown(result: dict) -> str:
    r = result["routing"]
    thr = "\n".join(
        f"| {t['label']} | {_thr(t['threshold'])} | {_pct(t['precision'])} | "
        f"{_pct(t['precision_low'])} | {t['n_eval']} |"
        for t in r["thresholds"]
    )
    rel = "\n".join(f"| {b['bin']} | {b['n']} | {b['mean_confidence']:.3f} | {b['accuracy']:.3f} |" for b in r["reliability"])
    by_key = "\n".join(f"| {c['key']} | {c['n']} | {_pct(c['accuracy'])} | {_pct(c['mean_confidence'])} | {c['ece'] if c['ece'] is not None else '-'} |"
                       for c in r.get("calibration_by_key", []))
    models = "\n".join(f"- `{m['model']}` ({m['kind']}): version {m['version'] or '-'}, {m['inserted']:,} new votes; {m.get('training', '')}"
                       for m in result["models"]) or "- none configured"
    audit = (f"{_pct(r['audit_precision'])} on {r['audited']} audited items (95% interval "
             f"{_pct(r['audit_precision_interval'][0])}–{_pct(r['audit_precision_interval'][1])})") if r["audited"] else "no audits returned yet"
    advice = routing_advice(r)
    tables = (
        "## Thresholds\n\n| key | threshold | precision | lower bound | evaluated |\n|---|---:|---:|---:|---:|\n" + thr +
        "\n\n## Calibration on gold\n\n| confidence | n | mean confidence | accuracy |\n|---|---:|---:|---:|\n" + rel +
        "\n\nPer decision key (the predicted class; for multi-label answers each label's present/absent decision):\n\n"
        "| key | decisions on gold | accuracy | mean confidence | ECE |\n|---|---:|---:|---:|---:|\n" + by_key + "\n\n"
    ) if r.get("auto_accepts", True) else ""
    return (
        "# Pre-labeling report\n\n"
        f"- Items: {r['items']:,}; with at least one machine vote (coverage): {_pct(r['coverage'])}\n"
        f"- Routable: {r['routable']:,} → auto-accepted {r['auto']:,}, auto-accepted for audit {r['audit']:,}, to humans {r['human']:,}"
        f" (**auto-accept share {_pct(r['auto_accept_share'])}**); sent back to humans this run: {r['revoked']:,}\n"
        f"- Gold: {r['gold']:,} items, pre-label accuracy {_pct(r['gold_accuracy'])}, ECE {r['ece'] if r['ece'] is not None else '-'}\n"
        f"- Audit precision: {audit}\n"
        f"- Combiner: `{r['combiner']}`; target precision {r['target_precision']} at {r['precision_confidence']} confidence (Wilson lower bound)\n\n"
        + (f"{advice}\n\n" if advice else "") + tables + "## Models\n\n" + models + "\n"
    )


@flow(name="prelabel", log_prints=True)
def prelabel_flow(project_dir: str = ".", config: ProjectConfig | None = None) -> dict:
    """Pre-label the project's items: LF votes, model votes, combined pre-labels, calibrated routing.

    Args:
        project_dir: folder holding annoflow.toml; relative paths resolve against it.
        config: the project config, instead of reading annoflow.toml.
    """
    cfg = project_config(project_dir, config)
    run_id = uuid.uuid4().hex
    lfs = apply_labeling_functions_task(cfg, run_id)
    models = [apply_model_task(cfg, m, run_id) for m in cfg.prelabel.models]
    routing = combine_and_route_task(cfg, run_id)
    summary = lf_report(cfg)
    result = {"run_id": run_id, "labeling_functions": lfs, "models": models, "routing": routing, "lf_summary": summary,
              "database": str(cfg.db_path)}
    create_markdown_artifact(prelabel_report_markdown(result), key=artifact_key(cfg, "prelabel-report"), description="Pre-labeling report")
    if summary:
        create_table_artifact(summary, key=artifact_key(cfg, "prelabel-lf-summary"), description="Labeling functions and models: coverage, overlap, conflict, accuracy")
    if routing["reliability"]:
        create_table_artifact(routing["reliability"], key=artifact_key(cfg, "prelabel-calibration"), description=f"Reliability on gold (ECE {routing['ece']})")
    publish_headline(cfg, "prelabel.route")
    emit(cfg, "prelabel.completed", {k: routing[k] for k in ("auto", "audit", "human", "auto_accept_share", "ece", "audit_precision")})
    return result
