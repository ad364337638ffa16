"""Ingest flow: every configured source (or the ones given) into the project's items, then gold."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.common import artifact_key, project_config, publish_headline
from schemas.config import ProjectConfig, SourceConfig
from tasks.events import emit
from tasks.ingest.stage import import_gold_task, ingest_source_task, register_project

__all__ = ["ingest_flow", "ingest_report_markdown"]


def ingest_report_markdown(reports: list[dict], gold: dict, db_path: str) -> str:
    rows = "\n".join(
        f"| {r['source']} | {r['format']} | {r['rows']:,} | {r['inserted']:,} | {r['duplicates']:,} | {r['quarantined']:,} | "
        f"{', '.join(f'{k}: {v}' for k, v in sorted(r['quarantined_by_reason'].items())) or '-'} | {r['seconds']} |"
        for r in reports
    )
    return (
        "# Ingest report\n\n| source | format | rows | new items | duplicates | quarantined | reasons | seconds |\n"
        "|---|---|---:|---:|---:|---:|---|---:|\n" + rows +
        f"\n\nGold: {gold['gold_stored']} stored, {gold['gold_quarantined']} quarantined of {gold['gold_rows']} rows.\n\n"
        + "".join(f"- **error:** {e}\n" for e in [r["error"] for r in reports if r.get("error")] + gold.get("errors", []))
        + "".join(f"- notice: {n}\n" for r in reports for n in r.get("notices", []))
        + "\n"
        f"State: `{db_path}`. Quarantined rows: `annoflow status --quarantine` or "
        "`SELECT * FROM quarantine` in that database.\n"
    )


@flow(name="ingest", log_prints=True)
def ingest_flow(project_dir: str = ".", config: ProjectConfig | None = None, sources: list[SourceConfig] | None = None,
                gold_override: str | None = None) -> dict:
    """Ingest the project's sources (or `sources`, overriding them) and its gold answers.

    Args:
        project_dir: folder holding annoflow.toml; relative paths resolve against it.
        config: the project config, instead of reading annoflow.toml.
        sources: ingest these instead of the configured sources (e.g. a new file that arrived).
        gold_override: why stored gold labels may change in this run; recorded with each change.
            Without it, a gold file that contradicts stored gold is refused row by row.
    """
    cfg = project_config(project_dir, config)
    register_project(cfg)
    reports: list[dict] = []
    for src in sources or cfg.sources:
        reports.extend(ingest_source_task(cfg, src))
    gold = import_gold_task(cfg, gold_override)
    create_markdown_artifact(ingest_report_markdown(reports, gold, str(cfg.db_path)), key=artifact_key(cfg, "ingest-report"), description="Ingest report")
    if reports:
        create_table_artifact(
            [{k: v for k, v in r.items() if k not in ("quarantined_by_reason", "notices")} for r in reports], key=artifact_key(cfg, "ingest-sources")
        )
    publish_headline(cfg, "ingest")
    log = get_run_logger()
    for problem in [r["error"] for r in reports if r.get("error")] + gold.get("errors", []):
        log.warning(problem)  # also in the artifact; a file that gave nothing must not pass unnoticed
    result = {"sources": reports, "gold": gold, "database": str(cfg.db_path)}
    emit(cfg, "ingest.completed", {"new_items": sum(r["inserted"] for r in reports), "sources": len(reports), "gold": gold})
    return result
