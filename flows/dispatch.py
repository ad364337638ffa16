"""Dispatch flow: create the assignments the project needs now and push them to its human queue."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.common import artifact_key, project_config, publish_headline
from schemas.config import ProjectConfig
from tasks.dispatch import dispatch_task
from tasks.dispatch.stage import suggestions_summary
from tasks.events import emit

__all__ = ["dispatch_flow", "dispatch_report_markdown"]


def dispatch_report_markdown(r: dict) -> str:
    kinds = ", ".join(f"{k}: {v:,}" for k, v in sorted(r["created_by_kind"].items())) or "none"
    return (
        f"# Dispatch report\n\nQueue `{r['queue']}`\n\n| created | by kind | targeted gold | pushed | new to backend |"
        f" banned excluded | annotators |\n|---:|---|---:|---:|---:|---:|---:|\n"
        f"| {r['created']:,} | {kinds} | {r['targeted_gold']:,} | {r['pushed']:,} | {r['new_to_backend']:,} |"
        f" {r['banned_excluded']} | {r['annotators'] if r['annotators'] is not None else '-'} |\n"
        + (f"\n{line}\n" if (line := suggestions_summary(r)) else "")
    )


@flow(name="dispatch", log_prints=True)
def dispatch_flow(project_dir: str = ".", config: ProjectConfig | None = None) -> dict:
    """Select items needing human votes, create assignments (overlap policy, gold mix) and push them.

    Args:
        project_dir: folder holding annoflow.toml.
        config: the project config, instead of reading annoflow.toml.
    """
    cfg = project_config(project_dir, config)
    report = dispatch_task(cfg)
    create_markdown_artifact(dispatch_report_markdown(report), key=artifact_key(cfg, "dispatch-report"), description="Dispatch report")
    publish_headline(cfg, "dispatch")
    emit(cfg, "dispatch.completed", report)
    return report
