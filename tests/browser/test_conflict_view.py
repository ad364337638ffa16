"""The adjudicator's conflict view in a real headless Chromium against a real app process, for choices and spans.

The context is what dispatch sends (`tasks.dispatch.conflict.conflict_contexts` over the answers and
reliabilities, pushed by the built-in backend in `TASK_SCHEMA`'s `context` column). The expert sees every
answer with its source, type, reliability and colour, the consensus and the kind's compare view (votes per
label; spans overlaid), hides a source, picks an answer by key, merges (picks one and edits it in the
widget), leaves a note and flags a guideline question; the pull then returns the answers submitted, and
the app's store holds the note and the flag. Below the answers, the item's comment thread: what reviewers
said, and the expert's note once submitted. Screenshots: `<tmp_path>/shots/conflict-*.png`.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from annotation_app.process import start_app
from tasks.dispatch.conflict import conflict_contexts
from tasks.kinds import get as get_kind
from tasks.queues import TASK_SCHEMA
from tasks.queues.builtin import BuiltinBackend
from tests.browser.span_harness import CHROMIUM, browser_missing

pytestmark = pytest.mark.slow
ADMIN = "conflict-admin"
REL = ("reliability", "low", "high", "n", "metric")


def _answers(item: str, rows: list[tuple]) -> pa.Table:
    """(source_id, source_type, answer, reliability, low, high, n, metric) rows of one item."""
    cols = ["source_id", "source_type", "answer", *REL]
    data = {c: [r[i] if c != "answer" else json.dumps(r[i]) for r in rows] for i, c in enumerate(cols)}
    return pa.table({"item_id": [item] * len(rows), **data},
                    schema=pa.schema([("item_id", pa.string()), ("source_id", pa.string()), ("source_type", pa.string()),
                                      ("answer", pa.string()), ("reliability", pa.float64()), ("low", pa.float64()),
                                      ("high", pa.float64()), ("n", pa.int64()), ("metric", pa.string())]))


def _context(task_kind: str, labels: list[str], item: str, answers: pa.Table, consensus_answer, confidence: float,
             method: str) -> dict:
    consensus = pa.table({"item_id": [item], "answer": [json.dumps(consensus_answer)], "confidence": [confidence],
                          "method": [method]})
    return conflict_contexts(get_kind(task_kind), answers, consensus, labels)["context"][0].as_py()


def _adjudication(assignment_id: str, item: str, payload: str, context: dict) -> pa.Table:
    return pa.Table.from_pylist([dict(assignment_id=assignment_id, item_id=item, kind="adjudication", priority=1.0,
                                      payload=payload, context=context)], schema=TASK_SCHEMA)


def _push(app_url: str, project: str, task_kind: str, labels: list[str], item: str, payload: str,
          answers: pa.Table, consensus_answer, confidence: float, method: str) -> BuiltinBackend:
    context = _context(task_kind, labels, item, answers, consensus_answer, confidence, method)
    b = BuiltinBackend(app_url, ADMIN, project)
    b.client.put(f"/api/projects/{project}", json=dict(labels=labels, task_kind=task_kind, data_kind="text"))
    assert b.push(_adjudication(f"adj-{item}", item, payload, context)) == 1
    return b


def _span(text: str, word: str, label: str, **extra) -> dict:
    start = text.index(word)
    return {"start": start, "end": start + len(word), "label": label, **extra}


def _drive(tmp_path: Path, app_url: str, token: str, tasks: dict) -> dict:
    shots = tmp_path / "shots"
    shots.mkdir(exist_ok=True)
    plan = tmp_path / f"plan-{token[-6:]}.json"
    plan.write_text(json.dumps(dict(url=app_url, chromium=CHROMIUM, userDataDir=str(tmp_path / f"profile-{token[-6:]}"),
                                    screenshotDir=str(shots), token=token, tasks=tasks)))
    run = subprocess.run(["node", str(Path(__file__).with_name("conflict_view.cjs")), str(plan)],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, f"browser driver failed:\n{run.stderr}\napp log: {tmp_path / 'app.log'}"
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["errors"] == [], out["errors"]
    return out


def _stored(db: Path) -> list[tuple]:
    """(item, note) of each judgment, and (item, kind, body) of each comment, from the app's store."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return (con.execute("SELECT item_id, comment FROM judgments ORDER BY seq").fetchall()
                + con.execute("SELECT item_id, kind, body FROM comments ORDER BY seq").fetchall())


