"""End-to-end benchmark of the pipeline: 1M text items through every stage, and the demo loop.

    uv run python -m bench.pipeline [--items 1000000] [--quick] [--skip-demo] [--skip-large]
                                    [--http-probe 15]

1. Large run: a synthetic two-class text project (N unique texts with class-indicative words and
   noise, SQL labeling functions, the scikit-learn model, ~1% gold, truth kept aside) in a temp
   folder, then ONE Prefect flow run (on a background Prefect server started first, with the CLI's
   settings: PREFECT_HOME in the temp folder, analytics off) calling the real stage flows: ingest, prelabel, dispatch, simulated judgments, collect,
   consensus, export (gate included). Overlap is fixed at 3 and auto-accept is off
   (`target_precision = 1.0`), so every item goes to people: ~3 judgments per item.

   SIMULATION, bulk path: 3M judgments through the app's HTTP API cannot fit in 5 minutes on two
   cores (`--http-probe` measures the app's sustained rate on this machine and extrapolates), so the
   large run's queue is `SimulatedBulkQueue`: an in-process queue backend that dispatch pushes to
   (Arrow, no HTTP) and collect pulls from in pages (`JUDGMENT_SCHEMA`, cursor = offset), whose
   judgments come from a simulated crowd (per-annotator accuracy, spammers) answering from the
   truth by payload text, as `tasks/queues/simulated_crowd.py` does over HTTP. Dispatch and collect
   run unchanged; only the transport is replaced. Everything written to DuckDB is what collect
   writes for judgments from the real app.

   Orchestration share = (flow wall time − time inside the plain stage functions − simulation) /
   flow wall time; the plain functions are timed by wrapping them where the tasks call them.
   Peak memory: ru_maxrss of this process and of its waited-for children.

2. Demo: `flows/demo.py: demo_flow` on a temp copy of examples/youtube-spam (adaptive overlap), then
   the same project with fixed overlap 3; wall time, accuracy, human judgments per item.

Measured on the 2-core machine (1M items, 200 simulated annotators, one run): total 299.6 s
(ingest 5.2, prelabel 36.3, dispatch 114.7, simulated judgments 3.9, collect 96.2, consensus 26.1,
export 5.2); 3,030,613 judgments; Prefect orchestration 15.7 s = 5.3% of wall time (12.0 s of it
the ephemeral server start; 1.3% of the flow body); peak RSS 5.0 GB; accuracy 0.973 on the 893k
resolved items (107k left for adjudication / more votes after one round). HTTP probe: the app took
2,527 submits/s (16 light clients), so 3M judgments over HTTP would take ~20 minutes alone.
Demo: adaptive 1.47 human judgments per item (accuracy 0.983, 56.8 s incl. Prefect server start)
vs fixed overlap 3: 2.08 per item (accuracy 0.988, 30 items unresolved).

History (`--no-history` turns it off, `--compare-history` runs both): the time inside history is
timed directly (metric writes in every stage run + headline artifacts): at 1M items 1.48 s of a
185.7 s run (0.8%) on the shared machine; see docs/history.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.queues.base import JUDGMENT_SCHEMA

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "youtube-spam"


def _prefect_env(workdir: Path, api_url: str | None = None) -> float:
    """The CLI's Prefect settings (before importing prefect): home in the temp folder, telemetry off,
    and one background Prefect server for the whole run, as `annoflow` commands use (an ephemeral
    server per process missed Prefect's start-up timeout under load); or the running server at
    `api_url`. Returns the seconds the server took to start."""
    from annoflow_cli.prefect_server import prefect_settings, use_project_server

    if api_url:
        os.environ["PREFECT_API_URL"] = api_url
    else:
        os.environ.pop("PREFECT_API_URL", None)
    prefect_settings(workdir / "prefect-home")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    t0 = time.perf_counter()
    use_project_server(workdir, workdir / "prefect-home", idle_seconds=600)
    return round(time.perf_counter() - t0, 1)


def peak_memory_mb() -> dict[str, float]:
    """ru_maxrss (KiB on Linux) of this process and of its waited-for children, in MB."""
    return {"self_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "children_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}


# ---------------------------------------------------------------------------------------------
# Synthetic project
# ---------------------------------------------------------------------------------------------

_SPAM = ["subscribe", "free", "money", "click", "promo", "giveaway", "channel", "winner", "offer", "cash",
         "discount", "deal", "bonus", "visit", "link"]
_HAM = ["song", "love", "beautiful", "voice", "dance", "lyrics", "memories", "chorus", "melody", "amazing",
        "classic", "guitar", "concert", "album", "beat"]
_SQL_LFS = {
    "kw_subscribe": "CASE WHEN regexp_matches(payload, '\\b(subscribe|channel|visit)\\b') THEN 'spam' END",
    "kw_money": "CASE WHEN regexp_matches(payload, '\\b(free|money|cash|promo|giveaway)\\b') THEN 'spam' END",
    "kw_music": "CASE WHEN regexp_matches(payload, '\\b(song|lyrics|chorus|melody)\\b') THEN 'ham' END",
    "kw_feel": "CASE WHEN regexp_matches(payload, '\\b(love|beautiful|memories)\\b') THEN 'ham' END",
}


def make_project(folder: Path, n_items: int, n_gold: int, seed: int = 0) -> dict[str, Any]:
    """Write a synthetic text project; returns where things are and the truth table (text, label)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    noise = np.array([f"w{i:04d}" for i in range(5_000)], dtype=object)
    spam_w, ham_w = np.array(_SPAM, dtype=object), np.array(_HAM, dtype=object)
    y = rng.random(n_items) < 0.4  # 40% spam
    # each text: 2 class words (a 15% chance each of being from the other class), 6 noise words, a unique id
    n_cls = 2
    own = rng.integers(0, len(_SPAM), size=(n_items, n_cls))
    flip = rng.random((n_items, n_cls)) < 0.15
    from_spam = y[:, None] ^ flip
    cls_words = np.where(from_spam, spam_w[own], ham_w[own])
    nz = noise[rng.integers(0, len(noise), size=(n_items, 6))]
    words = np.concatenate([cls_words, nz], axis=1)
    order = rng.permuted(np.tile(np.arange(words.shape[1]), (n_items, 1)), axis=1)
    words = np.take_along_axis(words, order, axis=1)
    texts = [" ".join(row) + f" #{i}" for i, row in enumerate(words.tolist())]
    labels = np.where(y, "spam", "ham")
    truth = pa.table({"text": pa.array(texts, pa.string()), "label": pa.array(labels.tolist(), pa.string())})
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    import duckdb

    con = duckdb.connect()
    con.register("t", truth)
    con.execute(f"COPY (SELECT text FROM t) TO '{data / 'items.jsonl'}' (FORMAT json)")
    gold_idx = rng.choice(n_items, size=n_gold, replace=False)
    con.register("g", truth.take(pa.array(gold_idx)))
    (folder / "gold").mkdir(exist_ok=True)
    con.execute(f"COPY g TO '{folder / 'gold' / 'gold.csv'}' (HEADER)")
    (folder / "truth").mkdir(exist_ok=True)
    con.execute(f"COPY t TO '{folder / 'truth' / 'labels.csv'}' (HEADER)")
    con.close()
    lfs = "\n".join(f"[[prelabel.labeling_functions]]\nname = \"{k}\"\nsql = '''{v}'''\n" for k, v in _SQL_LFS.items())
    (folder / "annoflow.toml").write_text(f"""name = "synthetic-1m"
data_kind = "text"
task_kind = "single_label"
labels = ["ham", "spam"]

[[sources]]
path = "data/items.jsonl"
format = "jsonl"
text_field = "text"

[prelabel]
# auto-accept off: every item goes to people, so the run carries ~3 judgments per item
target_precision = 1.0
audit_rate = 0.0

{lfs}
[[prelabel.models]]
name = "tfidf-logreg"
kind = "sklearn"
min_train_labels = 50
max_features = 20000
cv_folds = 3

[queue]
pull_limit = 50000
push_batch = 50000

[overlap]
policy = "fixed"
initial = 3
max = 3

[gold]
path = "gold/gold.csv"
key_field = "text"
label_field = "label"
rate = 0.02
min_per_annotator = 0

[consensus]
method = "label_model"
target_confidence = 0.9
bootstrap = 50

[validation]
min_mean_confidence = 0.8
min_gold_accuracy = 0.85
""", encoding="utf-8")
    return {"truth": truth, "seconds": round(time.perf_counter() - t0, 1)}


# ---------------------------------------------------------------------------------------------
# SIMULATION: bulk queue backend
# ---------------------------------------------------------------------------------------------

class SimulatedBulkQueue:
    """SIMULATION ONLY: an in-process queue (no HTTP) for benchmarks at millions of judgments.

    `push` keeps the tasks (Arrow); `simulate()` answers every open task once with a simulated
    crowd (one annotator per task, never two tasks of an item to the same annotator; per-annotator
    accuracy, a share of spammers; the answer drawn from the truth looked up by payload text, as a
    person would recognise the item); `pull` pages through the judgments with an offset cursor.
    """

    name = "builtin"

    def __init__(self, truth: pa.Table, labels: list[str], *, annotators: int = 200,
                 accuracy: tuple[float, float] = (0.7, 0.95), spammer_share: float = 0.05, seed: int = 0) -> None:
        self.truth, self.labels = truth, labels
        rng = np.random.default_rng(seed)
        self.acc = rng.uniform(*accuracy, size=annotators)
        self.spammer = np.zeros(annotators, bool)
        self.spammer[annotators - round(annotators * spammer_share):] = True
        self.ids = np.array([f"sim-{i:04d}" for i in range(annotators)], dtype=object)
        self.tasks: list[pa.Table] = []
        self.judgments = JUDGMENT_SCHEMA.empty_table()
        self.seed = seed

    def ensure_project(self, config, excluded_annotators=(), paused_annotators=None, requalifying_annotators=None) -> str:
        return config.name

    def push(self, tasks: pa.Table) -> int:
        self.tasks.append(tasks.select(["assignment_id", "item_id", "kind", "payload"]))
        return tasks.num_rows

    def cancel(self, assignment_ids) -> int:
        return 0

    def close(self) -> None:
        pass

    def simulate(self) -> dict[str, Any]:
        """Answer every pushed, unanswered task once. Returns counts."""
        import duckdb

        if not self.tasks:
            return {"submitted": 0}
        tasks = pa.concat_tables(self.tasks)
        self.tasks = []
        con = duckdb.connect()
        con.register("tasks", tasks)
        con.register("truth", self.truth)
        t = con.sql("""
            SELECT t.assignment_id, t.item_id, t.kind, tr.label AS truth,
                   row_number() OVER (PARTITION BY t.item_id ORDER BY t.assignment_id) - 1 AS k,
                   hash(t.item_id) AS h
            FROM tasks t LEFT JOIN truth tr ON tr.text = t.payload
            ORDER BY t.assignment_id
        """).to_arrow_table()
        con.close()
        n = t.num_rows
        m = len(self.ids)
        # distinct annotators for the k-th task of an item: start at hash(item), step by a unit mod m
        h = (t["h"].to_numpy() % np.uint64(m)).astype(np.int64)
        k = t["k"].to_numpy().astype(np.int64)
        ann = (h + k * 37) % m
        rng = np.random.default_rng(self.seed + 1)
        truth_idx = pc.index_in(t["truth"], value_set=pa.array(self.labels)).to_numpy(zero_copy_only=False)
        truth_idx = np.where(np.isnan(truth_idx.astype(float)), 0, truth_idx).astype(np.int64)
        correct = rng.random(n) < self.acc[ann]
        other = (truth_idx + rng.integers(1, len(self.labels), n)) % len(self.labels)
        answer = np.where(correct, truth_idx, other)
        spam = self.spammer[ann]
        answer = np.where(spam, rng.integers(0, len(self.labels), n), answer)
        labels = np.array(self.labels, dtype=object)[answer]
        lab = pa.array(labels.tolist(), pa.string())
        ids = t["assignment_id"]
        now = int(time.time() * 1e6)
        judgments = pa.table({
            "judgment_id": pc.binary_join_element_wise("j-", ids, ""),
            "assignment_id": ids,
            "item_id": t["item_id"],
            "annotator_id": pa.array(self.ids[ann].tolist(), pa.string()),
            "label": lab,
            "labels": pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), lab),
            "answer": pa.nulls(n, pa.string()),
            "duration_ms": pa.array(rng.integers(2_000, 20_000, n), pa.int64()),
            "submitted_at": pa.array(np.full(n, now, dtype="int64"), pa.timestamp("us", tz="UTC")),
            "client_id": ids,
            **{c: pa.nulls(n, pa.string()) for c in ("task_kind", "decision", "comment", "target")},
        }, schema=JUDGMENT_SCHEMA)
        self.judgments = pa.concat_tables([self.judgments, judgments])
        return {"submitted": n, "annotators": m, "spammers": int(self.spammer.sum())}

    def pull(self, cursor: str | None, limit: int = 5_000) -> tuple[pa.Table, str | None]:
        start = int(cursor or 0)
        page = self.judgments.slice(start, limit)
        return page, str(start + page.num_rows)


