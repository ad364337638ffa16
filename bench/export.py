"""Export benchmark: publish 10M labels (Parquet + manifest + gate), then diff two 10M-label versions.

    uv run python -m bench.export [--rows 10000000] [--out bench/out/export]

Builds the state once (cached in --out), then runs each measured step in a fresh subprocess so the
peak RSS reported is that step's alone (ru_maxrss of the child). Targets: export <= 60 s and
<= 1.5 GB peak; diff <= 20 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _project(out: Path, rows: int):
    from tests.conftest import write_project

    return write_project(out / f"project-{rows}", name="bench-export", labels=["ham", "spam", "other"],
                         validation={"min_gold_accuracy": 0.5, "max_label_shift": 0.2})


def build_state(out: Path, rows: int) -> None:
    """items + labels (+ 10k gold) for `rows` resolved items, generated inside DuckDB."""
    from tasks.store import open_store

    cfg = _project(out, rows)
    marker = cfg.state_dir / "built"
    if marker.exists():  # reuse the state, start the versions afresh
        import shutil

        shutil.rmtree(cfg.export_dir, ignore_errors=True)
        with open_store(cfg.db_path) as con:
            con.execute("DELETE FROM export_versions")
        return
    t = time.perf_counter()
    with open_store(cfg.db_path) as con:
        con.execute(
            "INSERT INTO items (item_id, kind, payload, source, source_row)"
            " SELECT md5('bench' || i::VARCHAR), 'text', 'comment number ' || i::VARCHAR || ' about a video', 'bench.jsonl', i + 1"
            " FROM range(?) t(i)", [rows])
        con.execute(
            "INSERT INTO labels (item_id, label, confidence, method, decision, n_votes, n_human, agreement, sources)"
            " SELECT item_id, ['ham', 'spam', 'other'][1 + (hash(item_id) % 3)::INT], 0.8 + (hash(item_id) % 200) / 1000.0,"
            " 'dawid_skene', 'resolved', 3, 2, 0.6 + (hash(item_id) % 40) / 100.0, ['human:ann1', 'human:ann2', 'lf:kw']"
            " FROM items")
        con.execute("INSERT INTO gold (item_id, label, origin) SELECT item_id, label, 'file' FROM labels USING SAMPLE 10000 ROWS")
    marker.write_text("ok")
    print(f"built state: {rows:,} items/labels in {time.perf_counter() - t:.1f}s", flush=True)


def _child(args: list[str]) -> tuple[dict, float, float]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench.export", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stdout}\n{proc.stderr}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall, peak_mb


def child_main(step: str, out: Path, rows: int, a: str | None, b: str | None) -> None:
    cfg = _project(out, rows)
    t = time.perf_counter()
    if step == "export":
        from tasks.export.stage import export

        r = export(cfg, force=True)
        res = {"version": r.version, "status": r.status, "rows": r.n_rows, "timings": r.timings, "gate_mode": r.gate["mode"] if r.gate else None}
    elif step == "change":
        from tasks.store import open_store

        with open_store(cfg.db_path) as con:
            con.execute("UPDATE labels SET label = CASE label WHEN 'ham' THEN 'spam' ELSE 'ham' END, confidence = confidence - 0.05"
                        " WHERE hash(item_id) % 100 = 7")
        res = {}
    else:
        from tasks.export.diff import diff_versions

        d = diff_versions(cfg, a, b)
        res = {k: d[k] for k in ("a", "b", "added", "removed", "relabeled")} | {"conf_changed": d["confidence"]["changed"]}
    res["seconds"] = round(time.perf_counter() - t, 2)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    res["cpu_seconds"] = round(ru.ru_utime + ru.ru_stime, 1)
    res["peak_rss_mb"] = round(ru.ru_maxrss / 1024)
    print(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "export")
    ap.add_argument("--child", choices=["export", "change", "diff"])
    ap.add_argument("--a")
    ap.add_argument("--b")
    args = ap.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if args.child:
        child_main(args.child, args.out, args.rows, args.a, args.b)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    build_state(args.out, args.rows)
    common = ["--rows", str(args.rows), "--out", str(args.out)]
    e1, wall1, _ = _child(["--child", "export", *common])
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other processes share the CPU:"
          " compare cpu_seconds, the CPU time the step itself used)", flush=True)
    print(f"export {args.rows:,} labels -> {e1['version']}: {e1['seconds']:.1f}s in-process ({wall1:.1f}s with interpreter start),"
          f" cpu {e1['cpu_seconds']}s,"
          f" peak RSS {e1['peak_rss_mb']:,} MB; steps {e1['timings']}; gate rows frame: {e1['gate_mode']}", flush=True)
    _child(["--child", "change", *common])
    e2, wall2, _ = _child(["--child", "export", *common])
    print(f"export after relabeling ~1% -> {e2['version']}: {e2['seconds']:.1f}s ({wall2:.1f}s wall), cpu {e2['cpu_seconds']}s, peak RSS {e2['peak_rss_mb']:,} MB;"
          f" steps {e2['timings']}", flush=True)
    d, wall3, _ = _child(["--child", "diff", *common, "--a", e1["version"], "--b", e2["version"]])
    print(f"diff {d['a']} -> {d['b']} ({args.rows:,} labels each): {d['seconds']:.1f}s ({wall3:.1f}s wall), cpu {d['cpu_seconds']}s, peak RSS {d['peak_rss_mb']:,} MB;"
          f" added {d['added']:,}, removed {d['removed']:,}, relabeled {d['relabeled']:,}, confidence changed {d['conf_changed']:,}")


if __name__ == "__main__":
    main()
