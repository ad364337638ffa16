"""Prefect events annoflow emits so users can build automations on them (e.g. export published →
run a training deployment). Every event names the project as its resource and carries the facts in
its payload.

    annoflow.<stage>.completed   a stage finished (ingest, prelabel, collect, consensus, dispatch, export);
                                 payload: the stage's report
    annoflow.export.published    payload: version, parent, path, rows, content_hash
    annoflow.gate.failed         payload: candidate version, failed expectations
    annoflow.source.banned       payload: source_id, evidence
"""

from __future__ import annotations

import logging
from typing import Any

from schemas.config import ProjectConfig

__all__ = ["emit", "project_resource"]

log = logging.getLogger("annoflow.events")


def project_resource(cfg: ProjectConfig) -> dict[str, str]:
    return {"prefect.resource.id": f"annoflow.project.{cfg.name}", "prefect.resource.name": cfg.name}


def emit(cfg: ProjectConfig, event: str, payload: dict[str, Any]) -> None:
    """Emit `annoflow.<event>`; events are best effort and never fail a stage."""
    try:
        from prefect.events import emit_event

        emit_event(event=f"annoflow.{event}", resource=project_resource(cfg), payload=payload)
    except Exception as e:  # an unreachable event stream must not undo a committed stage
        log.warning("could not emit annoflow.%s: %s", event, e)
