"""Box answers: JSON both ways, and every reason a box is refused, in DuckDB (many answers) and in
Python (one answer), with the field at fault and the sentence a user reads."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from tasks.errors import InputError
from tasks.kinds import get
from tasks.kinds.boxes.geometry import BOXES_TYPE
from tasks.kinds.boxes.validate import check_boxes, image_size
from tasks.kinds.protocol import AnswerError

STORAGE = get("boxes").storage
LABELS = ["car", "person", "sign"]


def _items() -> pa.Table:
    return pa.table({"item_id": ["img", "nosize", "bad-meta"],
                     "payload": [None, None, None],
                     "metadata": ['{"file":"a.png","width":100,"height":80}', '{"file":"b.png"}', "not json"]})


def _check(cfg, rows: list[tuple[str, str | None, object]]) -> list[dict]:
    answers = pa.table({"item_id": [r[0] for r in rows], "source_id": [r[1] for r in rows],
                        "answer": [r[2] if isinstance(r[2], str) or r[2] is None else json.dumps(r[2]) for r in rows]})
    return STORAGE.validate(answers, _items(), cfg).to_pylist()


def _box(**kw) -> dict:
    return {"x": 10, "y": 10, "w": 20, "h": 15, "label": "car", **kw}


@pytest.fixture
def cfg(make_project):
    return make_project(task_kind="boxes", data_kind="image", labels=LABELS)


def test_valid_answers_have_no_problems(cfg):
    ok = [("img", "human:ann", [_box(), _box(x=0, y=0, w=100, h=80, label="sign")]),
          ("img", None, []),
          ("nosize", "human:ann", []),  # "no objects" needs no image size
          ("img", "model:det", [_box(score=0.7)]),
          # within half a pixel of the border: a rounding of a converted box, accepted
          ("img", "human:b", [_box(x=-0.4, y=-0.5, w=100.8, h=80.9)])]
    assert _check(cfg, ok) == []


CASES = [
    ([_box(x=90)], "answer[0].w", "box_outside_image",
     "answer[0].w = 20: the box spans x 90 to 110, outside the image's width 0 to 100 px"),
    ([_box(y=-3)], "answer[0].y", "box_outside_image",
     "answer[0].y = -3: the box spans y -3 to 12, outside the image's height 0 to 80 px"),
    ([_box(x=-0.6)], "answer[0].x", "box_outside_image",
     "answer[0].x = -0.6: the box spans x -0.6 to 19.4, outside the image's width 0 to 100 px"),
    ([_box(), _box(w=0)], "answer[1].w", "non_positive_size", "answer[1].w = 0 is not a positive size in pixels"),
    ([_box(h=-4)], "answer[0].h", "non_positive_size", "answer[0].h = -4 is not a positive size in pixels"),
    ([_box(label="truck")], "answer[0].label", "unknown_label",
     'answer[0].label = "truck" is not in the label set ["car", "person", "sign"]'),
    ([_box(label=3)], "answer[0].label", "label_not_text", "answer[0].label = 3 is not a text label"),
    ([{"x": 1, "y": 1, "w": 2, "label": "car"}], "answer[0].h", "missing_field",
     "answer[0].h = null: the box has no h (a box is {x, y, w, h, label} in pixels)"),
    ([{"x": 1, "y": 1, "w": 2, "h": 2}], "answer[0].label", "missing_field",
     "answer[0].label = null: the box has no label (a box is {x, y, w, h, label} in pixels)"),
    ([_box(x="12")], "answer[0].x", "not_a_number", 'answer[0].x = "12" is not a finite number'),
    ([[1, 2, 3, 4, "car"]], "answer[0]", "not_a_box",
     'answer[0] = [1,2,3,4,"car"] is not a box object {"x": ..., "y": ..., "w": ..., "h": ..., "label": ...}'),
    ([_box(score=1.5)], "answer[0].score", "score_out_of_range", "answer[0].score = 1.5 is not a probability in [0, 1]"),
]


@pytest.mark.parametrize("answer, field, reason, detail", CASES)
def test_each_bad_box_is_named(cfg, answer, field, reason, detail):
    [p] = _check(cfg, [("img", "human:ann", answer)])
    assert (p["row"], p["field"], p["reason"]) == (0, field, reason)
    assert p["detail"] == f'item "img", source "human:ann": {detail}'


@pytest.mark.parametrize("answer, field, reason, detail", CASES)
def test_the_one_answer_check_agrees(answer, field, reason, detail):
    """The app's check of one answer refuses the same boxes with the same reason and field."""
    with pytest.raises(AnswerError) as e:
        check_boxes(answer, LABELS, (100, 80))
    assert (e.value.code, e.value.field) == (reason, field)
    assert str(e.value).startswith(field + ": ")


@pytest.mark.parametrize("text, reason", [("NaN", "not_a_number"), ("Infinity", "not_a_number"), ("1e999", "not_a_number")])
def test_non_finite_coordinates(cfg, text, reason):
    answer = '[{"x": 1, "y": ' + text + ', "w": 3, "h": 3, "label": "car"}]'
    [p] = _check(cfg, [("img", None, answer)])
    assert (p["field"], p["reason"]) == ("answer[0].y", reason)
    assert p["detail"].startswith('item "img", gold: answer[0].y = ')
    with pytest.raises(AnswerError) as e:
        check_boxes(json.loads(answer), LABELS, (100, 80))
    assert (e.value.code, e.value.field) == (reason, "answer[0].y")


