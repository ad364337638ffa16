"""Pairwise through a real Label Studio 1.23.2: the `Pairwise` config over two panes whose order is drawn per task
(stored in the task's data as `swapped`), annotations (left, right, the tie choice, a reason) pulled back as answers
that say which candidate was preferred and where it sat, a media candidate shown as an image, a prediction placed on
the side the task shows, and a `selected` that is neither side set aside naming the result and field."""

from __future__ import annotations

import json
import subprocess
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


def _pictures(files_root: Path, **colours: tuple[int, int, int, int, int]) -> Path:
    """PNG files (name: width, height, r, g, b) in a fresh folder under Label Studio's local-files root."""
    from PIL import Image

    sub = files_root / f"pairs-{uuid.uuid4().hex[:6]}"
    sub.mkdir()
    for name, (w, h, *rgb) in colours.items():
        Image.new("RGB", (w, h), tuple(rgb)).save(sub / f"{name}.png")
    return sub


def test_pairwise_push_and_pull_with_label_studio(tmp_path: Path, label_studio, label_studio_files_root: Path,
                                                  monkeypatch) -> None:
    url, token = label_studio
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)
    sub = _pictures(label_studio_files_root, red=(24, 16, 200, 30, 30))
    items = {**ITEMS, "p4": {"prompt": "Question 4: which picture?", "a": f"file://{sub / 'red.png'}",
                             "b": "a description instead of a picture", "system_a": "s1", "system_b": "s2"}}
    cfg = write_project(tmp_path / "project", name=f"ls-pairwise-{uuid.uuid4().hex[:8]}", task_kind="pairwise",
                        queue={"backend": "label_studio", "url": url, "show_prelabels": True,
                               "local_files_root": str(label_studio_files_root)}, answer={"allow_ties": True})
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
        assert pane.startswith(f'<div class="af-pane"><img src="/data/local-files/?d={sub.name}/red.png"'), pane
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


def test_pairwise_in_label_studio_own_page(tmp_path: Path, label_studio, label_studio_files_root: Path, monkeypatch) -> None:
    """In Chromium on Label Studio's labeling page: a task drawn with b on the left shows the blue picture (b) on
    the left and the red one (a) on the right, both loaded; the annotator clicks the left pane and submits; the
    pull reads it as A with swapped true: candidate b preferred."""
    from annotation_app.process import REPO_ROOT
    from tests.browser.span_harness import CHROMIUM, browser_missing
    from tests.labelstudio.server import ADMIN_EMAIL

    missing = browser_missing()
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")
    url, token = label_studio
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)
    sub = _pictures(label_studio_files_root, red=(60, 40, 220, 30, 30), blue=(50, 50, 30, 30, 220))
    item = {"prompt": "Which picture is blue?", "a": f"file://{sub / 'red.png'}", "b": f"file://{sub / 'blue.png'}",
            "system_a": "s1", "system_b": "s2"}
    aid = next(f"pic-{k}" for k in range(20) if shown_swapped(f"pic-{k}"))  # a task that shows b on the left
    cfg = write_project(tmp_path / "project", name=f"ls-pairwise-page-{uuid.uuid4().hex[:8]}", task_kind="pairwise",
                        queue={"backend": "label_studio", "url": url, "local_files_root": str(label_studio_files_root)},
                        answer={"allow_ties": True})
    with open_backend(cfg) as b:
        b.ensure_project(cfg)
        assert b.push(pa.Table.from_pylist([{"assignment_id": aid, "item_id": "pic", "kind": "label",
                                             "payload": json.dumps(item), "prelabel": None}])) == 1
        pid, (task_id,) = b._project(), b.task_ids().values()
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps({"url": url, "email": ADMIN_EMAIL, "password": "annoflow-test-password", "project": pid,
                                    "task": task_id, "pick": "left", "chromium": CHROMIUM, "userDataDir": str(tmp_path / "profile"),
                                    "screenshot": str(tmp_path / "shots" / "label-studio-pairwise.png")}))
        (tmp_path / "shots").mkdir()
        run = subprocess.run(["node", str(REPO_ROOT / "tests" / "browser" / "ls_pairwise.cjs"), str(plan)],
                             capture_output=True, text=True, timeout=600, check=False)
        assert run.returncode == 0, run.stderr
        page, _ = b.pull(None)
    shown = json.loads(run.stdout.strip().splitlines()[-1])["panes"]
    assert [p["images"] for p in shown] == [[50], [60]], run.stdout  # blue (b) left, red (a) right, both loaded
    (judgment,) = page.to_pylist()
    answer = json.loads(judgment["answer"])
    assert answer == {"choice": "A", "swapped": True} and _preferred(answer) == "b"
    assert (tmp_path / "shots" / "label-studio-pairwise.png").stat().st_size > 5000
