"""Spans through the built-in app: dispatch from DuckDB (pre-labels as suggestions), answers over the
annotator API, collect into `votes.answer`; bad spans are refused with 422 naming the field."""

from __future__ import annotations

import httpx

from tasks.collect import collect
from tasks.dispatch import dispatch
from tasks.queues.builtin import BuiltinBackend
from tests.collect.spans_project import (
    TEXTS,
    TRUTH,
    seed_spans,
    spans_of,
    spans_project,
    stored_answers,
)
from tests.conftest import ADMIN_TOKEN


def _annotator(url: str, name: str) -> httpx.Client:
    with BuiltinBackend(url, ADMIN_TOKEN, "any") as admin:
        token = admin.create_annotator(name)
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_spans_dispatch_suggest_submit_collect(tmp_path, fresh_app, monkeypatch):
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", ADMIN_TOKEN)
    cfg = spans_project(tmp_path, "spans-app", {"url": fresh_app.url})
    suggested = spans_of(TEXTS[0], ("Ana", "location"), ("São Paulo", "location"))
    seed_spans(cfg, TEXTS, {TEXTS[0]: suggested})
    assert dispatch(cfg)["created"] == len(TEXTS)
    project = httpx.get(f"{fresh_app.url}/api/projects/{cfg.name}",
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert project["task_kind"] == "spans"
    assert project["options"]["allow_overlap"] is False and len(project["options"]["colors"]) == 3
    with _annotator(fresh_app.url, "ann-1") as a:
        seen = _answer_all(a, cfg.name)
    assert seen == {TEXTS[0]: {"answer": suggested}, TEXTS[1]: None, TEXTS[2]: None}
    c = collect(cfg)
    assert (c["stored"], c["quarantined"]) == (3, 0), c
    assert stored_answers(cfg) == TRUTH


def _answer_all(a: httpx.Client, project: str) -> dict:
    """Answer every task with its true spans after trying bad answers on the first text; returns
    each text's suggestion as served."""
    seen = {}
    task = a.post(f"/api/annotate/{project}/next").json()["task"]
    while task is not None:
        seen[task["payload"]] = task.get("suggestion")
        text = task["payload"]
        if text == TEXTS[0]:  # refusals first: each names the field and keeps the task open
            for answer, code, field in (
                    ([{"start": 0, "end": 999, "label": "person"}], "span_outside_text", "answer[0].end"),
                    ([{"start": 5, "end": 2, "label": "person"}], "empty_or_reversed_span", "answer[0].end"),
                    ([{"start": 0, "end": 3, "label": "animal"}], "unknown_label", "answer[0].label"),
                    ([{"start": 0, "end": 3, "label": "person"}, {"start": 1, "end": 8, "label": "org"}],
                     "overlapping_spans", "answer[1]"),
                    ([{"start": -1, "end": 3, "label": "person"}], "negative_offset", "answer[0].start"),
                    ("not json", "malformed_json", "answer")):
                r = a.post(f"/api/annotate/leases/{task['lease_id']}/submit", json={"client_id": "bad", "answer": answer})
                assert r.status_code == 422 and r.json()["error"] == code, (answer, r.text)
                assert field in r.json()["message"], r.text
        r = a.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                   json={"client_id": f"ok-{len(seen)}", "answer": TRUTH[text], "next": True})
        assert r.status_code == 200, r.text
        task = r.json()["next"]["task"]
    return seen
