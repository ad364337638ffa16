"""The dashboard's routes on a real app process: admin token, attached projects, and a pipeline holding its file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import httpx
import pytest

from annotation_app.process import REPO_ROOT, start_app
from tests.report.history_fixture import write_fixture

ADMIN = "dash-admin"

pytestmark = pytest.mark.slow


def test_dashboard_routes_token_projects_and_a_busy_pipeline(tmp_path: Path) -> None:
    demo, other = write_fixture(tmp_path / "demo.duckdb"), write_fixture(tmp_path / "other.duckdb")
    app = start_app(tmp_path / "app.db", ADMIN, log=tmp_path / "app.log",
                    project_dbs={"demo": demo, "other": other, "later": tmp_path / "missing.duckdb"})
    auth = {"Authorization": f"Bearer {ADMIN}"}
    try:
        with httpx.Client(base_url=app.url, timeout=30) as c:
            page = c.get("/admin/dashboard")
            assert page.status_code == 200 and "dashboard-data" in page.text and "human:alice" not in page.text
            assert c.get("/admin/dashboard/chart.umd.min.js").text.startswith("/*!\n * Chart.js v4")
            assert c.get("/admin/dashboard/secrets.txt").status_code == 404
            assert c.get("/api/projects/demo/dashboard").status_code == 401
            assert c.get("/api/dashboards", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert c.get("/api/dashboards", headers=auth).json() == ["demo", "later", "other"]
            r = c.get("/api/projects/demo/dashboard", headers=auth)
            assert r.status_code == 200 and r.json()["stale"] is False
            assert r.json()["headline"]["human_judgments"] == 7
            r = c.get("/api/projects/nope/dashboard", headers=auth)
            assert (r.status_code, r.json()["error"]) == (404, "no_dashboard") and "'nope'" in r.json()["message"]
            r = c.get("/api/projects/later/dashboard", headers=auth)
            assert (r.status_code, r.json()["error"]) == (404, "no_state") and "annoflow ingest" in r.json()["message"]
            with duckdb.connect(str(demo)), duckdb.connect(str(other)):  # a stage holds both files read-write
                r = c.get("/api/projects/demo/dashboard", headers=auth)
                assert r.status_code == 200 and r.json()["stale"] is True and r.json()["headline"]["items"] == 10
                r = c.get("/api/projects/other/dashboard", headers=auth)  # never computed: nothing to fall back on
                assert (r.status_code, r.json()["error"]) == (503, "pipeline_busy")
            with duckdb.connect(str(demo)) as con:  # the app closed the file after each request: a stage gets it
                con.execute("UPDATE items SET state = 'resolved' WHERE state = 'new'").fetchall()
            r = c.get("/api/projects/demo/dashboard", headers=auth)
            assert r.json()["stale"] is False and r.json()["headline"]["resolved_share"] == 0.7
    finally:
        app.stop()


def test_a_malformed_project_db_option_is_refused_in_one_line(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "annotation_app", "--db", str(tmp_path / "a.db"), "--admin-token", "t",
                          "--project-db", "no-equals-sign"], cwd=REPO_ROOT, check=False, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.strip().count("\n") == 0 and "NAME=PATH" in run.stderr
