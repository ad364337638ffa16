"""Comments and guideline questions travel from the app to the state database and into each version's lineage.

Real parts: the session's app process (people write threads there), collect (pulls them into DuckDB
`comments`), export (writes `lineage/comments.parquet` for the exported items), trace (an item's thread).
"""

from __future__ import annotations

import duckdb
import httpx

from tasks.collect import collect
from tasks.export import versions as V
from tasks.export.lineage import COMMENTS_FILE
from tasks.export.stage import export
from tasks.export.trace import trace_item
from tasks.store import open_store
from tests.conftest import ADMIN_TOKEN
from tests.export.conftest import iid, seed_state


def _comments(cfg) -> list[tuple]:
    with open_store(cfg.db_path) as con:
        return con.execute("SELECT item_id, kind, body, resolution FROM comments ORDER BY created_at").fetchall()


def test_threads_are_pulled_idempotently_and_listed_in_the_version_lineage(queue_project, app_server) -> None:
    cfg = queue_project()
    seed_state(cfg, 6, unresolved=2)  # items 0-5 resolved (exported), 6-7 not
    with httpx.Client(base_url=app_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        admin.put(f"/api/projects/{cfg.name}", json={"labels": cfg.labels}).raise_for_status()
        admin.post(f"/api/projects/{cfg.name}/tasks", json={"tasks": [
            {"assignment_id": f"a{i}", "item_id": iid(i), "kind": "audit", "payload": f"text number {i}",
             "prelabel": cfg.labels[0]} for i in (0, 1, 7)]}).raise_for_status()
        token = admin.post("/api/annotators", json={"annotator_id": f"rev-{cfg.name}", "roles": ["reviewer"]}).json()["token"]
        with httpx.Client(base_url=app_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as rev:
            for i, kind, body in ((0, "comment", "the machine missed the irony"), (1, "guideline_question", "are links spam?"),
                                  (7, "comment", "not exported yet")):
                rev.post(f"/api/items/{cfg.name}/{iid(i)}/comments", json={"kind": kind, "body": body}).raise_for_status()
        first = collect(cfg)
        assert first["comments"] == 3 and len(_comments(cfg)) == 3
        question = admin.get(f"/api/projects/{cfg.name}/questions").json()["questions"][0]
        admin.post(f"/api/projects/{cfg.name}/questions/{question['comment_id']}/resolve",
                   json={"resolution": "only when they sell something"}).raise_for_status()
    collect(cfg)  # again: the same rows, the question now answered
    rows = _comments(cfg)
    assert len(rows) == 3 and (iid(1), "guideline_question", "are links spam?", "only when they sell something") in rows
    result = export(cfg)
    lineage = V.version_dir(cfg, result.version) / COMMENTS_FILE
    assert str(COMMENTS_FILE) in result.manifest["files"]
    got = duckdb.sql(f"SELECT item_id, kind, body, resolution FROM '{lineage}' ORDER BY item_id").fetchall()
    assert sorted(got) == sorted([(iid(0), "comment", "the machine missed the irony", None),
                                  (iid(1), "guideline_question", "are links spam?", "only when they sell something")])
    assert [c["body"] for c in trace_item(cfg, iid(1))["comments"]] == ["are links spam?"]
    assert trace_item(cfg, iid(2))["comments"] == []
