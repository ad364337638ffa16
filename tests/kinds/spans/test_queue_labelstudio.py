"""Spans in a real Label Studio 1.23.2: it accepts the config and the suggested spans as predictions,
and an annotation's regions come back as the same spans (session fixture `label_studio`)."""

from __future__ import annotations

import json
import uuid

import pytest

from schemas.config import ProjectConfig
from tasks.http import make_client
from tasks.kinds import get

pytestmark = pytest.mark.slow

Q = get("spans").queue
TEXT = "😀 Zoë met 👩‍💻 Ana in São Paulo 🎉"
ANSWER = [{"start": 2, "end": 5, "label": "person"}, {"start": 14, "end": 17, "label": "person"},
          {"start": 21, "end": 30, "label": "location"}]


@pytest.mark.parametrize("snap", [True, False])
def test_label_studio_takes_the_config_predictions_and_gives_the_spans_back(label_studio, snap: bool) -> None:
    url, token = label_studio
    cfg = ProjectConfig(name="ner", task_kind="spans", labels=["person", "location", "org"],
                        answer={"snap_to_tokens": snap})
    with make_client(url, token, auth_scheme="Token", retries=1) as c:
        pid = c.post("/api/projects", json={"title": f"spans-{uuid.uuid4().hex[:8]}",
                                            "label_config": Q.label_studio_config(cfg)}).json()["id"]
        try:
            results = Q.to_label_studio(json.dumps(ANSWER), cfg, TEXT)
            r = c.post(f"/api/projects/{pid}/import", params={"return_task_ids": "true"},
                       json=[{"data": {"text": TEXT}, "predictions": [{"model_version": "t", "result": results}]}]).json()
            assert r["prediction_count"] == 1
            task_id = r["task_ids"][0]
            # An annotator keeps Zoë and Ana, retypes nothing, drops São Paulo and marks "Paulo" as location.
            edited = results[:2] + [{"from_name": "label", "to_name": "text", "type": "labels", "id": "x1",
                                     "value": {"start": 28, "end": 33, "text": "Paulo", "labels": ["location"]}}]
            assert c.post(f"/api/tasks/{task_id}/annotations", json={"result": edited}).status_code == 201
            task = c.get(f"/api/tasks/{task_id}").json()
        finally:
            c.delete(f"/api/projects/{pid}")
    assert task["data"]["text"] == TEXT
    [prediction] = task["predictions"]
    assert json.loads(Q.from_label_studio(prediction["result"], cfg, task["data"]["text"])) == ANSWER
    [annotation] = task["annotations"]
    assert json.loads(Q.from_label_studio(annotation["result"], cfg, task["data"]["text"])) == [
        *ANSWER[:2], {"start": 25, "end": 30, "label": "location"}]
