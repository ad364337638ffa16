"""Collect flow: pull new judgments from the human queue into DuckDB as votes."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.common import artifact_key, project_config, publish_headline
from schemas.config import ProjectConfig
from tasks.collect import collect_task
from tasks.events import emit

__all__ = ["collect_flow", "collect_report_markdown"]


def collect_report_markdown(r: dict) -> str:
    reasons = ", ".join(f"{k}: {v:,}" for k, v in sorted(r["quarantined_by_reason"].items())) or "-"
    return (
        f"# Collect report\n\nQueue `{r['queue']}`, cursor {r['cursor_from']!r} → {r['cursor_to']!r}\n\n"
        "| pulled | stored | edits applied | retracted | already stored | quarantined | reasons | pages |\n"
        "|---:|---:|---:|---:|---:|---:|---|---:|\n"
        f"| {r['pulled']:,} | {r['stored']:,} | {r['revised']:,} | {r['retracted']:,} | {r['duplicates']:,} | {r['quarantined']:,} | {reasons} | {r['pages']} |\n\n"
        "Quarantined judgments: `SELECT * FROM quarantine WHERE stage = 'collect'`.\n"
    )


@flow(name="collect", log_prints=True)
def collect_flow(project_dir: str = ".", config: ProjectConfig | None = None) -> dict:
    """Pull judgments submitted since the stored cursor; store valid ones as human votes, quarantine the rest.

    Args:
        project_dir: folder holding annoflow.toml.
        config: the project config, instead of reading annoflow.toml.
    """
    cfg = project_config(project_dir, config)
    report = collect_task(cfg)
    create_markdown_artifact(collect_report_markdown(report), key=artifact_key(cfg, "collect-report"), description="Collect report")
    publish_headline(cfg, "collect")
    emit(cfg, "collect.completed", report)
    return report
