"""The segments kind's queue facet: the app's check of submitted regions, the tool's options, and Label
Studio's `Labels` on `Audio` (with per-region text) both ways."""

from __future__ import annotations

import json

import pytest

from tasks.kinds import get
from tasks.kinds.protocol import AnswerError
from tasks.kinds.segments.queue import label_keys
from tests.kinds.speech_queue_project import SEGMENT_LABELS, speech_config

QUEUE = get("segments").queue


def parse(answer: object, overlap: bool = False, text: bool = False) -> object:
    return QUEUE.parse_submission({"answer": answer}, SEGMENT_LABELS, {"allow_overlap": overlap, "with_text": text}, None)


def test_page_config_gives_colours_keys_and_options() -> None:
    cfg = speech_config("segments", answer={"allow_overlap": True, "with_text": True})
    page = QUEUE.page_config(cfg)
    assert page["keys"] == ["1", "2", "3"] and page["allow_overlap"] is True and page["with_text"] is True
    assert len(page["colors"]) == 3 and all(c.startswith("#") for c in page["colors"])
    many = label_keys([f"l{i}" for i in range(14)])
    assert many[:9] == [str(i) for i in range(1, 10)] and not {"r", "s", "t"} & set(many)
    assert "register(\"segments\"" in QUEUE.widget.read_text()


def test_regions_are_rounded_to_milliseconds_and_sorted() -> None:
    got = parse([{"start_s": 1.8, "end_s": 2.6, "label": "noise"}, {"start_s": 0.40049, "end_s": 1.2, "label": "music"}])
    assert got == [{"start_s": 0.4, "end_s": 1.2, "label": "music"}, {"start_s": 1.8, "end_s": 2.6, "label": "noise"}]
    assert parse("[]") == []  # "no regions", sent as JSON text
    both = [{"start_s": 0, "end_s": 2, "label": "speech"}, {"start_s": 1, "end_s": 3, "label": "music"}]
    assert len(parse(both, overlap=True)) == 2  # two at once, where the project allows it
    with_text = [{"start_s": 1, "end_s": 2, "label": "speech", "text": "bye", "speaker": "a"},
                 {"start_s": 0, "end_s": 1.0004, "label": "speech", "text": "hello", "score": 0.91234}]  # touching
    assert parse(with_text, text=True) == [{"start_s": 0.0, "end_s": 1.0, "label": "speech", "text": "hello", "score": 0.9123},
                                          {"start_s": 1.0, "end_s": 2.0, "label": "speech", "text": "bye"}]
    with pytest.raises(AnswerError) as e:  # where the project asks what was said, every region says it
        parse([*with_text, {"start_s": 2, "end_s": 3, "label": "music", "text": " "}], text=True)
    assert (e.value.code, e.value.field) == ("missing_text", "answer[2].text")


@pytest.mark.parametrize(("answer", "code", "field"), [
    (None, "missing_answer", "answer"),
    ({"start_s": 0, "end_s": 1, "label": "speech"}, "not_a_list", "answer"),
    (["a"], "not_a_segment", "answer[0]"),
    ([{"start_s": 0, "end_s": 1}], "missing_field", "answer[0].label"),
    ([{"start_s": 0, "label": "speech"}], "missing_field", "answer[0].end_s"),
    ([{"start_s": "0", "end_s": 1, "label": "speech"}], "not_a_number", "answer[0].start_s"),
    ([{"start_s": float("nan"), "end_s": 1, "label": "speech"}], "not_a_number", "answer[0].start_s"),
    ([{"start_s": -0.5, "end_s": 1, "label": "speech"}], "segment_outside_clip", "answer[0].start_s"),
    ([{"start_s": 0, "end_s": 1, "label": "speech"}, {"start_s": 2, "end_s": 1.5, "label": "music"}],
     "empty_or_reversed", "answer[1].end_s"),
    ([{"start_s": 1, "end_s": 1, "label": "speech"}], "empty_or_reversed", "answer[0].end_s"),
    ([{"start_s": 0, "end_s": 1, "label": "dog"}], "unknown_label", "answer[0].label"),
    ([{"start_s": 0, "end_s": 1, "label": 3}], "label_not_text", "answer[0].label"),
    ([{"start_s": 0, "end_s": 1, "label": "speech", "text": 5}], "text_not_text", "answer[0].text"),
    ([{"start_s": 0, "end_s": 1, "label": "speech", "score": 2}], "score_out_of_range", "answer[0].score"),
    ([{"start_s": 1, "end_s": 3, "label": "music"}, {"start_s": 0, "end_s": 2, "label": "speech"}, {"start_s": 2.5, "end_s": 4, "label": "noise"}],
     "overlap_not_allowed", "answer[0].start_s"),
])
def test_bad_regions_are_refused_naming_the_region_and_field(answer: object, code: str, field: str) -> None:
    with pytest.raises(AnswerError) as e:
        parse(answer)
    assert (e.value.code, e.value.field) == (code, field)
    assert str(e.value).startswith(field + ":"), str(e.value)