def test_conflict_view_choices_and_spans(tmp_path: Path) -> None:
    missing = browser_missing()
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")
    app = start_app(tmp_path / "app.db", ADMIN, log=tmp_path / "app.log")
    backends = []
    try:
        # Choices: a person and a model disagree with another person; a labeling function sides with the model.
        review = "The screen is fine but the battery died after a week"
        choice_votes = _answers("c1", [
            ("human:ann-a", "human", "pos", 0.92, 0.80, 0.97, 25, "gold"),
            ("human:ann-b", "human", "neg", 0.71, None, None, 120, "learned"),
            ("model:tfidf", "model", "neg", 0.64, 0.52, 0.75, 60, "gold"),
            ("lf:kw_died", "lf", "neg", None, None, None, None, None),
        ])
        backends.append(_push(app.url, "adj-choices", "single_label", ["pos", "neg", "neutral"], "c1", review,
                              choice_votes, "neg", 0.58, "dawid_skene"))
        # Spans: two people and a model mark different entities; consensus kept what most agreed on.
        text = "Ana Silva flew from Lisbon to the Acme office in Berlin."
        span_votes = _answers("s1", [
            ("human:ann-a", "human", [_span(text, "Ana Silva", "person"), _span(text, "Lisbon", "location"),
                                      _span(text, "Acme", "org")], 0.88, 0.75, 0.95, 30, "gold"),
            ("human:ann-b", "human", [_span(text, "Ana Silva", "person"), _span(text, "Lisbon", "org"),
                                      _span(text, "Berlin", "location")], 0.62, 0.45, 0.77, 30, "gold"),
            ("model:ner", "model", [_span(text, "Ana", "person"), _span(text, "Berlin", "location")],
             0.70, None, None, 400, "learned"),
        ])
        consensus_spans = [_span(text, "Ana Silva", "person", confidence=0.91, sources=["human:ann-a", "human:ann-b"]),
                           _span(text, "Berlin", "location", confidence=0.66, sources=["human:ann-b", "model:ner"])]
        backends.append(_push(app.url, "adj-spans", "spans", ["person", "location", "org"], "s1", text,
                              span_votes, consensus_spans, 0.52, "span_vote"))
        # one expert per project: the page works on one project at a time
        tokens = [b.create_annotator(f"expert-{i}", roles=["expert"], projects=[b.project_id]) for i, b in enumerate(backends)]
        out = _drive(tmp_path, app.url, tokens[0], {
            review[:20]: [
                {"shot": "conflict-choices"},
                {"toggle": 4}, {"read": "lf_hidden"}, {"toggle": 4},
                {"pickKey": 1}, {"read": "picked_first"},          # Shift+1: ann-a's "pos"
                {"clickLabel": "neg"}, {"read": "picked_label"},   # then the label the votes lean to, from the table
                {"note": "battery failure outweighs the screen"}, {"guideline": True},
                {"shot": "conflict-choices-picked"}, {"submit": True},
            ],
        })
        out2 = _drive(tmp_path, app.url, tokens[1], {
            text[:20]: [
                {"shot": "conflict-spans"},
                {"toggle": 3}, {"read": "model_hidden"}, {"toggle": 3},
                {"pickClick": 1}, {"read": "picked"},              # start from ann-a's answer...
                {"press": "End"}, {"press": "ArrowLeft"}, {"press": "2"},  # ...and add "Berlin" as a location
                {"read": "merged"}, {"note": "Lisbon is a place"},
                {"shot": "conflict-spans-merged"}, {"submit": True},
            ],
        })
        seen = {s["text"][:20]: s for s in out["seen"] + out2["seen"]}
        assert set(seen) == {review[:20], text[:20]}

        # Choices: every vote with its source, type, reliability and its own colour; votes per label; posterior.
        panel = seen[review[:20]]["panel"]
        assert panel["visible"]
        assert [(r["source"], r["who"], r["answer"]) for r in panel["rows"]] == [
            ("human:ann-a", "person", "pos"), ("human:ann-b", "person", "neg"),
            ("model:tfidf", "model", "neg"), ("lf:kw_died", "labeling function", "neg")]
        assert [r["reliability"] for r in panel["rows"]] == [
            "0.92 [0.80–0.97] on 25 gold", "0.71 learned, 120 answers", "0.64 [0.52–0.75] on 60 gold", "unknown"]
        assert len({r["colour"] for r in panel["rows"]}) == 4
        assert "neg" in panel["consensus"] and "0.58" in panel["consensus"]
        votes = {v["label"]: (v["n"], v["who"]) for v in panel["votes"]}
        assert votes == {"neg": (3, ["human:ann-b", "model:tfidf", "lf:kw_died"]), "pos": (1, ["human:ann-a"]),
                         "neutral": (0, [])}
        assert panel["votes"][0]["label"] == "neg" and all(v["p"] != "–" for v in panel["votes"])
        hidden = seen[review[:20]]["lf_hidden"]
        assert hidden["rows"][3]["shown"] is False and dict((v["label"], v["n"]) for v in hidden["votes"])["neg"] == 2
        assert seen[review[:20]]["picked_first"]["chosen"] == ["pos"] and seen[review[:20]]["picked_first"]["rows"][0]["picked"]
        assert seen[review[:20]]["picked_label"]["chosen"] == ["neg"]

        # Spans: every answer overlaid, one underline per source that marked the piece.
        panel = seen[text[:20]]["panel"]
        assert [(r["source"], r["who"]) for r in panel["rows"]] == [
            ("human:ann-a", "person"), ("human:ann-b", "person"), ("model:ner", "model")]
        assert panel["rows"][0]["answer"] == "“Ana Silva” person, “Lisbon” location, “Acme” org"
        assert [r["reliability"] for r in panel["rows"]] == [
            "0.88 [0.75–0.95] on 30 gold", "0.62 [0.45–0.77] on 30 gold", "0.70 learned, 400 answers"]
        pieces = {p["text"]: (p["sources"], p["underlines"]) for p in panel["pieces"]}
        assert pieces["Ana"] == ([0, 1, 2], 3) and pieces[" Silva"] == ([0, 1], 2)
        assert pieces["Lisbon"] == ([0, 1], 2) and pieces["Acme"] == ([0], 1) and pieces["Berlin"] == ([1, 2], 2)
        assert panel["consensusSpans"] == ["“Ana Silva” person 0.91 human:ann-a, human:ann-b",
                                           "“Berlin” location 0.66 human:ann-b, model:ner"]
        hidden = {p["text"]: p["sources"] for p in seen[text[:20]]["model_hidden"]["pieces"]}
        assert hidden["Berlin"] == [1] and "Ana" not in hidden  # "Ana Silva" is one piece once the model is hidden
        assert seen[text[:20]]["picked"]["rows"][0]["picked"] and seen[text[:20]]["merged"]["submitEnabled"]

        # What was submitted: the picked label; the merged spans; the notes and the flag kept with them.
        choices, _ = backends[0].pull(None)
        assert [r["label"] for r in choices.to_pylist()] == ["neg"]
        spans, _ = backends[1].pull(None)
        assert [json.loads(r["answer"]) for r in spans.to_pylist()] == [[
            _span(text, "Ana Silva", "person"), _span(text, "Lisbon", "location"), _span(text, "Acme", "org"),
            _span(text, "Berlin", "location")]]
        note = "battery failure outweighs the screen"
        assert _stored(tmp_path / "app.db") == [("c1", note), ("s1", "Lisbon is a place"), ("c1", "adjudication_note", note),
                                                ("c1", "guideline_question", note), ("s1", "adjudication_note", "Lisbon is a place")]
        shots = tmp_path / "shots"
        assert all((shots / f"{n}.png").stat().st_size > 5000 for n in
                   ("conflict-choices", "conflict-choices-picked", "conflict-spans", "conflict-spans-merged"))
    finally:
        for b in backends:
            b.close()
        app.stop()


