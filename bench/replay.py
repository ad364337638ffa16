"""Replay of Snow et al. 2008 RTE through the real app: adaptive overlap against fixed overlap 3, 5, 10.

`uv run python -m bench.replay [--initial 1 2] [--target 0.9 0.95] [--seeds 5]`

SIMULATION of a crowd: each of the 164 recorded Mechanical Turk workers is a replay annotator
answering exactly what they answered in 2008 (800 items, ten answers each, expert gold per item).
Adaptive runs go through the whole human-queue path: ingest into DuckDB, `dispatch` (adaptive
overlap) pushing to a real annotation app on 127.0.0.1, replay workers labelling over HTTP,
`collect` pulling judgments back as votes, then the consensus cores (Dawid-Skene + `resolve_items`)
writing decisions that the next `dispatch` turns into one more slot per undecided item, up to
`overlap.max` = 10. A task is offered only to the workers who answered that item in 2008 (the
bench adds them as `exclude_annotators`), so no judgment is invented. Fixed overlap k is computed
offline on the same data (k answers drawn per item, mean over `--seeds` draws), with majority vote
and Dawid-Skene. Figures: human labels used per item and accuracy against the expert labels.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import tomli_w

DATA = Path("/work/shared/datasets/snow2008/rte.standardized.tsv")
LABELS = ["0", "1"]
TOKEN = "bench-replay-admin"


def load(path: Path) -> tuple[dict[str, dict[str, str]], dict[str, str], list[tuple[str, str, str]]]:
    """worker → {item: answer}, item → gold, and the rows (item, worker, answer) in file order."""
    by_worker: dict[str, dict[str, str]] = defaultdict(dict)
    gold: dict[str, str] = {}
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            by_worker[r["!amt_worker_ids"]][r["orig_id"]] = r["response"]
            gold[r["orig_id"]] = r["gold"]
            rows.append((r["orig_id"], r["!amt_worker_ids"], r["response"]))
    return dict(by_worker), gold, rows


def _aggregate(votes: pa.Table) -> dict[str, dict[str, str]]:
    from tasks.consensus.dawid_skene import DawidSkene
    from tasks.consensus.majority_vote import MajorityVote

    out = {}
    for name, agg in (("majority_vote", MajorityVote(LABELS)), ("dawid_skene", DawidSkene(LABELS))):
        t = agg.fit_predict(votes)
        out[name] = dict(zip(t["item_id"].to_pylist(), t["label"].to_pylist()))
    return out


def _accuracy(pred: dict[str, str], gold: dict[str, str]) -> float:
    return sum(pred.get(i) == g for i, g in gold.items()) / len(gold)


def fixed_overlap(rows: list[tuple[str, str, str]], gold: dict[str, str], k: int, seeds: int) -> dict:
    """k recorded answers per item (drawn at random per seed), aggregated offline."""
    per_item: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for item, worker, answer in rows:
        per_item[item].append((worker, answer))
    acc: dict[str, list[float]] = defaultdict(list)
    for seed in range(seeds):
        rng = random.Random(seed)
        chosen = [(i, w, a) for i, answers in per_item.items() for w, a in rng.sample(answers, min(k, len(answers)))]
        votes = pa.table({"item_id": [c[0] for c in chosen], "source_id": [c[1] for c in chosen],
                          "label": [c[2] for c in chosen]})
        for method, pred in _aggregate(votes).items():
            acc[method].append(_accuracy(pred, gold))
    return {"policy": f"fixed k={k}", "labels_per_item": float(k),
            **{f"acc_{m}": round(sum(v) / len(v), 4) for m, v in acc.items()}, "rounds": 1}


class _ReplayExclusions:
    """SIMULATION harness: the project's backend, adding to each task the workers who never saw the item."""

    def __init__(self, inner, exclude_by_item: dict[str, list[str]]):
        self.inner, self.exclude_by_item, self.name = inner, exclude_by_item, inner.name

    def push(self, tasks: pa.Table) -> int:
        excl = [self.exclude_by_item[i] for i in tasks["item_id"].to_pylist()]
        i = tasks.schema.get_field_index("exclude_annotators")
        return self.inner.push(tasks.set_column(i, "exclude_annotators", pa.array(excl, pa.list_(pa.string()))))

    def __getattr__(self, name):
        return getattr(self.inner, name)


