"""The box tool in the REAL annotation page: tasks with generated street images (one with machine
suggestions) pushed to the app, a person in headless Chromium accepting and fixing suggestions,
resizing by a handle, relabelling by key, drawing boxes by mouse drag (zoomed in and on a small
image shown enlarged) and answering "no objects" by one key; the judgments the app stores hold the
boxes in pixels of each image. Screenshots: `<tmp_path>/shots/app-boxes-*.png`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from tasks.queues.builtin import BuiltinBackend
from tests.browser.conftest import BrowserApp
from tests.kinds.boxes.project import (
    IMAGES,
    TRUTH,
    boxes_config,
    draw_images,
)

pytestmark = pytest.mark.slow
TOLERANCE_PX = 0.75  # pixels of the image; the smallest image is shown about 9x, so one screen pixel is ~0.1


def push_tasks(backend: BuiltinBackend, files: dict[str, Path], suggestions: dict[str, list[dict]]) -> None:
    rows = [{"assignment_id": f"a-{name}", "item_id": name, "kind": "label", "priority": float(-i),
             "media_uri": path.as_uri(), "prelabel": json.dumps(suggestions[name]) if name in suggestions else None,
             "metadata": json.dumps({"width": IMAGES[name][0], "height": IMAGES[name][1]})}
            for i, (name, path) in enumerate(files.items())]
    assert backend.push(pa.Table.from_pylist(rows)) == len(rows)


def close(got: list[dict], want: list[dict]) -> bool:
    key = lambda b: (b["label"], round(b["x"]), round(b["y"]))
    got, want = sorted(got, key=key), sorted(want, key=key)
    return len(got) == len(want) and all(
        g["label"] == w["label"] and all(abs(g[k] - w[k]) <= TOLERANCE_PX for k in "xywh") for g, w in zip(got, want))


def test_draw_resize_relabel_and_submit_boxes_in_the_real_page(tmp_path: Path, browser_app: BrowserApp) -> None:
    files = draw_images(tmp_path / "media")
    cfg = boxes_config(name="boxes-page", queue={"url": browser_app.url},
                       instructions="Box every car, person and sign.")
    admin = browser_app.project(cfg)
    # The machine found the car a little off and took the person for a sign.
    # On the small image it found the sign right.
    push_tasks(admin, files, {"street1.png": [
        {"x": 18.0, "y": 57.0, "w": 56.0, "h": 35.0, "label": "car"},
        {"x": 110.0, "y": 30.0, "w": 16.0, "h": 40.0, "label": "sign"}], "street2.png": TRUTH["street2.png"]})
    token = admin.create_annotator("box-person")
    tasks = {
        "160x120": [
            {"shot": "app-boxes-suggested"},
            {"submit": True}, {"status": True},          # unreviewed suggestions: Enter sends nothing
            {"click": [40, 75]},                          # select the car suggestion
            {"drag": [18, 57, 20, 60]},                   # its top-left handle to (20, 60)
            {"drag": [70, 90, 70, 90]},                   # (a click on a corner: no change)
            {"drag": [74, 92, 70, 90]},                   # its bottom-right handle to (70, 90)
            {"click": [118, 50]}, {"press": "2"},         # the "sign" is a person: key 2
            {"press": "Escape"}, {"press": "3"},          # new boxes are signs
            {"wheel": [140, 20, -400]},                   # zoom in at the top right
            {"drag": [130, 10, 150, 25]},                 # draw a sign there
            {"view": True}, {"shot": "app-boxes-edited"}, {"submit": True},
        ],
        "96x64": [
            {"shot": "app-boxes-small-image"}, {"view": True},
            {"pan": [-120, 30]}, {"view": True},          # Space+drag pans the view
            {"press": "Tab"}, {"press": "a"}, {"status": True},  # select the suggestion, accept it
            {"press": "3"}, {"drag": [30, 40, 50, 55]}, {"status": True},  # a box on the enlarged image
            {"press": "Delete"},                                  # drawn by mistake: deleted
            {"drag": [40, 45, 41, 46]}, {"status": True},  # smaller than min_size_px: refused
            {"shot": "app-boxes-small-drawn"}, {"submit": True},
        ],
        "128x96": [{"press": "0"}],                      # no objects: submits by itself
    }
    out = browser_app.drive("box_app.cjs", token, tasks)
    judgments = admin.pull(None)[0].to_pylist()
    assert out["errors"] == []
    seen = {s["size"]: s for s in out["seen"]}
    assert list(seen) == ["160x120", "96x64", "128x96"]
    assert "2 suggested" in seen["160x120"]["log"][0]["status"]
    assert seen["160x120"]["log"][1]["view"]["scale"] > 5  # zoomed in past the fitted view
    before, after = (seen["96x64"]["log"][i]["view"] for i in (0, 1))
    assert before["scale"] > 5  # 96x64 pixels shown about 7x
    assert (after["ox"] - before["ox"], after["oy"] - before["oy"]) == pytest.approx((-120, 30))
    small = [x["status"] for x in seen["96x64"]["log"][2:]]
    assert small[0].startswith("1 box ·") and "suggested" not in small[0], small
    assert small[1].startswith("2 boxes · selected: sign 30,40 20×15 px"), small
    assert "too small" in small[2] and small[2].startswith("1 box"), small
    for s in out["seen"]:  # the tool's keys are listed under the shell's Enter / skip line
        assert any(k.startswith("2 label person") for k in s["keys"]) and any(k.startswith("0 no objects") for k in s["keys"])
    answers = {j["item_id"]: json.loads(j["answer"]) for j in judgments}
    assert close(answers["street1.png"], [
        {"x": 20, "y": 60, "w": 50, "h": 30, "label": "car"}, {"x": 110, "y": 30, "w": 16, "h": 40, "label": "person"},
        {"x": 130, "y": 10, "w": 20, "h": 15, "label": "sign"}]), answers["street1.png"]
    assert close(answers["street2.png"], [{"x": 60, "y": 8, "w": 20, "h": 20, "label": "sign"}]), answers["street2.png"]
    assert answers["street3.png"] == []
    for name in ("app-boxes-suggested", "app-boxes-edited", "app-boxes-small-image", "app-boxes-small-drawn"):
        assert (browser_app.shots / f"{name}.png").stat().st_size > 5000
