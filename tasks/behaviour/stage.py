"""The behaviour step of a consensus run: close re-qualifications, run the rules, record and pause.

Called once per consensus run, after the labels and source scores are written (a rule's reference
includes this run's consensus labels), in the consensus stage's own connection.
"""

from __future__ import annotations

__all__ = ["run_rules"]

from typing import Any

import duckdb

from schemas.config import ProjectConfig
from tasks.behaviour.pause import apply_findings
from tasks.behaviour.requalify import check_requalifications
from tasks.behaviour.rules import evaluate
from tasks.kinds import kind_of


def run_rules(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, run_id: str | None) -> dict[str, Any]:
    """The behaviour step of a consensus run: re-qualifications first, then the rules; returns what changed."""
    b = cfg.behaviour
    if not b.enabled:
        return {"enabled": False}
    requalified = check_requalifications(con, cfg, run_id)
    findings = evaluate(con, b, kind_of(cfg).storage.column)
    applied = apply_findings(con, findings, run_id, b.pause)
    return {"enabled": True, "findings": len(findings), **applied, **requalified}
