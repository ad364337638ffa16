"""Boxes through a real Label Studio 1.23.2: `<RectangleLabels>` over `<Image>`, a pre-label pushed as a
prediction in percent of the image, annotations pulled back as boxes in pixels (an edited prediction
included), an edit of an annotation pulled as a revision, and a rotated rectangle refused naming the
result and field."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from tasks.http import make_client
from tasks.kinds import kind_of
from tasks.queues import open_backend
from tasks.queues.base import ANSWER_PROBLEM
from tests.kinds.boxes.project import (
    IMAGES,
    TRUTH,
    boxes_config,
    draw_images,
)

pytestmark = pytest.mark.slow

SUGGESTED = [{"x": 18.0, "y": 57.0, "w": 56.0, "h": 35.0, "label": "car"},   # a little off
             {"x": 110.0, "y": 30.0, "w": 16.0, "h": 40.0, "label": "sign"}]  # a person, mislabelled


def _rect(name: str, x: float, y: float, w: float, h: float, label: str, rotation: float = 0) -> dict:
    """A rectangle as Label Studio's editor saves it: percentages of the image, and the image's size."""
    width, height = IMAGES[name][:2]
    return {"id": uuid.uuid4().hex[:10], "from_name": "label", "to_name": "image", "type": "rectanglelabels",
            "original_width": width, "original_height": height, "image_rotation": 0,
            "value": {"x": x / width * 100, "y": y / height * 100, "width": w / width * 100, "height": h / height * 100,
                      "rotation": rotation, "rectanglelabels": [label]}}


def _near(got: list[dict], want: list[dict]) -> bool:
    key = lambda b: (b["label"], b["x"], b["y"])
    return len(got) == len(want) and all(g["label"] == w["label"] and all(abs(g[k] - w[k]) <= 0.01 for k in "xywh")
                                         for g, w in zip(sorted(got, key=key), sorted(want, key=key)))


def test_boxes_push_prediction_pull_pixels_and_edits(tmp_path: Path, label_studio, monkeypatch) -> None:
    url, token = label_studio
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)
    cfg = boxes_config(tmp_path / "project", name=f"ls-boxes-{uuid.uuid4().hex[:8]}",
                       queue={"backend": "label_studio", "url": url, "show_prelabels": True})
    files = draw_images(tmp_path / "media")
    queue = kind_of(cfg).queue
    rows = [{"assignment_id": f"a-{name}", "item_id": name, "kind": "label", "media_uri": path.as_uri(),
             "prelabel": json.dumps(SUGGESTED) if name == "street1.png" else None,
             "metadata": json.dumps({"file": name, "width": IMAGES[name][0], "height": IMAGES[name][1]})}
            for name, path in files.items()]
    with open_backend(cfg) as b, make_client(url, token, auth_scheme="Token", retries=1) as c:
        b.ensure_project(cfg)
        assert b.push(pa.Table.from_pylist(rows)) == 3
        pid = b._project()
        assert '<RectangleLabels name="label" toName="image"' in c.get(f"/api/projects/{pid}").json()["label_config"]
        listed = c.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
        tasks = {}
        for t in listed:
            full = c.get(f"/api/tasks/{t['id']}").json()
            name = next(n for n, (w, h, _) in IMAGES.items() if (w, h) == _png_size(full["data"]["image"]))
            tasks[name] = full
        # The pre-label arrives as a prediction in percent of the 160x120 image, and reads back as pixels.
        preds = [p["result"] for p in tasks["street1.png"]["predictions"]]
        assert len(preds) == 1 and [tasks[n]["predictions"] for n in ("street2.png", "street3.png")] == [[], []]
        car = next(r for r in preds[0] if r["value"]["rectanglelabels"] == ["car"])
        assert car["value"]["x"] == pytest.approx(18 / 160 * 100) and car["value"]["height"] == pytest.approx(35 / 120 * 100)
        assert _near(queue.from_label_studio(preds[0], cfg), SUGGESTED)
        # The annotator fixes the prediction (car tightened, sign -> person), draws a sign, says "no objects",
        # and draws one rotated rectangle (which annoflow cannot store as a box).
        fixed = []
        for r in preds[0]:
            if r["value"]["rectanglelabels"] == ["car"]:
                fixed.append(_rect("street1.png", 20, 60, 50, 30, "car"))
            else:
                fixed.append({**r, "value": {**r["value"], "rectanglelabels": ["person"]}})
        annotations = {"street1.png": fixed, "street2.png": [_rect("street2.png", 60, 8, 20, 20, "sign")],
                       "street3.png": []}
        ids = {}
        for name, result in annotations.items():
            r = c.post(f"/api/tasks/{tasks[name]['id']}/annotations", json={"result": result, "lead_time": 4.0})
            assert r.status_code == 201, r.text
            ids[name] = r.json()["id"]
        page, cursor = b.pull(None)
        got = {j["item_id"]: j for j in page.to_pylist()}
        assert set(got) == set(IMAGES)
        for name in IMAGES:
            assert got[name].get(ANSWER_PROBLEM) is None, got[name]
            assert _near(json.loads(got[name]["answer"]), TRUTH[name]), (name, got[name]["answer"])
        # Edits are pulled: the sign moved by 4 px, and a rotated rectangle added to street3.
        r = c.patch(f"/api/annotations/{ids['street2.png']}", json={"result": [_rect("street2.png", 56, 8, 20, 20, "sign")]})
        assert r.status_code == 200, r.text
        r = c.patch(f"/api/annotations/{ids['street3.png']}",
                    json={"result": [_rect("street3.png", 10, 10, 30, 20, "car", rotation=30)]})
        assert r.status_code == 200, r.text
        page, _ = b.pull(cursor)
        edits = {j["item_id"]: j for j in page.to_pylist()}
    assert set(edits) == {"street2.png", "street3.png"}, edits
    assert "@" in edits["street2.png"]["judgment_id"]  # a revision of the annotation pulled before
    assert _near(json.loads(edits["street2.png"]["answer"]), [{"x": 56, "y": 8, "w": 20, "h": 20, "label": "sign"}])
    problem = json.loads(edits["street3.png"][ANSWER_PROBLEM])
    assert (problem["reason"], problem["field"]) == ("rotated_box", "result[0].value.rotation"), problem


def _png_size(data_uri: str) -> tuple[int, int]:
    """(width, height) of an inline PNG (Label Studio keeps the data URI the backend sent)."""
    import base64
    import struct

    raw = base64.b64decode(data_uri.split(",", 1)[1])
    return struct.unpack(">II", raw[16:24])
