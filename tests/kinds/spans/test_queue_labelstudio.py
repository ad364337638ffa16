"""Spans in a real Label Studio 1.23.2: it accepts the config and the suggested spans as predictions,
and an annotation's regions come back as the same spans (session fixture `label_studio`)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from annotation_app.process import REPO_ROOT
from schemas.config import ProjectConfig
from tasks.http import make_client
from tasks.kinds import get
from tests.browser.span_harness import CHROMIUM, browser_missing
from tests.labelstudio.server import ADMIN_EMAIL

pytestmark = pytest.mark.slow

Q = get("spans").queue
TEXT = "😀 Zoë met 👩‍💻 Ana in São Paulo 🎉"
ANSWER = [{"start": 2, "end": 5, "label": "person"}, {"start": 14, "end": 17, "label": "person"},
          {"start": 21, "end": 30, "label": "location"}]


def _config(snap: bool) -> ProjectConfig:
    return ProjectConfig(name="ner", task_kind="spans", labels=["person", "location", "org"], answer={"snap_to_tokens": snap})


@contextmanager
def _ls_project(label_studio, cfg: ProjectConfig) -> Iterator[tuple[httpx.Client, int]]:
    """A Label Studio project with the spans config (Label Studio validates it), deleted afterwards."""
    url, token = label_studio
    with make_client(url, token, auth_scheme="Token", retries=1) as c:
        pid = c.post("/api/projects", json={"title": f"spans-{uuid.uuid4().hex[:8]}",
                                            "label_config": Q.label_studio_config(cfg)}).json()["id"]
        try:
            yield c, pid
        finally:
            c.delete(f"/api/projects/{pid}")


@pytest.mark.parametrize("snap", [True, False])
def test_label_studio_takes_the_config_predictions_and_gives_the_spans_back(label_studio, snap: bool) -> None:
    cfg = _config(snap)
    with _ls_project(label_studio, cfg) as (c, pid):
        results = Q.to_label_studio(json.dumps(ANSWER), cfg, TEXT)
        r = c.post(f"/api/projects/{pid}/import", params={"return_task_ids": "true"},
                   json=[{"data": {"text": TEXT}, "predictions": [{"model_version": "t", "result": results}]}]).json()
        assert r["prediction_count"] == 1
        task_id = r["task_ids"][0]
        # An annotator keeps Zoë and Ana, drops São Paulo and marks "Paulo" alone as location.
        edited = results[:2] + [{"from_name": "label", "to_name": "text", "type": "labels", "id": "x1",
                                 "value": {"start": 25, "end": 30, "text": "Paulo", "labels": ["location"]}}]
        assert c.post(f"/api/tasks/{task_id}/annotations", json={"result": edited}).status_code == 201
        task = c.get(f"/api/tasks/{task_id}").json()
    assert task["data"]["text"] == TEXT
    [prediction] = task["predictions"]
    assert Q.from_label_studio(prediction["result"], cfg, task["data"]["text"]) == ANSWER
    [annotation] = task["annotations"]
    assert Q.from_label_studio(annotation["result"], cfg, task["data"]["text"]) == [
        *ANSWER[:2], {"start": 25, "end": 30, "label": "location"}]


def test_label_studio_own_page_reads_and_writes_code_points(label_studio, tmp_path) -> None:
    """In Chromium on Label Studio's labeling page: our regions are drawn over the right words, and a
    region an annotator marks after three emoji (six UTF-16 units, three code points) comes back right."""
    missing = browser_missing()
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")
    cfg = _config(False)
    with _ls_project(label_studio, cfg) as (c, pid):
        shown, marked = c.post(f"/api/projects/{pid}/import", params={"return_task_ids": "true"},
                               json=[{"data": {"text": TEXT}}, {"data": {"text": TEXT}}]).json()["task_ids"]
        r = c.post(f"/api/tasks/{shown}/annotations", json={"result": Q.to_label_studio(json.dumps(ANSWER), cfg, TEXT)})
        assert r.status_code == 201
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps(dict(
            url=label_studio[0], email=ADMIN_EMAIL, password="annoflow-test-password", project=pid, task=shown,
            mark=dict(task=marked, text="São Paulo", key="2"), chromium=CHROMIUM,
            userDataDir=str(tmp_path / "profile"), screenshot=str(tmp_path / "label-studio.png"))))
        run = subprocess.run(["node", str(REPO_ROOT / "tests" / "browser" / "ls_regions.cjs"), str(plan)],
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        [annotation] = c.get(f"/api/tasks/{marked}").json()["annotations"]
    assert json.loads(run.stdout.strip().splitlines()[-1])["regions"] == ["Zoë", "Ana", "São Paulo"]
    assert Q.from_label_studio(annotation["result"], cfg, TEXT) == [
        {"start": 21, "end": 30, "label": "location"}]
