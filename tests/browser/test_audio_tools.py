"""The audio tools in the REAL annotation page: segments and transcript projects on generated clips (and a
transcript of a text), pushed to the app with machine suggestions. A person in headless Chromium plays
a clip, changes the speed, fixes the suggested region (relabelled by key, its edges dragged, one while
zoomed in), draws a region on the waveform and types what it is (an overlapping one is refused), edits
the pre-filled transcripts and submits; the judgments the app stores hold the regions in seconds with
their text, and the edited transcripts. Screenshots: `<tmp_path>/shots/app-audio-*.png`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from annotation_app.process import start_app
from tasks.queues.builtin import BuiltinBackend
from tests.browser.span_harness import CHROMIUM, browser_missing
from tests.kinds.speech_queue_project import (
    CLIPS,
    speech_config,
    write_clips,
)

pytestmark = pytest.mark.slow
ADMIN = "audio-tools-admin"
DRAFT = {"text": "the quick brown fox", "words": [{"word": w, "start_s": 0.3 * i, "end_s": 0.3 * i + 0.25}
                                                  for i, w in enumerate(["the", "quick", "brown", "fox"])]}


def push(backend: BuiltinBackend, name: str, path: Path, prelabel: object, priority: float = 0.0) -> None:
    row = {"assignment_id": f"a-{name}", "item_id": name, "kind": "label", "priority": priority, "media_uri": path.as_uri(),
           "prelabel": None if prelabel is None else json.dumps(prelabel),
           "metadata": json.dumps({"duration_s": CLIPS.get(name, (1.0,))[0]})}
    assert backend.push(pa.Table.from_pylist([row])) == 1


def drive(tmp_path: Path, url: str, token: str, tasks: dict, name: str) -> dict:
    plan = tmp_path / f"{name}.json"
    plan.write_text(json.dumps({"url": url, "chromium": CHROMIUM, "userDataDir": str(tmp_path / f"profile-{name}"),
                                "screenshotDir": str(tmp_path / "shots"), "token": token, "tasks": tasks}))
    run = subprocess.run(["node", str(Path(__file__).with_name("audio_app.cjs")), str(plan)],
                         capture_output=True, text=True, timeout=240, check=False)
    assert run.returncode == 0, f"browser driver failed:\n{run.stderr}"
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["errors"] == []
    return out


def _app(tmp_path: Path):
    missing = browser_missing()
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")
    (tmp_path / "shots").mkdir()
    return write_clips(tmp_path / "media"), start_app(tmp_path / "app.db", ADMIN, media_roots=[tmp_path / "media"],
                                                      log=tmp_path / "app.log")


def _shots(tmp_path: Path, *names: str) -> None:
    for shot in names:
        assert (tmp_path / "shots" / f"{shot}.png").stat().st_size > 5000


def test_play_draw_and_adjust_regions_on_the_waveform_in_the_real_page(tmp_path: Path) -> None:
    clips, app = _app(tmp_path)
    try:
        seg_cfg = speech_config("segments", name="sounds", queue={"url": app.url}, answer={"with_text": True},
                                instructions="Mark every sound: speech, music or noise.")
        with BuiltinBackend(app.url, ADMIN, seg_cfg.name) as seg:
            seg.ensure_project(seg_cfg)
            # The machine heard speech a little wide of the 0.4-1.2 s tone, and missed the noise at 1.8-2.6 s.
            push(seg, "clip1.wav", clips["clip1.wav"], [{"start_s": 0.3, "end_s": 1.3, "label": "speech", "text": "hello"}])
            broken = tmp_path / "media" / "broken.wav"
            broken.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage, not audio" * 8)
            push(seg, "broken.wav", broken, None, priority=-1.0)  # after the good clip
            seg_token = seg.create_annotator("ear-1", projects=[seg_cfg.name])
            regions = drive(tmp_path, app.url, seg_token, {"3.0": [
                {"state": True}, {"shot": "app-audio-segments-suggested"},
                {"listen": 700}, {"press": "]"}, {"state": True},    # plays; faster
                {"press": "Tab"}, {"press": "2"},                    # the suggestion is music, not speech
                {"press": "r"}, {"state": True}, {"press": " "},      # replay just that region, then pause
                {"drag": [0.3, 0.4]},                                # its start onto the tone
                {"wheel": [1.3, -600]}, {"view": True},             # zoom in at its end
                {"shot": "app-audio-segments-zoomed"},
                {"drag": [1.3, 1.2]}, {"press": "0"}, {"view": True},  # its end onto the tone, zoomed; fit again
                {"press": "t"}, {"press": "Control+a"}, {"type": "la la"}, {"press": "Enter"},  # what it says
                {"press": "Escape"}, {"press": "3"},                 # new regions are noise
                {"drag": [1.8, 2.6]},                                # draw the noise
                {"press": "t"}, {"type": "static"}, {"press": "Enter"}, {"state": True},  # and say what it is
                {"drag": [1.5, 1.0]}, {"state": True},                # a new region over the music: refused
                {"shot": "app-audio-segments-drawn"}, {"submit": True}],
                "bad": [{"state": True}, {"shot": "app-audio-undecodable"}, {"skip": True}]}, "segments")
            seg_judgments = seg.pull(None)[0].to_pylist()
    finally:
        app.stop()
    log = regions["seen"][0]["log"]
    assert log[0]["state"]["regions"] == [{"start_s": 0.3, "end_s": 1.3, "label": "speech", "text": "hello"}]
    listened = log[1]["listened"]
    assert listened["playing"] and listened["during"] > listened["before"] + 0.2 and not listened["after"], listened
    assert log[2]["state"]["rate"] == 1.25
    replayed = log[3]["state"]
    assert replayed["playing"] and 0.3 <= replayed["time"] < 1.3 and replayed["selected"] == 0, replayed
    zoomed, fitted = log[4]["view"], log[5]["view"]
    assert fitted["spp"] / zoomed["spp"] == pytest.approx(7.39, rel=0.01) and fitted["t0"] == 0 < zoomed["t0"] < 1.2
    drawn, refused = log[6]["state"], log[7]["state"]
    assert [r["label"] for r in drawn["regions"]] == ["music", "noise"] and len(drawn["list"]) == 2
    assert refused["regions"] == drawn["regions"] and "overlaps music" in refused["status"], refused
    assert any(k.startswith("2 label music") for k in regions["seen"][0]["keys"])
    broken_seen = regions["seen"][1]["log"][0]["state"]  # said why, and nothing to send; skipped
    assert "cannot" in broken_seen["problem"] and broken_seen["submitDisabled"], broken_seen
    (judgment,) = seg_judgments
    got = json.loads(judgment["answer"])
    want = [{"start_s": 0.4, "end_s": 1.2, "label": "music", "text": "la la"}, {"start_s": 1.8, "end_s": 2.6, "label": "noise", "text": "static"}]
    assert [(r["label"], r.get("text")) for r in got] == [(r["label"], r.get("text")) for r in want]
    assert all(abs(g[k] - w[k]) <= 0.01 for g, w in zip(got, want) for k in ("start_s", "end_s")), got
    _shots(tmp_path, "app-audio-undecodable", "app-audio-segments-suggested", "app-audio-segments-zoomed",
           "app-audio-segments-drawn")


def test_edit_drafted_transcripts_of_a_clip_and_a_text_in_the_real_page(tmp_path: Path) -> None:
    clips, app = _app(tmp_path)
    try:
        txt_cfg = speech_config("transcript", name="words", queue={"url": app.url},
                                instructions="Correct the machine's transcript.")
        cap_cfg = speech_config("transcript", "text", name="captions", queue={"url": app.url})
        with BuiltinBackend(app.url, ADMIN, txt_cfg.name) as txt, BuiltinBackend(app.url, ADMIN, cap_cfg.name) as cap:
            txt.ensure_project(txt_cfg)
            push(txt, "clip2.wav", clips["clip2.wav"], DRAFT)
            cap.ensure_project(cap_cfg)
            assert cap.push(pa.Table.from_pylist([{"assignment_id": "a-t1", "item_id": "t1", "kind": "label",
                                                   "priority": 0.0, "payload": "Teh cat sat on teh mat",
                                                   "prelabel": json.dumps({"text": "The cat sat on teh mat"})}])) == 1
            cap_token = cap.create_annotator("reader", projects=[cap_cfg.name])
            captions = drive(tmp_path, app.url, cap_token, {"text": [
                {"state": True}, {"press": "t"}, {"press": "Control+Backspace"}, {"press": "Control+Backspace"},
                {"type": "the mat"}, {"shot": "app-audio-transcript-of-text"}, {"press": "Enter"}]}, "captions")
            cap_judgments = cap.pull(None)[0].to_pylist()
            txt_token = txt.create_annotator("ear-2", projects=[txt_cfg.name])
            words = drive(tmp_path, app.url, txt_token, {"2.0": [
                {"state": True}, {"listen": 500},
                {"press": "t"}, {"press": "Control+Backspace"}, {"type": "dog jumps"},  # fox -> dog jumps
                {"state": True}, {"shot": "app-audio-transcript-edited"},
                {"press": "Control+Space"}, {"state": True}, {"press": "Control+Space"},  # play while typing
                {"state": True}, {"press": "Enter"}]}, "transcript")
            txt_judgments = txt.pull(None)[0].to_pylist()
    finally:
        app.stop()
    tlog = words["seen"][0]["log"]
    assert tlog[0]["state"]["text"] == "the quick brown fox"  # the draft, pre-filled
    assert tlog[1]["listened"]["during"] > tlog[1]["listened"]["before"]
    assert tlog[2]["state"]["text"] == "the quick brown dog jumps"
    assert tlog[3]["state"]["playing"] and not tlog[4]["state"]["playing"]
    assert tlog[4]["state"]["text"] == "the quick brown dog jumps"  # the keys did not type into the box
    assert any(k.startswith("Space play") for k in words["seen"][0]["keys"])
    (judgment,) = txt_judgments
    assert json.loads(judgment["answer"]) == {"text": "the quick brown dog jumps"}
    first = captions["seen"][0]["log"][0]["state"]  # the text shown above the box, the draft in it
    assert (first["shown"], first["text"]) == ("Teh cat sat on teh mat", "The cat sat on teh mat")
    assert [json.loads(j["answer"]) for j in cap_judgments] == [{"text": "The cat sat on the mat"}]
    _shots(tmp_path, "app-audio-transcript-of-text", "app-audio-transcript-edited")
