"""The rating scale in the REAL annotation page: two rating tasks pushed to the app (one with a machine
suggestion), a person in headless Chromium scoring two criteria by number keys (a key picks the score
and moves to the next criterion, ↑ goes back, → raises a score), Enter refused until every criterion has a
score; the judgments the app stores hold the scores. Screenshots: `<tmp_path>/shots/app-rating-*.png`.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from schemas.config import ProjectConfig
from tests.browser.conftest import BrowserApp

pytestmark = pytest.mark.slow
TEXTS = {"alpha": "Answer alpha: Paris is the capital of France.",
         "beta": "Answer beta: the moon is made of cheese, which is well known."}


def test_score_criteria_by_keyboard_in_the_real_page(browser_app: BrowserApp) -> None:
    cfg = ProjectConfig.model_validate({
        "name": "rating-page", "data_kind": "text", "task_kind": "rating", "labels": ["unused", "scale"],
        "instructions": "Rate each answer.", "sources": [{"path": "x.jsonl"}], "queue": {"url": browser_app.url},
        "answer": {"scale": [1, 5], "criteria": ["accuracy", "fluency"],
                   "anchors": {"1": "unusable", "3": "acceptable", "5": "perfect"}}})
    admin = browser_app.project(cfg)
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
    out = browser_app.drive("rating_app.cjs", token, tasks)
    judgments = admin.pull(None)[0].to_pylist()
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
        assert (browser_app.shots / f"{name}.png").stat().st_size > 5000
