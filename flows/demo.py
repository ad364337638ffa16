"""The whole annotation loop on a sample project, with SIMULATED annotators standing in for people.

Starts the built-in annotation app, ingests and pre-labels, then repeats dispatch → simulated crowd
(through the app's HTTP API, as browsers would) → collect → consensus until every item is resolved
or the round limit is hit, exports a version, and scores the result against the project's true
labels. The simulated annotators are the only fake part; every stage is the one production runs.
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.collect import collect_flow
from flows.common import artifact_key, project_config
from flows.consensus import consensus_flow
from flows.dispatch import dispatch_flow
from flows.export import export_flow
from flows.ingest import ingest_flow
from flows.prelabel import prelabel_flow
from schemas.config import ProjectConfig
from tasks.errors import InputError
from tasks.evaluate import evaluate_labels, work_summary
from tasks.events import in_pipeline
from tasks.export.stage import GateFailedError
from tasks.kinds import kind_of
from tasks.queues.truth import default_truth_file, truth_key_column
from tasks.store import open_store

__all__ = ["EXAMPLE", "demo_flow"]

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "youtube-spam"


@task(name="simulated-crowd (SIMULATION)", cache_policy=NO_CACHE)
def simulated_crowd_task(cfg: ProjectConfig, token: str, truth: str, annotators: int, accuracy: tuple[float, float],
                         spammers: int, experts: int, seed: int) -> dict:
    """SIMULATION: fake annotators label every open task through the annotator API, answering from the
    truth file as the project's answer kind's simulated annotator does."""
    from tasks.queues.simulated_crowd import make_crowd, run_simulated_crowd
    from tasks.queues.truth import read_truth

    with open_store(cfg.db_path) as con:
        true_answer = read_truth(con, cfg, Path(truth))
    crowd = make_crowd(annotators, cfg.labels, accuracy=accuracy, spammer_share=spammers / annotators,
                       experts=experts, seed=seed, kind=kind_of(cfg))
    report = run_simulated_crowd(cfg.queue.url, token, cfg.name, true_answer, crowd=crowd, seed=seed,
                                 payload=true_answer.payload)
    return {"simulation": True, **report.summary(), "items_without_truth": true_answer.unknown}


def _open_work(cfg: ProjectConfig) -> int:
    with open_store(cfg.db_path) as con:
        return con.execute("SELECT count(*) FROM assignments WHERE state IN ('pending', 'pushed')").fetchone()[0]


@flow(name="demo", log_prints=True)
def demo_flow(
    project_dir: str = str(EXAMPLE),
    config: ProjectConfig | None = None,
    annotators: int = 8,
    accuracy_low: float = 0.7,
    accuracy_high: float = 0.95,
    spammers: int = 1,
    experts: int = 2,
    max_rounds: int = 12,
    seed: int = 0,
) -> dict:
    """Run the loop with simulated annotators and return the summary (accuracy against true labels,
    human judgments used, auto-accepted share, agreement, the export version and where it is).

    Args:
        project_dir: a sample project with `truth/labels.<csv|jsonl|parquet>` beside its annoflow.toml: the
            true answer of each item (the kind's answer column), keyed like its gold file (`gold.key_field`).
        annotators: simulated annotators (SIMULATION), `spammers` of them answering at random,
            `experts` of them also taking adjudication tasks.
        max_rounds: dispatch/label/collect/consensus rounds at most.
    """
    from annotation_app.process import free_port, start_app
    from tasks.dispatch.access import admin_token

    started = time.perf_counter()
    cfg = project_config(project_dir, config)
    truth = default_truth_file(cfg)
    if not truth.is_file():
        raise InputError(f"no truth file at {truth}: the demo answers from and scores against the true answers")
    token = admin_token(cfg, create=True)
    app = start_app(cfg.state_dir / "app.sqlite", token, port=free_port(), media_roots=[Path(cfg.root)],
                    log=cfg.state_dir / "app.log")
    try:
        with in_pipeline():  # every stage here is one step of the loop, as in the pipeline flow
            cfg = cfg.model_copy(update={"queue": cfg.queue.model_copy(update={"url": app.url})})
            run = {"project_dir": cfg.root, "config": cfg}
            ingest_flow(**run)
            prelabel = prelabel_flow(**run)
            rounds = []
            for r in range(1, max_rounds + 1):
                dispatched = dispatch_flow(**run)
                if dispatched["pushed"] == 0 and _open_work(cfg) == 0:
                    break
                crowd = simulated_crowd_task(cfg, token, str(truth), annotators, (accuracy_low, accuracy_high),
                                             spammers, experts, seed + r)
                collected = collect_flow(**run)
                consensus = consensus_flow(**run)
                rounds.append({"round": r, "created": dispatched["created"], "judgments": crowd["submitted"],
                               "stored": collected.get("stored"), "decisions": consensus.get("decisions")})
            try:
                export = export_flow(**run)
            except GateFailedError as e:
                export = {"status": "rejected", "message": str(e)}
    finally:
        app.stop()
    with open_store(cfg.db_path) as con:
        quality = evaluate_labels(con, cfg, truth, key_field=truth_key_column(cfg))
        work = work_summary(con)
        draft_use = getattr(kind_of(cfg).prelabel, "draft_use", None)  # optional: kinds whose pre-label is a draft people edit
        drafts = draft_use(con, cfg) if draft_use else None
    summary = {
        "project": cfg.name,
        "simulation": f"{annotators} simulated annotators ({spammers} spammers, {experts} experts), "
                      f"accuracy {accuracy_low}-{accuracy_high}",
        "metric": quality["metric"],
        quality["metric"]: quality[quality["metric"]],
        f"{quality['metric']}_by_method": quality["by_method"],
        **{m: quality[m] for m in quality.get("titles", {})},  # the kind's other scores worth a line (mAP@.5)
        "metric_titles": quality.get("titles", {}),
        "metric_formats": quality.get("formats", {}),  # how a score prints where it is not a rate (MAE: ".2f")
        **work,
        "prelabel": {k: prelabel["routing"][k] for k in ("auto_accept_share", "auto", "audit", "human", "ece", "gold_accuracy")},
        "agreement": (consensus or {}).get("agreement") if rounds else None,
        **({"drafts": drafts} if drafts is not None else {}),
        "rounds": rounds,
        "export": {k: export[k] for k in ("status", "version", "path", "n_rows", "message") if k in export},
        "seconds": round(time.perf_counter() - started, 1),
        "state": str(cfg.db_path),
    }
    create_markdown_artifact(demo_markdown(summary), key=artifact_key(cfg, "demo-summary"), description="Demo summary")
    return summary


def demo_markdown(s: dict) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in s.items() if not isinstance(v, (dict, list)))
    return f"# annoflow demo ({s['simulation']})\n\n| | |\n|---|---|\n{rows}\n"
