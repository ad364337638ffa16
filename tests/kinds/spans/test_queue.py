"""The spans queue facet: submit checks, the widget's options, Label Studio config and results both ways."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from schemas.config import ProjectConfig
from tasks.kinds import get
from tasks.kinds.protocol import AnswerError

Q = get("spans").queue
TYPES = ["person", "location", "org"]
# "Zoë" has a precomposed ë; each emoji is one code point but two UTF-16 units, as a browser counts.
TEXT = "😀 Zoë met 👩‍💻 Ana in São Paulo 🎉"
ZOE, ANA, SAO = (2, 5), (14, 17), (21, 30)


def cfg(**answer) -> ProjectConfig:
    return ProjectConfig(name="ner", task_kind="spans", labels=TYPES, answer=answer)


def spans(*triples) -> list[dict]:
    return [{"start": s, "end": e, "label": lab} for s, e, lab in triples]


def test_offsets_in_the_fixture_are_code_points() -> None:
    assert (TEXT[slice(*ZOE)], TEXT[slice(*ANA)], TEXT[slice(*SAO)]) == ("Zoë", "Ana", "São Paulo")


def test_parse_submission_sorts_and_returns_the_stored_json_form() -> None:
    body = {"answer": spans((*SAO, "location"), (*ZOE, "person"))}
    got = Q.parse_submission(body, TYPES, Q.page_config(cfg()), TEXT)
    assert got == [{"start": 2, "end": 5, "label": "person"}, {"start": 21, "end": 30, "label": "location"}]
    assert Q.parse_submission({"answer": "[]"}, TYPES, {}, TEXT) == []  # JSON text accepted; [] = no entities


@pytest.mark.parametrize(("answer", "code", "message"), [
    (None, "missing_answer", "answer: missing"),
    ("[{", "malformed_json", "answer: not valid JSON"),
    ({"start": 0}, "not_a_list", "answer: expected a list"),
    ([[0, 3, "person"]], "not_a_span", "answer[0]: expected an object"),
    (spans((0, 3, "person")) + [{"start": 4, "end": 6, "label": "org", "score": 1}], "unexpected_field",
     "answer[1]: unexpected field 'score'"),
    ([{"start": "2", "end": 5, "label": "person"}], "non_integer_offset", "answer[0].start: expected an integer offset, got '2'"),
    ([{"start": True, "end": 5, "label": "person"}], "non_integer_offset", "answer[0].start: expected an integer"),
    ([{"end": 5, "label": "person"}], "missing_field", "answer[0].start: the span has no start"),
    (spans((-1, 5, "person")), "negative_offset", "answer[0].start: offset -1 is negative"),
    (spans((5, 2, "person")), "empty_or_reversed_span", "answer[0].end: a span must end after it starts"),
    (spans((5, 5, "person")), "empty_or_reversed_span", "answer[0].end: a span must end after it starts"),
    (spans((30, 34, "location")), "span_outside_text", "answer[0].end: offset 34 is past the end of the text (32 characters)"),
    (spans((1, 2, "person")), "whitespace_span", "answer[0]: span 1-2 covers only whitespace"),
    (spans((*ZOE, "animal")), "unknown_label", "answer[0].label: 'animal' is not one of this project's entity types"),
    (spans((*ZOE, "person"), (*ANA, "person"), (*ZOE, "person")), "duplicate_span", "answer[2]: duplicates answer[0]"),
    (spans((*SAO, "location"), (21, 24, "person")), "overlapping_spans", "answer[0]: span 21-30 location overlaps answer[1]"),
])
def test_parse_submission_names_the_field_at_fault(answer, code, message) -> None:
    body = {} if answer is None else {"answer": answer}
    with pytest.raises(AnswerError) as e:
        Q.parse_submission(body, TYPES, {"allow_overlap": False}, TEXT)
    assert str(e.value).startswith(message), str(e.value)
    assert e.value.code == code and message.startswith(e.value.field + ":")


def test_a_span_may_not_split_a_character() -> None:
    text = "Cafe\u0301 in 🇫🇷🇩🇪 !"  # e + combining acute; two flags, each a pair of regional indicators
    with pytest.raises(AnswerError) as e:
        Q.parse_submission({"answer": spans((0, 4, "org"))}, TYPES, {}, text)
    assert e.value.code == "splits_character" and e.value.field == "answer[0].end"
    flags = text.index("🇫")
    with pytest.raises(AnswerError, match="answer\\[0\\].end"):
        Q.parse_submission({"answer": spans((flags, flags + 3, "location"))}, TYPES, {}, text)
    assert Q.parse_submission({"answer": spans((0, 5, "org"), (flags, flags + 2, "location"))}, TYPES, {}, text) == \
        spans((0, 5, "org"), (flags, flags + 2, "location"))


def test_overlaps_pass_only_where_the_project_allows_them() -> None:
    nested = {"answer": spans((*SAO, "location"), (21, 24, "person"), (21, 24, "org"))}
    got = Q.parse_submission(nested, TYPES, {"allow_overlap": True}, TEXT)
    assert got == spans((21, 24, "org"), (21, 24, "person"), (*SAO, "location"))
    touching = {"answer": spans((21, 24, "location"), (24, 30, "location"))}  # end is exclusive: no overlap
    assert len(Q.parse_submission(touching, TYPES, {}, TEXT)) == 2
    with pytest.raises(ValueError, match="spans need the item's text"):
        Q.parse_submission({"answer": []}, TYPES, {}, None)


def test_page_config_carries_the_options_and_one_colour_per_type() -> None:
    page = Q.page_config(cfg(allow_overlap=True, tokenizer="whitespace", snap_to_tokens=False))
    assert page["allow_overlap"] is True and page["snap_to_tokens"] is False and page["tokenizer"] == "whitespace"
    assert len(page["colors"]) == 3 and len(set(page["colors"])) == 3
    assert json.loads(json.dumps(page)) == page
    assert Q.widget.name == "widget.js" and Q.widget.is_file()


def test_label_studio_config_is_labels_over_text_with_the_same_colours() -> None:
    for snap in (True, False):
        root = ET.fromstring(Q.label_studio_config(cfg(snap_to_tokens=snap)))
        labels, text = root.find("Labels"), root.find("Text")
        assert labels.get("name") == "label" and labels.get("toName") == "text"
        assert [x.get("value") for x in labels.findall("Label")] == TYPES
        assert [x.get("background") for x in labels.findall("Label")] == Q.page_config(cfg())["colors"]
        assert text.get("name") == "text" and text.get("value") == "$text"
        assert text.get("granularity") == ("word" if snap else None)
    quoted = ProjectConfig(name="q", task_kind="spans", labels=['a"b', "<c>"])
    assert [x.get("value") for x in ET.fromstring(Q.label_studio_config(quoted)).iter("Label")] == ['a"b', "<c>"]


def test_to_label_studio_counts_code_points_and_carries_each_region_text() -> None:
    answer = json.dumps(spans((*ZOE, "person"), (*ANA, "person"), (*SAO, "location")))
    results = Q.to_label_studio(answer, cfg(), TEXT)
    # Label Studio 1.23.2 counts code points too (test_queue_labelstudio.py checks it in its own page).
    assert [(r["value"]["start"], r["value"]["end"]) for r in results] == [ZOE, ANA, SAO]
    assert [r["value"]["text"] for r in results] == ["Zoë", "Ana", "São Paulo"]
    assert [r["value"]["labels"] for r in results] == [["person"], ["person"], ["location"]]
    assert {(r["type"], r["from_name"], r["to_name"]) for r in results} == {("labels", "label", "text")}
    assert len({r["id"] for r in results}) == 3
    assert Q.to_label_studio("[]", cfg(), TEXT) == []


def test_from_label_studio_round_trips_and_reads_edits() -> None:
    answer = json.dumps(spans((*ZOE, "person"), (*ANA, "person"), (*SAO, "location")))
    results = Q.to_label_studio(answer, cfg(), TEXT)
    assert Q.from_label_studio(results, cfg(), TEXT) == json.loads(answer)
    # An annotator's edit in LS: "Ana" retyped as org, "São" alone, and an unrelated control's result.
    edited = [dict(results[1], value=dict(results[1]["value"], labels=["org"])),
              {"from_name": "label", "to_name": "text", "type": "labels",
               "value": {"start": 21, "end": 24, "text": "São", "labels": ["location"]}},
              {"from_name": "note", "to_name": "text", "type": "textarea", "value": {"text": ["ok"]}}]
    assert Q.from_label_studio(edited, cfg(), TEXT) == spans((*ANA, "org"), (21, 24, "location"))
    assert Q.from_label_studio([], cfg(), TEXT) == []


def _labels(start, end, labels=("person",), text=None) -> dict:
    value = {"start": start, "end": end, "labels": list(labels)}
    if text is not None:
        value["text"] = text
    return {"from_name": "label", "to_name": "text", "type": "labels", "value": value}


@pytest.mark.parametrize(("results", "message"), [
    # Offsets counted in UTF-16 units (one more per emoji before them) no longer fit the region's text.
    ([_labels(2, 5, text="Zoë"), _labels(17, 20, text="Ana")],
     "result[1].value.text: 'Ana' is not the item's text at 17-20 (' in')"),
    ([_labels(2, 99)], "result[0].value.end: offset 99 is past the end of the text (32 characters)"),
    ([_labels("2", 5)], "result[0].value.start: expected an integer offset, got '2'"),
    ([_labels(5, 2)], "result[0].value.end: a span must end after it starts"),
    ([_labels(2, 5, labels=[])], "result[0].value.labels: expected a list of entity types"),
    ([_labels(2, 5, ["animal"])], "result[0].value.label: 'animal' is not one of this project's entity types"),
    ([_labels(21, 30, ["location"]), _labels(2, 5), _labels(21, 24)],
     "result[0]: span 21-30 location overlaps result[2], and this project does not allow"),
])
def test_from_label_studio_names_the_result_at_fault(results, message) -> None:
    with pytest.raises(AnswerError) as e:
        Q.from_label_studio(results, cfg(), TEXT)
    assert str(e.value).startswith(message), str(e.value)
    assert message.startswith((e.value.field + ":", e.value.field + " ")), e.value.field
    with pytest.raises(ValueError, match="spans need the item's text"):
        Q.from_label_studio(results, cfg(), None)