def test_conflict_view_shows_the_item_thread(tmp_path: Path) -> None:
    """The item's thread under the answers: a reviewer's rejection and question are there for the expert,
    whose note and guideline question (sent with the submit) are there for the next expert on the item,
    and the question is in the project owner's open list."""
    missing = browser_missing()
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")
    app = start_app(tmp_path / "app.db", ADMIN, log=tmp_path / "app.log")
    pid, review = "adj-thread", "Lovely screen, but the battery died after a week"
    votes = _answers("c1", [("human:ann-a", "human", "pos", 0.80, 0.60, 0.92, 20, "gold"),
                            ("human:ann-b", "human", "neg", 0.75, 0.55, 0.89, 20, "gold")])
    b = _push(app.url, pid, "single_label", ["pos", "neg"], "c1", review, votes, "neg", 0.51, "dawid_skene")
    try:
        reviewer = b.create_annotator("rev-1", roles=["reviewer"], projects=[pid])
        experts = [b.create_annotator(f"expert-{n}", roles=["expert"], projects=[pid]) for n in ("a", "b")]
        with httpx.Client(base_url=app.url, headers={"Authorization": f"Bearer {reviewer}"}) as rc:
            for kind, body in (("rejection", "'pos' ignores the dead battery; please weigh the whole review"),
                               ("comment", "Is a mixed review 'neg' when it ends badly?")):
                assert rc.post(f"/api/items/{pid}/c1/comments", json={"kind": kind, "body": body}).status_code == 201
        note = "the battery outweighs the screen: a product that fails is 'neg'"
        out_a = _drive(tmp_path, app.url, experts[0], {review[:20]: [
            {"waitThread": 2}, {"read": "before"}, {"shot": "conflict-thread"},
            {"pickKey": 2}, {"note": note}, {"guideline": True}, {"submit": True}]})
        # the item comes back for a second opinion (another expert, another task on the same item)
        context = _context("single_label", ["pos", "neg"], "c1", votes, "neg", 0.51, "dawid_skene")
        assert b.push(_adjudication("adj-c1-again", "c1", review, context)) == 1
        out_b = _drive(tmp_path, app.url, experts[1], {review[:20]: [
            {"waitThread": 4}, {"read": "after"}, {"shot": "conflict-thread-after"}, {"pickKey": 2}, {"submit": True}]})
        (seen_a,), (seen_b,) = out_a["seen"], out_b["seen"]
        said = [(c["kind"], c["body"], c["meta"].split(" · ")[0]) for c in seen_a["before"]["thread"]]
        assert said == [("rejection", "'pos' ignores the dead battery; please weigh the whole review", "rev-1"),
                        ("comment", "Is a mixed review 'neg' when it ends badly?", "rev-1")]
        said = [(c["kind"], c["body"], c["meta"].split(" · ")[0]) for c in seen_b["after"]["thread"]]
        assert said[2:] == [("adjudication_note", note, "expert-a"), ("guideline_question", note, "expert-a")]
        assert seen_b["after"]["thread"][3]["status"] == "Open question"
        questions = b.client.get(f"/api/projects/{pid}/questions").json()["questions"]
        assert [(q["item_id"], q["author"], q["body"]) for q in questions] == [("c1", "expert-a", note)]
        assert all((tmp_path / "shots" / f"{n}.png").stat().st_size > 5000 for n in ("conflict-thread", "conflict-thread-after"))
    finally:
        b.close()
        app.stop()


