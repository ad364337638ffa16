"""Gold and audit tasks cannot be told from ordinary work by anything an annotator sees in Label Studio."""

from __future__ import annotations

import uuid

import pytest

from tasks.dispatch import dispatch
from tasks.errors import RequestRefusedError
from tasks.http import make_client
from tasks.queues import open_backend
from tests.dispatch.probe import flatten, probe, seed_mixed_project
from tests.labelstudio.server import invite_annotator

pytestmark = pytest.mark.slow


def _next(c, pid: int) -> dict | None:
    """The next task Label Studio gives this annotator (None: 404, nothing left)."""
    try:
        return c.get(f"/api/projects/{pid}/next").json()
    except RequestRefusedError as e:
        if e.status == 404:
            return None
        raise


def test_a_probe_annotator_cannot_tell_gold_or_audits_from_work(make_project, label_studio, monkeypatch):
    url, token = label_studio
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)
    cfg = make_project(name=f"ls-probe-{uuid.uuid4().hex[:8]}",
                       queue={"backend": "label_studio", "url": url, "show_prelabels": True},
                       overlap={"policy": "fixed", "initial": 1, "max": 1}, gold={"rate": 0.1, "min_per_annotator": 0})
    kinds = seed_mixed_project(cfg)
    report = dispatch(cfg)
    assert report["created_by_kind"]["gold"] >= 25 and report["created_by_kind"]["audit"] == 30
    with open_backend(cfg) as b:
        pid = b.ensure_project(cfg)

    # An annotator of the organization: the labeling stream (`next`) and the Data Manager's rows
    annotator = invite_annotator(url, token, f"probe-{uuid.uuid4().hex[:6]}@annoflow.test")
    rows: list[dict[str, float]] = []
    special: list[bool] = []
    leaked: list[float] = []
    served: list[dict] = []
    with make_client(url, annotator, auth_scheme="Token", retries=1, timeout=120) as c:
        manager = {t["id"]: t for t in c.get("/api/tasks", params={"project": pid, "fields": "all",
                                                                    "page_size": 1000}).json()["tasks"]}
        while (task := _next(c, pid)) is not None:
            served.append(task)
            text = task["data"]["text"]
            rows.append({**flatten(task), **flatten(manager[task["id"]], "dm"), "position": float(len(rows))})
            special.append(kinds[text] != "work")
            leaked.append(float(bool(task["predictions"]) and kinds[text] == "work"))
            done = c.post(f"/api/tasks/{task['id']}/annotations", json={"result": [{
                "from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [cfg.labels[0]]}}]})
            assert done.status_code == 201
    assert len(rows) == report["pushed"]
    predicted = [r.get("len:predictions", 0.0) for r in rows]
    on_work = sum(p for p, sp in zip(predicted, special) if not sp) / special.count(False)
    on_special = sum(p for p, sp in zip(predicted, special) if sp) / special.count(True)
    assert 0.6 < on_work < 0.95 and 0.6 < on_special < 0.95, (on_work, on_special)  # the machine's coverage
    assert all(p.get("score") is None for t in served for p in t["predictions"])  # a score would mark audits
    found = probe(rows, special)
    print("probe, Label Studio:", found)
    assert found["n_special"] >= 55
    assert found["tree"] <= found["bound"] and found["logit"] <= found["bound"], found
    with_leak = probe([{**r, "leak": v} for r, v in zip(rows, leaked)], special)
    print("probe with the old leak:", with_leak)
    assert with_leak["tree"] > with_leak["bound"] + 0.03, with_leak
