"""The boxes queue facet: submit checks, the tool's options, Label Studio config and results both ways."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import pytest

from schemas.config import ProjectConfig
from tasks.kinds import get
from tasks.kinds.protocol import AnswerError
from tests.kinds.boxes.project import LABELS, boxes_config

Q = get("boxes").queue
META = {"file": "street.png", "width": 640, "height": 480}


def cfg(**answer) -> ProjectConfig:
    return boxes_config(answer=answer)


def box(x, y, w, h, label="car", **extra) -> dict:
    return {"x": x, "y": y, "w": w, "h": h, "label": label, **extra}


def test_page_config_gives_each_label_a_colour_and_a_key_and_the_tool_limits() -> None:
    page = Q.page_config(cfg(min_size_px=4))
    assert page["keys"] == ["1", "2", "3"] and len(set(page["colors"])) == 3
    assert page["min_size_px"] == 4 and page["no_objects_key"] == "0"
    many = boxes_config(labels=[f"l{i}" for i in range(12)])
    keys = Q.page_config(many)["keys"]
    assert keys[:9] == [str(i) for i in range(1, 10)] and len(set(keys)) == 12
    assert not {"0", "a", "n", "s"} & set(keys)  # no objects, accept, next box, skip


def test_parse_submission_rounds_sorts_and_accepts_no_objects() -> None:
    got = Q.parse_submission({"answer": [box(10.123, 5, 20, 30, "sign"), box(1, 2, 3, 4)]}, LABELS, {}, None)
    assert got == [box(1.0, 2.0, 3.0, 4.0), box(10.12, 5.0, 20.0, 30.0, "sign")]
    assert Q.parse_submission({"answer": "[]"}, LABELS, {}, None) == []


@pytest.mark.parametrize(("answer", "code", "field"), [
    (None, "missing_answer", "answer"),
    ("[{", "malformed_json", "answer"),
    ({"x": 1}, "not_a_list", "answer"),
    ([[1, 2, 3, 4]], "not_a_box", "answer[0]"),
    ([box(1, 2, 0, 4)], "non_positive_size", "answer[0].w"),
    ([box(1, 2, 3, 4), box(1, 2, 3, -1)], "non_positive_size", "answer[1].h"),
    ([box(1, 2, 3, 4, "truck")], "unknown_label", "answer[0].label"),
    ([box(1, 2, 3, 4, 7)], "label_not_text", "answer[0].label"),
    ([box(math.nan, 2, 3, 4)], "not_a_number", "answer[0].x"),
    ([box("1", 2, 3, 4)], "not_a_number", "answer[0].x"),
    ([box(True, 2, 3, 4)], "not_a_number", "answer[0].x"),
    ([{"x": 1, "y": 2, "w": 3, "label": "car"}], "missing_field", "answer[0].h"),
    ([box(1, 2, 3, 4, score=1.5)], "score_out_of_range", "answer[0].score"),
])
def test_parse_submission_refuses_bad_boxes_naming_the_field(answer, code, field) -> None:
    body = {} if answer is None else {"answer": answer}
    with pytest.raises(AnswerError) as e:
        Q.parse_submission(body, LABELS, {}, None)
    assert (e.value.code, e.value.field) == (code, field)
    assert str(e.value).startswith(field)


def test_label_studio_config_is_an_image_with_rectangle_labels() -> None:
    root = ET.fromstring(Q.label_studio_config(cfg()))
    image, rect = root.find("Image"), root.find("RectangleLabels")
    assert (image.get("name"), image.get("value")) == ("image", "$image")
    assert (rect.get("name"), rect.get("toName")) == ("label", "image")
    assert [lab.get("value") for lab in rect.findall("Label")] == LABELS


def test_to_label_studio_places_boxes_in_percent_of_the_image_and_back() -> None:
    answer = [box(64, 48, 320, 240, "car"), box(0, 0, 640, 480, "sign", score=0.9)]
    results = Q.to_label_studio(json.dumps(answer), cfg(), None, META)
    first = next(r for r in results if r["value"]["rectanglelabels"] == ["car"])
    assert first["value"] | {} == {"x": 10.0, "y": 10.0, "width": 50.0, "height": 50.0, "rotation": 0,
                                   "rectanglelabels": ["car"]}
    assert (first["original_width"], first["original_height"]) == (640, 480)
    assert {(r["type"], r["from_name"], r["to_name"]) for r in results} == {("rectanglelabels", "label", "image")}
    assert Q.from_label_studio(results, cfg()) == [box(64.0, 48.0, 320.0, 240.0), box(0.0, 0.0, 640.0, 480.0, "sign")]
    assert Q.to_label_studio(json.dumps(answer), cfg(), None, json.dumps(META)) == results  # metadata as JSON text


def test_to_label_studio_needs_the_image_size_and_boxes_inside_it() -> None:
    with pytest.raises(AnswerError, match="^metadata: the item's image size"):
        Q.to_label_studio(json.dumps([box(1, 1, 5, 5)]), cfg(), None, {"file": "a.png"})
    with pytest.raises(AnswerError) as e:
        Q.to_label_studio(json.dumps([box(600, 1, 50, 5)]), cfg(), None, META)
    assert (e.value.code, e.value.field) == ("box_outside_image", "answer[0].w")
    edge = Q.to_label_studio(json.dumps([box(600, 0, 40.4, 480.3)]), cfg(), None, META)  # half a pixel of slack
    assert edge[0]["value"]["width"] == pytest.approx(40.4 / 6.4)


def _ls(x, y, w, h, labels=("person",), rotation=0, size=(200, 100), **extra) -> dict:
    return {"from_name": "label", "to_name": "image", "type": "rectanglelabels", "original_width": size[0],
            "original_height": size[1], "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation,
                                                  "rectanglelabels": list(labels)}, **extra}


def test_from_label_studio_converts_percent_to_pixels_and_ignores_other_controls() -> None:
    results = [_ls(25, 10, 12.5, 50), {"from_name": "note", "type": "textarea", "value": {"text": ["hi"]}},
               _ls(0, 0, 100, 100, labels=("truck",))]  # a label outside the set is returned as annotated
    assert Q.from_label_studio(results, cfg()) == [box(50.0, 10.0, 25.0, 50.0, "person"),
                                                   box(0.0, 0.0, 200.0, 100.0, "truck")]
    assert Q.from_label_studio([], cfg()) == []


@pytest.mark.parametrize(("result", "code", "field"), [
    (_ls(10, 10, 20, 20, rotation=15), "rotated_box", "result[1].value.rotation"),
    (_ls(10, 10, 20, 20, size=(None, 100)), "missing_image_size", "result[1].original_width"),
    (_ls(10, 10, 20, 20, labels=()), "missing_field", "result[1].value.rectanglelabels"),
    (_ls(10, 10, 0, 20), "non_positive_size", "result[1].value.width"),
    (_ls(90, 10, 20, 20), "box_outside_image", "result[1].value.width"),
    (_ls(-5, 10, 20, 20), "box_outside_image", "result[1].value.x"),
    (_ls("10", 10, 20, 20), "invalid_box", "result[1].value.x"),
])
def test_from_label_studio_refuses_unreadable_results_naming_the_result(result, code, field) -> None:
    with pytest.raises(AnswerError) as e:
        Q.from_label_studio([_ls(1, 1, 5, 5), result], cfg())
    assert (e.value.code, e.value.field) == (code, field)
    assert str(e.value).startswith(field)