def adaptive(app_url: str, workdir: Path, by_worker, gold, initial: int, target: float, max_overlap: int = 10) -> dict:
    """One adaptive run through ingest → dispatch → app → collect → consensus, until nothing is left to ask."""
    from schemas.config import load_config
    from tasks.collect import collect
    from tasks.consensus.dawid_skene import DawidSkene
    from tasks.consensus.resolution import human_vote_counts, resolve_items
    from tasks.dispatch import dispatch
    from tasks.ingest.stage import ingest_source
    from tasks.queues import BuiltinBackend
    from tasks.queues.simulated_crowd import run_simulated_crowd
    from tasks.store import open_store

    name = f"rte-adaptive-i{initial}-t{str(target).replace('.', '')}"
    root = workdir / name
    root.mkdir(parents=True)
    with open(root / "items.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": f"RTE pair {item}", "orig_id": item}) + "\n" for item in sorted(gold, key=int))
    (root / "annoflow.toml").write_text(tomli_w.dumps({
        "name": name, "labels": LABELS, "sources": [{"path": "items.jsonl", "text_field": "text"}],
        "queue": {"url": app_url}, "overlap": {"policy": "adaptive", "initial": initial, "max": max_overlap},
        "gold": {"rate": 0.0, "min_per_annotator": 0}, "consensus": {"target_confidence": target},
    }))
    cfg = load_config(root)
    ingest_source(cfg, cfg.sources[0])
    with open_store(cfg.db_path) as con:
        ids = dict(con.execute("SELECT payload, item_id FROM items").fetchall())
    item_of = {f"RTE pair {i}": i for i in gold}
    workers = sorted(by_worker)
    exclude = {ids[p]: [w for w in workers if item_of[p] not in by_worker[w]] for p in item_of}
    backend = _ReplayExclusions(BuiltinBackend(app_url, TOKEN, cfg.name), exclude)
    rounds, t0 = 0, time.perf_counter()
    try:
        while True:
            d = dispatch(cfg, backend=backend)
            if d["created"] == 0:
                break
            rounds += 1
            run_simulated_crowd(app_url, TOKEN, cfg.name, replay=by_worker,
                                key=lambda task: item_of[task["payload"]], light_client=True)
            c = collect(cfg, backend=backend)
            assert c["quarantined"] == 0, c
            with open_store(cfg.db_path) as con:
                votes = con.sql("SELECT item_id, source_id, label FROM votes WHERE source_kind = 'human'").to_arrow_table()
                labels = DawidSkene(LABELS).fit_predict(votes)
                decided = resolve_items(labels, human_vote_counts(votes), target, max_overlap)
                con.register("_decided", decided)
                con.execute("INSERT INTO labels (item_id, label, confidence, method, decision, n_votes, n_human) "
                            "SELECT item_id, label, coalesce(confidence, 0), 'dawid_skene', decision, n_votes, n_votes "
                            "FROM _decided").fetchall()
    finally:
        backend.inner.close()
    with open_store(cfg.db_path) as con:
        votes = con.sql("SELECT i.metadata->>'orig_id' AS item_id, v.source_id, v.label FROM votes v "
                        "JOIN items i USING (item_id) WHERE v.source_kind = 'human'").to_arrow_table()
        decisions = dict(con.execute(
            "SELECT decision, count(*) FROM (SELECT item_id, decision FROM labels "
            "QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY updated_at DESC) = 1) GROUP BY 1").fetchall())
        dup = con.execute("SELECT count(*) - count(DISTINCT vote_id) FROM votes").fetchall()[0][0]
    preds = _aggregate(votes)
    return {"policy": f"adaptive initial={initial} target={target} max={max_overlap}",
            "labels_per_item": round(votes.num_rows / len(gold), 3),
            **{f"acc_{m}": round(_accuracy(p, gold), 4) for m, p in preds.items()},
            "rounds": rounds, "decisions": decisions, "duplicate_votes": dup,
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--initial", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--target", type=float, nargs="+", default=[0.9, 0.95])
    ap.add_argument("--seeds", type=int, default=5, help="Random draws averaged for fixed overlap.")
    args = ap.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from annotation_app.process import start_app

    by_worker, gold, rows = load(args.data)
    print(f"SIMULATION (replay): Snow RTE, {len(gold)} items, {len(by_worker)} workers, {len(rows)} answers")
    results = [fixed_overlap(rows, gold, k, args.seeds) for k in (3, 5, 10)]
    with tempfile.TemporaryDirectory(prefix="annoflow-replay-") as tmp:
        app = start_app(Path(tmp) / "app.sqlite", TOKEN, log=Path(tmp) / "app.log")
        try:
            for initial in args.initial:
                for target in args.target:
                    results.append(adaptive(app.url, Path(tmp), by_worker, gold, initial, target))
                    print(json.dumps(results[-1]), flush=True)
        finally:
            app.stop()
    print("\n| policy | human labels / item | accuracy MV | accuracy DS | rounds |\n|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['policy']} | {r['labels_per_item']:.2f} | {r['acc_majority_vote']:.3f} | "
              f"{r['acc_dawid_skene']:.3f} | {r['rounds']} |")


if __name__ == "__main__":
    main()
