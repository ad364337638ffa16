"""The quality dashboard in a real headless Chromium: the app's admin page and the offline HTML report.

Both are fed a project state with three runs of history (tests/report/history_fixture.py). Every plot
must be drawn with data (each chart has points in its datasets and paints its canvas), the leaderboard
must sort on a header click, and the report must draw everything with every network request refused.
Screenshots land in the test's tmp folder (`shots/`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from annotation_app.process import REPO_ROOT, start_app
from tasks.report.html import report_for_db
from tests.report.history_fixture import write_fixture

ADMIN = "dashboard-admin-token"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PLAYWRIGHT = REPO_ROOT / ".ci" / "node_modules" / "playwright-core"
CHARTS = {"throughput", "funnel", "accuracy", "agreement", "audit_precision", "cost", "time_per_item", "label_drift"}

pytestmark = pytest.mark.slow


def _require_browser() -> None:
    missing = [what for what, ok in (("chromium", Path(CHROMIUM).exists()), ("node", shutil.which("node")),
                                     ("playwright-core", PLAYWRIGHT.exists())) if not ok]
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")


def open_dashboard(tmp_path: Path, url: str, *, offline: bool = False, sort_by: str | None = None,
                   pause: str | None = None) -> dict:
    """Run tests/browser/dashboard.cjs on `url`; screenshots go to tmp_path/shots. `pause`: a source whose
    leaderboard pause button is clicked (its reason prompt answered)."""
    plan, shots = tmp_path / "plan.json", tmp_path / "shots"
    shots.mkdir(exist_ok=True)
    plan.write_text(json.dumps(dict(url=url, chromium=CHROMIUM, userDataDir=str(tmp_path / "profile"),
                                    screenshotDir=str(shots), offline=offline, sortBy=sort_by, pause=pause)))
    run = subprocess.run(["node", str(Path(__file__).with_name("dashboard.cjs")), str(plan)],
                         check=False, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, f"browser driver failed:\n{run.stderr}"
    return json.loads(run.stdout.strip().splitlines()[-1])


def _assert_all_drawn(seen: dict) -> None:
    assert not seen["errors"], seen["errors"]
    assert set(seen["charts"]) == CHARTS and not seen["empty_views"]
    for name, c in seen["charts"].items():
        assert c["datasets"] and all(d["points"] > 0 for d in c["datasets"]), (name, c["datasets"])
        assert c["painted"] > 0.01 * c["pixels"], f"{name}: canvas almost blank ({c['painted']} of {c['pixels']} px)"


def test_dashboard_page_draws_every_view_and_sorts_the_leaderboard(tmp_path: Path) -> None:
    _require_browser()
    db = write_fixture(tmp_path / "state.duckdb")
    app = start_app(tmp_path / "app.db", ADMIN, log=tmp_path / "app.log", project_dbs={"demo": db})
    try:
        seen = open_dashboard(tmp_path, f"{app.url}/admin/dashboard?project=demo#token={ADMIN}", sort_by="gold_accuracy")
    finally:
        app.stop()
    _assert_all_drawn(seen)
    # the series the fixture wrote, one dataset each (bands are two more datasets per banded series)
    labels = {c: [d["label"] for d in seen["charts"][c]["datasets"]] for c in seen["charts"]}
    assert {"human:alice", "human:bob"} <= set(labels["accuracy"])
    assert {"alpha", "alpha · pos", "mean_iou"} <= set(labels["agreement"])
    assert labels["label_drift"][:2] == ["neg", "pos"]
    assert "resolved40.0%" in seen["headline"] and "alpha0.70 (0.50–0.80)" in seen["headline"]
    # leaderboard: busiest first; one click on gold accuracy = highest first, missing values last; again = lowest first
    assert seen["sort"]["before"] == ["human:alice", "model:tfidf", "human:bob", "human:carol"]
    first, second = seen["sort"]["first_click"], seen["sort"]["second_click"]
    assert first["source"][:2] == ["human:alice", "human:bob"] and first["aria"] == "descending"
    assert first["values"][0] == "90.0% (60%–98%)"
    assert second["source"][:2] == ["human:bob", "human:alice"] and second["aria"] == "ascending"
    assert (tmp_path / "shots" / "dashboard.png").stat().st_size > 10_000


def test_report_renders_every_view_with_the_network_refused(tmp_path: Path) -> None:
    _require_browser()
    db = write_fixture(tmp_path / "state.duckdb")
    out = tmp_path / "report.html"
    report_for_db(db, out)
    html = out.read_text(encoding="utf-8")
    assert "<script src=" not in html and "http" not in html.split("<body>")[1].split("<script>")[0]  # nothing fetched by URL
    seen = open_dashboard(tmp_path, out.as_uri(), offline=True, sort_by="judgments")
    _assert_all_drawn(seen)
    assert seen["blocked"] == [] and all(u.startswith("file://") for u in seen["requests"])
    assert seen["sort"]["first_click"]["source"][0] == "human:carol"  # judgments ascending after one click
    assert seen["buttons"] == 0, "the report is read-only: no pause / resume buttons"
