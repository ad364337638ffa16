"""`annoflow questions`: the owner lists the open guideline questions of the project's app and answers one."""

from __future__ import annotations

import json

import httpx
from typer.testing import CliRunner

from annoflow_cli.main import app
from tests.conftest import ADMIN_TOKEN

runner = CliRunner()


def test_list_resolve_and_bad_input(queue_project, app_server) -> None:
    cfg = queue_project()
    root = str(cfg.root)
    with httpx.Client(base_url=app_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        admin.put(f"/api/projects/{cfg.name}", json={"labels": cfg.labels}).raise_for_status()
        admin.post(f"/api/projects/{cfg.name}/tasks", json={"tasks": [
            {"assignment_id": "q1", "item_id": "item-1", "payload": "buy now http://x"}]}).raise_for_status()
        token = admin.post("/api/annotators", json={"annotator_id": f"x-{cfg.name}", "roles": ["expert"]}).json()["token"]
    with httpx.Client(base_url=app_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as expert:
        asked = expert.post(f"/api/items/{cfg.name}/item-1/comments",
                            json={"kind": "guideline_question", "body": "is a bare link spam?"}).json()
    out = runner.invoke(app, ["questions", "--config", root])
    assert out.exit_code == 0, out.output
    assert asked["comment_id"] in out.output and "is a bare link spam?" in out.output and "item-1" in out.output
    out = runner.invoke(app, ["questions", "resolve", asked["comment_id"], "--answer", "yes", "--actor", "owner",
                              "--config", root])
    assert out.exit_code == 0 and "answered by owner" in out.output, out.output
    listed = json.loads(runner.invoke(app, ["questions", "--config", root, "--json"]).output)
    assert listed["questions"] == []
    resolved = json.loads(runner.invoke(app, ["questions", "--status", "resolved", "--config", root, "--json"]).output)
    assert [q["resolution"] for q in resolved["questions"]] == ["yes"]
    again = runner.invoke(app, ["questions", "resolve", asked["comment_id"], "--answer", "no", "--config", root])
    assert again.exit_code == 2 and "already" in again.output and "Traceback" not in again.output
    unknown = runner.invoke(app, ["questions", "resolve", "nope", "--answer", "x", "--config", root])
    assert unknown.exit_code == 2 and "no guideline question 'nope'" in unknown.output


def test_without_the_builtin_app_the_collected_questions_are_listed(make_project) -> None:
    from tasks.comments import store_comments
    from tasks.store import open_store

    cfg = make_project(queue={"backend": "label_studio", "url": "http://127.0.0.1:9"})
    with open_store(cfg.db_path) as con:
        store_comments(con, "ls", [
            {"comment_id": "c1", "item_id": "i1", "author": "rita", "kind": "guideline_question", "body": "emoji?",
             "created_at": 1.0},
            {"comment_id": "c2", "item_id": "i1", "author": "rita", "kind": "comment", "body": "fine", "created_at": 2.0}])
    out = runner.invoke(app, ["questions", "--config", str(cfg.root), "--json"])
    assert out.exit_code == 0, out.output
    assert [(q["comment_id"], q["body"]) for q in json.loads(out.output)["questions"]] == [("c1", "emoji?")]
    bad = runner.invoke(app, ["questions", "resolve", "c1", "--answer", "yes", "--config", str(cfg.root)])
    assert bad.exit_code == 2 and "built-in app" in bad.output