# ---------------------------------------------------------------------------------------------
# Timing of the plain stage functions inside the tasks
# ---------------------------------------------------------------------------------------------

STAGE_SECONDS: dict[str, float] = defaultdict(float)
HISTORY_SECONDS: dict[str, float] = defaultdict(float)
"""Time inside history: the metric writes (part of the stages' time) and the headline artifacts (flows)."""
_INSTRUMENTED = False


def _timed(stage: str, fn, into: dict[str, float] = STAGE_SECONDS):
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        t0 = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            into[stage] += time.perf_counter() - t0
    return wrapper


def instrument() -> None:
    """Wrap the plain functions where the tasks and flows call them (module globals); once per process."""
    global _INSTRUMENTED
    if _INSTRUMENTED:
        return
    _INSTRUMENTED = True
    import flows.collect
    import flows.consensus
    import flows.dispatch
    import flows.export
    import flows.ingest
    import flows.prelabel
    import tasks.collect
    import tasks.consensus.stage
    import tasks.dispatch.stage
    import tasks.export.stage
    import tasks.history.write
    import tasks.ingest.stage
    import tasks.prelabel.stage

    for mod, name, stage in [
        (tasks.ingest.stage, "ingest_source", "ingest"), (tasks.ingest.stage, "import_gold", "ingest"),
        (flows.ingest, "register_project", "ingest"),
        (tasks.prelabel.stage, "apply_labeling_functions", "prelabel"), (tasks.prelabel.stage, "apply_model", "prelabel"),
        (tasks.prelabel.stage, "combine_and_route", "prelabel"), (flows.prelabel, "lf_report", "prelabel"),
        (tasks.dispatch.stage, "dispatch", "dispatch"), (tasks.collect, "collect", "collect"),
        (tasks.consensus.stage, "run_consensus_stage", "consensus"), (tasks.export.stage, "export", "export"),
    ]:
        setattr(mod, name, _timed(stage, getattr(mod, name)))
    # record_stage_run imports append_run from its module at each call, so wrapping the module's attribute times it
    tasks.history.write.append_run = _timed("metric_writes", tasks.history.write.append_run, HISTORY_SECONDS)
    for mod in (flows.ingest, flows.prelabel, flows.dispatch, flows.collect, flows.consensus, flows.export):
        mod.publish_headline = _timed("headline_artifacts", mod.publish_headline, HISTORY_SECONDS)


