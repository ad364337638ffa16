"""Ratings through a real Label Studio 1.23.2: the project's config (one `Rating` per criterion under the
`Text`) accepted, a machine rating pushed as a prediction, annotations as Label Studio stores them pulled
back as scores on the project's scale (0-4: stars shifted by one), and a criterion left unrated handed to
collect as a rating that names it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from schemas.config import ProjectConfig
from tasks.http import make_client
from tasks.kinds import kind_of
from tasks.queues import open_backend

pytestmark = pytest.mark.slow
TEXTS = {"t1": "The capital of France is Paris.", "t2": "Water boils at 50 degrees."}


def test_ratings_push_predictions_and_pull_scores(tmp_path: Path, label_studio, monkeypatch) -> None:
    url, token = label_studio
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)
    root = tmp_path / "project"
    root.mkdir()
    cfg = ProjectConfig.model_validate({
        "name": f"ls-rating-{uuid.uuid4().hex[:8]}", "data_kind": "text", "task_kind": "rating", "labels": ["u", "v"],
        "root": str(root), "sources": [{"path": "x.jsonl"}],
        "answer": {"scale": [0, 4], "criteria": ["accuracy", "fluency"], "anchors": {"0": "wrong", "4": "right"}},
        "queue": {"backend": "label_studio", "url": url, "show_prelabels": True}})
    queue = kind_of(cfg).queue
    rows = [{"assignment_id": f"a-{k}", "item_id": k, "kind": "label", "payload": t,
             "prelabel": json.dumps({"scores": {"accuracy": 4, "fluency": 3}}) if k == "t1" else None}
            for k, t in TEXTS.items()]
    with open_backend(cfg) as b, make_client(url, token, auth_scheme="Token", retries=1) as c:
        b.ensure_project(cfg)
        assert b.push(pa.Table.from_pylist(rows)) == 2
        pid = b._project()
        xml = c.get(f"/api/projects/{pid}").json()["label_config"]
        assert '<Rating name="label_accuracy" toName="text" maxRating="5"' in xml and '<Rating name="label_fluency"' in xml
        tasks = {}
        for t in c.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]:
            full = c.get(f"/api/tasks/{t['id']}").json()
            tasks[full["data"]["text"]] = full
        (pred,) = [p["result"] for p in tasks[TEXTS["t1"]]["predictions"]]
        assert queue.from_label_studio(pred, cfg) == {"scores": {"accuracy": 4, "fluency": 3}}
        assert tasks[TEXTS["t2"]]["predictions"] == []
        # The annotator lowers fluency on the first; on the second only accuracy is rated.
        fixed = [r if r["from_name"] == "label_accuracy" else {**r, "value": {"rating": 2}} for r in pred]
        partial = [{"id": "r1", "from_name": "label_accuracy", "to_name": "text", "type": "rating", "value": {"rating": 1}}]
        for task, result in ((tasks[TEXTS["t1"]], fixed), (tasks[TEXTS["t2"]], partial)):
            r = c.post(f"/api/tasks/{task['id']}/annotations", json={"result": result, "lead_time": 2.0})
            assert r.status_code == 201, r.text
        page, _ = b.pull(None)
    got = {j["item_id"]: json.loads(j["answer"]) for j in page.to_pylist()}
    assert got == {"t1": {"scores": {"accuracy": 4, "fluency": 1}}, "t2": {"scores": {"accuracy": 0, "fluency": None}}}
    # collect's check names the unrated criterion
    problems = kind_of(cfg).storage.validate(pa.table({"item_id": ["t2"], "source_id": ["ls"], "answer": [json.dumps(got["t2"])]}),
                                             pa.table({"item_id": ["t2"], "metadata": [None]}), cfg)
    assert problems["field"].to_pylist() == ["answer.scores.fluency"]
