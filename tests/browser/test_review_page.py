"""Review and rework in the REAL annotation page, in headless Chromium, for a choices and a spans project: a
reviewer accepts (A), corrects (C, then the widget, then Enter) and rejects with a comment (R, the comment,
Ctrl+Enter); the annotator then gets the rejected answer back first, sees the comment above it, fixes it and
resubmits. Beside the task both see the item's comment thread: the reviewer comments before rejecting, the
annotator reads the rejection there and replies to it. The app's pull must then hold every decision and the
resubmission exactly, and the thread those three comments.
Screenshots: `<tmp_path>/shots/review-*.png` and `rework-*.png`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import orjson
import pytest

from annotation_app.process import start_app
from tests.app.test_review import Project
from tests.browser.span_harness import CHROMIUM, browser_missing
from tests.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.slow
GOOD, DULL, LOVED = "The film was wonderful.", "A dull, lifeless plot.", "I loved every minute of it."
ADA, PARIS = "Ada Lovelace met Charles Babbage.", "They walked to Paris together."
COMMENT = "'loved' is praise: this review is positive."
SPAN_COMMENT = "Ada Lovelace is a person, not a place."
NOTE, REPLY = "Asking the author about 'loved'.", "Right, 'loved' is praise: fixed to pos."
THREAD = "#item-thread"


def _labelled(p: Project, who, items: list[tuple[str, str, object]], priorities: list[float]) -> dict[str, dict]:
    """`who` answers each item through the API, then the pipeline pushes a review of each (first one first)."""
    out = {}
    for (item, text, answer), prio in zip(items, priorities):
        p.push({"assignment_id": f"{p.pid}-{item}", "item_id": item, "payload": text})
        task = who.ok(f"/api/annotate/{p.pid}/next")["task"]
        who.ok(f"/api/annotate/leases/{task['lease_id']}/submit", {"client_id": f"c-{item}", "answer": answer})
        j = next(r for r in p.pull() if r["item_id"] == item)
        p.push({"assignment_id": f"review:{j['judgment_id']}", "item_id": item, "kind": "review", "payload": text,
                "priority": prio, "context": {"review": {"target": j["judgment_id"], "source_id": who.id, "origin": "human",
                                                         "answer": answer, "assignment_id": j["assignment_id"]}}})
        out[item] = j
    return out


def _span(text: str, word: str, label: str) -> dict:
    start = text.index(word)
    return {"start": start, "end": start + len(word), "label": label}


def test_review_and_rework_in_the_page_for_choices_and_spans(tmp_path: Path) -> None:
    missing = browser_missing()
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")
    app = start_app(tmp_path / "app.db", ADMIN_TOKEN, log=tmp_path / "app.log")
    choices = Project(app.url, "single_label", ["pos", "neg"])
    spans = Project(app.url, "spans", ["person", "place"])
    try:
        c_ann, c_rev = choices.person("annotator"), choices.person("reviewer")
        s_ann, s_rev = spans.person("annotator"), spans.person("reviewer")
        for p, people in ((choices, (c_ann, c_rev)), (spans, (s_ann, s_rev))):
            for who in people:
                p.admin.http.patch(f"/api/annotators/{who.id}", json={"projects": [p.pid]}).raise_for_status()
        _labelled(choices, c_ann, [("i1", GOOD, "pos"), ("i2", DULL, "pos"), ("i3", LOVED, "neg")], [3, 2, 1])
        _labelled(spans, s_ann, [("s1", ADA, [_span(ADA, "Ada Lovelace", "place")]),
                                     ("s2", PARIS, [_span(PARIS, "Paris", "person")])], [2, 1])
        ada, paris = ADA.index("Ada"), PARIS.index("Paris")
        shots = tmp_path / "shots"
        shots.mkdir()
        plan = {"url": app.url, "chromium": CHROMIUM, "userDataDir": str(tmp_path / "profile"),
                "screenshotDir": str(shots), "sessions": [
                    {"token": _token(choices, c_rev), "steps": [
                        {"task": GOOD}, {"read": "#review-panel .who"}, {"shot": "review-choices-shown"},
                        {"press": "Enter"}, {"press": "1"},  # locked: neither submits nor changes the answer
                        {"read": "#widget .selected"}, {"press": "a"},
                        {"task": DULL}, {"press": "c"}, {"press": "2"}, {"shot": "review-choices-correcting"},
                        {"press": "Enter"},
                        {"task": LOVED}, {"wait": f"{THREAD} .thread-empty"}, {"type": [f"{THREAD} textarea", NOTE]},
                        {"button": f"{THREAD} button[type=submit]"}, {"wait": f"{THREAD} li.thread-comment"},
                        {"press": "r"}, {"type": ["#review-comment", COMMENT]},
                        {"shot": "review-choices-rejecting"}, {"press": "Control+Enter"},
                        {"empty": True}, {"shot": "review-choices-done"}]},
                    {"token": _token(choices, c_ann), "steps": [
                        {"task": LOVED}, {"read": "#rework-banner"}, {"shot": "rework-choices-banner"},
                        {"wait": f"{THREAD} .thread-rejection"}, {"read": f"{THREAD} .thread-rejection"},
                        {"button": f"{THREAD} .thread-rejection .thread-reply"}, {"type": [f"{THREAD} textarea", REPLY]},
                        {"press": "Control+Enter"}, {"wait": f"{THREAD} li:nth-child(3)"}, {"shot": "rework-choices-thread"},
                        {"button": "#rework-banner"},  # out of the comment box: the page's keys again
                        {"press": "1"}, {"press": "Enter"}, {"empty": True}]},
                    {"token": _token(spans, s_rev), "steps": [
                        {"task": ADA}, {"shot": "review-spans-shown"}, {"press": "r"},
                        {"type": ["#review-comment", SPAN_COMMENT]}, {"shot": "review-spans-rejecting"},
                        {"button": "#review-send-reject"},
                        {"task": PARIS}, {"press": "c"}, {"click": paris + 1}, {"press": "2"},
                        {"shot": "review-spans-correcting"}, {"press": "Enter"}, {"empty": True}]},
                    {"token": _token(spans, s_ann), "steps": [
                        {"task": ADA}, {"read": "#rework-banner"}, {"shot": "rework-spans-banner"},
                        {"click": ada + 1}, {"press": "1"}, {"shot": "rework-spans-fixed"}, {"press": "Enter"},
                        {"empty": True}, {"shot": "rework-spans-done"}]},
                ]}
        plan_file = tmp_path / "plan.json"
        plan_file.write_text(json.dumps(plan))
        run = subprocess.run(["node", str(Path(__file__).with_name("review_page.cjs")), str(plan_file)],
                             capture_output=True, text=True, timeout=240, check=False)
        assert run.returncode == 0, f"browser driver failed:\n{run.stderr}\napp log: {tmp_path / 'app.log'}"
        out = json.loads(run.stdout.strip().splitlines()[-1])
        assert out["errors"] == []
        reads = [r["text"] for r in out["log"] if "read" in r]
        assert reads[0].startswith(f"Reviewing the answer of {c_ann.id}")
        assert reads[1] is None  # the keys pressed while locked selected nothing
        assert COMMENT in reads[2] and c_rev.id in reads[2]
        assert COMMENT in reads[3] and f"{c_rev.id} · rejection" in reads[3]  # the thread on the rework task
        assert SPAN_COMMENT in reads[4]

        rows = choices.pull()
        decided = {r["item_id"]: (r["decision"], r["label"], r["comment"]) for r in rows if r["task_kind"] == "review"}
        assert decided == {"i1": ("accept", "pos", None), "i2": ("correct", "neg", None), "i3": ("reject", None, COMMENT)}
        [fixed] = [r for r in rows if r["task_kind"] == "rework"]
        assert (fixed["item_id"], fixed["annotator_id"], fixed["decision"], fixed["label"]) == ("i3", c_ann.id, "resubmit", "pos")
        thread = choices.admin.http.get(f"/api/items/{choices.pid}/i3/comments").json()["comments"]
        assert [(c["kind"], c["author"], c["body"]) for c in thread] == [
            ("comment", c_rev.id, NOTE), ("rejection", c_rev.id, COMMENT), ("comment", c_ann.id, REPLY)]
        assert thread[2]["reply_to"] == thread[1]["comment_id"]
        assert [c["kind"] for c in spans.admin.http.get(f"/api/items/{spans.pid}/s1/comments").json()["comments"]] == ["rejection"]
        rows = spans.pull()
        decided = {r["item_id"]: (r["decision"], r["answer"] and orjson.loads(r["answer"]), r["comment"])
                   for r in rows if r["task_kind"] == "review"}
        assert decided == {"s1": ("reject", None, SPAN_COMMENT), "s2": ("correct", [_span(PARIS, "Paris", "place")], None)}
        [fixed] = [r for r in rows if r["task_kind"] == "rework"]
        assert (fixed["item_id"], fixed["decision"]) == ("s1", "resubmit")
        assert orjson.loads(fixed["answer"]) == [_span(ADA, "Ada Lovelace", "person")]
        assert {f.name for f in shots.glob("*.png")} >= {"review-choices-shown.png", "review-choices-correcting.png",
                                                         "review-choices-rejecting.png", "rework-choices-banner.png",
                                                         "rework-choices-thread.png",
                                                         "review-spans-correcting.png", "rework-spans-banner.png"}
        stats = {(r["project_id"], r["source_id"]): r for r in choices.admin.http.get("/api/stats").json()["reviews"]}
        assert (stats[(choices.pid, c_ann.id)]["accepted"], stats[(choices.pid, c_ann.id)]["rejected"]) == (1, 1)
        assert stats[(spans.pid, s_ann.id)]["corrected"] == 1
    finally:
        choices.close()
        spans.close()
        app.stop()


def _token(p: Project, who) -> str:
    return who.http.headers["Authorization"].removeprefix("Bearer ")
