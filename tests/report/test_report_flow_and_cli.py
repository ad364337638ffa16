"""The report attached to each export version (listed in its manifest, linked from a per-project Prefect
artifact) and `annoflow report` with the metrics as CSV/Parquet, on real DuckDB files and a real Prefect API."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from typer.testing import CliRunner

from annoflow_cli.main import app
from flows.common import artifact_key
from tasks.export import versions as V
from tests.conftest import write_project
from tests.export.conftest import seed_state
from tests.flows.test_reports import latest_artifact
from tests.report.history_fixture import write_fixture


def _inlined(html: str) -> dict:
    return json.loads(re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', html, re.DOTALL).group(1))


def test_each_export_version_carries_its_report_and_two_projects_keep_their_own_link(prefect_harness, tmp_path: Path) -> None:
    from flows.export import export_flow

    projects = [write_project(tmp_path / n, name=n) for n in ("quality-a", "Quality_B")]
    for k, cfg in enumerate(projects):
        seed_state(cfg, 20 + 10 * k)
        r = export_flow(project_dir=cfg.root, config=cfg)
        assert r["status"] == "published"
        m = V.read_manifest(cfg, r["version"])
        report = Path(r["path"]) / m["quality_report"]["file"]
        assert m["files"][m["quality_report"]["file"]]["sha256"] == hashlib.sha256(report.read_bytes()).hexdigest()
        data = _inlined(report.read_text(encoding="utf-8"))
        assert data["project"] == cfg.name and data["drift"]["versions"] == ["this version"]
        assert sum(data["drift"]["shares"][label][0] for label in data["drift"]["labels"]) == 1.0
        assert m["quality_report"]["headline"]["items"] == 23 + 10 * k  # 3 unresolved items per seeded project
    for k, cfg in enumerate(projects):
        art = latest_artifact(artifact_key(cfg, "quality-report"))
        assert (cfg.export_dir / "v0001" / "report" / "quality.html").as_uri() in art.data
        assert f"| {23 + 10 * k:,} |" in art.data  # this project's own headline


def test_cli_report_writes_html_and_metrics(tmp_path: Path) -> None:
    cfg = write_project(tmp_path / "p", name="demo")
    write_fixture(cfg.db_path)
    runner = CliRunner()
    out, csv, parquet = tmp_path / "r.html", tmp_path / "m.csv", tmp_path / "m.parquet"
    res = runner.invoke(app, ["report", "--config", cfg.root, "--out", str(out), "--metrics", str(csv), "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["metric_rows"] == 42 and body["headline"]["human_judgments"] == 7  # 14 metrics x 3 runs
    assert _inlined(out.read_text(encoding="utf-8"))["leaderboard"][0]["source"] == "human:alice"
    assert duckdb.sql(f"SELECT count(*), count(DISTINCT run_id) FROM read_csv('{csv}')").fetchall() == [(42, 3)]
    assert runner.invoke(app, ["report", "--config", cfg.root, "--out", str(out), "--metrics", str(parquet)]).exit_code == 0
    assert pq.read_table(parquet).num_rows == 42


def test_cli_report_user_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    fresh = write_project(tmp_path / "fresh", name="fresh")
    res = runner.invoke(app, ["report", "--config", fresh.root])
    assert res.exit_code == 2 and "run `annoflow ingest` first" in res.output and "Traceback" not in res.output
    cfg = write_project(tmp_path / "p", name="demo")
    write_fixture(cfg.db_path)
    res = runner.invoke(app, ["report", "--config", cfg.root, "--metrics", str(tmp_path / "m.xlsx")])
    assert res.exit_code == 2 and "must end in .csv or .parquet" in res.output
    (tmp_path / "dir.html").mkdir()
    res = runner.invoke(app, ["report", "--config", cfg.root, "--out", str(tmp_path / "dir.html" / "x" / "r.html")])
    assert res.exit_code == 0  # missing folders are created
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = runner.invoke(app, ["report", "--config", cfg.root, "--out", str(blocker / "r.html")])
    assert res.exit_code == 2 and "cannot write" in res.output and len(res.output.strip().splitlines()) == 1


def test_quality_artifact_shows_shares_as_percent_and_coefficients_as_decimals(tmp_path: Path) -> None:
    from flows.export import quality_markdown
    from tasks.report.data import dashboard_data

    with duckdb.connect(str(write_fixture(tmp_path / "s.duckdb")), read_only=True) as con:
        head = dashboard_data(con)["headline"]
    md = quality_markdown({"version": "v0003", "path": str(tmp_path / "v0003"),
                           "manifest": {"quality_report": {"file": "report/quality.html", "headline": head}}})
    assert (tmp_path / "v0003" / "report" / "quality.html").as_uri() in md
    assert "| 10 | 40.0% | 7 | 3 (1, 1) | alpha 0.70 | 92.0% | 0.300 |" in md
