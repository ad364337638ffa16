"""The span tool in a real headless Chromium, loaded through the widget contract by a shell stand-in.

The annotation page's real shell is built separately; `span_shell_standin.html` keeps only the
contract (registry, ctx, answer/handleKey/destroy/keys), so these tests pin the widget itself:
mouse and keyboard selection, typing by key, reviewing suggested spans, deleting, "no entities",
overlaps, scrolling, and token snapping identical to `tasks/kinds/spans/tokens.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.kinds.spans.tokens import tokenize
from tests.browser.span_harness import browser_missing, run_widget

pytestmark = pytest.mark.slow

TYPES = ["person", "location", "org"]
OPTIONS = {"allow_overlap": False, "snap_to_tokens": True, "tokenizer": "words"}
TEXT = "😀 Zoë met 👩‍💻 Ana in São Paulo and New York, said Reuters 🎉."


def _require_browser() -> None:
    missing = browser_missing()
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")


def at(word: str, text: str = TEXT) -> tuple[int, int]:
    start = text.index(word)
    return start, start + len(word)


def span(word: str, label: str, text: str = TEXT) -> dict:
    s, e = at(word, text)
    return {"start": s, "end": e, "label": label}


def task(text: str, prelabel: list | None = None) -> dict:
    return {"item_id": "i1", "payload": text, "media_url": None, "data_kind": "text", "prelabel": prelabel}


def selection(log_entry: dict) -> str:
    return log_entry["status"].split("Selection: ", 1)[1].split(" — press", 1)[0]


def test_mouse_selection_review_of_suggestions_edit_delete_and_submit(tmp_path: Path) -> None:
    _require_browser()
    pre = [span("Ana", "location"), span("São Paulo", "location"), span("New", "location"), span("said", "org")]
    zoe, reuters = at("Zoë"), at("Reuters")
    actions = [
        {"shot": "spans-suggested"},
        {"answer": True},                                   # drafts unreviewed: refused
        {"drag": [zoe[0], zoe[0] + 2]},                     # "Zo": snaps to the whole word
        {"status": True},
        {"press": "1"},                                     # person
        {"click": at("Ana")[0] + 1}, {"press": "1"},        # retype a suggestion: location -> person
        {"click": at("São Paulo")[0]}, {"press": "a"},      # accept, and move on to the next suggestion ("New")
        {"press": "Shift+ArrowRight"}, {"press": "a"},      # its end grows to "New York"; accept
        {"status": True},                                   # accepting moved on to "said"
        {"press": "Delete"},                                # the spurious suggestion goes
        {"drag": [reuters[0] + 1, reuters[1] - 1]}, {"shot": "spans-selecting"}, {"press": "3"},
        {"drag": [at("Paulo")[0], at("New York")[1]]},      # over two spans: a new span replaces both
        {"press": "2"}, {"answer": True},
        {"click": at("Paulo and New York")[0]}, {"press": "Delete"},
        {"press": "Enter"},                                 # the shell submits answer()
        {"shot": "spans-submitted"},
    ]
    [run] = run_widget(tmp_path, [dict(task=task(TEXT, pre), labels=TYPES, options=OPTIONS, actions=actions)])
    assert run["errors"] == []
    log, h = run["log"], run["harness"]
    assert "4 suggested spans still to review" in log[0]["error"]
    assert selection(log[1]) == "Zoë"
    assert "Selected: said — org (suggested)" in log[2]["status"]
    replaced = log[3]["answer"]
    assert replaced == [span("Zoë", "person"), span("Ana", "person"), span("Paulo and New York", "location"),
                        span("Reuters", "org")]
    assert h["refused"] == [] and len(h["submitted"]) == 1
    assert h["submitted"][0] == [span("Zoë", "person"), span("Ana", "person"), span("Reuters", "org")]
    assert h["valid"][0] is False and h["valid"][-1] is True
    assert {k["key"] for k in h["keys"]} >= {"1", "2", "3", "N", "Del", "A"}
    for name in ("spans-suggested", "spans-selecting", "spans-submitted"):
        assert (tmp_path / "shots" / f"{name}.png").stat().st_size > 5000


def test_keyboard_selection_typing_boundaries_and_token_walk_match_the_python_tokenisers(tmp_path: Path) -> None:
    _require_browser()
    text = "Dr. Jane Doe visited Ann_Arbor."
    tricky = "Hi,\tw\u00f6rld! 😀x_y 3.14 cafe\u0301 ½Ⅻ\u00a0end—ok"  # tab, nbsp, a combining accent, No/Nl numbers
    keyboard = [
        {"press": "Home"}, {"status": True},                            # "Dr"
        {"press": "ArrowRight"}, {"press": "ArrowRight"}, {"press": "Shift+ArrowRight"}, {"status": True},
        {"press": "1"}, {"answer": True},                                # Jane Doe: person
        {"press": "2"}, {"answer": True},                                # retyped: location
        {"press": ","}, {"answer": True},                                # start one token left: ". Jane Doe"
        {"press": "."}, {"press": "Shift+ArrowLeft"}, {"answer": True},  # start back, end one token left: "Jane"
        {"press": "Shift+ArrowRight"}, {"press": "1"},
        {"press": "End"}, {"press": "ArrowLeft"}, {"press": "Shift+ArrowLeft"}, {"press": "Shift+ArrowLeft"},
        {"status": True}, {"press": "2"},                                # Ann_Arbor: location
        {"press": "ArrowUp"}, {"status": True}, {"press": "ArrowDown"}, {"press": "Backspace"}, {"answer": True},
        {"press": "ArrowUp"}, {"press": "Escape"}, {"press": "Enter"},
    ]
    walks = []
    for tokenizer in ("words", "whitespace"):
        steps = [{"press": "Home"}, {"status": True}]
        steps += [a for _ in tokenize(tricky, tokenizer)[1:] for a in ({"press": "ArrowRight"}, {"status": True})]
        walks.append(dict(task=task(tricky), labels=TYPES, options=dict(OPTIONS, tokenizer=tokenizer), actions=steps))
    runs = run_widget(tmp_path, [dict(task=task(text), labels=TYPES, options=OPTIONS, actions=keyboard), *walks])
    assert all(r["errors"] == [] for r in runs)
    log, h = runs[0]["log"], runs[0]["harness"]
    assert [selection(log[0]), selection(log[1])] == ["Dr", "Jane Doe"]
    assert [x["answer"] for x in (log[2], log[3], log[4], log[5])] == [
        [span("Jane Doe", "person", text)], [span("Jane Doe", "location", text)],
        [span(". Jane Doe", "location", text)], [span("Jane", "location", text)]]
    assert selection(log[6]) == "Ann_Arbor"
    assert "Selected: Jane Doe — person" in log[7]["status"]
    assert log[8]["answer"] == [span("Jane Doe", "person", text)]  # ArrowDown then Backspace deleted Ann_Arbor
    assert h["submitted"] == [[span("Jane Doe", "person", text)]]
    for run, tokenizer in zip(runs[1:], ("words", "whitespace")):
        assert [selection(x) for x in run["log"]] == [tricky[s:e] for s, e in tokenize(tricky, tokenizer)], tokenizer


def test_no_entities_is_one_explicit_key(tmp_path: Path) -> None:
    _require_browser()
    text = "Nothing to see here, really."
    runs = run_widget(tmp_path, [
        # An empty answer must be confirmed: Enter alone is refused, N then Enter sends [].
        dict(task=task(text), labels=TYPES, options=OPTIONS,
             actions=[{"press": "Enter"}, {"press": "n"}, {"status": True}, {"press": "Enter"}]),
        # With a shell that offers ctx.submit, N drops the unreviewed suggestions and submits at once.
        dict(task=task(text, [span("Nothing", "org", text)]), labels=TYPES, options=OPTIONS, withSubmit=True,
             actions=[{"press": "Enter"}, {"press": "n"}, {"shot": "spans-no-entities"}]),
        # N never throws away spans the annotator marked.
        dict(task=task(text), labels=TYPES, options=OPTIONS, withSubmit=True,
             actions=[{"press": "Home"}, {"press": "3"}, {"press": "n"}, {"status": True}, {"answer": True}]),
    ])
    assert all(r["errors"] == [] for r in runs)
    first, second, third = (r["harness"] for r in runs)
    assert first["refused"] == ["no span marked: mark the entities, or press N if the text has none"]
    assert first["submitted"] == [[]] and "no entities" in runs[0]["log"][0]["status"]
    assert second["refused"][0].startswith("1 suggested span still to review") and second["submitted"] == [[]]
    assert third["submits"] == 0 and "delete the marked spans first" in runs[2]["log"][0]["status"]
    assert runs[2]["log"][1]["answer"] == [span("Nothing", "org", text)]


def test_overlaps_where_allowed_and_a_long_text_scrolls_to_the_span_at_hand(tmp_path: Path) -> None:
    _require_browser()
    text = "The University of São Paulo is in São Paulo."
    long_text = " ".join(f"Sentence {i} mentions Alice and Bob in Paris." for i in range(120))
    last_paris = long_text.rindex("Paris")
    runs = run_widget(tmp_path, [
        dict(task=task(text), labels=TYPES, options=dict(OPTIONS, allow_overlap=True), actions=[
            {"drag": list(at("University of São Paulo", text))}, {"press": "3"},
            {"drag": list(at("São Paulo", text))}, {"press": "2"}, {"shot": "spans-nested"}, {"answer": True},
            {"press": "Escape"}, {"click": at("São Paulo", text)[0]}, {"status": True}, {"click": at("São Paulo", text)[0]}, {"status": True}]),
        dict(task=task(long_text, [{"start": 0, "end": 8, "label": "org"},
                                    {"start": last_paris, "end": last_paris + 5, "label": "location"},
                                    {"start": 8, "end": 9, "label": "org"},                 # only a space
                                    {"start": 0, "end": len(long_text) + 1, "label": "org"}]),  # past the end
             labels=TYPES, options=OPTIONS, actions=[
            {"eval": "(() => { const b = document.querySelector('.afs-text'); return [b.scrollHeight > b.clientHeight + 100, b.scrollTop]; })()"},
            {"press": "ArrowDown"}, {"press": "ArrowDown"}, {"shot": "spans-long-text"},
            {"eval": "document.querySelector('.afs-text').scrollTop"}, {"status": True}]),
        # Without snapping a selection keeps its characters (less surrounding spaces), even inside words.
        dict(task=task(text), labels=TYPES, options=dict(OPTIONS, snap_to_tokens=False), actions=[
            {"drag": [at("São Paulo", text)[0] + 1, at("São Paulo", text)[0] + 6]}, {"press": "2"},
            {"drag": [at(" is ", text)[0], at(" is ", text)[1]]}, {"press": "1"}, {"answer": True},
            {"dragBelow": at("São Paulo.", text)[0]}, {"status": True}]),
    ])
    assert all(r["errors"] == [] for r in runs)
    nested = runs[0]["log"]
    assert nested[0]["answer"] == [span("University of São Paulo", "org", text), span("São Paulo", "location", text)]
    # Clicking where spans nest selects the innermost first, then the next one out.
    assert "Selected: São Paulo — location" in nested[1]["status"]
    assert "Selected: University of São Paulo — org" in nested[2]["status"]
    scroll = runs[1]["log"]
    assert scroll[0]["eval"] == [True, 0]
    assert scroll[1]["eval"] > 1000 and "Selected: Paris — location (suggested)" in scroll[2]["status"]
    assert "2 suggested spans did not fit this text and were left out" in scroll[2]["status"]
    sao = at("São Paulo", text)[0]
    assert runs[2]["log"][0]["answer"] == [{"start": sao + 1, "end": sao + 6, "label": "location"},
                                           span("is", "person", text)]
    assert selection(runs[2]["log"][1]) == "São Paulo."  # a drag past the box runs to the end of the text
