"""The annotation pipeline: every stage in order, each its own (sub)flow run, starting at any stage.

One run advances the loop by one step: new data is ingested and pre-labeled, judgments that people
submitted since the last run are collected, consensus decides what is resolved, dispatch sends what
is not (and new work) to the human queue, and export publishes a version if the gate passes. Every
stage selects its work from the database, so re-running the pipeline, or any stage of it, is safe.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from prefect import flow

from flows.common import project_config
from schemas.config import ProjectConfig
from tasks.events import in_pipeline

__all__ = ["Stage", "STAGES", "pipeline", "stage_flow"]


class Stage(StrEnum):
    ingest = "ingest"
    prelabel = "prelabel"
    collect = "collect"
    consensus = "consensus"
    dispatch = "dispatch"
    export = "export"


STAGES: list[Stage] = list(Stage)


def stage_flow(stage: Stage) -> Any:
    """The flow object of a stage (imported lazily: a stage's flow pulls in only its own modules)."""
    if stage == Stage.ingest:
        from flows.ingest import ingest_flow as f
    elif stage == Stage.prelabel:
        from flows.prelabel import prelabel_flow as f
    elif stage == Stage.collect:
        from flows.collect import collect_flow as f
    elif stage == Stage.consensus:
        from flows.consensus import consensus_flow as f
    elif stage == Stage.dispatch:
        from flows.dispatch import dispatch_flow as f
    else:
        from flows.export import export_flow as f
    return f


@flow(name="annotation-pipeline", log_prints=True)
def pipeline(
    project_dir: str = ".",
    config: ProjectConfig | None = None,
    start_at: Stage = Stage.ingest,
    stop_after: Stage = Stage.export,
) -> dict[str, Any]:
    """Run the stages from `start_at` to `stop_after` in order.

    Args:
        project_dir: folder holding annoflow.toml.
        config: the project config, instead of reading annoflow.toml.
        start_at: first stage to run (after a failed stage was retried alone, start at the next one).
        stop_after: last stage to run.
    """
    cfg = project_config(project_dir, config)
    first, last = STAGES.index(Stage(start_at)), STAGES.index(Stage(stop_after))
    if first > last:
        from tasks.errors import ConfigError

        raise ConfigError(f"start_at={start_at!s} comes after stop_after={stop_after!s}; stages run in the order {[s.value for s in STAGES]}")
    results: dict[str, Any] = {}
    with in_pipeline():  # the stages' events say so: automations then leave the next stages to this run
        for stage in STAGES[first : last + 1]:
            results[stage.value] = stage_flow(stage)(project_dir=cfg.root, config=cfg)
    return results
