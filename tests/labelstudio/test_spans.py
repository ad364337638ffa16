"""Spans through a real Label Studio 1.23.2: `<Labels>` + `<Text>`, pre-labels as predictions, annotations
(with an edited prediction) collected into `votes.answer`; unreadable regions quarantined naming the
item, the annotator and the field; gold and audit tasks carry the same fields as ordinary work."""

from __future__ import annotations

import json
import uuid

import pytest

from tasks.collect import collect
from tasks.dispatch import dispatch
from tasks.http import make_client
from tasks.kinds import kind_of
from tasks.queues import open_backend
from tasks.store import open_store
from tests.collect.spans_project import (
    TEXTS,
    TRUTH,
    TYPES,
    seed_spans,
    spans_of,
    stored_answers,
)

pytestmark = pytest.mark.slow

OPTIONS = {"allow_overlap": False, "snap_to_tokens": True, "tokenizer": "words"}
BAD_OFFSETS = "Paris 😀 and Lyon are far ."
BAD_TYPE = "Rome is old ."


def _config(make_project, label_studio, monkeypatch, **overrides):
    url, token = label_studio
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)
    return make_project(name=f"ls-spans-{uuid.uuid4().hex[:8]}", task_kind="spans", labels=TYPES, answer=OPTIONS,
                        queue={"backend": "label_studio", "url": url, "show_prelabels": True},
                        overlap={"policy": "fixed", "initial": 1, "max": 1}, **overrides)


def _region(text: str, start: int, end: int, label: str, shown: str | None = None) -> dict:
    return {"from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end] if shown is None else shown, "labels": [label]}}


def test_spans_push_predictions_annotate_edit_collect(make_project, label_studio, monkeypatch) -> None:
    cfg = _config(make_project, label_studio, monkeypatch, gold={"rate": 0.0, "min_per_annotator": 0})
    first, second, empty = TEXTS
    suggested = {first: spans_of(first, ("Ana", "location"), ("São Paulo", "location")),
                 second: TRUTH[second]}
    seed_spans(cfg, [*TEXTS, BAD_OFFSETS, BAD_TYPE], suggested)
    queue = kind_of(cfg).queue
    with open_backend(cfg) as b:
        assert dispatch(cfg, b)["pushed"] == 5
        pid = b._project()
        url, token = label_studio
        with make_client(url, token, auth_scheme="Token", retries=1) as c:
            project = c.get(f"/api/projects/{pid}").json()
            assert '<Labels name="label" toName="text">' in project["label_config"]
            listed = c.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
            tasks = {t["data"]["text"]: c.get(f"/api/tasks/{t['id']}").json() for t in listed}
            assert set(tasks) == {*TEXTS, BAD_OFFSETS, BAD_TYPE}
            for text, task in tasks.items():  # pre-labels arrive as predictions, region text included
                preds = [p["result"] for p in task["predictions"]]
                if text in suggested:
                    assert preds == [queue.to_label_studio(json.dumps(suggested[text]), cfg, text)]
                    assert queue.from_label_studio(preds[0], cfg, text) == suggested[text]
                else:
                    assert preds == []
            # The annotator fixes the first prediction (Ana: location -> person) and adds two regions.
            fixed = [dict(r, value=dict(r["value"], labels=["person"])) if r["value"]["text"] == "Ana" else r
                     for r in tasks[first]["predictions"][0]["result"]]
            fixed += [_region(first, *_at(first, "New York"), "location"), _region(first, *_at(first, "Reuters"), "org")]
            results = {first: fixed, second: tasks[second]["predictions"][0]["result"], empty: [],
                       # offsets counted in UTF-16 units after the emoji: one past the characters
                       BAD_OFFSETS: [_region(BAD_OFFSETS, 0, 5, "location"),
                                     _region(BAD_OFFSETS, 13, 17, "location", shown="Lyon")],
                       BAD_TYPE: [_region(BAD_TYPE, 0, 4, "city")]}
            for text, result in results.items():
                r = c.post(f"/api/tasks/{tasks[text]['id']}/annotations", json={"result": result, "lead_time": 3.0})
                assert r.status_code == 201, r.text
        report = collect(cfg, b)
    assert (report["stored"], report["quarantined"]) == (3, 2), report
    assert stored_answers(cfg) == TRUTH
    with open_store(cfg.db_path) as con:
        rows = con.execute("SELECT reason, field, detail FROM quarantine WHERE stage = 'collect' ORDER BY reason").fetchall()
        ids = dict(con.execute("SELECT payload, item_id FROM items").fetchall())
    assert [(r[0], r[1]) for r in rows] == [("region_text_mismatch", "result[1].value.text"),
                                           ("unknown_label", "result[0].value.label")], rows
    for (_, field, detail), text in zip(rows, (BAD_OFFSETS, BAD_TYPE)):
        assert f"item {ids[text]!r}" in detail and "annotator 'ls:" in detail and f"field {field}" in detail, detail


def _at(text: str, word: str) -> tuple[int, int]:
    start = text.index(word)
    return start, start + len(word)


def test_gold_and_audit_span_tasks_look_like_work(make_project, label_studio, monkeypatch) -> None:
    cfg = _config(make_project, label_studio, monkeypatch, gold={"rate": 0.5, "min_per_annotator": 0})
    work = [f"Ana met Bob in Paris on day {i} ." for i in range(6)]
    audit = [f"Acme hired Zoë in Berlin , week {i} ." for i in range(3)]
    gold = [f"Reuters wrote about Rome , issue {i} ." for i in range(3)]
    seed_spans(cfg, work, {t: spans_of(t, ("Ana", "person")) for t in work[:4]})
    seed_spans(cfg, audit, {t: spans_of(t, ("Acme", "org")) for t in audit}, state="auto_accepted", audit=True)
    seed_spans(cfg, gold, {t: spans_of(t, ("Rome", "location")) for t in gold[:2]}, state="prelabeled",
               gold={t: spans_of(t, ("Reuters", "org"), ("Rome", "location")) for t in gold})
    report = dispatch(cfg)
    assert report["created_by_kind"]["gold"] >= 1 and report["created_by_kind"]["audit"] == 3, report
    url, token = label_studio
    with open_backend(cfg) as b, make_client(url, token, auth_scheme="Token", retries=1) as c:
        pid = b.ensure_project(cfg)
        listed = c.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
        full = [c.get(f"/api/tasks/{t['id']}").json() for t in listed]
    kind_of_text = {**{t: "work" for t in work}, **{t: "audit" for t in audit}, **{t: "gold" for t in gold}}
    shapes = {}
    for t in full:
        preds = t["predictions"]
        shape = (tuple(sorted(t["data"])), tuple(sorted(k for p in preds for k in p if p[k] not in (None, [], {}, "")
                                                       and k not in ("id", "task", "project", "created_at", "updated_at",
                                                                     "created_ago"))),
                 tuple(sorted({k for p in preds for r in p["result"] for k in r})),
                 tuple(sorted({k for p in preds for r in p["result"] for k in r["value"]})))
        shapes.setdefault(kind_of_text[t["data"]["text"]], set()).add(shape if preds else shape[:1])
    assert set(shapes) == {"work", "audit", "gold"}
    assert shapes["work"] >= shapes["audit"] and shapes["work"] >= shapes["gold"], shapes  # no field only they have
    assert all(p.get("score") is None for t in full for p in t["predictions"])
