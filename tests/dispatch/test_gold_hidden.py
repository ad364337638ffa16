"""Gold and audit tasks cannot be told from ordinary work by anything the built-in app serves."""

from __future__ import annotations

import time
import uuid

from tasks.dispatch import dispatch
from tasks.http import make_client
from tasks.queues import BuiltinBackend
from tests.conftest import ADMIN_TOKEN
from tests.dispatch.probe import flatten, probe, seed_mixed_project


def test_a_probe_annotator_cannot_tell_gold_or_audits_from_work(queue_project, fresh_app):
    cfg = queue_project(queue={"url": fresh_app.url, "show_prelabels": True},
                        overlap={"policy": "fixed", "initial": 1, "max": 1},
                        gold={"rate": 0.1, "min_per_annotator": 3})
    with BuiltinBackend(fresh_app.url, ADMIN_TOKEN, cfg.name) as b:
        tokens = [b.create_annotator(f"probe-{k}") for k in range(3)]
    kinds = seed_mixed_project(cfg)
    report = dispatch(cfg)
    assert report["created_by_kind"]["gold"] >= 30 and report["created_by_kind"]["audit"] == 30

    # three annotators work side by side; everything each is sent for a task (the task, the
    # heartbeat's and the submit's answers, timings, its place in their stream) is recorded
    rows: list[dict[str, float]] = []
    special: list[bool] = []
    leaked: list[float] = []
    clients = [make_client(fresh_app.url, t) for t in tokens]
    try:
        served = [0] * len(clients)
        active = set(range(len(clients)))
        while active:
            for k in sorted(active):
                c = clients[k]
                task = c.post(f"/api/annotate/{cfg.name}/next").json()["task"]
                if task is None:
                    active.discard(k)
                    continue
                received = time.time()
                beat = c.post(f"/api/annotate/leases/{task['lease_id']}/heartbeat").json()
                row = {**flatten(task), **flatten(beat, "heartbeat"), "position": float(served[k]),
                       "lease_left": task["expires_at"] - received, "beat_extends": beat["expires_at"] - task["expires_at"]}
                served[k] += 1
                answer = c.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                                json={"client_id": uuid.uuid4().hex, "label": cfg.labels[0]}).json()
                rows.append({**row, **flatten(answer, "submit"), "answered_after": answer["submitted_at"] - received})
                special.append(kinds[task["payload"]] != "work")
                # the old behaviour, for the probe's power: a suggestion only ever on ordinary work
                leaked.append(float(task["suggestion"] is not None and kinds[task["payload"]] == "work"))
    finally:
        for c in clients:
            c.close()

    assert len(rows) == report["pushed"]
    suggested = [r.get("has:suggestion.answer", 0.0) for r in rows]
    on_work = sum(s for s, sp in zip(suggested, special) if not sp) / special.count(False)
    on_special = sum(s for s, sp in zip(suggested, special) if sp) / special.count(True)
    assert 0.6 < on_work < 0.95 and 0.6 < on_special < 0.95, (on_work, on_special)  # the machine's coverage
    found = probe(rows, special)
    assert found["n_special"] >= 60
    print("probe, built-in app:", found)
    assert found["tree"] <= found["bound"] and found["logit"] <= found["bound"], found
    with_leak = probe([{**r, "leak": v} for r, v in zip(rows, leaked)], special)
    print("probe with the old leak:", with_leak)
    assert with_leak["tree"] > with_leak["bound"] + 0.03, with_leak  # the same probe catches the old leak
