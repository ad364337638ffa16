"""Ingest throughput and memory: `uv run python -m bench.ingest [--rows N] [--memory]`.

Writes a synthetic JSONL file of unique comments (plus metadata columns), ingests it into a fresh
DuckDB file through the same stage function the flow calls, then ingests it again (all duplicates).
With --memory, peak RSS is measured in fresh subprocesses at 1M and 5M rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORDS = np.array("the song video music love great best watch check channel subscribe please like views amazing world year".split())


def make_jsonl(path: Path, rows: int, seed: int = 0) -> None:
    """Unique texts (a row number keeps them distinct) written in chunks so generation memory stays flat."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            words = WORDS[rng.integers(0, len(WORDS), size=(n, 8))]
            lines = [
                json.dumps({"text": f"{' '.join(w)} #{start + i}", "author": f"user{(start + i) % 9973}", "video": int((start + i) % 5)})
                for i, w in enumerate(words)
            ]
            f.write("\n".join(lines) + "\n")


def run_once(rows: int, workdir: Path) -> dict:
    from schemas.config import validate_config
    from tasks.ingest.stage import ingest_source, register_project

    data = workdir / f"comments-{rows}.jsonl"
    if not data.exists():
        make_jsonl(data, rows)
    cfg = validate_config({"name": "bench", "labels": ["a", "b"], "sources": [{"path": str(data)}], "root": str(workdir),
                           "state": {"dir": str(workdir / f"state-{rows}")}})
    if cfg.db_path.exists():
        cfg.db_path.unlink()
    register_project(cfg)
    t = time.perf_counter()
    first = ingest_source(cfg, cfg.sources[0])[0]
    t1 = time.perf_counter() - t
    t = time.perf_counter()
    second = ingest_source(cfg, cfg.sources[0])[0]
    t2 = time.perf_counter() - t
    return {
        "rows": rows,
        "mb": round(data.stat().st_size / 1e6, 1),
        "ingest_s": round(t1, 2),
        "ingest_rows_per_s": round(rows / t1),
        "reingest_s": round(t2, 2),
        "reingest_rows_per_s": round(rows / t2),
        "inserted": first["inserted"],
        "reinserted": second["inserted"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--memory", action="store_true", help="also compare peak RSS at 1M and 5M rows (subprocesses)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="annoflow-bench-ingest-"))
    if args.child:
        print(json.dumps(run_once(args.rows, workdir)))
        return
    results = []
    sizes = [args.rows] + ([5_000_000] if args.memory and args.rows != 5_000_000 else [])
    for n in sizes:
        out = subprocess.run([sys.executable, "-m", "bench.ingest", "--child", "--rows", str(n), "--workdir", str(workdir)],
                             check=True, capture_output=True, text=True, env={**os.environ})
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'rows':>10} {'MB':>7} {'ingest s':>9} {'rows/s':>10} {'re-ingest s':>12} {'rows/s':>10} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['rows']:>10,} {r['mb']:>7} {r['ingest_s']:>9} {r['ingest_rows_per_s']:>10,} {r['reingest_s']:>12} {r['reingest_rows_per_s']:>10,} {r['peak_rss_mb']:>12,}")
        assert r["inserted"] == r["rows"] and r["reinserted"] == 0, r
    if len(results) == 2:
        growth = results[1]["peak_rss_mb"] / results[0]["peak_rss_mb"] - 1
        print(f"peak memory at {results[1]['rows']:,} rows vs {results[0]['rows']:,}: {growth:+.1%} (floor: <= +20%)")
    print(json.dumps({"ingest": results}))


if __name__ == "__main__":
    main()
