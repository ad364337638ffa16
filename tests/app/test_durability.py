"""SIGKILL the app while annotators submit; after a restart every acknowledged submit is there once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx

from annotation_app.process import start_app
from tasks.queues.builtin import BuiltinBackend
from tasks.queues.simulated_crowd import make_crowd, run_simulated_crowd

TOKEN = "durability-token"


def test_sigkill_mid_submits_loses_no_acknowledged_submit(tmp_path):
    app = start_app(tmp_path / "app.db", TOKEN, log=tmp_path / "app.log")
    try:
        with BuiltinBackend(app.url, TOKEN, "k") as b:
            b.client.put("/api/projects/k", json={"labels": ["a", "b"], "lease_seconds": 60})
            b.client.post("/api/projects/k/tasks", json={"tasks": [
                {"assignment_id": f"k-{i}", "item_id": f"i{i}", "payload": f"t{i}"} for i in range(20_000)]})
        result = {}
        crowd = make_crowd(6, ["a", "b"], seed=3, prefix="kill")
        runner = threading.Thread(target=lambda: result.setdefault("r", run_simulated_crowd(
            app.url, TOKEN, "k", lambda task: "a", crowd=crowd, duration_s=30, light_client=True)))
        runner.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # kill once submits are flowing
            counts = httpx.get(f"{app.url}/api/projects/k", headers={"Authorization": f"Bearer {TOKEN}"}).json()
            if counts["counts"]["done"] >= 300:
                break
            time.sleep(0.05)
        app.kill()
        runner.join(60)
        acked = result["r"].acknowledged
        assert len(acked) >= 300
        app.start()
        with BuiltinBackend(app.url, TOKEN, "k") as b:
            rows = b.pull_all(None)[0].to_pylist()
            stored = Counter((r["annotator_id"], r["client_id"]) for r in rows)
            assert all(stored[(a, c)] == 1 for a, c, _ in acked)
            assert max(stored.values()) == 1
            assert len({r["assignment_id"] for r in rows}) == len(rows)
            ids = {r["judgment_id"] for r in rows}
            assert all(j in ids for _, _, j in acked)
            counts = b.counts()
            assert counts["done"] == len(rows)
            assert sum(counts.values()) == 20_000
    finally:
        app.stop()
