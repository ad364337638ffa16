"""Span answers: JSON both ways, and validation of every bad span against its item, with the exact message."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from tasks.errors import InputError
from tasks.kinds import get
from tasks.kinds.spans.storage import SPANS_TYPE

STORAGE = get("spans").storage
TEXT = "Alice met Bob in Paris"  # 22 code points
ACCENT = "Jose\u0301 Ma\u0301rquez"  # J o s e ́ ␠ M a ́ r q u e z: combining acute accents
EMOJI = "fan of 👍🏽 Rome"  # thumbs up + skin-tone modifier is one character of two code points


def _items() -> pa.Table:
    return pa.table({"item_id": ["t", "a", "e"], "payload": [TEXT, ACCENT, EMOJI], "metadata": [None, None, None]})


def _check(cfg, rows: list[tuple[str, str | None, object]]) -> list[dict]:
    answers = pa.table({"item_id": [r[0] for r in rows], "source_id": [r[1] for r in rows],
                        "answer": [r[2] if isinstance(r[2], str) or r[2] is None else json.dumps(r[2]) for r in rows]})
    return STORAGE.validate(answers, _items(), cfg).to_pylist()


@pytest.fixture
def cfg(make_project):
    return make_project(task_kind="spans", labels=["person", "location"])


def test_valid_answers_have_no_problems(cfg):
    ok = [("t", "human:ann", [{"start": 0, "end": 5, "label": "person"}, {"start": 17, "end": 22, "label": "location"}]),
          ("t", None, []),
          ("a", "human:ann", [{"start": 0, "end": 5, "label": "person"}]),
          ("e", "lf:x", [{"start": 7, "end": 9, "label": "person"}])]
    assert _check(cfg, ok) == []


@pytest.mark.parametrize("item, answer, field, reason, detail", [
    ("t", [{"start": 17, "end": 30, "label": "location"}], "spans[0].end", "span_outside_text",
     "spans[0].end = 30 is past the end of the text (22 characters)"),
    ("t", [{"start": -1, "end": 3, "label": "person"}], "spans[0].start", "negative_offset", "spans[0].start = -1 is negative"),
    ("t", [{"start": 5, "end": 5, "label": "person"}], "spans[0].end", "empty_or_reversed_span",
     "spans[0].end = 5 is not after start 5 (end is exclusive; start < end)"),
    ("t", [{"start": 6, "end": 2, "label": "person"}], "spans[0].end", "empty_or_reversed_span",
     "spans[0].end = 2 is not after start 6 (end is exclusive; start < end)"),
    ("t", [{"start": 0, "end": 5, "label": "person"}, {"start": 10, "end": 13, "label": "org"}], "spans[1].label",
     "unknown_label", 'spans[1].label = "org" is not in the label set ["person", "location"]'),
    ("t", [{"start": 0.5, "end": 5, "label": "person"}], "spans[0].start", "non_integer_offset",
     "spans[0].start = 0.5 is not a whole number (offsets count characters)"),
    ("t", [{"start": "0", "end": 5, "label": "person"}], "spans[0].start", "non_integer_offset",
     "spans[0].start = 0 is not a whole number (offsets count characters)"),
    ("t", [{"start": 0, "label": "person"}], "spans[0].end", "missing_field", "spans[0].end = null: the span has no end"),
    ("t", [{"start": 0, "end": 5, "label": 3}], "spans[0].label", "label_not_text", "spans[0].label = 3 is not a text label"),
    ("t", [[0, 5, "person"]], "spans[0]", "not_a_span",
     'spans[0] = [0,5,"person"] is not a span object {"start": ..., "end": ..., "label": ...}'),
    ("t", [{"start": 0, "end": 5, "label": "person"}, {"start": 3, "end": 9, "label": "location"}], "spans[1]",
     "overlapping_spans", ('spans[1] 3-9 "location" overlaps spans[0] (ending at 5); overlapping spans are off for this '
     "project ([answer] allow_overlap = true allows them)")),
    ("t", [{"start": 0, "end": 5, "label": "person"}, {"start": 0, "end": 5, "label": "person"}], "spans[1]",
     "duplicate_span", 'spans[1] 0-5 "person" repeats spans[0]'),
    # J o s e ́: offset 4 lies between the e and its accent.
    ("a", [{"start": 0, "end": 4, "label": "person"}], "spans[0].end", "splits_character",
     ('spans[0].end = 4 falls inside the character "e\u0301" (offsets count Unicode code points; a combining mark, emoji '
     "modifier, or offsets counted in UTF-8 bytes or UTF-16 units by another tool land here)")),
    # 👍 🏽: offset 8 lies between the emoji and its skin-tone modifier.
    ("e", [{"start": 8, "end": 14, "label": "location"}], "spans[0].start", "splits_character",
     ('spans[0].start = 8 falls inside the character "👍🏽" (offsets count Unicode code points; a combining mark, emoji '
     "modifier, or offsets counted in UTF-8 bytes or UTF-16 units by another tool land here)")),
])
def test_each_bad_span_is_named(cfg, item, answer, field, reason, detail):
    problems = _check(cfg, [("t", "human:ok", []), (item, "human:ann", answer)])
    assert problems == [{"row": 1, "item_id": item, "source_id": "human:ann", "field": field, "reason": reason,
                         "detail": f'item "{item}", source "human:ann": {detail}'}]


@pytest.mark.parametrize("answer, reason, detail", [
    ("[{\"start\": 0", "malformed_json", 'the answer [{"start": 0 is not valid JSON'),
    ('{"start": 0, "end": 5, "label": "person"}', "not_a_list",
     'the answer {"start": 0, "end": 5, "label": "person"} is not a list of spans [{"start": ..., "end": ..., "label": ...}]'),
    (None, "missing_answer", 'the answer is missing (an empty list [] means "no entities")'),
])
def test_answers_that_are_not_span_lists(cfg, answer, reason, detail):
    assert _check(cfg, [("t", None, answer)]) == [
        {"row": 0, "item_id": "t", "source_id": None, "field": "answer", "reason": reason, "detail": f'item "t", gold: {detail}'}]


def test_unknown_item(cfg):
    assert _check(cfg, [("nope", "human:ann", [])]) == [
        {"row": 0, "item_id": "nope", "source_id": "human:ann", "field": "item_id", "reason": "unknown_item",
         "detail": 'item "nope", source "human:ann": no ingested item has this id'}]


def test_overlaps_allowed_by_the_option_but_duplicates_never(make_project):
    cfg = make_project(task_kind="spans", labels=["person", "location"], answer={"allow_overlap": True})
    nested = [{"start": 10, "end": 22, "label": "location"}, {"start": 17, "end": 22, "label": "location"}]
    assert _check(cfg, [("t", "human:ann", nested)]) == []
    dup = [*nested, nested[0]]
    assert [p["reason"] for p in _check(cfg, [("t", "human:ann", dup)])] == ["duplicate_span"]


def test_several_problems_in_one_answer_all_reported(cfg):
    bad = [{"start": 0, "end": 99, "label": "person"}, {"start": 2, "end": 1, "label": "person"}, {"start": 0, "end": 3, "label": "x"}]
    assert [(p["field"], p["reason"]) for p in _check(cfg, [("t", "s", bad)])] == [
        ("spans[0].end", "span_outside_text"), ("spans[1].end", "empty_or_reversed_span"), ("spans[2].label", "unknown_label")]


def test_json_round_trip_is_canonical():
    spans = pa.array([[{"start": 6, "end": 9, "label": "b"}, {"start": 0, "end": 5, "label": "a"}], [], None], SPANS_TYPE)
    texts = STORAGE.to_json(spans)
    assert texts.to_pylist() == ['[{"start":0,"end":5,"label":"a"},{"start":6,"end":9,"label":"b"}]', "[]", None]
    back = STORAGE.from_json(texts)
    assert back.type == SPANS_TYPE
    assert back.to_pylist() == [[{"start": 0, "end": 5, "label": "a"}, {"start": 6, "end": 9, "label": "b"}], [], None]


@pytest.mark.parametrize("text", ['[{"start": 1.5, "end": 2, "label": "a"}]', "nope", '{"start": 1}', '[{"start": 1, "end": 2}]'])
def test_from_json_names_the_bad_value(text):
    with pytest.raises(InputError, match=r"answer 1: .* is not a list of spans"):
        STORAGE.from_json(pa.array(["[]", text]))


def test_an_item_given_twice_is_checked_once(cfg):
    items = pa.concat_tables([_items(), _items()])
    answers = pa.table({"item_id": ["t"], "source_id": ["s"], "answer": [json.dumps([{"start": 0, "end": 5, "label": "person"}])]})
    assert STORAGE.validate(answers, items, cfg).num_rows == 0