def test_label_studio_config_labels_the_audio_with_text_per_region_when_asked() -> None:
    plain = QUEUE.label_studio_config(speech_config("segments"))
    assert '<Labels name="label" toName="audio"><Label value="speech" background="#' in plain
    assert '<Audio name="audio" value="$audio"/>' in plain and "TextArea" not in plain
    texted = QUEUE.label_studio_config(speech_config("segments", answer={"with_text": True}))
    assert '<TextArea name="text" toName="audio" perRegion="true"' in texted


def test_regions_go_to_label_studio_in_seconds_and_come_back() -> None:
    cfg = speech_config("segments", answer={"with_text": True})
    answer = [{"start_s": 0.4, "end_s": 1.2, "label": "speech", "text": "hi there"},
              {"start_s": 1.8, "end_s": 2.6, "label": "noise", "text": "static"}]
    results = QUEUE.to_label_studio(json.dumps(answer), cfg, None, {"duration_s": 3.0})
    assert results[0] == {"id": "seg0", "from_name": "label", "to_name": "audio", "type": "labels",
                          "value": {"start": 0.4, "end": 1.2, "channel": 0, "labels": ["speech"]}}
    assert results[1]["type"] == "textarea" and results[1]["id"] == "seg0" and results[1]["value"]["text"] == ["hi there"]
    assert QUEUE.from_label_studio(results, cfg) == answer
    with pytest.raises(AnswerError) as e:  # a pre-label past the clip's end is not pushed as a region
        QUEUE.to_label_studio(json.dumps(answer), cfg, None, {"duration_s": 2.5})
    assert (e.value.code, e.value.field) == ("segment_outside_clip", "answer[1].end_s")


def test_label_studio_results_as_the_editor_saves_them() -> None:
    cfg = speech_config("segments")
    res = [{"id": "a1", "from_name": "label", "to_name": "audio", "type": "labels", "original_length": 3.0,
            "value": {"start": 1.80012, "end": 2.6, "channel": 0, "labels": ["noise", "music"]}},
           {"id": "a2", "from_name": "label", "to_name": "audio", "type": "labels",
            "value": {"start": 0.1, "end": 0.9, "channel": 0, "labels": ["cat"]}},
           {"id": "a2", "from_name": "text", "to_name": "audio", "type": "textarea", "value": {"text": ["meow"]}}]
    allow = speech_config("segments", answer={"allow_overlap": True})
    # two labels on one region are two regions; a label outside the set is kept for collect to quarantine;
    # the region's text is dropped where the project has none
    assert QUEUE.from_label_studio(res, allow) == [{"start_s": 0.1, "end_s": 0.9, "label": "cat"},
                                                   {"start_s": 1.8, "end_s": 2.6, "label": "music"},
                                                   {"start_s": 1.8, "end_s": 2.6, "label": "noise"}]
    with pytest.raises(AnswerError) as e:  # the same two regions overlap where the project forbids it
        QUEUE.from_label_studio(res, cfg)
    assert (e.value.code, e.value.field) == ("overlap_not_allowed", "result[0].value.start")
    with pytest.raises(AnswerError) as e:
        QUEUE.from_label_studio([{**res[1], "value": {"start": 0.9, "end": 0.1, "labels": ["speech"]}}], cfg)
    assert (e.value.code, e.value.field) == ("empty_or_reversed", "result[0].value.end")
    assert str(e.value).startswith("result[0].value.end: ")
    with pytest.raises(AnswerError) as e:
        QUEUE.from_label_studio([{**res[1], "value": {"start": 0.1, "end": 0.5, "labels": []}}], cfg)
    assert (e.value.code, e.value.field) == ("missing_field", "result[0].value.labels")
    assert QUEUE.from_label_studio([res[2]], cfg) == []
