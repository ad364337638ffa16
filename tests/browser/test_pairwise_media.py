"""Comparisons whose candidates are media files: a JSONL of comparisons naming two small images (made here with
pillow) and a WAV file, ingested by the real stage into a real DuckDB file (a candidate naming a file that is not
there refused, naming the row and the field; the others stored as absolute `file://` URIs), pushed to a real app
whose media root holds them, and judged in headless Chromium: the side-by-side view shows each image and an audio
player, loaded through the lease's media URL, in the order the assignment draws; the adjudicator's compare view
shows the images in the item's order. Screenshots: `<tmp_path>/shots/app-pairwise-media*.png`, `conflict-pairwise-media.png`.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tasks.ingest.stage import ingest_source
from tasks.store import open_store
from tests.browser.conftest import BrowserApp
from tests.browser.test_conflict_view import _adjudication, _answers, _context
from tests.conftest import write_project

pytestmark = pytest.mark.slow


def _media(data: Path) -> None:
    from PIL import Image

    (data / "img").mkdir(parents=True)
    Image.new("RGB", (48, 32), (220, 30, 30)).save(data / "img" / "red.png")
    Image.new("RGB", (40, 40), (30, 30, 220)).save(data / "img" / "blue.png")
    (data / "sound").mkdir()
    tone = (np.sin(np.arange(8000 // 2) * 2 * np.pi * 440 / 8000) * 12000).astype("<i2")
    with wave.open(str(data / "sound" / "tone.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(tone.tobytes())


def test_media_candidates_ingested_and_shown(tmp_path: Path, browser_app: BrowserApp) -> None:
    project = tmp_path / "project"
    data = project / "data"
    _media(data)
    rows = [{"prompt": "Pictures: which one is red?", "a": "img/red.png", "b": "img/blue.png", "system_a": "s1", "system_b": "s2"},
            {"prompt": "Sounds: which one is a tone?", "a": "sound/tone.wav", "b": "A *description* of a tone.",
             "system_a": "s1", "system_b": "s2"},
            {"prompt": "Gone: which one?", "a": "img/red.png", "b": "img/gone.png", "system_a": "s1", "system_b": "s2"}]
    (data / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = write_project(project, name="pairwise-media", task_kind="pairwise", labels=[],
                        sources=[{"path": "data/pairs.jsonl", "text_field": "prompt"}], answer={"allow_ties": True})
    (result,) = ingest_source(cfg, cfg.sources[0])
    assert result["inserted"] == 2 and result["quarantined"] == 1, result
    with open_store(cfg.db_path) as con:
        (refused,) = con.execute("SELECT source_row, field, reason, detail FROM quarantine").fetchall()
        items = {json.loads(p)["prompt"].split(":")[0]: (i, p) for i, p in con.execute("SELECT item_id, payload FROM items").fetchall()}
    assert refused[:3] == (3, "b", "media_missing") and str(data / "img" / "gone.png") in refused[3], refused
    pictures = json.loads(items["Pictures"][1])
    assert (pictures["a"], pictures["b"]) == (f"file://{data / 'img' / 'red.png'}", f"file://{data / 'img' / 'blue.png'}")
    assert json.loads(items["Sounds"][1])["b"] == "A *description* of a tone."  # text stays text

    admin = browser_app.project(cfg)  # its media root holds the project's files
    push = [{"assignment_id": f"as-{k}", "item_id": i, "kind": "label", "priority": float(-n), "payload": p,
             "prelabel": None} for n, (k, (i, p)) in enumerate(sorted(items.items()))]
    assert admin.push(pa.Table.from_pylist(push)) == 2
    token = admin.create_annotator("media-person")
    out = browser_app.drive("pairwise_app.cjs", token, {
        "Pictures": [{"media": True}, {"shot": "app-pairwise-media"}, {"press": "b"}, {"submit": True}],
        "Sounds": [{"media": True}, {"shot": "app-pairwise-media-audio"}, {"press": "t"}, {"submit": True}]})
    assert out["errors"] == [], out["errors"]
    judgments = {j["item_id"]: json.loads(j["answer"]) for j in admin.pull(None)[0].to_pylist()}
    seen = {s["prompt"]: s for s in out["seen"]}
    (panes,) = [x["media"] for x in seen["Pictures"]["log"] if "media" in x]
    shown = judgments[items["Pictures"][0]]
    first, second = ("b", "a") if shown["swapped"] else ("a", "b")
    size = {"a": [48, 32], "b": [40, 40]}
    assert [p[0]["tag"] for p in panes] == ["img", "img"]
    assert [p[0]["loaded"] for p in panes] == [size[first], size[second]]  # each pane's own file, in the drawn order
    assert all(p[0]["src"].startswith("/api/annotate/media/") for p in panes)
    assert [p[0]["src"].endswith(f"?part={s}") for p, s in zip(panes, (first, second))] == [True, True]
    assert shown["choice"] == "B"
    (panes,) = [x["media"] for x in seen["Sounds"]["log"] if "media" in x]
    sound = judgments[items["Sounds"][0]]
    audio_pane = panes[1] if sound["swapped"] else panes[0]
    assert [m["tag"] for m in audio_pane] == ["audio"] and audio_pane[0]["loaded"] == 500  # 0.5 s of tone
    assert [len(p) for p in panes] == ([0, 1] if sound["swapped"] else [1, 0])

    # the adjudicator's compare view: the images in the item's order, loaded through the expert's lease
    votes = _answers(items["Pictures"][0], [("human:ann-a", "human", {"choice": "A", "swapped": False}, 0.8, None, None, 20, "learned"),
                                            ("human:ann-b", "human", {"choice": "A", "swapped": True}, 0.7, None, None, 20, "learned")])
    context = _context("pairwise", [], items["Pictures"][0], votes,
                       {"choice": "A", "swapped": False, "p_a": 0.5, "p_b": 0.45, "p_tie": 0.05}, 0.5, "preference_em")
    adj = browser_app.project(cfg.model_copy(update={"name": "adj-media"}))
    assert adj.push(_adjudication("adj-m1", items["Pictures"][0], items["Pictures"][1], context)) == 1
    expert = adj.create_annotator("expert-media", roles=["expert"], projects=["adj-media"])
    out = browser_app.drive("conflict_view.cjs", expert, {"Pictures": [
        {"waitMedia": True}, {"read": "loaded"}, {"shot": "conflict-pairwise-media"}, {"pickKey": 2}, {"submit": True}]})
    assert out["errors"] == [], out["errors"]
    cols = {c["pref"]: c for c in out["seen"][0]["loaded"]["pairwise"]["cols"]}
    assert [(m["tag"], m["loaded"], m["src"].endswith(f"?part={s}")) for s in ("a", "b") for m in cols[s]["media"]] == [
        ("img", 48, True), ("img", 40, True)]
    assert cols["a"]["who"] == ["human:ann-a"] and cols["b"]["who"] == ["human:ann-b"]
