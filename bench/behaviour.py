"""Behaviour rules on SIMULATED crowds: are a planted fast spammer and a straight-liner paused within 200 of
their own judgments, while no annotator whose gold accuracy is at least 0.9 is paused?

    uv run python -m bench.behaviour [--seeds 0 1] [--items 1200] [--kind single_label]

Every annotator here is simulated (`tasks.behaviour.simulation`, answers from the kind's simulation
facet): six honest people of accuracy 0.90-0.97 at their own pace, a fast honest expert (accuracy
0.97, about eight times quicker than usual), a fast spammer (random answers, about twelve times
quicker) and a straight-liner (always the same answer, at a normal pace). Items are answered by three
of them each, one item in six is gold. The judgments are stored in order, 50 at a time, and the
behaviour step of a consensus run (`tasks.behaviour.pause.run_rules`) runs after every 50, on a real
DuckDB file; a paused annotator gets no more work. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from schemas.config import validate_config
from tasks.behaviour.simulation import (
    SimulatedWorker,
    gold_table,
    replay,
    simulate_stream,
)
from tasks.kinds import kind_of
from tasks.store import open_store

LABELS = ["positive", "negative", "neutral", "off_topic"]
PRIOR = [0.45, 0.3, 0.2, 0.05]
LIMIT = 200


def crowd(seed: int) -> tuple[list[SimulatedWorker], set[str]]:
    """The simulated crowd of one seed and the ids of the planted ones."""
    rng = random.Random(seed)
    honest = [SimulatedWorker(f"sim-honest-{i}", rng.uniform(0.9, 0.97), speed=rng.lognormvariate(0, 0.25))
              for i in range(6)]
    planted = [SimulatedWorker("sim-fast-spammer", 0.25, speed=0.08, spammer="uniform"),
               SimulatedWorker("sim-straight-liner", 0.25, spammer="constant")]
    expert = [SimulatedWorker("sim-fast-expert", 0.97, speed=0.12)]
    return honest + expert + planted, {w.annotator_id for w in planted}


def run(seed: int, n_items: int, kind_name: str, step: int) -> list[dict]:
    cfg = validate_config({"name": "bench-behaviour", "labels": LABELS, "task_kind": kind_name,
                           "root": tempfile.mkdtemp(prefix="bench-behaviour-")})
    kind = kind_of(cfg)
    rng = random.Random(1000 + seed)
    truth = rng.choices(LABELS, weights=PRIOR, k=n_items)
    truth = [[t] for t in truth] if kind.storage.column == "labels" else truth
    workers, planted = crowd(seed)
    rows = simulate_stream(kind, LABELS, truth, workers, overlap=3, seed=seed)
    ids = [f"item-{i:06d}" for i in range(n_items)]
    gold_at = list(range(0, n_items, 6))
    col = kind.storage.column
    with open_store(Path(cfg.root) / "bench.duckdb") as con:
        con.register("_gold", gold_table([ids[i] for i in gold_at], [truth[i] for i in gold_at], col))
        con.execute("INSERT INTO gold BY NAME SELECT * EXCLUDE (answer), answer::JSON AS answer FROM _gold")
        t0 = time.perf_counter()
        result = replay(con, cfg, rows, ids, step=step)
        seconds = time.perf_counter() - t0
        gold = dict(con.execute(
            f"SELECT v.source_id, avg((CAST(to_json(v.{col}) AS VARCHAR) = CAST(to_json(g.{col}) AS VARCHAR))::INT)"
            " FROM votes v JOIN gold g USING (item_id) GROUP BY 1").fetchall())
        flags = dict(con.execute("SELECT source_id, string_agg(DISTINCT rule, ',') FROM annotator_events"
                                 " WHERE action = 'flag' GROUP BY 1").fetchall())
    out = []
    for w in workers:
        r = result.get(w.annotator_id, {"judgments": 0, "paused_after": None, "rule": None})
        sid = f"human:{w.annotator_id}"
        out.append({"seed": seed, "annotator": w.annotator_id, "planted": w.annotator_id in planted,
                    "gold_accuracy": gold.get(sid), "judgments": r["judgments"], "paused_after": r["paused_after"],
                    "rule": r["rule"], "flags": flags.get(sid, ""), "seconds": seconds})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--items", type=int, default=1200)
    ap.add_argument("--kind", default="single_label")
    ap.add_argument("--step", type=int, default=50, help="judgments stored between two runs of the rules")
    args = ap.parse_args()
    rows, misses = [], []
    for seed in args.seeds:
        rows += run(seed, args.items, args.kind, args.step)
    print(f"kind {args.kind}, {args.items} items, overlap 3, gold 1 in 6, rules every {args.step} judgments "
          "(all annotators SIMULATED)\n")
    print(f"{'seed':>4}  {'annotator':<20} {'planted':>7} {'gold acc':>8} {'judgments':>9} {'paused after':>12}  "
          f"{'rule':<16} flags")
    for r in rows:
        acc = "-" if r["gold_accuracy"] is None else f"{r['gold_accuracy']:.3f}"
        after = "-" if r["paused_after"] is None else str(r["paused_after"])
        print(f"{r['seed']:>4}  {r['annotator']:<20} {'yes' if r['planted'] else '':>7} {acc:>8} {r['judgments']:>9} "
              f"{after:>12}  {r['rule'] or '-':<16} {r['flags'] or '-'}")
        if r["planted"] and (r["paused_after"] is None or r["paused_after"] > LIMIT):
            misses.append(f"seed {r['seed']}: planted {r['annotator']} not paused within {LIMIT} judgments")
        if not r["planted"] and r["paused_after"] is not None and (r["gold_accuracy"] or 0) >= 0.9:
            misses.append(f"seed {r['seed']}: {r['annotator']} (gold accuracy {r['gold_accuracy']:.3f}) was paused")
    secs = sorted({(r["seed"], r["seconds"]) for r in rows})
    print("\nreplay wall time per seed: " + ", ".join(f"seed {s}: {t:.1f} s" for s, t in secs))
    print("targets: planted ones paused within 200 of their judgments; nobody with gold accuracy >= 0.9 paused: "
          + ("MET" if not misses else "MISSED"))
    for m in misses:
        print("  " + m)
    sys.exit(1 if misses else 0)


if __name__ == "__main__":
    main()