def test_conflict_view_boxes(tmp_path: Path) -> None:
    """Boxes overlaid on the image in each source's colour (a hidden source's boxes disappear); the expert
    picks one answer by key and deletes a box of it before submitting."""
    missing = browser_missing()
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")
    from PIL import Image

    media = tmp_path / "media"
    media.mkdir()
    Image.new("RGB", (120, 80), (255, 255, 255)).save(media / "street.png")
    app = start_app(tmp_path / "app.db", ADMIN, media_roots=[media], log=tmp_path / "app.log")
    try:
        car = {"x": 10.0, "y": 10.0, "w": 30.0, "h": 20.0, "label": "car"}
        person = {"x": 60.0, "y": 30.0, "w": 12.0, "h": 30.0, "label": "person"}
        votes = _answers("b1", [
            ("human:ann-a", "human", [car], 0.90, 0.70, 0.97, 20, "gold"),
            ("human:ann-b", "human", [{**car, "x": 12.0}, person], 0.60, 0.40, 0.77, 20, "gold"),
        ])
        context = _context("boxes", ["car", "person", "sign"], "b1", votes,
                           [{**car, "x": 11.0, "confidence": 0.8, "sources": ["human:ann-a", "human:ann-b"]}], 0.45, "box_fusion")
        b = BuiltinBackend(app.url, ADMIN, "adj-boxes")
        b.client.put("/api/projects/adj-boxes", json=dict(labels=["car", "person", "sign"], task_kind="boxes", data_kind="image"))
        assert b.push(pa.Table.from_pylist([dict(assignment_id="adj-b1", item_id="b1", kind="adjudication",
                                                 media_uri=f"file://{media / 'street.png'}", context=context)],
                                           schema=TASK_SCHEMA)) == 1
        token = b.create_annotator("expert-boxes", roles=["expert"], projects=["adj-boxes"])
        left_edges = [[10, 20], [12, 25], [60, 45]]  # ann-a's car, ann-b's car, ann-b's person
        out = _drive(tmp_path, app.url, token, {"image:human:ann-a": [
            {"probe": "edges", "points": left_edges, "width": 120}, {"shot": "conflict-boxes"},
            {"toggle": 2}, {"probe": "b_hidden", "points": left_edges, "width": 120}, {"toggle": 2},
            {"pickKey": 2}, {"press": "n"}, {"press": "Delete"}, {"read": "merged"},
            {"shot": "conflict-boxes-merged"}, {"submit": True},
        ]})
        (seen,) = out["seen"]
        rows = seen["panel"]["rows"]
        assert [(r["source"], r["answer"]) for r in rows] == [("human:ann-a", "1 car"), ("human:ann-b", "1 car, 1 person")]
        assert [r["reliability"] for r in rows] == ["0.90 [0.70–0.97] on 20 gold", "0.60 [0.40–0.77] on 20 gold"]
        colours = [r["colour"] for r in rows]
        assert seen["edges"] == [colours[0], colours[1], colours[1]]
        assert seen["b_hidden"][0] == colours[0] and seen["b_hidden"][1:] == ["rgb(255, 255, 255)"] * 2
        assert seen["panel"]["consensusBoxes"] == ["car 11,10 30×20 px 0.80 human:ann-a, human:ann-b"]
        table, _ = b.pull(None)
        assert [json.loads(r["answer"]) for r in table.to_pylist()] == [[person]]
        assert (tmp_path / "shots" / "conflict-boxes.png").stat().st_size > 5000
        b.close()
    finally:
        app.stop()
