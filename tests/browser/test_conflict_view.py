"""The adjudicator's conflict view in a real headless Chromium against a real app process, for choices, spans, boxes,
comparisons (pairwise) and ratings.

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
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from schemas.config import ProjectConfig
from tasks.dispatch.conflict import conflict_contexts
from tasks.kinds import get as get_kind
from tasks.queues import TASK_SCHEMA
from tasks.queues.builtin import BuiltinBackend
from tests.browser.conftest import ADMIN, BrowserApp

pytestmark = pytest.mark.slow
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


def _push(page: BrowserApp, project: str, task_kind: str, labels: list[str], item: str, payload: str,
          answers: pa.Table, consensus_answer, confidence: float, method: str) -> BuiltinBackend:
    context = _context(task_kind, labels, item, answers, consensus_answer, confidence, method)
    b = BuiltinBackend(page.url, ADMIN, project)
    page.backends.append(b)  # closed with the app
    b.client.put(f"/api/projects/{project}", json=dict(labels=labels, task_kind=task_kind, data_kind="text"))
    assert b.push(_adjudication(f"adj-{item}", item, payload, context)) == 1
    return b


def _span(text: str, word: str, label: str, **extra) -> dict:
    start = text.index(word)
    return {"start": start, "end": start + len(word), "label": label, **extra}


def _drive(page: BrowserApp, token: str, tasks: dict) -> dict:
    """The conflict view driven over the tasks' actions; no error on the page."""
    out = page.drive("conflict_view.cjs", token, tasks)
    assert out["errors"] == [], out["errors"]
    return out


