"""Pairwise through a real Label Studio 1.23.2: the `Pairwise` config over two panes whose order is drawn per task
(stored in the task's data as `swapped`), annotations (left, right, the tie choice, a reason) pulled back as answers
that say which candidate was preferred and where it sat, a media candidate shown as an image, a prediction placed on
the side the task shows, and a `selected` that is neither side set aside naming the result and field."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from tasks.http import make_client
from tasks.kinds.pairwise.labelstudio import shown_swapped
from tasks.queues import open_backend
from tasks.queues.base import ANSWER_PROBLEM
from tests.conftest import write_project

pytestmark = pytest.mark.slow

ITEMS = {f"p{k}": {"prompt": f"Question {k}", "a": f"first answer {k}", "b": f"second answer {k}",
                   "system_a": "s1", "system_b": "s2"} for k in range(4)}


def _pick(selected: str) -> dict:
    return {"id": uuid.uuid4().hex[:10], "from_name": "pairwise", "to_name": "left,right", "type": "pairwise",
            "value": {"selected": selected}}


def _preferred(answer: dict) -> str:
    if answer["choice"] == "tie":
        return "tie"
    return "a" if (answer["choice"] == "A") != answer["swapped"] else "b"


def test_pairwise_push_and_pull_with_label_studio(tmp_path: Path, label_studio, monkeypatch) -> None:
    from PIL import Image

    url, token = label_studio
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)
    Image.new("RGB", (24, 16), (200, 30, 30)).save(tmp_path / "red.png")
    items = {**ITEMS, "p4": {"prompt": "Question 4: which picture?", "a": f"file://{tmp_path / 'red.png'}",
                             "b": "a description instead of a picture", "system_a": "s1", "system_b": "s2"}}
    cfg = write_project(tmp_path / "project", name=f"ls-pairwise-{uuid.uuid4().hex[:8]}", task_kind="pairwise",
                        queue={"backend": "label_studio", "url": url, "show_prelabels": True}, answer={"allow_ties": True})
    # a machine's suggestion on p0 (candidate b preferred): Label Studio shows it on the side p0's task shows b
    rows = [{"assignment_id": f"a-{k}", "item_id": k, "kind": "label", "payload": json.dumps(v),
             "prelabel": json.dumps({"choice": "B", "swapped": False}) if k == "p0" else None} for k, v in items.items()]
    swapped = {k: shown_swapped(f"a-{k}") for k in items}
    assert swapped["p0"] and not swapped["p3"]  # both orders among these tasks
    with open_backend(cfg) as b, make_client(url, token, auth_scheme="Token", retries=1) as c:
        b.ensure_project(cfg)
        assert b.push(pa.Table.from_pylist(rows)) == 5
        pid = b._project()
        config = c.get(f"/api/projects/{pid}").json()["label_config"]
        assert '<Pairwise name="pairwise" toName="left,right"/>' in config and '<HyperText name="left" value="$left"' in config
        listed = c.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
        by_prompt = {t["data"]["prompt"]: t for t in listed}
        assert set(by_prompt) == {v["prompt"] for v in items.values()}
        for k, v in items.items():
            data = by_prompt[v["prompt"]]["data"]
            assert data["swapped"] is swapped[k] and (data["a"], data["b"]) == (v["a"], v["b"])  # item order kept
            if k != "p4":
                left, right = (v["b"], v["a"]) if swapped[k] else (v["a"], v["b"])
                assert left in data["left"] and right in data["right"], data
        red = by_prompt[items["p4"]["prompt"]]["data"]
        pane = red["right"] if swapped["p4"] else red["left"]
        assert pane.startswith('<img src="data:image/png;base64,'), pane  # inlined: no local-files storage configured
        pred = c.get("/api/predictions", params={"task": by_prompt["Question 0"]["id"]}).json()
        assert [r["value"] for r in pred[0]["result"]] == [{"selected": "left"}]  # p0 shows b on the left
        annotations = {
            "Question 0": [_pick("left")],    # shown swapped: left is candidate b
            "Question 1": [_pick("right"), {"from_name": "reason", "to_name": "prompt", "type": "textarea",
                                            "value": {"text": ["clearer"]}}],
            "Question 2": [{"from_name": "tie", "to_name": "prompt", "type": "choices", "value": {"choices": ["tie"]}}],
            "Question 3": [_pick("left")],    # the item's order: left is candidate a
            "Question 4: which picture?": [_pick("up")],
        }
        for prompt, result in annotations.items():
            r = c.post(f"/api/tasks/{by_prompt[prompt]['id']}/annotations", json={"result": result, "lead_time": 3.0})
            assert r.status_code == 201, r.text
        page, _ = b.pull(None)
    got = {j["item_id"]: j for j in page.to_pylist()}
    assert json.loads(got["p0"]["answer"]) == {"choice": "A", "swapped": True}
    assert _preferred(json.loads(got["p0"]["answer"])) == "b"
    assert json.loads(got["p1"]["answer"]) == {"choice": "B", "swapped": True, "reason": "clearer"}
    assert _preferred(json.loads(got["p1"]["answer"])) == "a"
    assert json.loads(got["p2"]["answer"]) == {"choice": "tie", "swapped": True}
    assert json.loads(got["p3"]["answer"]) == {"choice": "A", "swapped": False}
    problem = json.loads(got["p4"][ANSWER_PROBLEM])
    assert problem["field"] == "result[0].value.selected", problem