def test_whole_answer_problems(cfg):
    rows = [("img", "a", None), ("img", "a", "[{"), ("img", "a", '{"x": 1}'), ("ghost", "a", "[]"),
            ("nosize", "a", [_box()]), ("bad-meta", "a", [_box()]), ("img", "a", [_box()])]
    got = [(p["row"], p["field"], p["reason"]) for p in _check(cfg, rows)]
    assert got == [(0, "answer", "missing_answer"), (1, "answer", "malformed_json"), (2, "answer", "not_a_list"),
                   (3, "answer", "unknown_item"), (4, "answer", "image_size_unknown"), (5, "answer", "image_size_unknown")]
    detail = _check(cfg, [("nosize", "a", [_box(), _box()])])[0]["detail"]
    assert detail == ('item "nosize", source "a": the image\'s size is unknown (ingest records width and height from '
                      "the file), so its 2 box(es) cannot be checked")


def test_every_bad_box_of_an_answer_is_reported_once(cfg):
    got = _check(cfg, [("img", "a", [_box(), _box(w=-1), _box(label="dog"), _box(x=95)])])
    assert [(p["field"], p["reason"]) for p in got] == [
        ("answer[1].w", "non_positive_size"), ("answer[2].label", "unknown_label"), ("answer[3].w", "box_outside_image")]


def test_size_and_labels_checked_where_known():
    assert check_boxes([], LABELS, None, size_required=True) == []
    with pytest.raises(AnswerError) as e:
        check_boxes([_box()], LABELS, None, size_required=True)
    assert e.value.code == "image_size_unknown"
    # the app's submit does not know the image: no border check, the rest still applies
    assert check_boxes([_box(x=5000)], LABELS, None)[0]["x"] == 5000.0
    assert check_boxes([_box(label="any")], None, (100, 80))[0]["label"] == "any"
    assert image_size({"width": 100, "height": 80}) == image_size('{"width": 100, "height": 80}') == (100.0, 80.0)
    assert image_size({"width": "100", "height": 0}) is None
    assert image_size("not json") is None


def test_check_boxes_returns_the_canonical_form():
    got = check_boxes([_box(x=50.123, label="sign"), _box(x=5, score=0.51234), _box(x=5, y=2, extra=1)], LABELS, (100, 80))
    assert got == [{"x": 5.0, "y": 2.0, "w": 20.0, "h": 15.0, "label": "car"},
                   {"x": 5.0, "y": 10.0, "w": 20.0, "h": 15.0, "label": "car", "score": 0.5123},
                   {"x": 50.12, "y": 10.0, "w": 20.0, "h": 15.0, "label": "sign"}]


def test_json_round_trip_is_canonical():
    texts = pa.array(['[{"label": "sign", "x": 3, "y": 4.004, "w": 1, "h": 2}, {"x": 1, "y": 1, "w": 1, "h": 1, "label": "car"}]',
                      "[]", None])
    boxes = STORAGE.from_json(texts)
    assert boxes.type == BOXES_TYPE
    assert boxes.to_pylist()[0][0] == {"x": 1.0, "y": 1.0, "w": 1.0, "h": 1.0, "label": "car"}
    assert STORAGE.to_json(boxes).to_pylist() == [
        '[{"x":1.0,"y":1.0,"w":1.0,"h":1.0,"label":"car"},{"x":3.0,"y":4.0,"w":1.0,"h":2.0,"label":"sign"}]', "[]", None]


@pytest.mark.parametrize("text", ['[{"x": NaN, "y": 1, "w": 1, "h": 1, "label": "car"}]', '{"x": 1}', "[{",
                                  '[{"x": 1, "y": 1, "w": 1, "h": 1}]'])
def test_from_json_names_the_first_bad_value(text):
    with pytest.raises(InputError, match=r"^answer 1: .* is not a list of boxes"):
        STORAGE.from_json(pa.array(["[]", text]))


def test_many_answers_in_duckdb_fail_as_one_answer_in_python(cfg):
    """Random answers with every kind of fault: the first problem DuckDB finds in each answer is the one
    `check_boxes` raises (same reason, same field), and answers it accepts DuckDB accepts."""
    import random

    rng = random.Random(7)
    values = [0, 5, 12.5, -3, 95, 0.0, -0.4, 80.6, "7", True, None, float("nan"), float("inf"), 1e999]
    rows = []
    for _ in range(400):
        if rng.random() < 0.05:
            rows.append(rng.choice(['{"x": 1}', None, "[1, 2]"]))
            continue
        answer = []
        for _ in range(rng.randrange(4)):
            box = {"x": rng.uniform(0, 60), "y": rng.uniform(0, 40), "w": rng.uniform(1, 30), "h": rng.uniform(1, 30),
                   "label": rng.choice(LABELS)}
            if rng.random() < 0.4:
                key = rng.choice(["x", "y", "w", "h", "label", "score"])
                box[key] = rng.choice([*values, "truck", 3]) if key in ("label", "score") else rng.choice(values)
                if rng.random() < 0.2:
                    box.pop(key)
            answer.append(box)
        rows.append(json.dumps(answer))
    got = _check(cfg, [("img", "a", r) for r in rows])
    first: dict[int, tuple[str, str]] = {}
    for p in sorted(got, key=lambda p: (p["row"], int(p["field"].split("[")[1].split("]")[0]) if "[" in p["field"] else -1)):
        first.setdefault(p["row"], (p["reason"], p["field"]))
    faults = 0
    for i, text in enumerate(rows):
        try:
            check_boxes(None if text is None else json.loads(text), LABELS, (100, 80), size_required=True)
            assert i not in first, (text, first.get(i))
        except AnswerError as e:
            faults += 1
            assert first.get(i) == (e.code, e.field), text
    assert faults > 100  # the draw really exercised the rules
