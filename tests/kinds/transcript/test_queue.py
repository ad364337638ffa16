"""The transcript kind's queue facet: the app's check of a submitted transcript, the tool's options, and
Label Studio's `TextArea` both ways (on audio, image and text items)."""

from __future__ import annotations

import json

import pytest

from tasks.kinds import get
from tasks.kinds.protocol import AnswerError
from tests.kinds.speech_queue_project import speech_config

QUEUE = get("transcript").queue
OPTS = {"allow_empty": False, "max_chars": 40}


def parse(answer: object, **options: object) -> object:
    return QUEUE.parse_submission({"answer": answer}, [], {**OPTS, **options}, None)


def test_page_config_carries_the_options_the_tool_and_server_obey() -> None:
    cfg = speech_config("transcript", answer={"allow_empty": True, "max_chars": 500})
    assert QUEUE.page_config(cfg) == {"allow_empty": True, "max_chars": 500}
    assert QUEUE.widget.name == "widget.js" and "register(\"transcript\"" in QUEUE.widget.read_text()


def test_a_transcript_is_stored_as_sent() -> None:
    assert parse({"text": " Cafe\u0301 at nine\n"}) == {"text": " Cafe\u0301 at nine\n"}  # compared normalised, later
    assert parse(json.dumps({"text": "hello"})) == {"text": "hello"}  # JSON text, as a column holds it
    assert parse({"text": "line one\nline two\tend"}) == {"text": "line one\nline two\tend"}
    assert parse({"text": ""}, allow_empty=True) == {"text": ""}


def test_a_machine_draft_keeps_its_word_timings() -> None:
    draft = {"text": "the cat", "words": [{"word": "the", "start_s": 0.12, "end_s": 0.3, "score": 0.9, "x": 1},
                                          {"word": "cat", "start_s": 0.3, "end_s": 0.71}]}
    assert parse(draft)["words"] == [{"word": "the", "start_s": 0.12, "end_s": 0.3, "score": 0.9},
                                     {"word": "cat", "start_s": 0.3, "end_s": 0.71}]


@pytest.mark.parametrize(("answer", "code", "field"), [
    (None, "missing_answer", "answer"),
    ("{not json", "malformed_json", "answer"),
    (["the cat"], "not_an_object", "answer"),
    ({"txt": "x"}, "missing_text", "answer.text"),
    ({"text": 12}, "text_not_a_string", "answer.text"),
    ({"text": "   "}, "empty_transcript", "answer.text"),
    ({"text": "x" * 41}, "too_long", "answer.text"),
    ({"text": "caf\x00e"}, "invalid_text_encoding", "answer.text"),
    ({"text": "caf\ud800e"}, "invalid_text_encoding", "answer.text"),
    ({"text": "caf\ufffd"}, "replacement_character", "answer.text"),
    ({"text": "a", "words": [{"word": "a", "start_s": 0.5, "end_s": 0.2}]}, "reversed_times", "answer.words[0].end_s"),
    ({"text": "a", "words": [{"word": "a", "start_s": "0", "end_s": 1}]}, "not_a_number", "answer.words[0].start_s"),
    ({"text": "a", "words": [{"word": "a", "score": 1.5}]}, "score_out_of_range", "answer.words[0].score"),
    ({"text": "a", "words": [{"start_s": 0}]}, "word_not_text", "answer.words[0]"),
    ({"text": "a", "words": "a"}, "words_not_a_list", "answer.words"),
])
def test_bad_submissions_are_refused_naming_the_field(answer: object, code: str, field: str) -> None:
    with pytest.raises(AnswerError) as e:
        parse(answer)
    assert (e.value.code, e.value.field) == (code, field)
    assert str(e.value).startswith(field + ":"), str(e.value)


@pytest.mark.parametrize(("data_kind", "obj"), [("audio", '<Audio name="audio" value="$audio"/>'),
                                                ("image", '<Image name="image" value="$image"/>'),
                                                ("text", '<Text name="text" value="$text"/>')])
def test_label_studio_config_puts_a_text_area_under_the_item(data_kind: str, obj: str) -> None:
    xml = QUEUE.label_studio_config(speech_config("transcript", data_kind))
    assert obj in xml
    assert f'<TextArea name="label" toName="{data_kind}" editable="true" maxSubmissions="1"' in xml


def test_a_draft_goes_to_label_studio_as_its_text_and_comes_back() -> None:
    cfg = speech_config("transcript", "image")
    draft = {"text": "Stop  ahead", "words": [{"word": "Stop", "start_s": 0, "end_s": 0.4}]}
    result = QUEUE.to_label_studio(json.dumps(draft), cfg)
    assert result == [{"id": "transcript", "from_name": "label", "to_name": "image", "type": "textarea",
                       "value": {"text": ["Stop  ahead"]}}]
    assert QUEUE.from_label_studio(result, cfg) == {"text": "Stop  ahead"}  # timings stay in annoflow
    assert QUEUE.to_label_studio(json.dumps({"text": ""}), cfg) == []


def test_label_studio_results_are_read_back_joined_and_checked() -> None:
    cfg = speech_config("transcript")
    other = {"from_name": "quality", "to_name": "audio", "type": "choices", "value": {"choices": ["ok"]}}
    two = {"from_name": "label", "to_name": "audio", "type": "textarea", "value": {"text": ["first part", " second"]}}
    assert QUEUE.from_label_studio([other, two], cfg) == {"text": "first part\n second"}
    assert QUEUE.from_label_studio([other], cfg) == {"text": ""}  # nothing typed: collect decides if allowed
    with pytest.raises(AnswerError) as e:
        QUEUE.from_label_studio([other, {**two, "value": {"text": [3]}}], cfg)
    assert e.value.field == "result[1].value.text" and str(e.value).startswith("result[1].value.text:")
    with pytest.raises(AnswerError) as e:
        QUEUE.from_label_studio([{**two, "value": {"text": ["bad\x07bell"]}}], cfg)
    assert e.value.code == "invalid_text_encoding" and e.value.field == "result[].value.text"
