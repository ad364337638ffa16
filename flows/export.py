"""Export flow: publish a validated dataset version (or report why not), and diff versions."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.common import artifact_key, project_config, publish_headline
from schemas.config import ProjectConfig
from tasks.events import emit
from tasks.export.diff import diff_markdown, diff_versions
from tasks.export.stage import GateFailedError, export_task
from tasks.retries import STAGE_TASK

__all__ = ["export_diff_flow", "export_flow", "gate_markdown", "quality_markdown"]


def gate_markdown(result: dict) -> str:
    """The release gate as Markdown: one row per expectation, failing examples below."""
    gate = result["gate"] or {}
    status = {"published": "PASSED, published", "rejected": "FAILED, nothing published", "unchanged": "not run"}[result["status"]]
    lines = [
        f"# Release gate: {status}",
        "",
        (
            f"Version: **{result['version'] or '-'}** (parent {result['parent'] or 'none'}), rows {result['n_rows']:,}, "
            f"content hash `{(result['content_hash'] or '')[:16]}`."
        ),
        f"Rows checked by Great Expectations: {gate.get('mode', '-')}. HTML report: `{result['report']}`.",
        "",
        "| check | result | observed | threshold |",
        "|---|---|---|---|",
    ]
    for name, c in gate.get("checks", {}).items():
        mark = {True: "pass", False: "**FAIL**", None: "skipped"}[c["success"]]
        lines.append(f"| `{name}` | {mark} | {c.get('note') or c['observed']} | {c['threshold'] if c['threshold'] is not None else ''} |")
    if result.get("message"):
        lines += ["", "```", result["message"], "```"]
    return "\n".join(lines) + "\n"


def quality_markdown(result: dict) -> str:
    """A link to the version's self-contained quality report, and its headline numbers."""
    q = result["manifest"]["quality_report"]
    h, path = q["headline"], Path(result["path"]) / q["file"]

    def pct(x: dict | float | None) -> str:
        v = (x or {}).get("value") if isinstance(x, dict) or x is None else x
        return "–" if v is None else f"{100 * v:.1f}%"

    agreement = h.get("agreement") or {}
    coef = "–" if agreement.get("value") is None else f"{agreement['value']:.2f}"  # a coefficient, not a share
    cost = (h.get("cost_per_label") or {}).get("value")
    return "\n".join([
        f"# Quality report of {result['version']}", "",
        f"[Open the report]({path.as_uri()}) (one HTML file, no network needed): `{path}`", "",
        "| items | resolved | human judgments | annotators (flagged, paused) | agreement | audit precision | cost per label |",
        "|---|---|---|---|---|---|---|",
        (f"| {h['items']:,} | {pct(h['resolved_share'])} | {h['human_judgments']:,} | {h['annotators']} ({h['flagged']}, {h['paused']}) "
         f"| {agreement.get('name', '')} {coef} | {pct(h.get('audit_precision'))} | {'–' if cost is None else f'{cost:.3f}'} |"),
    ]) + "\n"


@task(name="diff-versions", **STAGE_TASK)
def diff_task(cfg: ProjectConfig, a: str | None, b: str | None) -> dict:
    return diff_versions(cfg, a, b)


def _diff_artifacts(cfg: ProjectConfig, d: dict) -> None:
    create_markdown_artifact(diff_markdown(d), key=artifact_key(cfg, "export-diff"), description=f"Export diff {d['a']} -> {d['b']}")
    if d["relabel_pairs"]:
        create_table_artifact([{k: p[k] for k in ("from", "to", "count")} for p in d["relabel_pairs"]],
                              key=artifact_key(cfg, "export-diff-relabels"), description=f"Relabeled items {d['a']} -> {d['b']}")


@flow(name="export", log_prints=True)
def export_flow(project_dir: str = ".", config: ProjectConfig | None = None, force: bool = False,
                accept_shift: str | None = None) -> dict:
    """Export the resolved labels as a new immutable version if they pass the release gate.

    Args:
        project_dir: folder holding annoflow.toml; relative paths resolve against it.
        config: the project config, instead of reading annoflow.toml.
        force: publish a new version even when nothing changed since the latest one.
        accept_shift: why a label shift beyond validation.max_label_shift is expected; the version is then
            published and the reason recorded in its manifest.
    """
    cfg = project_config(project_dir, config)
    try:
        result = export_task(cfg, force, accept_shift)
    except GateFailedError as e:
        create_markdown_artifact(gate_markdown(e.result), key=artifact_key(cfg, "export-gate"), description="Release gate (failed)")
        emit(cfg, "gate.failed", {"parent": e.result.get("parent"), "report": e.result.get("path"), "message": str(e)[:2000]})
        raise
    publish_headline(cfg, "export")
    if result["status"] == "unchanged":
        print(result["message"])
        create_markdown_artifact(f"# Export\n\n{result['message']}: nothing published.\n", key=artifact_key(cfg, "export-gate"),
                                 description="Export (unchanged)")
        return result
    create_markdown_artifact(gate_markdown(result), key=artifact_key(cfg, "export-gate"), description=f"Release gate of {result['version']}")
    if (result.get("manifest") or {}).get("quality_report"):
        create_markdown_artifact(quality_markdown(result), key=artifact_key(cfg, "quality-report"),
                                 description=f"Quality report of {result['version']}")
    if result["parent"]:
        _diff_artifacts(cfg, diff_task(cfg, result["parent"], result["version"]))
    print(f"published {result['version']} ({result['n_rows']:,} rows) at {result['path']}")
    emit(cfg, "export.published", {k: result.get(k) for k in ("version", "parent", "path", "n_rows", "content_hash")})
    return result


@flow(name="export-diff", log_prints=True)
def export_diff_flow(a: str, b: str = "latest", project_dir: str = ".", config: ProjectConfig | None = None) -> dict:
    """What changed between versions `a` and `b`: added, removed, relabeled (from -> to), confidence."""
    cfg = project_config(project_dir, config)
    d = diff_task(cfg, a, b)
    _diff_artifacts(cfg, d)
    return d
