"""Consensus stage benchmark: end to end from DuckDB at 1M votes (cold, no-op re-run, warm re-run).

Run: ``uv run python -m bench.consensus_stage [--votes 1000000] [--method dawid_skene] [--repeat 3]``.
Each repeat builds a fresh project database, so the figures are medians over independent runs.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tomli_w

from bench.consensus import synthetic
from schemas.config import load_config
from tasks.consensus.stage import run_consensus_stage
from tasks.store import open_store


def build(root: Path, n_votes: int, method: str, gold_share: float = 0.01):
    votes, truth, classes = synthetic(n_votes, n_votes // 5, max(10_000, n_votes // 100))
    (root / "annoflow.toml").write_text(tomli_w.dumps({
        "name": "bench", "labels": classes, "consensus": {"method": method, "bootstrap": 200},
        "overlap": {"initial": 5, "max": 7}}))
    cfg = load_config(root)
    n_items = len(truth)
    item_ids = pc.cast(pa.array(np.arange(n_items)), pa.string())
    rng = np.random.default_rng(1)
    gold_rows = rng.choice(n_items, int(n_items * gold_share), replace=False)
    with open_store(cfg.db_path) as con:
        con.register("_items", pa.table({"item_id": item_ids}))
        con.execute("INSERT INTO items (item_id, kind, payload, source, state)"
                    " SELECT item_id, 'text', 'item ' || item_id, 'bench', 'queued' FROM _items")
        con.register("_votes", votes)
        con.execute("INSERT INTO sources (source_id, kind, name) SELECT DISTINCT source_id, 'human', source_id FROM _votes")
        con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, label)"
                    " SELECT md5(source_id || ':' || item_id || ':' || row_number() OVER ()), item_id, source_id,"
                    " 'human', label FROM _votes")
        con.register("_gold", pa.table({"item_id": pc.take(item_ids, pa.array(gold_rows)),
                                        "label": pa.array(truth[gold_rows])}))
        con.execute("INSERT INTO gold (item_id, label, origin) SELECT item_id, label, 'file' FROM _gold")
    return cfg, truth


def accuracy(cfg, truth) -> float:
    with open_store(cfg.db_path) as con:
        got = con.sql("SELECT item_id::BIGINT AS i, label FROM labels ORDER BY 1").to_arrow_table()
    return float((got["label"].to_numpy(zero_copy_only=False) == truth[got["i"].to_numpy()]).mean())


def add_votes(cfg, n: int) -> None:
    with open_store(cfg.db_path) as con:
        con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, label)"
                    " SELECT md5('new' || i), (i * 7919 % 200000)::VARCHAR, 'late-' || (i % 50), 'human',"
                    " ((i * 31) % 4)::VARCHAR FROM range(?) t(i)", [n])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--votes", type=int, default=1_000_000)
    ap.add_argument("--method", default="dawid_skene")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for rep in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="annoflow-bench-stage-") as d:
            cfg, truth = build(Path(d), args.votes, args.method)
            c0, t0 = time.process_time(), time.perf_counter()
            cold = run_consensus_stage(cfg)
            cold_s, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
            acc = accuracy(cfg, truth)
            t0 = time.perf_counter()
            noop = run_consensus_stage(cfg)
            noop_s = time.perf_counter() - t0
            add_votes(cfg, 1_000)
            t0 = time.perf_counter()
            warm = run_consensus_stage(cfg)
            warm_s = time.perf_counter() - t0
            assert noop["unchanged"] and warm["fit"]["warm_start"]
            rows.append({"cold_s": cold_s, "cold_cpu_s": cold_cpu, "read_s": cold["seconds"]["read"],
                         "fit_s": cold["seconds"]["fit"], "cold_iter": cold["fit"]["n_iter"],
                         "noop_s": noop_s, "warm_s": warm_s, "warm_iter": warm["fit"]["n_iter"],
                         "warm_written": warm["labels_written"], "acc": acc})
            print(f"run {rep + 1}: " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                 for k, v in rows[-1].items()), flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"\nmedian of {len(rows)} ({args.votes:,} votes, {args.method}): "
          + "  ".join(f"{k}={v:.3f}" for k, v in med.items()))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2:.2f} GB")


if __name__ == "__main__":
    main()
