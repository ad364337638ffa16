"""The project's deployments, built in one place for `annoflow serve` (one local process) and
mirrored by `deployments/prefect.yaml` (work pools).

    annotation-pipeline/<project>                  on demand: every stage once
    annotation-pipeline/<project>-collect-loop     every 5 minutes: collect → consensus → dispatch
    prelabel/<project>                             when an ingest run alone stored items (annoflow.ingest.completed)
    export/<project>-nightly                       02:00 every night
    ingest|prelabel|collect|consensus|dispatch|export/<project>   each stage on demand, retryable alone
"""

from __future__ import annotations

from typing import Any

from schemas.config import ProjectConfig

__all__ = ["COLLECT_LOOP_SECONDS", "NEW_ITEMS_MATCH", "NIGHTLY_EXPORT_CRON", "PROJECT_DIR_OF_EVENT", "build_deployments"]

COLLECT_LOOP_SECONDS = 300
NIGHTLY_EXPORT_CRON = "0 2 * * *"
# Pre-label on new items only after an ingest run alone: the pipeline pre-labels after its own ingest,
# and a second pre-label beside it would race its later stages (tasks/events.py: annoflow.origin).
NEW_ITEMS_MATCH = {"annoflow.origin": "standalone"}
# The folder of the project that got the items, as the event names it (rendered by the server).
PROJECT_DIR_OF_EVENT = "{{ event.resource['annoflow.project.dir'] }}"


def build_deployments(cfg: ProjectConfig) -> list[Any]:
    """RunnerDeployments with typed parameter forms (enforced by the server) for one project."""
    from prefect.events import DeploymentEventTrigger

    from flows.pipeline import Stage, pipeline, stage_flow

    params = {"project_dir": cfg.root}
    name = cfg.name
    tags = ["annoflow", f"project:{name}"]
    new_items = DeploymentEventTrigger(
        name=f"{name}: new items",
        expect={"annoflow.ingest.completed"},
        match=NEW_ITEMS_MATCH | {"prefect.resource.id": f"annoflow.project.{name}"},
        parameters={"project_dir": PROJECT_DIR_OF_EVENT},
    )
    deployments = [
        pipeline.to_deployment(name, parameters=params, tags=tags, description="Every stage once, in order."),
        pipeline.to_deployment(
            f"{name}-collect-loop",
            interval=COLLECT_LOOP_SECONDS,
            parameters={**params, "start_at": Stage.collect.value, "stop_after": Stage.dispatch.value},
            tags=tags,
            description="Collect judgments, update consensus, dispatch what still needs people.",
        ),
        stage_flow(Stage.export).to_deployment(f"{name}-nightly", cron=NIGHTLY_EXPORT_CRON, parameters=params, tags=tags),
    ]
    for stage in Stage:
        triggers = [new_items] if stage == Stage.prelabel else None
        deployments.append(stage_flow(stage).to_deployment(name, parameters=params, tags=tags, triggers=triggers))
    return deployments