def _stored(db: Path) -> list[tuple]:
    """(item, note) of each judgment, and (item, kind, body) of each comment, from the app's store."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return (con.execute("SELECT item_id, comment FROM judgments ORDER BY seq").fetchall()
                + con.execute("SELECT item_id, kind, body FROM comments ORDER BY seq").fetchall())


def test_conflict_view_choices_and_spans(browser_app: BrowserApp) -> None:
    backends = []
    # Choices: a person and a model disagree with another person; a labeling function sides with the model.
    review = "The screen is fine but the battery died after a week"
    choice_votes = _answers("c1", [
        ("human:ann-a", "human", "pos", 0.92, 0.80, 0.97, 25, "gold"),
        ("human:ann-b", "human", "neg", 0.71, None, None, 120, "learned"),
        ("model:tfidf", "model", "neg", 0.64, 0.52, 0.75, 60, "gold"),
        ("lf:kw_died", "lf", "neg", None, None, None, None, None),
    ])
    backends.append(_push(browser_app, "adj-choices", "single_label", ["pos", "neg", "neutral"], "c1", review,
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
    backends.append(_push(browser_app, "adj-spans", "spans", ["person", "location", "org"], "s1", text,
                          span_votes, consensus_spans, 0.52, "span_vote"))
    # one expert per project: the page works on one project at a time
    tokens = [b.create_annotator(f"expert-{i}", roles=["expert"], projects=[b.project_id]) for i, b in enumerate(backends)]
    out = _drive(browser_app, tokens[0], {
        review[:20]: [
            {"shot": "conflict-choices"},
            {"toggle": 4}, {"read": "lf_hidden"}, {"toggle": 4},
            {"pickKey": 1}, {"read": "picked_first"},          # Shift+1: ann-a's "pos"
            {"clickLabel": "neg"}, {"read": "picked_label"},   # then the label the votes lean to, from the table
            {"note": "battery failure outweighs the screen"}, {"guideline": True},
            {"shot": "conflict-choices-picked"}, {"submit": True},
        ],
    })
    out2 = _drive(browser_app, tokens[1], {
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
    assert _stored(browser_app.root / "app.db") == [("c1", note), ("s1", "Lisbon is a place"), ("c1", "adjudication_note", note),
                                            ("c1", "guideline_question", note), ("s1", "adjudication_note", "Lisbon is a place")]
    shots = browser_app.shots
    assert all((shots / f"{n}.png").stat().st_size > 5000 for n in
               ("conflict-choices", "conflict-choices-picked", "conflict-spans", "conflict-spans-merged"))


def test_conflict_view_shows_the_item_thread(browser_app: BrowserApp) -> None:
    """The item's thread under the answers: a reviewer's rejection and question are there for the expert,
    whose note and guideline question (sent with the submit) are there for the next expert on the item,
    and the question is in the project owner's open list."""
    pid, review = "adj-thread", "Lovely screen, but the battery died after a week"
    votes = _answers("c1", [("human:ann-a", "human", "pos", 0.80, 0.60, 0.92, 20, "gold"),
                            ("human:ann-b", "human", "neg", 0.75, 0.55, 0.89, 20, "gold")])
    b = _push(browser_app, pid, "single_label", ["pos", "neg"], "c1", review, votes, "neg", 0.51, "dawid_skene")
    reviewer = b.create_annotator("rev-1", roles=["reviewer"], projects=[pid])
    experts = [b.create_annotator(f"expert-{n}", roles=["expert"], projects=[pid]) for n in ("a", "b")]
    with httpx.Client(base_url=browser_app.url, headers={"Authorization": f"Bearer {reviewer}"}) as rc:
        for kind, body in (("rejection", "'pos' ignores the dead battery; please weigh the whole review"),
                           ("comment", "Is a mixed review 'neg' when it ends badly?")):
            assert rc.post(f"/api/items/{pid}/c1/comments", json={"kind": kind, "body": body}).status_code == 201
    note = "the battery outweighs the screen: a product that fails is 'neg'"
    out_a = _drive(browser_app, experts[0], {review[:20]: [
        {"waitThread": 2}, {"read": "before"}, {"shot": "conflict-thread"},
        {"pickKey": 2}, {"note": note}, {"guideline": True}, {"submit": True}]})
    # the item comes back for a second opinion (another expert, another task on the same item)
    context = _context("single_label", ["pos", "neg"], "c1", votes, "neg", 0.51, "dawid_skene")
    assert b.push(_adjudication("adj-c1-again", "c1", review, context)) == 1
    out_b = _drive(browser_app, experts[1], {review[:20]: [
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
    assert all((browser_app.shots / f"{n}.png").stat().st_size > 5000 for n in ("conflict-thread", "conflict-thread-after"))


def test_conflict_view_boxes(browser_app: BrowserApp) -> None:
    """Boxes overlaid on the image in each source's colour (a hidden source's boxes disappear); the expert
    picks one answer by key and deletes a box of it before submitting."""
    from PIL import Image

    media = browser_app.root / "media"
    media.mkdir()
    Image.new("RGB", (120, 80), (255, 255, 255)).save(media / "street.png")
    car = {"x": 10.0, "y": 10.0, "w": 30.0, "h": 20.0, "label": "car"}
    person = {"x": 60.0, "y": 30.0, "w": 12.0, "h": 30.0, "label": "person"}
    votes = _answers("b1", [
        ("human:ann-a", "human", [car], 0.90, 0.70, 0.97, 20, "gold"),
        ("human:ann-b", "human", [{**car, "x": 12.0}, person], 0.60, 0.40, 0.77, 20, "gold"),
    ])
    context = _context("boxes", ["car", "person", "sign"], "b1", votes,
                       [{**car, "x": 11.0, "confidence": 0.8, "sources": ["human:ann-a", "human:ann-b"]}], 0.45, "box_fusion")
    b = BuiltinBackend(browser_app.url, ADMIN, "adj-boxes")
    browser_app.backends.append(b)
    b.client.put("/api/projects/adj-boxes", json=dict(labels=["car", "person", "sign"], task_kind="boxes", data_kind="image"))
    assert b.push(pa.Table.from_pylist([dict(assignment_id="adj-b1", item_id="b1", kind="adjudication",
                                             media_uri=f"file://{media / 'street.png'}", context=context)],
                                       schema=TASK_SCHEMA)) == 1
    token = b.create_annotator("expert-boxes", roles=["expert"], projects=["adj-boxes"])
    left_edges = [[10, 20], [12, 25], [60, 45]]  # ann-a's car, ann-b's car, ann-b's person
    out = _drive(browser_app, token, {"image:human:ann-a": [
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
    assert (browser_app.shots / "conflict-boxes.png").stat().st_size > 5000


def _project(page: BrowserApp, name: str, task_kind: str, answer: dict) -> BuiltinBackend:
    return page.project(ProjectConfig.model_validate({
        "name": name, "data_kind": "text", "task_kind": task_kind, "labels": [], "instructions": "Adjudicate.",
        "sources": [{"path": "x.jsonl"}], "queue": {"url": page.url}, "answer": answer}))


COMPARISON = {"prompt": "When did the Berlin Wall fall?", "a": "On **9 November 1989**, after a press conference.",
              "b": "In 1991, with the end of the Soviet Union.", "system_a": "sys-x", "system_b": "sys-y"}


def _preferred(answer: dict) -> str:
    """The answer in the item's terms (a, b or tie), whatever order it was shown in."""
    if answer["choice"] == "tie":
        return "tie"
    return "a" if (answer["choice"] == "A") != bool(answer.get("swapped")) else "b"


def test_conflict_view_pairwise(browser_app: BrowserApp) -> None:
    """Each source's choice shown in the item's order (every answer turned back from the order it was shown in),
    with its reliability and reason, and the tally; picking an answer given in the other order selects the
    same candidate in the expert's own view; the submitted answer prefers the candidate the expert picked."""
    b = _project(browser_app, "adj-pairwise", "pairwise", {"allow_ties": True})
    votes = _answers("p1", [
        ("human:ann-a", "human", {"choice": "A", "swapped": False, "reason": "a has the right date"}, 0.90, 0.75, 0.97, 30, "gold"),
        ("human:ann-b", "human", {"choice": "A", "swapped": True}, 0.55, 0.40, 0.70, 30, "gold"),     # b, seen on the left
        ("model:judge", "model", {"choice": "B", "swapped": True, "reason": "1989 is right"}, 0.80, None, None, 200, "learned"),
        ("human:ann-c", "human", {"choice": "tie", "swapped": False}, None, None, None, None, None),
    ])
    context = _context("pairwise", [], "p1", votes,
                       {"choice": "A", "swapped": False, "p_a": 0.62, "p_b": 0.23, "p_tie": 0.15}, 0.62, "preference_em")
    assert b.push(_adjudication("adj-p1", "p1", json.dumps(COMPARISON), context)) == 1
    token = b.create_annotator("expert-pw", roles=["expert"], projects=[b.project_id])
    out = _drive(browser_app, token, {COMPARISON["prompt"][:20]: [
        {"shot": "conflict-pairwise"},
        {"toggle": 3}, {"read": "model_hidden"}, {"toggle": 3},
        {"pickKey": 2}, {"read": "picked_b"},                      # ann-b: A as shown with b first = candidate b
        {"pickKey": 1}, {"read": "picked_a"},                      # ann-a: candidate a, with the reason
        {"focus": "#conflict .afp-cmp-col[data-pref=tie]"}, {"read": "picked_tie"},
        {"focus": "#conflict .afp-cmp-col[data-pref=a]"}, {"read": "picked_col_a"},
        {"shot": "conflict-pairwise-picked"}, {"submit": True}]})
    (seen,) = out["seen"]
    panel = seen["panel"]
    assert [(r["source"], r["answer"]) for r in panel["rows"]] == [
        ("human:ann-a", "prefers candidate a — “a has the right date”"), ("human:ann-b", "prefers candidate b"),
        ("model:judge", "prefers candidate a — “1989 is right”"), ("human:ann-c", "tie")]
    assert "prefers candidate a" in panel["consensus"] and "0.62" in panel["consensus"]
    pw = panel["pairwise"]
    cols = {c["pref"]: c for c in pw["cols"]}
    assert cols["a"]["who"] == ["human:ann-a", "model:judge"] and cols["b"]["who"] == ["human:ann-b"]
    assert cols["tie"]["who"] == ["human:ann-c"]
    assert "9 November 1989" in cols["a"]["body"] and "1991" in cols["b"]["body"]  # the item's order, not the shown one
    assert pw["tally"] == "Tally: a 2 · b 1 · tie 1 — consensus P: a 0.62, b 0.23, tie 0.15"
    assert [(r["source"], r["pref"], r["side"], r["reason"]) for r in pw["answers"]] == [
        ("human:ann-a", "candidate a", "left", "a has the right date"),
        ("human:ann-b", "candidate b", "left (b first)", ""),
        ("model:judge", "candidate a", "right (b first)", "1989 is right"),
        ("human:ann-c", "tie", "–", "")]
    assert [r["reliability"] for r in pw["answers"]] == ["0.90 [0.75–0.97]", "0.55 [0.40–0.70]", "0.80", "unknown"]
    hidden = seen["model_hidden"]["pairwise"]
    assert hidden["tally"].startswith("Tally: a 1 · b 1 · tie 1") and not hidden["answers"][2]["shown"]
    # the expert's own view shows its own order; a pick lands on the slot holding the same candidate
    slot_of = {("a" if "9 November" in s["body"] else "b"): s["slot"] for s in panel["sides"]}
    assert sorted(slot_of.values()) == ["A", "B"]
    assert f"below: {slot_of['a']}" in cols["a"]["head"] and f"below: {slot_of['b']}" in cols["b"]["head"]
    assert seen["picked_b"]["pairChoice"] == slot_of["b"] and seen["picked_b"]["reason"] == ""
    assert seen["picked_a"]["pairChoice"] == slot_of["a"] and seen["picked_a"]["reason"] == "a has the right date"
    assert seen["picked_tie"]["pairChoice"] == "tie" and seen["picked_col_a"]["pairChoice"] == slot_of["a"]
    (judgment,) = b.pull(None)[0].to_pylist()
    answer = json.loads(judgment["answer"])
    assert _preferred(answer) == "a" and answer["swapped"] == (slot_of["a"] == "B")
    assert all((browser_app.shots / f"{n}.png").stat().st_size > 5000 for n in ("conflict-pairwise", "conflict-pairwise-picked"))


def test_conflict_view_rating(browser_app: BrowserApp) -> None:
    """Per criterion a strip of the scale with each source's score marked in its colour, the consensus score on
    its interval; a pick of an answer whose criteria come in another order fills each criterion's row."""
    b = _project(browser_app, "adj-rating", "rating", {"scale": [1, 5], "criteria": ["accuracy", "fluency"],
                                                     "anchors": {"1": "unusable", "3": "acceptable", "5": "perfect"}})
    text = "Answer: the Berlin Wall fell on 9 November 1989."
    votes = _answers("r1", [
        ("human:ann-a", "human", {"scores": {"accuracy": 4, "fluency": 5}}, 0.85, 0.70, 0.93, 25, "gold"),
        ("human:ann-b", "human", {"scores": {"fluency": 2, "accuracy": 4}}, 0.60, None, None, 80, "learned"),
        ("model:judge", "model", {"scores": {"accuracy": 2, "fluency": 3}}, 0.70, None, None, 300, "learned"),
    ])
    est = {"accuracy": {"mean": 3.6, "low": 2.9, "high": 4.3, "confidence": 0.64},
           "fluency": {"mean": 3.4, "low": 2.2, "high": 4.6, "confidence": 0.41}}
    context = _context("rating", [], "r1", votes, {"scores": {"accuracy": 4, "fluency": 3}, "estimates": est}, 0.41, "rating_em")
    assert b.push(_adjudication("adj-r1", "r1", text, context)) == 1
    token = b.create_annotator("expert-rt", roles=["expert"], projects=[b.project_id])
    out = _drive(browser_app, token, {text[:20]: [
        {"shot": "conflict-rating"},
        {"toggle": 2}, {"read": "b_hidden"}, {"toggle": 2},
        {"pickKey": 2}, {"read": "picked_b"},                    # criteria in the other order
        {"focus": "#conflict .rating-cmp .crit[data-criterion=fluency] .mark[data-i='2']"}, {"read": "picked_mark"},
        {"press": "ArrowRight"}, {"read": "edited"},             # the active row (accuracy) 2 -> 3
        {"shot": "conflict-rating-picked"}, {"submit": True}]})
    (seen,) = out["seen"]
    panel = seen["panel"]
    assert [(r["source"], r["answer"]) for r in panel["rows"]] == [
        ("human:ann-a", "accuracy 4, fluency 5"), ("human:ann-b", "accuracy 4, fluency 2"), ("model:judge", "accuracy 2, fluency 3")]
    colours = [r["colour"] for r in panel["rows"]]
    strips = {c["criterion"]: c for c in panel["rating"]}
    assert list(strips) == ["accuracy", "fluency"]
    assert strips["accuracy"]["ticks"] == ["1unusable", "2", "3acceptable", "4", "5perfect"]
    for crit, want in (("accuracy", [4, 4, 2]), ("fluency", [5, 2, 3])):
        marks = sorted(strips[crit]["marks"], key=lambda m: m["i"])
        assert [m["score"] for m in marks] == want and [m["colour"] for m in marks] == colours
        assert [m["left"] for m in marks] == [f"{(v - 1) * 25}%" for v in want]
    assert strips["accuracy"]["cons"] == "75%" and strips["fluency"]["cons"] == "50%"
    assert strips["accuracy"]["band"][0] == "47.5%"
    assert strips["accuracy"]["text"] == "consensus 4 (mean 3.60, interval [2.90–4.30], confidence 0.64)"
    assert [m["source"] for m in seen["b_hidden"]["rating"][1]["marks"]] == ["human:ann-a", "model:judge"]
    assert seen["picked_b"]["scores"] == [["accuracy", "4"], ["fluency", "2"]]
    assert seen["picked_mark"]["scores"] == [["accuracy", "2"], ["fluency", "3"]]
    assert seen["edited"]["scores"] == [["accuracy", "3"], ["fluency", "3"]]
    (judgment,) = b.pull(None)[0].to_pylist()
    assert json.loads(judgment["answer"]) == {"scores": {"accuracy": 3, "fluency": 3}}
    assert all((browser_app.shots / f"{n}.png").stat().st_size > 5000 for n in ("conflict-rating", "conflict-rating-picked"))


def test_conflict_view_rating_single_score(browser_app: BrowserApp) -> None:
    """A single score: one strip named "score" with each source's mark and the consensus on its interval; the
    answers read as bare scores; a mark's click picks that answer, a key then edits it."""
    b = _project(browser_app, "adj-score", "rating", {"scale": [1, 5], "anchors": {"1": "bad", "5": "great"}})
    text = "Summary: the report covers three quarters of sales."
    votes = _answers("r1", [
        ("human:ann-a", "human", {"score": 4}, 0.85, 0.70, 0.93, 25, "gold"),
        ("human:ann-b", "human", {"score": 2}, 0.60, None, None, 80, "learned"),
        ("model:judge", "model", {"score": 4}, 0.70, None, None, 300, "learned"),
    ])
    est = {"mean": 3.4, "low": 2.6, "high": 4.2, "confidence": 0.58}
    context = _context("rating", [], "r1", votes, {"score": 3, "estimate": est}, 0.58, "rating_em")
    assert b.push(_adjudication("adj-r1", "r1", text, context)) == 1
    token = b.create_annotator("expert-score", roles=["expert"], projects=[b.project_id])
    out = _drive(browser_app, token, {text[:20]: [
        {"shot": "conflict-rating-score"},
        {"toggle": 3}, {"read": "model_hidden"}, {"toggle": 3},
        {"pickKey": 1}, {"read": "picked_a"},
        {"focus": "#conflict .rating-cmp .crit .mark[data-i='1']"}, {"read": "picked_mark"},
        {"press": "ArrowRight"}, {"read": "edited"},             # ann-b's 2 -> 3
        {"shot": "conflict-rating-score-picked"}, {"submit": True}]})
    (seen,) = out["seen"]
    panel = seen["panel"]
    assert [(r["source"], r["answer"]) for r in panel["rows"]] == [
        ("human:ann-a", "4"), ("human:ann-b", "2"), ("model:judge", "4")]
    (strip,) = panel["rating"]
    assert strip["criterion"] == "" and strip["ticks"] == ["1bad", "2", "3", "4", "5great"]
    marks = sorted(strip["marks"], key=lambda m: m["i"])
    assert [(m["source"], m["score"], m["left"]) for m in marks] == [
        ("human:ann-a", 4, "75%"), ("human:ann-b", 2, "25%"), ("model:judge", 4, "75%")]
    assert [m["colour"] for m in marks] == [r["colour"] for r in panel["rows"]]
    assert strip["cons"] == "50%" and strip["band"][0] == "40%"
    assert strip["text"] == "consensus 3 (mean 3.40, interval [2.60–4.20], confidence 0.58)"
    assert [m["source"] for m in seen["model_hidden"]["rating"][0]["marks"]] == ["human:ann-a", "human:ann-b"]
    assert seen["picked_a"]["scores"] == [["", "4"]]
    assert seen["picked_mark"]["scores"] == [["", "2"]]
    assert seen["edited"]["scores"] == [["", "3"]]
    (judgment,) = b.pull(None)[0].to_pylist()
    assert json.loads(judgment["answer"]) == {"score": 3}
    assert all((browser_app.shots / f"{n}.png").stat().st_size > 5000
               for n in ("conflict-rating-score", "conflict-rating-score-picked"))
