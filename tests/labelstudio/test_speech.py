"""Transcripts and time segments through a real Label Studio 1.23.2: the projects' configs (`TextArea`
under `Audio` / `Text`, `Labels` on `Audio` with a per-region `TextArea`) accepted by Label Studio,
machine drafts and regions pushed as predictions, annotations as Label Studio's editor saves them
(an edited prediction included) pulled back as transcripts and regions in seconds with their text,
and results that are no answer (a reversed region) handed on with the field named."""

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
from tests.kinds.speech_queue_project import (
    CLIPS,
    speech_config,
    write_clips,
)

pytestmark = pytest.mark.slow

DRAFT = {"text": "the quick brown fox", "words": [{"word": "the", "start_s": 0.2, "end_s": 0.4}]}
REGIONS = [{"start_s": 0.3, "end_s": 1.3, "label": "speech", "text": "hello"}]


def _rows(clips: dict[str, Path], prelabels: dict[str, object], texts: dict[str, str] | None = None) -> list[dict]:
    return [{"assignment_id": f"a-{name}", "item_id": name, "kind": "label", "media_uri": None if texts else path.as_uri(),
             "payload": (texts or {}).get(name), "prelabel": json.dumps(prelabels[name]) if name in prelabels else None,
             "metadata": json.dumps({"duration_s": CLIPS[name][0]})} for name, path in clips.items()]


def _tasks(c, pid: int) -> dict[str, dict]:
    """The project's tasks read back in full (data, predictions), by their text or clip (inline audio:
    the 3 s clip's data URI is the longer one)."""
    out = {}
    for t in c.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]:
        full = c.get(f"/api/tasks/{t['id']}").json()
        audio = full["data"].get("audio") or ""
        out[full["data"].get("text") or ("clip1.wav" if len(audio) > 110_000 else "clip2.wav")] = full
    return out


def _annotate(c, task_id: int, result: list[dict]) -> int:
    r = c.post(f"/api/tasks/{task_id}/annotations", json={"result": result, "lead_time": 3.0})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _config(task_kind: str, tmp_path: Path, label_studio, monkeypatch, data_kind: str = "audio", **answer: object):
    """A project of `task_kind` on the session's Label Studio (unique title), pre-labels shown."""
    url, token = label_studio
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)
    return speech_config(task_kind, data_kind, root=tmp_path / "project", name=f"ls-{task_kind}-{uuid.uuid4().hex[:8]}",
                         answer=answer, queue={"backend": "label_studio", "url": url, "show_prelabels": True})


def test_transcripts_push_drafts_and_pull_edited_text(tmp_path: Path, label_studio, monkeypatch) -> None:
    url, token = label_studio
    cfg = _config("transcript", tmp_path, label_studio, monkeypatch)
    clips = write_clips(tmp_path / "media")
    with open_backend(cfg) as b, make_client(url, token, auth_scheme="Token", retries=1) as c:
        b.ensure_project(cfg)
        assert b.push(pa.Table.from_pylist(_rows(clips, {"clip1.wav": DRAFT}))) == 2
        pid = b._project()
        xml = c.get(f"/api/projects/{pid}").json()["label_config"]
        assert '<TextArea name="label" toName="audio"' in xml and '<Audio name="audio"' in xml
        tasks = _tasks(c, pid)
        (pred,) = [p["result"] for p in tasks["clip1.wav"]["predictions"]]
        assert pred[0]["value"]["text"] == ["the quick brown fox"] and tasks["clip2.wav"]["predictions"] == []
        # The annotator corrects the draft in place; the other clip is typed from nothing.
        fixed = [{**pred[0], "value": {"text": ["the quick brown dog"]}}]
        typed = [{"id": "t1", "from_name": "label", "to_name": "audio", "type": "textarea",
                  "value": {"text": ["  a high tone  "]}}]
        _annotate(c, tasks["clip1.wav"]["id"], fixed)
        _annotate(c, tasks["clip2.wav"]["id"], typed)
        page, _ = b.pull(None)
    got = {j["item_id"]: j for j in page.to_pylist()}
    assert {n: json.loads(j["answer"]) for n, j in got.items()} == {
        "clip1.wav": {"text": "the quick brown dog"}, "clip2.wav": {"text": "a high tone"}}
    assert all(j.get(ANSWER_PROBLEM) is None for j in got.values())


