"""Consensus flow: aggregate every item's votes into a label and a decision, score every source."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.common import artifact_key, project_config, publish_headline
from schemas.config import ProjectConfig
from tasks.consensus.stage import consensus_task
from tasks.events import emit
from tasks.figures import leaderboard_rows
from tasks.kinds import kind_of

__all__ = ["consensus_flow", "consensus_report_markdown"]


def _f(x, nd=3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def consensus_report_markdown(summary: dict, kind_lines: Sequence[str] = ()) -> str:
    """Agreement (alpha + CI, Fleiss, per label), decisions and the fit, as one Markdown report.

    `kind_lines` are what only the project's kind measures (`ConsensusFacet.summary_lines`: per-label
    alpha, span F1 between annotators...), shown under the shared agreement line."""
    a = summary.get("agreement") or {}
    fit = summary.get("fit") or {}
    lines = ["# Consensus report", ""]
    if summary.get("unchanged"):
        lines += ["No new votes, gold or bans since the last run: nothing was rewritten.", ""]
    lines += [(f"Method `{summary.get('method')}` over {summary.get('n_votes', 0):,} votes; "
              f"{summary.get('labels_written', 0):,} label rows written; iterations {fit.get('n_iter')}, "
              f"converged {fit.get('converged')}, warm start {fit.get('warm_start')}."), "",
              "## Agreement", ""]
    if a.get("alpha") is not None or not kind_lines:  # a kind measuring no alpha (boxes) says what it measures
        lines += [(f"Krippendorff's alpha ({a.get('over', '-')} votes, {a.get('n_items', 0)} items): "
                   f"**{_f(a.get('alpha'))}** (95% bootstrap CI {_f(a.get('low'))} – {_f(a.get('high'))}); "
                   f"Fleiss' kappa: {_f(a.get('fleiss')) if a.get('fleiss') is not None else 'n/a (overlap varies)'}; "
                   f"Cohen pairs: {(a.get('pairs') or {}).get('n_pairs', 0)}, mean kappa "
                   f"{_f((a.get('pairs') or {}).get('mean_kappa'))}."), ""]
    lines += [*(f"- {line}" for line in kind_lines), ""] if kind_lines else []
    if a.get("per_label"):
        lines += ["| label | alpha |", "|---|---:|"]
        lines += [f"| {r['label']} | {_f(r.get('alpha'))} |" for r in a["per_label"]]
    lines += ["", "## Decisions", "", "| decision | items |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in (summary.get("decisions") or {}).items()]
    bans = summary.get("new_bans") or []
    lines += ["", (f"New bans: {', '.join(bans) if bans else 'none'}; banned sources in total: "
              f"{summary.get('banned_sources', 0)}.")]
    if summary.get("review"):
        lines += ["", "## Review", "", "| annotator | reviewed | accepted | corrected | rejected | acceptance (95% CI) |"
                  " rejection (95% CI) |", "|---|---:|---:|---:|---:|---|---|"]
        lines += [f"| {r['source_id']} | {r['reviewed']} | {r['accepted']} | {r['corrected']} | {r['rejected']} |"
                  f" {_f(r['acceptance_rate'])} ({_f(r['acceptance_low'])} – {_f(r['acceptance_high'])}) |"
                  f" {_f(r['rejection_rate'])} ({_f(r['rejection_low'])} – {_f(r['rejection_high'])}) |"
                  for r in summary["review"]]
    b = summary.get("behaviour") or {}
    if b.get("enabled"):
        said = [f"{what}: {', '.join(b[key])}" for key, what in (
            ("flagged", "newly flagged"), ("paused", "paused"), ("requalified", "re-qualified"),
            ("requalify_failed", "failed re-qualification")) if b.get(key)]
        lines += ["", "Behaviour rules (docs/behaviour.md): " + ("; ".join(said) if said else "nothing new") + "."]
    return "\n".join(lines) + "\n"


@flow(name="consensus", log_prints=True)
def consensus_flow(project_dir: str = ".", config: ProjectConfig | None = None) -> dict:
    """Run consensus on the project's votes: labels, decisions, source scores and bans, agreement.

    Args:
        project_dir: folder holding annoflow.toml; relative paths resolve against it.
        config: the project config, instead of reading annoflow.toml.
    """
    cfg = project_config(project_dir, config)
    summary = consensus_task(cfg)
    kind_lines = kind_of(cfg).consensus.summary_lines(summary.get("agreement") or {})
    create_markdown_artifact(consensus_report_markdown(summary, kind_lines), key=artifact_key(cfg, "consensus-report"),
                             description="Consensus: agreement and decisions")
    if summary.get("leaderboard"):
        create_table_artifact(leaderboard_rows(summary["leaderboard"]), key=artifact_key(cfg, "source-leaderboard"),
                              description="Sources ranked by gold accuracy (lower bound), banned first")
    publish_headline(cfg, "consensus")
    emit(cfg, "consensus.completed", {k: summary.get(k) for k in ("unchanged", "method", "n_votes", "labels_written", "decisions", "new_bans")})
    for source_id in (summary.get("behaviour") or {}).get("paused", []):
        emit(cfg, "source.paused", {"source_id": source_id})
    if summary.get("new_bans"):
        evidence = {r["source_id"]: r for r in summary.get("leaderboard", []) if r.get("source_id") in set(summary["new_bans"])}
        for source_id in summary["new_bans"]:
            emit(cfg, "source.banned", {"source_id": source_id, "evidence": evidence.get(source_id)})
    return summary
