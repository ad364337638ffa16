"""The box pre-label combiner and decisions on hand-computed cases: fusion across detectors, the score floor,
images nobody looked at, whole-set agreement, the decisions a pre-label is made of."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from tasks.kinds.boxes.box_sets import same_sets
from tasks.kinds.boxes.machine_fusion import combine_boxes
from tasks.kinds.boxes.prelabel import FACET, KEYS


def _votes(*rows: tuple[str, str, list[dict]]) -> pa.Table:
    return pa.table({"item_id": [r[0] for r in rows], "source_id": [r[1] for r in rows],
                     "answer": [json.dumps(r[2]) for r in rows]})


def _box(x: float, y: float, w: float, h: float, label: str, score: float | None = None) -> dict:
    return {"x": x, "y": y, "w": w, "h": h, "label": label, **({"score": score} if score is not None else {})}


def test_two_detectors_agreeing_fuse_into_one_box_weighted_by_confidence() -> None:
    votes = _votes(("a", "model:one", [_box(10, 10, 20, 10, "car", 0.8)]),
                   ("a", "model:two", [_box(12, 10, 20, 10, "car", 0.6)]))
    pre, report = combine_boxes(votes, None, ["a"])
    row = pre.to_pylist()[0]
    # no gold: scores stand; x = (10 * 0.8 + 12 * 0.6) / 1.4, confidence = noisy-OR 1 - 0.2 * 0.4
    assert json.loads(row["answer"]) == [{"x": 10.86, "y": 10.0, "w": 20.0, "h": 10.0, "label": "car"}]
    assert row["box_confidence"] == [pytest.approx(0.92)] and row["confidence"] == pytest.approx(0.92)
    assert report["objects"] == 1 and report["candidates"] == 2


def test_boxes_of_other_labels_or_of_one_detector_stay_apart() -> None:
    votes = _votes(("a", "model:one", [_box(10, 10, 20, 10, "car", 0.9), _box(11, 10, 20, 10, "car", 0.7)]),
                   ("a", "model:two", [_box(10, 10, 20, 10, "sign", 0.9)]))
    pre, report = combine_boxes(votes, None, ["a"])
    labels = sorted(b["label"] for b in json.loads(pre.column("answer")[0].as_py()))
    assert report["objects"] == 3 and labels == ["car", "car", "sign"]
    # the chance the set is right if objects are independent: every kept confidence multiplied
    assert pre.column("raw_confidence")[0].as_py() == pytest.approx(0.9 * 0.9 * 0.7)


def test_the_score_floor_and_images_nobody_looked_at() -> None:
    votes = _votes(("a", "model:one", [_box(10, 10, 20, 10, "car", 0.01)]), ("b", "model:one", []))
    pre, _ = combine_boxes(votes, None, ["a", "b", "c"], min_score=0.05)
    rows = {r["item_id"]: r for r in pre.to_pylist()}
    assert rows["a"]["answer"] == "[]" and rows["a"]["confidence"] == 1.0  # seen, nothing above the floor
    assert rows["b"]["answer"] == "[]" and rows["b"]["confidence"] == 1.0  # seen, nothing found
    assert rows["c"]["answer"] == "[]" and rows["c"]["confidence"] == 0.0  # never seen: nothing measured it


def test_a_detector_right_on_gold_is_trusted_more_than_one_that_is_wrong() -> None:
    good = [(f"g{k}", "model:good", [_box(10, 10, 20, 10, "car", 0.7)]) for k in range(20)]
    bad = [(f"g{k}", "model:bad", [_box(60, 40, 10, 10, "sign", 0.7)]) for k in range(20)]
    gold = pa.table({"item_id": [f"g{k}" for k in range(20)], "answer": [json.dumps([_box(10, 10, 20, 10, "car")])] * 20})
    pre, report = combine_boxes(_votes(*good, *bad), gold)
    assert report["source_precision"]["model:good"] == pytest.approx(21 / 22)
    assert report["source_precision"]["model:bad"] == pytest.approx(1 / 22)
    # the wrong detector's sign is calibrated away, the car kept: every gold image comes out right
    assert all(json.loads(a) == [_box(10.0, 10.0, 20.0, 10.0, "car")] for a in pre.column("answer").to_pylist())
    assert report["item_calibration"]["exact_on_gold"] == 1.0


def test_same_sets_needs_every_box_matched_with_its_label_on_both_sides() -> None:
    car, car_moved = [_box(0, 0, 10, 10, "car")], [_box(1, 1, 10, 10, "car")]  # IoU 81/119 = 0.68
    far = [_box(5, 5, 10, 10, "car")]  # IoU 25/175 = 0.14
    left = [car, [], [], car, car, car + [_box(50, 0, 10, 10, "car")], car]
    right = [car_moved, [], car, [_box(0, 0, 10, 10, "sign")], far, [_box(51, 0, 10, 10, "car")] + car, None]
    got = same_sets(pa.array([json.dumps(a) for a in left]), pa.array([None if b is None else json.dumps(b) for b in right]), 0.5)
    assert got.tolist() == [True, True, False, False, False, True, False]
    assert same_sets(pa.array([json.dumps(car)]), pa.array([json.dumps(car_moved)]), 0.7).tolist() == [False]


def test_decisions_are_one_per_image_keyed_objects_or_no_objects() -> None:
    votes = _votes(("a", "model:one", [_box(10, 10, 20, 10, "car", 0.9)]), ("b", "model:one", []))
    pre, _ = combine_boxes(votes, None, ["a", "b"])
    d = FACET.decide(pre.replace_schema_metadata({"match_iou": "0.5"}), pa.array(["b", "a", "z"]), ["car"])
    assert d.answer.to_pylist() == ["[]", json.dumps([_box(10.0, 10.0, 20.0, 10.0, "car")], separators=(",", ":")), "[]"]
    assert d.key.tolist() == ["no objects", "objects", "no objects"] and d.keys == KEYS
    assert d.confidence.tolist() == [1.0, pytest.approx(0.9), 0.0] and d.item.tolist() == [0, 1, 2]
    assert d.detail.to_pylist() == ["[]", "[0.9]", "[]"]
    reference = pa.array([None, json.dumps([_box(11, 10, 20, 10, "car")]), "[]"])
    assert FACET.score(d, reference).tolist() == [False, True, True]
    assert np.array_equal(FACET.score(d, pa.array([None, "[]", None], pa.string())), [False, False, False])
