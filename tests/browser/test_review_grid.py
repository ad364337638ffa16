"""The grid of machine labels in a real headless Chromium, by keyboard only, for text, image and audio items.

Each test starts its own app on a fresh store, pushes audit tasks with machine answers, and drives
/review/grid with tests/browser/review_grid.cjs: move with the arrows, reject the focused tile, accept
the rest with Shift+A, submit with Enter. The pipeline's pull must then carry each decision on the
right item. Screenshots land in the test's tmp folder (`shots/`).
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import wave
from pathlib import Path

import httpx
import pytest
from PIL import Image

from annotation_app.process import start_app
from tests.browser.span_harness import CHROMIUM, browser_missing

ADMIN = "grid-admin-token"
DRIVER = Path(__file__).with_name("review_grid.cjs")

pytestmark = pytest.mark.slow


def _require_browser() -> None:
    if missing := browser_missing():
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")


def run_grid(tmp_path: Path, url: str, token: str, name: str, keys: list[str], *, media: str | None = None,
             rounds: int = 1) -> dict:
    """Drive the grid page; returns what the driver saw (see review_grid.cjs)."""
    shots = tmp_path / "shots"
    shots.mkdir(exist_ok=True)
    plan = tmp_path / f"{name}.json"
    plan.write_text(json.dumps({"url": url, "chromium": CHROMIUM, "userDataDir": str(tmp_path / f"profile-{name}"),
                                "screenshotDir": str(shots), "name": name, "token": token, "keys": keys,
                                "media": media, "rounds": rounds}))
    run = subprocess.run(["node", str(DRIVER), str(plan)], check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"browser driver failed:\n{run.stderr}"
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert not seen["errors"], seen["errors"]
    assert not seen["foreign"], f"the page asked for something outside the app: {seen['foreign']}"
    return seen


def project(admin: httpx.Client, pid: str, tasks: list[dict], **settings: object) -> None:
    admin.put(f"/api/projects/{pid}", json={"labels": ["cat", "dog", "bird"], **settings}).raise_for_status()
    admin.post(f"/api/projects/{pid}/tasks", json={"tasks": tasks}).raise_for_status()


def reviewer(admin: httpx.Client, aid: str) -> str:
    return admin.post("/api/annotators", json={"annotator_id": aid, "roles": ["reviewer"]}).json()["token"]


def pulled(admin: httpx.Client, pid: str) -> dict[str, dict]:
    return {j["item_id"]: j for j in admin.get(f"/api/projects/{pid}/judgments").json()["judgments"]}


@pytest.fixture
def app(tmp_path: Path):
    media = tmp_path / "media"
    media.mkdir()
    proc = start_app(tmp_path / "app.db", ADMIN, media_roots=[media], log=tmp_path / "app.log")
    try:
        with httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30) as admin:
            yield proc, admin, media
    finally:
        proc.stop()


def test_text_grid_move_reject_accept_page_and_submit_by_keyboard(tmp_path: Path, app) -> None:
    _require_browser()
    proc, admin, _ = app
    n = 24
    labels = ["cat", "dog", "bird"]
    tasks = [{"assignment_id": f"audit:t{i:02d}", "item_id": f"t{i:02d}", "kind": "audit", "priority": -i,
              "payload": f"item {i:02d}: a short review sentence", "prelabel": labels[i % 3], "prelabel_score": 0.97}
             for i in range(n)]
    project(admin, "texts", tasks)
    seen = run_grid(tmp_path, f"{proc.url}/review/grid?project=texts", reviewer(admin, "rev-text"), "text",
                    ["ArrowRight", "ArrowDown", "r", "ArrowLeft", "comment:guideline_question:Is sarcasm a cat?",
                     "Shift+A", "Enter"])
    first = seen["first"]
    assert first["n"] == n and first["cols"] > 1
    assert first["answers"][:3] == ["cat", "dog", "bird"] and first["lines"][0].startswith("item 00")
    target = 1 + first["cols"]  # right once, down once
    assert seen["focus_after"][0] == target  # after ArrowDown
    assert seen["before_submit"]["rejected"] == [target] and seen["before_submit"]["accepted"] == n - 1
    # C on the focused tile (R moved focus on to target + 1, the left arrow back to target) opened its thread
    assert seen["thread_closed"] and any("Is sarcasm a cat?" in t and "guideline question" in t for t in seen["thread"])
    (question,) = admin.get("/api/projects/texts/questions").json()["questions"]
    assert question["item_id"] == f"t{target:02d}" and question["author"] == "rev-text"
    assert "1 rejected" in seen["before_submit"]["counter"] and f"{n - 1} accepted" in seen["before_submit"]["counter"]
    assert seen["submit"]["stored"] == n
    assert seen["after"]["empty"] and f"{n} submitted" in seen["after"]["counter"]
    rows = pulled(admin, "texts")
    assert len(rows) == n
    rejected = [item for item, j in rows.items() if j["decision"] == "reject"]
    assert rejected == [f"t{target:02d}"] and rows[f"t{target:02d}"]["label"] is None
    assert all(j["decision"] == "accept" and j["label"] == labels[int(item[1:]) % 3]
               for item, j in rows.items() if item != f"t{target:02d}")
    assert all(j["annotator_id"] == "rev-text" for j in rows.values())


def test_image_grid_shows_thumbnails_with_machine_boxes_or_labels(tmp_path: Path, app) -> None:
    _require_browser()
    proc, admin, media = app
    colours = [(200, 40, 40), (40, 160, 60), (40, 70, 200)]
    tasks = []
    for i in range(9):
        f = media / f"img{i}.png"
        Image.new("RGB", (96, 64), colours[i % 3]).save(f)
        tasks.append({"assignment_id": f"audit:i{i}", "item_id": f"i{i}", "kind": "audit", "priority": -i,
                      "media_uri": f"file://{f}", "prelabel": ["cat", "dog", "bird"][i % 3]})
    project(admin, "images", tasks, data_kind="image")
    seen = run_grid(tmp_path, f"{proc.url}/review/grid?project=images", reviewer(admin, "rev-img"), "image",
                    ["r", "ArrowRight", "Shift+A", "Enter"], media="image")
    assert seen["first"]["n"] == 9 and seen["first"]["thumbnails"] == 9
    assert seen["before_submit"]["rejected"] == [0]  # R decided the first tile, focus moved on
    rows = pulled(admin, "images")
    assert rows["i0"]["decision"] == "reject" and all(rows[f"i{i}"]["decision"] == "accept" for i in range(1, 9))


def _tone(path: Path, freq: float, seconds: float = 1.0, rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq * t / rate)
                                                           * (t / (seconds * rate)))) for t in range(int(seconds * rate))))


def test_audio_grid_draws_a_waveform_per_tile(tmp_path: Path, app) -> None:
    _require_browser()
    proc, admin, media = app
    tasks = []
    for i in range(4):
        f = media / f"tone{i}.wav"
        _tone(f, 220 * (i + 1))
        tasks.append({"assignment_id": f"audit:a{i}", "item_id": f"a{i}", "kind": "audit", "priority": -i,
                      "media_uri": f"file://{f}", "prelabel": "bird"})
    project(admin, "sounds", tasks, data_kind="audio")
    seen = run_grid(tmp_path, f"{proc.url}/review/grid?project=sounds", reviewer(admin, "rev-audio"), "audio",
                    ["Shift+A", "Enter"], media="audio")
    assert seen["first"]["n"] == 4 and seen["first"]["waveforms"] == 4
    assert {j["decision"] for j in pulled(admin, "sounds").values()} == {"accept"}


def test_structured_answers_are_drawn_on_their_tiles_spans_and_boxes(tmp_path: Path, app) -> None:
    _require_browser()
    proc, admin, media = app
    text = "Ada Lovelace met Charles Babbage in London."
    admin.put("/api/projects/ner", json={"labels": ["person", "place"], "task_kind": "spans"}).raise_for_status()
    admin.post("/api/projects/ner/tasks", json={"tasks": [
        {"assignment_id": f"audit:s{i}", "item_id": f"s{i}", "kind": "audit", "payload": text, "priority": -i,
         "prelabel": [{"start": 0, "end": 12, "label": "person"}, {"start": 36, "end": 42, "label": "place"}][: i + 1]}
        for i in range(2)]}).raise_for_status()
    seen = run_grid(tmp_path, f"{proc.url}/review/grid?project=ner", reviewer(admin, "rev-ner"), "spans",
                    ["ArrowRight", "r", "Enter"])
    assert seen["first"]["marks"] == [[["Ada Lovelace", "person"]], [["Ada Lovelace", "person"], ["London", "place"]]]
    assert seen["first"]["answers"] == ["person", "person, place"]
    rows = pulled(admin, "ner")
    assert rows["s1"]["decision"] == "reject" and "s0" not in rows  # only the decided tile was submitted
    f = media / "scene.png"
    Image.new("RGB", (120, 80), (230, 230, 230)).save(f)
    admin.put("/api/projects/det", json={"labels": ["car", "tree"], "task_kind": "boxes", "data_kind": "image"}).raise_for_status()
    boxes = [{"x": 10.0, "y": 12.0, "w": 40.0, "h": 30.0, "label": "car"}, {"x": 70.0, "y": 5.0, "w": 20.0, "h": 60.0, "label": "tree"}]
    admin.post("/api/projects/det/tasks", json={"tasks": [
        {"assignment_id": "audit:b0", "item_id": "b0", "kind": "audit", "media_uri": f"file://{f}", "prelabel": boxes}]}
    ).raise_for_status()
    seen = run_grid(tmp_path, f"{proc.url}/review/grid?project=det", reviewer(admin, "rev-det"), "boxes",
                    ["a", "Enter"], media="image")
    assert seen["first"]["boxes"] == 2 and seen["first"]["answers"] == ["car, tree"]
    accepted = pulled(admin, "det")["b0"]
    assert accepted["decision"] == "accept" and json.loads(accepted["answer"]) == boxes
