"""Prefect events annoflow emits so users can build automations on them (e.g. export published →
run a training deployment). Every event names the project as its resource and carries the facts in
its payload.

    annoflow.<stage>.completed   a stage finished (ingest, prelabel, collect, consensus, dispatch, export);
                                 payload: the stage's report
    annoflow.export.published    payload: version, parent, path, rows, content_hash
    annoflow.gate.failed         payload: candidate version, failed expectations
    annoflow.source.banned       payload: source_id, evidence

The resource also says where the project lives (`annoflow.project.dir`) and whether the stage ran
alone or inside a flow that runs the next stages itself (`annoflow.origin`: standalone | pipeline).
Automations that start a next stage match `annoflow.origin: standalone` only: the pipeline's own
ingest must not start a second pre-label running beside the pipeline's.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from schemas.config import ProjectConfig

__all__ = ["PIPELINE_TAG", "emit", "in_pipeline", "project_resource"]

log = logging.getLogger("annoflow.events")

PIPELINE_TAG = "annoflow:pipeline-stage"  # on the stage runs of a flow that chains stages (shown in the UI too)


def in_pipeline() -> AbstractContextManager[Any]:
    """Mark the stage flows run inside this block as part of a pipeline (tags their runs)."""
    from prefect import tags

    return tags(PIPELINE_TAG)


def _origin() -> str:
    from prefect.context import TagsContext

    return "pipeline" if PIPELINE_TAG in TagsContext.get().current_tags else "standalone"


def project_resource(cfg: ProjectConfig) -> dict[str, str]:
    return {"prefect.resource.id": f"annoflow.project.{cfg.name}", "prefect.resource.name": cfg.name,
            "annoflow.project.dir": str(Path(cfg.root).resolve()), "annoflow.origin": _origin()}


def emit(cfg: ProjectConfig, event: str, payload: dict[str, Any]) -> None:
    """Emit `annoflow.<event>`; events are best effort and never fail a stage."""
    try:
        from prefect.events import emit_event

        emit_event(event=f"annoflow.{event}", resource=project_resource(cfg), payload=payload)
    except Exception as e:  # an unreachable event stream must not undo a committed stage
        log.warning("could not emit annoflow.%s: %s", event, e)
