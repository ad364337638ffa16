"""Benchmark of the annotation app: sustained submits/s, submit latency, and a SIGKILL durability check.

    uv run python -m bench.app [--annotators 16] [--seconds 20] [--procs 2] [--kill-after 5]

Starts the real app process on a fresh store, pushes tasks through the pipeline client, and runs
the simulated crowd (threads, one token each, spread over `--procs` client processes) with no think
time against it. Each submit also leases the next task (`next: true`), as the web page does, so a
submit's latency includes leasing. Then the durability run: the same load, SIGKILL of the app after
`--kill-after` seconds, restart on the same store, and a check that every acknowledged submit is
present exactly once.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa

from annotation_app.process import AppProcess, start_app
from tasks.queues.builtin import BuiltinBackend
from tasks.queues.simulated_crowd import (
    CrowdReport,
    make_crowd,
    percentile,
    run_simulated_crowd,
)

__all__ = ["main", "run_load", "durability"]

TOKEN = "bench-admin-token"
LABELS = ["pos", "neg", "neutral"]


def _setup(app: AppProcess, project: str, n_items: int, overlap: int) -> None:
    with BuiltinBackend(app.url, TOKEN, project) as b:
        b.client.put(f"/api/projects/{project}", json={"labels": LABELS, "lease_seconds": 60})
        ids = [f"{project}-{i}-{k}" for i in range(n_items) for k in range(overlap)]
        b.push(pa.table({"assignment_id": ids, "item_id": [x.rsplit("-", 1)[0] for x in ids],
                         "payload": [f"item {x.rsplit('-', 2)[1]}" for x in ids]}))


def _truth(task: dict) -> str:
    return LABELS[int(task["payload"].split()[1]) % 3]


def _crowd_proc(url: str, project: str, n: int, seconds: float, prefix: str, seed: int, out: mp.Queue) -> None:
    crowd = make_crowd(n, LABELS, spammer_share=0.1, seed=seed, prefix=prefix)
    r = run_simulated_crowd(url, TOKEN, project, _truth, crowd=crowd, duration_s=seconds, seed=seed,
                            light_client=True)
    out.put(r)


def run_load(app: AppProcess, project: str, annotators: int, seconds: float, procs: int) -> CrowdReport:
    """The crowd split over `procs` processes for `seconds`; reports merged."""
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    per = [annotators // procs + (1 if i < annotators % procs else 0) for i in range(procs)]
    ps = [ctx.Process(target=_crowd_proc, args=(app.url, project, n, seconds, f"{project}-w{i}", i, q))
          for i, n in enumerate(per)]
    for p in ps:
        p.start()
    reports = [q.get(timeout=seconds + 120) for _ in ps]
    for p in ps:
        p.join()
    merged = CrowdReport()
    for r in reports:
        merged.submitted += r.submitted
        merged.errors += r.errors
        merged.latencies_s += r.latencies_s
        merged.failures += r.failures
        merged.acknowledged += r.acknowledged
        merged.elapsed_s = max(merged.elapsed_s, r.elapsed_s)
    return merged


def durability(workdir: Path, annotators: int, procs: int, kill_after: float) -> dict[str, int]:
    """Load, SIGKILL mid-load, restart on the same store, compare acknowledged submits with the store."""
    app = start_app(workdir / "kill.db", TOKEN, log=workdir / "kill.log")
    project = "kill"
    _setup(app, project, 50_000, 1)
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    per = [annotators // procs + (1 if i < annotators % procs else 0) for i in range(procs)]
    ps = [ctx.Process(target=_crowd_proc, args=(app.url, project, n, kill_after + 30, f"k{i}", i, q))
          for i, n in enumerate(per)]
    for p in ps:
        p.start()
    time.sleep(kill_after + 2)  # ~2 s of process start-up and annotator creation first
    app.kill()
    reports = [q.get(timeout=120) for _ in ps]
    for p in ps:
        p.join()
    acked = [a for r in reports for a in r.acknowledged]
    app.start()
    try:
        with BuiltinBackend(app.url, TOKEN, project) as b:
            rows = b.pull_all(None, limit=50_000)[0].to_pylist()
    finally:
        app.stop()
    stored = Counter((r["annotator_id"], r["client_id"]) for r in rows)
    judgment_ids = {r["judgment_id"] for r in rows}
    missing = sum(1 for a, c, _ in acked if stored[(a, c)] == 0)
    return {
        "acknowledged": len(acked),
        "stored": len(rows),
        "acknowledged_missing": missing,
        "acknowledged_with_other_judgment_id": sum(1 for a, c, j in acked if stored[(a, c)] and j not in judgment_ids),
        "stored_twice": sum(1 for v in stored.values() if v > 1),
        "assignments_twice": len(rows) - len({r["assignment_id"] for r in rows}),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.app", description=__doc__.splitlines()[0])
    ap.add_argument("--annotators", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--procs", type=int, default=2, help="client processes running the simulated crowd")
    ap.add_argument("--kill-after", type=float, default=5.0)
    ap.add_argument("--synchronous", choices=["normal", "full"], default="normal")
    ap.add_argument("--skip-kill", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="annoflow-bench-") as d:
        work = Path(d)
        app = start_app(work / "load.db", TOKEN, synchronous=args.synchronous, log=work / "load.log")
        try:
            t0 = time.perf_counter()
            _setup(app, "load", 100_000, 3)
            push_s = time.perf_counter() - t0
            r = run_load(app, "load", args.annotators, args.seconds, args.procs)
            with BuiltinBackend(app.url, TOKEN, "load") as b:
                t0 = time.perf_counter()
                pulled, cursor = 0, None
                while True:
                    t, cursor = b.pull(cursor, 10_000)
                    pulled += t.num_rows
                    if t.num_rows < 10_000:
                        break
                pull_s = time.perf_counter() - t0
                stats = b.client.get("/api/stats").json()
        finally:
            app.stop()
        lat = r.latencies_s
        print(f"push: 300,000 tasks in {push_s:.1f} s ({300_000 / push_s:,.0f} tasks/s)")
        print(f"load: {args.annotators} simulated annotators in {args.procs} client processes, {r.elapsed_s:.1f} s, "
              f"synchronous={args.synchronous}")
        print(f"  submits: {r.submitted:,}  ({r.submitted / r.elapsed_s:,.0f} submits/s sustained; each also leases the next task)")
        print(f"  submit latency: p50 {percentile(lat, 50) * 1000:.1f} ms  p99 {percentile(lat, 99) * 1000:.1f} ms  "
              f"max {max(lat, default=0) * 1000:.1f} ms")
        print(f"  errors: {r.errors}  failures: {len(r.failures)}")
        print(f"  group commit: {stats['commits']:,} commits for {stats['committed_units']:,} writes "
              f"({stats['committed_units'] / max(stats['commits'], 1):.1f} per commit)")
        print(f"pull: {pulled:,} judgments in {pull_s:.2f} s ({pulled / pull_s:,.0f}/s)")
        if not args.skip_kill:
            k = durability(work, args.annotators, args.procs, args.kill_after)
            ok = k["acknowledged_missing"] == 0 and k["stored_twice"] == 0 and k["assignments_twice"] == 0
            print(f"SIGKILL after {args.kill_after:.0f} s of load, restart on the same store: "
                  + ", ".join(f"{a} {b:,}" for a, b in k.items()) + ("  OK" if ok else "  FAILED"))
            return 0 if ok else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
