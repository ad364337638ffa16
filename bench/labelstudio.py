"""Benchmark of the Label Studio backend against a real Label Studio 1.23.2.

    uv run python -m bench.labelstudio [--tasks 10000] [--annotations 10000] [--posted 200] [--url URL --token T]

Starts Label Studio from its own virtualenv (`bash .ci/label-studio.sh`) on a fresh data dir, then:
push `--tasks` text tasks with pre-labels through `LabelStudioBackend.push` (target ≤15 s for 10k),
push them again (idempotent: nothing imported), import `--annotations` annotated tasks into a second
project and pull every judgment back by cursor (target ≤30 s for 10k), and post `--posted`
annotations one by one through `POST /api/tasks/{id}/annotations`, as annotators do, for the rate.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa

from schemas.config import validate_config
from tasks.http import make_client
from tasks.queues.label_studio import LabelStudioBackend
from tests.labelstudio.server import remove, start_label_studio

__all__ = ["main"]

LABELS = ["pos", "neg", "neutral"]


def _config(name: str, root: Path):
    return validate_config({"name": name, "labels": LABELS, "root": str(root)})


def _tasks(n: int, prefix: str) -> pa.Table:
    ids = [f"{prefix}-{i}" for i in range(n)]
    return pa.table({
        "assignment_id": ids, "item_id": [f"item-{i}" for i in range(n)],
        "payload": [f"benchmark text number {i}, long enough to look like a review" for i in range(n)],
        "priority": [float(i % 7) for i in range(n)],
        "prelabel": [[LABELS[i % 3]] for i in range(n)], "prelabel_score": [0.5 + (i % 50) / 100 for i in range(n)],
    })


def _server_cpu(ls: object) -> float:
    """CPU seconds used so far by the Label Studio process we started (0 when it is not ours)."""
    proc = getattr(ls, "proc", None)
    if proc is None:
        return 0.0
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Phase:
    """Wall time, Label Studio CPU time and client CPU time of one step."""

    def __init__(self, ls: object, figures: dict[str, float], name: str) -> None:
        self.ls, self.figures, self.name = ls, figures, name

    def __enter__(self) -> "_Phase":
        self.t, self.s, self.c = time.perf_counter(), _server_cpu(self.ls), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = self.figures[f"{self.name}_s"] = time.perf_counter() - self.t
        self.server = self.figures[f"{self.name}_server_cpu_s"] = _server_cpu(self.ls) - self.s
        self.client = self.figures[f"{self.name}_client_cpu_s"] = time.process_time() - self.c

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall (Label Studio CPU {self.server:.1f} s, client CPU {self.client:.1f} s)"


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--annotations", type=int, default=10_000)
    ap.add_argument("--posted", type=int, default=200)
    ap.add_argument("--url", help="use this running Label Studio instead of starting one")
    ap.add_argument("--token", default="annoflow-test-token-0123456789", help="its legacy API token (with --url)")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="annoflow-bench-ls-"))
    figures: dict[str, float] = {}
    run = f"{int(time.time())}"

    t0 = time.perf_counter()
    ls = (SimpleNamespace(url=args.url, token=args.token) if args.url else start_label_studio(root / "ls"))
    figures["startup_s"] = time.perf_counter() - t0
    print(f"label studio up in {figures['startup_s']:.1f} s at {ls.url}")
    try:
        cfg = _config(f"bench-push-{run}", root)
        with LabelStudioBackend(ls.url, ls.token, cfg.name) as b:
            b.ensure_project(cfg)
            tasks = _tasks(args.tasks, "push")
            with _Phase(ls, figures, "push") as ph:
                created = b.push(tasks)
            assert created == args.tasks, created
            print(f"push {created:,} tasks with predictions: {ph} "
                  f"{created / ph.wall:,.0f} tasks/s; target <= 15 s for 10,000")
        with LabelStudioBackend(ls.url, ls.token, cfg.name) as b:  # a new process would start like this
            with _Phase(ls, figures, "repush") as ph:
                again = b.push(tasks)
            assert again == 0, again
            print(f"re-push {args.tasks:,} (idempotent, id map read back from Label Studio): {ph}, {again} imported")

        cfg2 = _config(f"bench-pull-{run}", root)
        n = args.annotations
        with LabelStudioBackend(ls.url, ls.token, cfg2.name) as b:
            rows = [{"data": {"text": f"annotated text {i}", "ref": b.refs.seal(f"pull-{i}", f"item-{i}")},
                     "annotations": [{"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                                  "value": {"choices": [LABELS[i % 3]]}}], "lead_time": 1.5}]}
                    for i in range(n)]
            pid = b.ensure_project(cfg2)
            with _Phase(ls, figures, "import_annotated") as ph:
                for start in range(0, n, 5_000):
                    b.client.post(f"/api/projects/{pid}/import", json=rows[start:start + 5_000])
            print(f"import {n:,} annotated tasks: {ph}")
            cursor, total, pages = None, 0, 0
            seen: set[str] = set()
            with _Phase(ls, figures, "pull") as ph:
                while True:
                    page, cursor = b.pull(cursor, limit=5_000)
                    pages += 1
                    total += page.num_rows
                    seen.update(page.column("judgment_id").to_pylist())
                    if page.num_rows < 5_000:
                        break
            assert total == n == len(seen), (total, n, len(seen))
            print(f"pull {total:,} judgments in {pages} pages: {ph} "
                  f"{total / ph.wall:,.0f}/s; target <= 30 s for 10,000")
            with _Phase(ls, figures, "pull_empty") as ph:
                empty, _ = b.pull(cursor)
            assert empty.num_rows == 0
            print(f"pull from the end, nothing new, all tasks updated within the last minute: {ph}")

            ids = list(b.task_ids().values())[: args.posted]
            # Post onto tasks that already carry one annotation: LS allows several per task.
            with make_client(ls.url, ls.token, auth_scheme="Token") as c:
                t0 = time.perf_counter()
                for tid in ids:
                    c.post(f"/api/tasks/{tid}/annotations", json={"result": [{
                        "from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["pos"]}}],
                        "lead_time": 2.0})
                figures["post_annotation_ms"] = (time.perf_counter() - t0) / max(len(ids), 1) * 1000
            print(f"post {len(ids)} annotations one by one: {figures['post_annotation_ms']:.1f} ms each")
            with _Phase(ls, figures, "pull_new") as ph:
                new, _ = b.pull(cursor)
            assert new.num_rows == len(ids), new.num_rows
            print(f"pull the {new.num_rows} new judgments after the cursor: {ph}")
    finally:
        if not args.url:
            remove(ls)
    return figures


if __name__ == "__main__":
    main()
