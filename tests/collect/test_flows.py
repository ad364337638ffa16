"""The dispatch and collect flows on a real Prefect API, a real app and a real DuckDB file."""

from __future__ import annotations

import uuid

from flows.collect import collect_flow
from flows.dispatch import dispatch_flow
from tasks.http import make_client
from tasks.queues import BuiltinBackend
from tasks.store import open_store
from tests.conftest import ADMIN_TOKEN, seed_items


def test_dispatch_and_collect_flows(prefect_harness, queue_project, app_server):
    cfg = queue_project(overlap={"policy": "fixed", "initial": 1, "max": 1}, gold={"rate": 0.0})
    seed_items(cfg, ["flow item a", "flow item b"])
    r = dispatch_flow(project_dir=cfg.root)
    assert r["created"] == 2 and r["pushed"] == 2
    with BuiltinBackend(app_server.url, ADMIN_TOKEN, cfg.name) as b:
        token = b.create_annotator(f"flow-{uuid.uuid4().hex[:6]}")
    with make_client(app_server.url, token) as c:
        task = c.post(f"/api/annotate/{cfg.name}/next").json()["task"]
        while task:
            task = c.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                          json={"client_id": uuid.uuid4().hex, "label": "spam", "next": True}).json()["next"]["task"]
    c1 = collect_flow(project_dir=cfg.root, config=cfg)
    assert (c1["pulled"], c1["stored"]) == (2, 2)
    with open_store(cfg.db_path) as con:
        assert con.execute("SELECT count(*) FROM votes WHERE source_kind = 'human'").fetchall() == [(2,)]
        stages = con.execute("SELECT stage, status FROM stage_runs ORDER BY started_at").fetchall()
    assert stages == [("dispatch", "completed"), ("collect", "completed")]
