"""The pairwise sample project through `demo_flow`: every stage for real, simulated judges (the kind's simulation
facet) through the app's HTTP API, scored against the true preferences; the leaderboard (with intervals) puts the
strongest synthetic system first."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flows.demo import demo_flow

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "pairwise-answers"


def test_demo_judges_the_pairwise_sample(prefect_harness, tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "pairwise-answers"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".annoflow"))
    monkeypatch.delenv("ANNOFLOW_QUEUE_TOKEN", raising=False)
    s = demo_flow(project_dir=str(project))
    # 33 comparisons by a threaded simulated crowd of accuracy 0.7-0.95: 0.88-1.0 over runs; a crowd answering at
    # random scores about 0.5
    assert s["accuracy"] >= 0.8, s
    assert s["export"]["status"] == "published", s
    board = json.loads((Path(s["export"]["path"]) / "formats" / "leaderboard" / "leaderboard.json").read_text())
    order = [r["system"] for r in board["systems"]]
    # 33 comparisons by a threaded simulated crowd: atlas (right 95% of the time) and birch (85%) are too close
    # to order every run, so the test asks what the data can show: one of them leads, and the leaderboard's
    # rank interval never rules atlas out of first place
    assert order[0] in {"atlas", "birch"} and sorted(order) == ["atlas", "birch", "cedar", "delta", "ember"], order
    assert next(r for r in board["systems"] if r["system"] == "atlas")["rank_low"] == 1, board
    assert all(r["low"] <= r["strength"] <= r["high"] and r["rank_low"] <= r["rank"] <= r["rank_high"]
               for r in board["systems"])
