"""The real app with transcript and segments projects: bad submits and bad pre-labels refused with 422
naming the field (the kinds' `parse_submission`), drafts shown normalised, the shared audio tools served."""

from __future__ import annotations

import httpx

from tests.app.test_leasing import nxt, push


def _submit(raw: httpx.Client, a: httpx.Client, lease: str, answer: object) -> httpx.Response:
    return raw.post(f"/api/annotate/leases/{lease}/submit", headers=a.headers, json={"client_id": "c", "answer": answer})


def test_segments_and_transcripts_refuse_bad_answers_naming_the_field(app_server, admin, new_project, new_annotator):
    seg = new_project(labels=["speech", "music"], task_kind="segments", data_kind="audio",
                      options={"allow_overlap": False, "with_text": False})
    txt = new_project(labels=["speech", "no speech"], task_kind="transcript", data_kind="text",
                      options={"allow_empty": False, "max_chars": 30})
    with httpx.Client(base_url=app_server.url) as raw:
        r = raw.post(f"/api/projects/{seg}/tasks", headers=admin.headers, json={"tasks": [
            {"assignment_id": f"{seg}-x", "item_id": "x", "media_uri": "https://example.org/x.wav",
             "prelabel": [{"start_s": 2, "end_s": 1, "label": "speech"}]}]})
        assert r.status_code == 422 and r.json()["error"] == "empty_or_reversed" and "end_s" in r.json()["message"]
        push(admin, seg, [{"assignment_id": f"{seg}-0", "item_id": "c0", "media_uri": "https://example.org/c0.wav",
                           "prelabel": [{"start_s": 1.5, "end_s": 2.0, "label": "music"}, {"start_s": 0.10004, "end_s": 1, "label": "speech"}]}])
        push(admin, txt, [{"assignment_id": f"{txt}-0", "item_id": "t0", "payload": "Teh cat",
                           "prelabel": {"text": " The cat ", "words": [{"word": "The", "start_s": 0, "end_s": 0.2}]}}])
        a = new_annotator()
        task = nxt(a, seg)
        assert task["suggestion"] == {"answer": [{"start_s": 0.1, "end_s": 1.0, "label": "speech"},
                                                 {"start_s": 1.5, "end_s": 2.0, "label": "music"}]}
        for answer, code, field in (
                ([{"start_s": 0, "end_s": 1, "label": "dog"}], "unknown_label", "answer[0].label"),
                ([{"start_s": 0, "end_s": 1, "label": "speech"}, {"start_s": 0.5, "end_s": 2, "label": "music"}],
                 "overlap_not_allowed", "answer[1].start_s"),
                ([{"start_s": 1, "end_s": 0.5, "label": "speech"}], "empty_or_reversed", "answer[0].end_s"),
                ({"start_s": 1}, "not_a_list", "answer")):
            r = _submit(raw, a, task["lease_id"], answer)
            assert (r.status_code, r.json()["error"]) == (422, code) and f": {field}: " in r.json()["message"], r.text
        assert nxt(a, seg)["lease_id"] == task["lease_id"]  # still held: no refused submit was stored
        task = nxt(a, txt)
        assert task["suggestion"] == {"answer": {"text": " The cat ", "words": [{"word": "The", "start_s": 0.0, "end_s": 0.2}]}}
        for answer, code, field in (({"text": "  "}, "empty_transcript", "answer.text"),
                                    ({"text": "x" * 31}, "too_long", "answer.text"),
                                    ("The cat", "malformed_json", "answer"), ({"txt": "x"}, "missing_text", "answer.text")):
            r = _submit(raw, a, task["lease_id"], answer)
            assert (r.status_code, r.json()["error"]) == (422, code) and f": {field}: " in r.json()["message"], r.text
        assert nxt(a, txt)["lease_id"] == task["lease_id"]


def test_the_app_serves_the_shared_audio_tools(app_server):
    with httpx.Client(base_url=app_server.url) as raw:
        r = raw.get("/assets/audio_tools.js")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
        assert "window.annoflowAudio = { player }" in r.text
        for name in ("transcript", "segments"):
            assert '"/assets/audio_tools.js"' in raw.get(f"/kinds/{name}/widget.js").text
        r = raw.get("/assets/server.py")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