# ---------------------------------------------------------------------------------------------
# Large run
# ---------------------------------------------------------------------------------------------

def run_large(n_items: int, workdir: Path, annotators: int = 200, seed: int = 0, history: bool = True) -> dict[str, Any]:
    STAGE_SECONDS.clear()
    HISTORY_SECONDS.clear()
    n_gold = max(200, n_items // 100)
    proj = workdir / "project"
    made = make_project(proj, n_items, n_gold, seed)
    print(f"[setup] synthetic project: {n_items:,} items, {n_gold:,} gold, {made['seconds']} s (not counted)", flush=True)

    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    import tasks.collect
    import tasks.dispatch.stage
    from flows.collect import collect_flow
    from flows.consensus import consensus_flow
    from flows.dispatch import dispatch_flow
    from flows.export import export_flow
    from flows.ingest import ingest_flow
    from flows.prelabel import prelabel_flow
    from schemas.config import load_config
    from tasks.export.stage import GateFailedError

    cfg = load_config(proj)
    if not history:
        cfg = cfg.model_copy(update={"history": cfg.history.model_copy(update={"enabled": False})})
    queue = SimulatedBulkQueue(made["truth"], cfg.labels, annotators=annotators, seed=seed)
    # SIMULATION: dispatch and collect reach the bulk queue instead of the app over HTTP
    tasks.dispatch.stage.backend_for = lambda c: queue
    tasks.collect.backend_for = lambda c: queue
    instrument()

    @task(name="simulated-judgments (SIMULATION, bulk)", cache_policy=NO_CACHE)
    def simulate_task() -> dict:
        t0 = time.perf_counter()
        try:
            return queue.simulate()
        finally:
            STAGE_SECONDS["simulate"] += time.perf_counter() - t0

    walls: dict[str, float] = {}
    peaks: dict[str, float] = {}  # ru_maxrss after each stage: the stage that raises it is the one to look at

    def stage(name, fn, *a, **kw):
        t0 = time.perf_counter()
        out = fn(*a, **kw)
        walls[name] = walls.get(name, 0.0) + time.perf_counter() - t0
        peaks[name] = peak_memory_mb()["self_mb"]
        print(f"[{name}] {walls[name]:.1f} s wall, {STAGE_SECONDS.get(name, 0.0):.1f} s in stage code, "
              f"peak RSS so far {peaks[name]:,.0f} MB", flush=True)
        return out

    @flow(name="bench-pipeline-1m", log_prints=False)  # progress lines go to stdout
    def bench_flow() -> dict:
        t_in = time.perf_counter()
        run = {"project_dir": cfg.root, "config": cfg}
        out = {}
        out["ingest"] = stage("ingest", ingest_flow, **run)
        out["prelabel"] = stage("prelabel", prelabel_flow, **run)
        out["dispatch"] = stage("dispatch", dispatch_flow, **run)
        out["simulate"] = stage("simulate", simulate_task)
        out["collect"] = stage("collect", collect_flow, **run)
        out["consensus"] = stage("consensus", consensus_flow, **run)
        try:
            out["export"] = stage("export", export_flow, **run)
        except GateFailedError as e:
            walls["export"] = walls.get("export", 0.0)
            out["export"] = {"status": "rejected", "message": str(e)}
        out["_inside_seconds"] = time.perf_counter() - t_in
        return out

    t0 = time.perf_counter()
    out = bench_flow()
    total = time.perf_counter() - t0

    from tasks.evaluate import evaluate_labels, work_summary
    from tasks.store import open_store

    with open_store(cfg.db_path) as con:
        quality = evaluate_labels(con, cfg, proj / "truth" / "labels.csv")
        work = work_summary(con)
        human_items = con.execute("SELECT count(DISTINCT item_id) FROM votes WHERE source_kind = 'human'").fetchone()[0]
    stage_code = sum(v for k, v in STAGE_SECONDS.items() if k != "simulate")
    sim = STAGE_SECONDS["simulate"]
    orchestration = total - stage_code - sim
    inside = out["_inside_seconds"]
    return {
        "items": n_items, "gold": n_gold, "annotators (SIMULATION)": annotators,
        "judgments_path": "bulk (SimulatedBulkQueue: in-process push/pull, no HTTP)",
        "wall_s_by_stage": {k: round(v, 1) for k, v in walls.items()},
        "stage_code_s_by_stage": {k: round(v, 1) for k, v in STAGE_SECONDS.items()},
        "total_wall_s": round(total, 1),
        "flow_start_s (flow run creation, before the flow body)": round(total - inside, 1),
        "orchestration_s": round(orchestration, 1),
        "orchestration_share": round(orchestration / total, 3),
        "orchestration_share_excluding_server_start": round((inside - stage_code - sim) / inside, 3),
        "simulated_judgments": out["simulate"]["submitted"],
        "human_votes_stored": work["human_judgments"], "items_with_human_votes": human_items,
        quality["metric"]: quality[quality["metric"]], f"{quality['metric']}_by_method": quality["by_method"],
        "resolved": work["resolved"], "unresolved": work["unresolved"],
        "human_judgments_per_item": work["human_judgments_per_item"],
        "prelabel": {k: out["prelabel"]["routing"][k] for k in ("auto", "human", "gold_accuracy", "ece")},
        "decisions": out["consensus"].get("decisions"),
        "agreement_alpha": (out["consensus"].get("agreement") or {}).get("alpha"),
        "export": {k: out["export"].get(k) for k in ("status", "version", "n_rows", "message") if k in out["export"]},
        "peak_memory": peak_memory_mb(),
        "peak_rss_mb_after_stage": peaks,
        "history": {"enabled": history, **{f"{k}_s": round(v, 2) for k, v in HISTORY_SECONDS.items()},
                    "share_of_wall": round(sum(HISTORY_SECONDS.values()) / total, 4)},
    }


def compare_history(n_items: int, workdir: Path, annotators: int) -> dict[str, Any]:
    """The large run with history, then without, each in its own folder (same seed, same data).

    Two figures: the wall-time difference of the two runs (noisy on a shared machine: other load
    moves it by more than history costs) and the time measured inside history itself in the run with
    it (metric writes + headline artifacts), which is what history adds to that run's wall time."""
    on = run_large(n_items, workdir / "with-history", annotators=annotators, history=True)
    off = run_large(n_items, workdir / "without-history", annotators=annotators, history=False)
    return {
        "items": n_items,
        "wall_s_with_history": on["total_wall_s"], "wall_s_without_history": off["total_wall_s"],
        "wall_difference_share": round((on["total_wall_s"] - off["total_wall_s"]) / off["total_wall_s"], 4),
        "time_inside_history_s": {k: v for k, v in on["history"].items() if k.endswith("_s")},
        "time_inside_history_share_of_wall": on["history"]["share_of_wall"],
        "wall_s_by_stage_with": on["wall_s_by_stage"], "wall_s_by_stage_without": off["wall_s_by_stage"],
    }


# ---------------------------------------------------------------------------------------------
# HTTP probe: the app's sustained submit rate on this machine (why the large run uses the bulk path)
# ---------------------------------------------------------------------------------------------

def http_probe(workdir: Path, seconds: float, items: int = 30_000, annotators: int = 16) -> dict[str, Any]:
    from annotation_app.process import free_port, start_app
    from tasks.queues.builtin import BuiltinBackend
    from tasks.queues.simulated_crowd import run_simulated_crowd

    token = "bench-pipeline-token"
    app = start_app(workdir / "probe.sqlite", token, port=free_port(), log=workdir / "probe.log")
    try:
        with BuiltinBackend(app.url, token, "probe", push_batch=5_000) as b:
            b.client.put("/api/projects/probe", json={"labels": ["ham", "spam"], "task_kind": "single_label",
                                                      "data_kind": "text"})
            rows = [{"assignment_id": f"a{i}-{s}", "item_id": f"i{i}", "payload": f"text {i}"}
                    for i in range(items) for s in range(3)]
            t0 = time.perf_counter()
            b.push(pa.Table.from_pylist(rows))
            push_s = time.perf_counter() - t0
        truth = {f"text {i}": random.Random(i).choice(["ham", "spam"]) for i in range(items)}
        rep = run_simulated_crowd(app.url, token, "probe", truth, annotators, duration_s=seconds,
                                  light_client=True, seed=1)
    finally:
        app.stop()
    rate = rep.submits_per_s
    return {"tasks_pushed": 3 * items, "push_tasks_per_s": round(3 * items / push_s), "submits_per_s": round(rate),
            "annotators": annotators, "seconds": round(rep.elapsed_s, 1),
            "extrapolated_3M_judgments_min": round(3_000_000 / rate / 60, 1) if rate else None,
            "extrapolated_3M_push_min": round(3_000_000 / (3 * items / push_s) / 60, 1)}


# ---------------------------------------------------------------------------------------------
# Demo
# ---------------------------------------------------------------------------------------------

def run_demo(workdir: Path, fixed: bool) -> dict[str, Any]:
    from flows.demo import demo_flow
    from schemas.config import OverlapConfig, OverlapPolicy, load_config

    proj = workdir / ("demo-fixed3" if fixed else "demo-adaptive")
    shutil.copytree(EXAMPLE, proj, ignore=shutil.ignore_patterns(".annoflow", "__pycache__"))
    cfg = load_config(proj)
    if fixed:
        cfg = cfg.model_copy(update={"overlap": OverlapConfig(policy=OverlapPolicy.fixed, initial=3, max=3)})
    t0 = time.perf_counter()
    s = demo_flow(project_dir=str(proj), config=cfg)
    wall = time.perf_counter() - t0
    return {"overlap": "fixed 3" if fixed else f"{cfg.overlap.policy.value} {cfg.overlap.initial}..{cfg.overlap.max}",
            "wall_s": round(wall, 1), s["metric"]: s[s["metric"]],
            "human_judgments": s["human_judgments"], "human_judgments_per_item": s["human_judgments_per_item"],
            "human_judgments_per_human_labeled_item": s["human_judgments_per_human_labeled_item"],
            "auto_accepted_share": s["auto_accepted_share"], "unresolved": s["unresolved"], "rounds": len(s["rounds"]),
            "export": s["export"].get("status"), "items": s["items"]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--quick", action="store_true", help="50k items (smoke run)")
    p.add_argument("--annotators", type=int, default=200)
    p.add_argument("--skip-large", action="store_true")
    p.add_argument("--skip-demo", action="store_true")
    p.add_argument("--http-probe", type=float, default=0.0, help="seconds of the app's HTTP submit-rate probe (0: skip)")
    p.add_argument("--keep", action="store_true", help="keep the temp folder")
    p.add_argument("--no-history", action="store_true", help="history.enabled = false for the large run")
    p.add_argument("--compare-history", action="store_true",
                   help="the large run twice, with history and without (--no-history), and both timings")
    p.add_argument("--api-url", help="a running Prefect server's API (e.g. `annoflow serve`'s); default: one started "
                   "in the background for this run, as the CLI does")
    a = p.parse_args(argv)
    n = 50_000 if a.quick else a.items
    workdir = Path(tempfile.mkdtemp(prefix="annoflow-bench-pipeline-"))
    sys.path.insert(0, str(REPO))
    results: dict[str, Any] = {"prefect_server_start_s": _prefect_env(workdir, a.api_url)}
    try:
        if a.http_probe:
            results["http_probe"] = http_probe(workdir, a.http_probe)
            print("HTTP probe:", json.dumps(results["http_probe"]), flush=True)
        if not a.skip_large and a.compare_history:
            results["history_overhead"] = compare_history(n, workdir, a.annotators)
            print(json.dumps(results["history_overhead"], indent=2), flush=True)
        elif not a.skip_large:
            results["large"] = run_large(n, workdir, annotators=a.annotators, history=not a.no_history)
            print(json.dumps(results["large"], indent=2), flush=True)
        if not a.skip_demo:
            results["demo"] = [run_demo(workdir, fixed=False), run_demo(workdir, fixed=True)]
            print(json.dumps(results["demo"], indent=2), flush=True)
        results["peak_memory"] = peak_memory_mb()
        print("peak memory:", results["peak_memory"])
    finally:
        from annoflow_cli.prefect_server import ProjectServer

        ProjectServer(workdir).stop()
        if a.keep:
            print("kept", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
