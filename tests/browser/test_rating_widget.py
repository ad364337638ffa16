"""The rating scale in the REAL annotation page: two rating tasks pushed to the app (one with a machine
suggestion), a person in headless Chromium scoring two criteria by number keys (a key picks the score
and moves to the next criterion, ↑ goes back, → raises a score), Enter refused until every criterion has a
score; the judgments the app stores hold the scores. Screenshots: `<tmp_path>/shots/app-rating-*.png`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from annotation_app.process import start_app
from schemas.config import ProjectConfig
from tasks.queues.builtin import BuiltinBackend
from tests.browser.span_harness import CHROMIUM, browser_missing

pytestmark = pytest.mark.slow
ADMIN = "rating-widget-admin"
TEXTS = {"alpha": "Answer alpha: Paris is the capital of France.",
         "beta": "Answer beta: the moon is made of cheese, which is well known."}


def test_score_criteria_by_keyboard_in_the_real_page(tmp_path: Path) -> None:
    missing = browser_missing()
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")
    app = start_app(tmp_path / "app.db", ADMIN, media_roots=[tmp_path], log=tmp_path / "app.log")
    shots = tmp_path / "shots"
    shots.mkdir()
    try:
        cfg = ProjectConfig.model_validate({
            "name": "rating-page", "data_kind": "text", "task_kind": "rating", "labels": ["unused", "scale"],
            "instructions": "Rate each answer.", "sources": [{"path": "x.jsonl"}], "queue": {"url": app.url},
            "answer": {"scale": [1, 5], "criteria": ["accuracy", "fluency"],
                       "anchors": {"1": "unusable", "3": "acceptable", "5": "perfect"}}})
        with BuiltinBackend(app.url, ADMIN, cfg.name) as admin:
            admin.ensure_project(cfg)
            rows = [{"assignment_id": f"a-{w}", "item_id": w, "kind": "label", "priority": float(-i), "payload": t,
                     "prelabel": json.dumps({"scores": {"accuracy": 2, "fluency": 4}}) if w == "beta" else None}
                    for i, (w, t) in enumerate(TEXTS.items())]
            assert admin.push(pa.Table.from_pylist(rows)) == 2
            token = admin.create_annotator("rater")
            tasks = {
                "alpha": [{"rows": True}, {"submitEnabled": True},
                          {"press": "4"}, {"rows": True}, {"submitEnabled": True}, {"note": True},
                          {"press": "Enter"},                                   # refused: fluency has no score
                          {"press": "5"}, {"rows": True}, {"submitEnabled": True},
                          {"press": "ArrowUp"}, {"press": "5"},                 # back to accuracy: 5
                          {"rows": True}, {"shot": "app-rating-scored"}],
                "beta": [{"rows": True}, {"shot": "app-rating-suggested"},
                         {"press": "1"}, {"press": "ArrowRight"}, {"rows": True}],  # accuracy 1, then fluency 4 -> 5
            }
            plan = tmp_path / "plan.json"
            plan.write_text(json.dumps({"url": app.url, "chromium": CHROMIUM, "userDataDir": str(tmp_path / "profile"),
                                        "screenshotDir": str(shots), "token": token, "tasks": tasks}))
            run = subprocess.run(["node", str(Path(__file__).with_name("rating_app.cjs")), str(plan)],
                                 capture_output=True, text=True, timeout=240, check=False)
            assert run.returncode == 0, f"browser driver failed:\n{run.stderr}\napp log: {tmp_path / 'app.log'}"
            out = json.loads(run.stdout.strip().splitlines()[-1])
            judgments = admin.pull(None)[0].to_pylist()
    finally:
        app.stop()
    assert out["errors"] == []
    seen = {s["text"]: s for s in out["seen"]}
    assert list(seen) == [TEXTS["alpha"], TEXTS["beta"]]
    a = seen[TEXTS["alpha"]]
    # each row shows the five scores with their keys and anchors
    assert a["keys"][:5] == ["1key 1unusable", "2key 2", "3key 3acceptable", "4key 4", "5key 5perfect"]
    assert a["log"][0] == {"rows": [["accuracy", None], ["fluency", None]]} and a["log"][1] == {"submitEnabled": False}
    assert a["log"][2] == {"rows": [["accuracy", "4"], ["fluency", None]]} and a["log"][3] == {"submitEnabled": False}
    assert a["log"][4] == {"note": "Still to score: fluency"}
    assert a["log"][5] == {"rows": [["accuracy", "4"], ["fluency", "5"]]} and a["log"][6] == {"submitEnabled": True}
    assert a["log"][7] == {"rows": [["accuracy", "5"], ["fluency", "5"]]}
    b = seen[TEXTS["beta"]]
    assert b["log"][0] == {"rows": [["accuracy", "2"], ["fluency", "4"]]}  # the suggestion starts selected
    assert b["log"][1] == {"rows": [["accuracy", "1"], ["fluency", "5"]]}
    answers = {j["item_id"]: json.loads(j["answer"]) for j in judgments}
    assert answers == {"alpha": {"scores": {"accuracy": 5, "fluency": 5}}, "beta": {"scores": {"accuracy": 1, "fluency": 5}}}
    for name in ("app-rating-scored", "app-rating-suggested"):
        assert (shots / f"{name}.png").stat().st_size > 5000
