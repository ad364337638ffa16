"""Pairwise through a real Label Studio 1.23.2: the `Pairwise` config over the comparison's fields pushed as task
data, annotations (left, right, the tie choice, a reason) pulled back as answers in the item's order, and a
`selected` that is neither side set aside naming the result and field."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from tasks.http import make_client
from tasks.queues import open_backend
from tasks.queues.base import ANSWER_PROBLEM
from tests.conftest import write_project

pytestmark = pytest.mark.slow

ITEMS = {f"p{k}": {"prompt": f"Question {k}", "a": f"first answer {k}", "b": f"second answer {k}",
                   "system_a": "s1", "system_b": "s2"} for k in range(4)}


def _pick(selected: str) -> dict:
    return {"id": uuid.uuid4().hex[:10], "from_name": "pairwise", "to_name": "a,b", "type": "pairwise",
            "value": {"selected": selected}}


def test_pairwise_push_and_pull_with_label_studio(tmp_path: Path, label_studio, monkeypatch) -> None:
    url, token = label_studio
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)
    cfg = write_project(tmp_path / "project", name=f"ls-pairwise-{uuid.uuid4().hex[:8]}", task_kind="pairwise",
                        queue={"backend": "label_studio", "url": url}, answer={"allow_ties": True})
    rows = [{"assignment_id": f"a-{k}", "item_id": k, "kind": "label", "payload": json.dumps(v), "prelabel": None}
            for k, v in ITEMS.items()]
    with open_backend(cfg) as b, make_client(url, token, auth_scheme="Token", retries=1) as c:
        b.ensure_project(cfg)
        assert b.push(pa.Table.from_pylist(rows)) == 4
        pid = b._project()
        assert '<Pairwise name="pairwise" toName="a,b"/>' in c.get(f"/api/projects/{pid}").json()["label_config"]
        listed = c.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
        by_prompt = {t["data"]["prompt"]: t for t in listed}
        assert set(by_prompt) == {v["prompt"] for v in ITEMS.values()}
        assert by_prompt["Question 0"]["data"]["a"] == "first answer 0" and by_prompt["Question 0"]["data"]["b"] == "second answer 0"
        annotations = {
            "Question 0": [_pick("left")],
            "Question 1": [_pick("right"), {"from_name": "reason", "to_name": "prompt", "type": "textarea",
                                            "value": {"text": ["clearer"]}}],
            "Question 2": [{"from_name": "tie", "to_name": "prompt", "type": "choices", "value": {"choices": ["tie"]}}],
            "Question 3": [_pick("up")],
        }
        for prompt, result in annotations.items():
            r = c.post(f"/api/tasks/{by_prompt[prompt]['id']}/annotations", json={"result": result, "lead_time": 3.0})
            assert r.status_code == 201, r.text
        page, _ = b.pull(None)
    got = {j["item_id"]: j for j in page.to_pylist()}
    assert json.loads(got["p0"]["answer"]) == {"choice": "A", "swapped": False}
    assert json.loads(got["p1"]["answer"]) == {"choice": "B", "swapped": False, "reason": "clearer"}
    assert json.loads(got["p2"]["answer"]) == {"choice": "tie", "swapped": False}
    problem = json.loads(got["p3"][ANSWER_PROBLEM])
    assert problem["field"] == "result[0].value.selected", problem