def test_transcript_config_for_text_items_is_accepted(tmp_path: Path, label_studio, monkeypatch) -> None:
    url, token = label_studio
    cfg = _config("transcript", tmp_path, label_studio, monkeypatch, "text")
    texts = {"clip1.wav": "Teh cat sat", "clip2.wav": "on teh mat"}
    with open_backend(cfg) as b, make_client(url, token, auth_scheme="Token", retries=1) as c:
        b.ensure_project(cfg)
        assert b.push(pa.Table.from_pylist(_rows({n: Path(n) for n in texts}, {"clip1.wav": {"text": "The cat sat"}}, texts))) == 2
        pid = b._project()
        assert '<Text name="text" value="$text"/>' in c.get(f"/api/projects/{pid}").json()["label_config"]
        tasks = _tasks(c, pid)
        (pred,) = [p["result"] for p in tasks["Teh cat sat"]["predictions"]]
        assert kind_of(cfg).queue.from_label_studio(pred, cfg) == {"text": "The cat sat"}


def test_segments_push_regions_and_pull_seconds_labels_and_text(tmp_path: Path, label_studio, monkeypatch) -> None:
    url, token = label_studio
    cfg = _config("segments", tmp_path, label_studio, monkeypatch, with_text=True)
    clips = write_clips(tmp_path / "media")
    queue = kind_of(cfg).queue
    with open_backend(cfg) as b, make_client(url, token, auth_scheme="Token", retries=1) as c:
        b.ensure_project(cfg)
        assert b.push(pa.Table.from_pylist(_rows(clips, {"clip1.wav": REGIONS}))) == 2
        pid = b._project()
        xml = c.get(f"/api/projects/{pid}").json()["label_config"]
        assert '<Labels name="label" toName="audio">' in xml and 'perRegion="true"' in xml
        tasks = _tasks(c, pid)
        (pred,) = [p["result"] for p in tasks["clip1.wav"]["predictions"]]
        assert queue.from_label_studio(pred, cfg) == REGIONS  # the prediction as Label Studio stores it
        # The annotator moves the suggested region onto the tone, calls it music (its words: "la la"), and adds
        # the noise; on the other clip a region is dragged backwards (end before start).
        region = next(r for r in pred if r["type"] == "labels")
        where = {"start": 0.4, "end": 1.2, "channel": 0}
        fixed = [{**region, "value": {**region["value"], **where, "labels": ["music"]}},
                 {"id": region["id"], "from_name": "text", "to_name": "audio", "type": "textarea",
                  "value": {**where, "text": ["la la"]}},
                 {"id": "n1", "from_name": "label", "to_name": "audio", "type": "labels", "original_length": 3.0,
                  "value": {"start": 1.8, "end": 2.6, "channel": 0, "labels": ["noise"]}},
                 {"id": "n1", "from_name": "text", "to_name": "audio", "type": "textarea",
                  "value": {"start": 1.8, "end": 2.6, "channel": 0, "text": ["static"]}}]
        backwards = [{"id": "b1", "from_name": "label", "to_name": "audio", "type": "labels",
                      "value": {"start": 1.5, "end": 0.2, "channel": 0, "labels": ["music"]}}]
        _annotate(c, tasks["clip1.wav"]["id"], fixed)
        _annotate(c, tasks["clip2.wav"]["id"], backwards)
        page, _ = b.pull(None)
    got = {j["item_id"]: j for j in page.to_pylist()}
    assert json.loads(got["clip1.wav"]["answer"]) == [
        {"start_s": 0.4, "end_s": 1.2, "label": "music", "text": "la la"},
        {"start_s": 1.8, "end_s": 2.6, "label": "noise", "text": "static"}]
    assert got["clip1.wav"].get(ANSWER_PROBLEM) is None
    problem = json.loads(got["clip2.wav"][ANSWER_PROBLEM])
    assert (problem["reason"], problem["field"]) == ("empty_or_reversed", "result[0].value.end"), problem
