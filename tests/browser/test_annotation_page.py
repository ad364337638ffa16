"""The annotation page in a real headless Chromium against a real app process.

One annotator per data kind (text, image, audio) labels two items, one by keyboard and one by
click; the judgments must then come back through the pipeline's pull API (`BuiltinBackend.pull`).
Collect (writing them into DuckDB) is tested with the collect stage, not here.

Needs Debian's chromium and playwright-core in `.ci/node_modules`, which `.ci/run` installs
(`bash .ci/browser.sh`); without them the test fails with that instruction.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import struct
import subprocess
import tomllib
import wave
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image

from annotation_app.process import REPO_ROOT, start_app
from tasks.queues.builtin import BuiltinBackend

ADMIN = "browser-admin-token"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PLAYWRIGHT = REPO_ROOT / ".ci" / "node_modules" / "playwright-core"

pytestmark = pytest.mark.slow


def _require_browser() -> None:
    missing = [what for what, ok in (("chromium", Path(CHROMIUM).exists()), ("node", shutil.which("node")),
                                     ("playwright-core", PLAYWRIGHT.exists())) if not ok]
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")


def _write_media(root: Path) -> None:
    Image.new("RGB", (64, 48), (200, 40, 40)).save(root / "red.png")
    Image.new("RGB", (32, 32), (40, 40, 200)).save(root / "blue.png")
    for name, freq in (("beep.wav", 440.0), ("boop.wav", 220.0)):
        with wave.open(str(root / name), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
            w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / 8000)))
                                   for i in range(4000)))


def _tasks(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows)


def _drive(tmp_path: Path, app_url: str, sessions: list[dict], viewport: dict | None = None) -> dict:
    """Run the sessions in headless Chromium; screenshots of each session's first task go to tmp_path/shots."""
    plan, shots = tmp_path / "plan.json", tmp_path / "shots"
    shots.mkdir(exist_ok=True)
    plan.write_text(json.dumps(dict(url=app_url, chromium=CHROMIUM, userDataDir=str(tmp_path / "profile"),
                                    screenshotDir=str(shots), sessions=sessions, viewport=viewport)))
    run = subprocess.run(["node", str(Path(__file__).with_name("drive.cjs")), str(plan)],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, f"browser driver failed:\n{run.stderr}\napp log: {tmp_path / 'app.log'}"
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_label_text_image_audio_by_keyboard_and_click(tmp_path: Path) -> None:
    _require_browser()
    media = tmp_path / "media"
    media.mkdir()
    _write_media(media)
    app = start_app(tmp_path / "app.db", ADMIN, media_roots=[media], log=tmp_path / "app.log")
    try:
        projects = {
            "text": dict(labels=["pos", "neg", "neutral"], task_kind="single_label", data_kind="text",
                         instructions="Is the review positive?"),
            "image": dict(labels=["red", "blue"], task_kind="single_label", data_kind="image"),
            "audio": dict(labels=["speech", "music", "noise"], task_kind="multi_label", data_kind="audio"),
        }
        tasks = {
            "text": [dict(assignment_id="t1", item_id="i-t1", payload="Great phone, love it", prelabel=["pos"],
                          prelabel_score=0.9),
                     dict(assignment_id="t2", item_id="i-t2", payload="Broke after a day")],
            "image": [dict(assignment_id="m1", item_id="i-m1", media_uri=f"file://{media / 'red.png'}"),
                      dict(assignment_id="m2", item_id="i-m2", media_uri=f"file://{media / 'blue.png'}")],
            "audio": [dict(assignment_id="a1", item_id="i-a1", media_uri=f"file://{media / 'beep.wav'}"),
                      dict(assignment_id="a2", item_id="i-a2", media_uri=f"file://{media / 'boop.wav'}")],
        }
        # Per session: first item by keyboard (digits then Enter), second by clicking labels and Submit.
        steps = {
            "text": [dict(by="keyboard", keys=["1"]), dict(by="click", labels=["neg"])],
            "image": [dict(by="keyboard", keys=["1"]), dict(by="click", labels=["blue"])],
            "audio": [dict(by="keyboard", keys=["1", "3"]), dict(by="click", labels=["music", "noise"])],
        }
        backends, sessions = {}, []
        for kind, settings in projects.items():
            b = BuiltinBackend(app.url, ADMIN, f"browser-{kind}")
            b.client.put(f"/api/projects/browser-{kind}", json=settings)
            assert b.push(_tasks(tasks[kind])) == 2
            token = b.create_annotator(f"ann-{kind}", projects=[f"browser-{kind}"])
            backends[kind] = b
            sessions.append(dict(name=kind, kind=kind, token=token, steps=steps[kind]))

        seen = _drive(tmp_path, app.url, sessions)
        shots = tmp_path / "shots"

        for kind in projects:
            assert seen[kind]["errors"] == [], seen[kind]["errors"]
        text_views = seen["text"]["seen"]
        assert {v["text"] for v in text_views} == {"Great phone, love it", "Broke after a day"}
        for kind in projects:  # the counter follows the queue: 2 tasks left (one of them on screen), then 1
            assert [v["left"] for v in seen[kind]["seen"]] == [2, 1], seen[kind]["seen"]
        assert any(v["suggestion"] and "pos" in v["suggestion"] for v in text_views)
        assert sorted(tuple(v["image"]) for v in seen["image"]["seen"]) == [(32, 32), (64, 48)]
        assert all(v["audio_seconds"] == pytest.approx(0.5, abs=0.01) for v in seen["audio"]["seen"])
        assert all((shots / f"{k}.png").stat().st_size > 1000 for k in projects)

        got = {}
        for kind, b in backends.items():
            table, cursor = b.pull(None)
            rows = table.to_pylist()
            assert len(rows) == 2 and {r["annotator_id"] for r in rows} == {f"ann-{kind}"}
            assert all(r["duration_ms"] >= 0 and r["client_id"] for r in rows)
            got[kind] = [r["labels"] for r in rows]
            again, _ = b.pull(cursor)
            assert again.num_rows == 0
        # The app orders by priority then push order, so the first (keyboard) judgment is the first task.
        assert got["text"] == [["pos"], ["neg"]]
        assert got["image"] == [["red"], ["blue"]]
        assert [sorted(x) for x in got["audio"]] == [["noise", "speech"], ["music", "noise"]]
    finally:
        for b in locals().get("backends", {}).values():
            b.close()
        app.stop()


DIGITS = REPO_ROOT / "examples" / "digits-images"


def test_digits_at_1280x720_keys_select_their_digit_and_the_task_fits(tmp_path: Path) -> None:
    """The digits example as an annotator sees it on a 1280x720 screen.

    Labels are the digits themselves, so key k must select label "k" (0 and 9 included); a 64x64
    scan must be drawn large and blocky; the task and every button must be visible without scrolling
    while the example's long instructions are shown.
    """
    _require_browser()
    cfg = tomllib.loads((DIGITS / "annoflow.toml").read_text())
    with (DIGITS / "truth" / "labels.csv").open() as f:
        truth = {r["file"]: r["label"] for r in csv.DictReader(f)}
    images = DIGITS / "data" / "images"
    files = [f for f in sorted(truth) if (images / f).exists()][:3]
    app = start_app(tmp_path / "app.db", ADMIN, media_roots=[images], log=tmp_path / "app.log")
    try:
        b = BuiltinBackend(app.url, ADMIN, "digits")
        b.client.put("/api/projects/digits", json=dict(labels=cfg["labels"], data_kind="image",
                                                        instructions=cfg["instructions"]))
        assert b.push(_tasks([dict(assignment_id=f"d{i}", item_id=f, media_uri=f"file://{images / f}")
                              for i, f in enumerate(files)])) == 3
        token = b.create_annotator("ann-digits", projects=["digits"])
        # A second project whose labels include "s" (that key must pick the label, not skip), and whose
        # first text is far longer than the screen (it scrolls in its box; the buttons stay in view).
        s = BuiltinBackend(app.url, ADMIN, "letters")
        s.client.put("/api/projects/letters", json=dict(labels=["s", "m", "unsure"], instructions=cfg["instructions"]))
        texts = [" ".join(f"word{i}" for i in range(1500)), "short text"]
        assert s.push(_tasks([dict(assignment_id=f"l{i}", item_id=f"l{i}", payload=t) for i, t in enumerate(texts)])) == 2
        token_s = s.create_annotator("ann-letters", projects=["letters"])
        # Some digit labels and a word: digits keep their own keys, the word takes a letter, not "3".
        m = BuiltinBackend(app.url, ADMIN, "mixed")
        m.client.put("/api/projects/mixed", json=dict(labels=["0", "1", "unsure"]))
        assert m.push(_tasks([dict(assignment_id="m0", item_id="m0", payload="which?")])) == 1
        token_m = m.create_annotator("ann-mixed", projects=["mixed"])
        steps = [dict(by="keyboard", keys=["3", "0", "9"]), dict(by="keyboard", keys=["0"]),
                 dict(by="keyboard", keys=["3"])]
        seen = _drive(tmp_path, app.url, [
            dict(name="digits", kind="image", token=token, steps=steps),
            dict(name="letters", kind="text", token=token_s,
                 steps=[dict(by="keyboard", keys=["1", "s"]), dict(by="keyboard", keys=["m"])]),
            dict(name="mixed", kind="text", token=token_m, steps=[dict(by="keyboard", keys=["3", "a", "1"])]),
        ], viewport={"width": 1280, "height": 720})
        digits = seen["digits"]
        assert digits["errors"] == []
        first = digits["seen"][0]
        assert first["selected"] == [["3"], ["0"], ["9"]]
        assert [v["selected"] for v in digits["seen"][1:]] == [[["0"]], [["3"]]]
        assert first["keys"] == {str(d): str(d) for d in range(10)}  # every digit's key is on its button
        for view in digits["seen"]:
            assert view["image"] == [64, 64]
            assert view["drawn"]["width"] >= 256 and view["drawn"]["pixelated"], view["drawn"]
        for view in digits["seen"] + seen["letters"]["seen"]:
            lay = view["layout"]
            assert lay["viewport"] == [1280, 720] and lay["scroll"][1] <= 720, lay
            for box in [lay["item"], lay["submit"], lay["skip"], *lay["labels"]]:
                assert 0 <= box["top"] and box["bottom"] <= 720 and box["right"] <= 1280, (box, lay)
            assert lay["instructionsOpen"] and lay["instructions"]["top"] < 720  # shown beside the task, not above it
        table, _ = b.pull(None)
        assert [r["labels"] for r in table.to_pylist()] == [["9"], ["0"], ["3"]]

        letters = seen["letters"]
        assert letters["errors"] == []
        assert letters["seen"][0]["keys"] == {"s": "S", "m": "M", "unsure": "1"}
        assert letters["seen"][0]["selected"] == [["unsure"], ["s"]]
        table, _ = s.pull(None)
        assert [r["labels"] for r in table.to_pylist()] == [["s"], ["m"]]
        mixed = seen["mixed"]["seen"][0]
        assert mixed["keys"] == {"0": "0", "1": "1", "unsure": "A"}
        assert mixed["selected"] == [[], ["unsure"], ["1"]]  # 3 is no label's key here
        assert (tmp_path / "shots" / "digits.png").stat().st_size > 1000
    finally:
        for c in (locals().get("b"), locals().get("s"), locals().get("m")):
            if c is not None:
                c.close()
        app.stop()
