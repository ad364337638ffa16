"""Box export formats read back by their consumers (pycocotools on the COCO JSON, a YOLO parser on the label
files, json on the Label Studio tasks), the release gate's box checks, gold match and rate change, and COCO
mAP, on hand-computed cases. Rows are written as the export stage selects them: the stored JSON answer and
the item's metadata read by the facet's `select_sql`. The whole stage is test_export_stage.py."""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stdout
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tasks.kinds import get
from tasks.kinds.boxes.columns import EXPORT_BOXES_TYPE
from tasks.kinds.boxes.evaluate import coco_map, resolved_scores
from tasks.kinds.boxes.gate import rate_change

EXPORT = get("boxes").export
LABELS = ["car", "person", "sign"]


def _box(x, y, w, h, label, **extra):
    return {"x": x, "y": y, "w": w, "h": h, "label": label, **extra}


# "a" as consensus stores it (each box with its lineage); "c" without (an auto-accepted pre-label); "b" no objects.
ANSWERS = {
    "a": [_box(60, 10, 30.5, 20, "car", confidence=0.97, sources=["human:bob", "human:ann"]),
          _box(5.25, 40, 10, 35.75, "person", confidence=0.81, sources=["human:ann"])],
    "b": [],
    "c": [_box(0, 0, 120, 80, "sign"), _box(10, 20, 5, 5, "car")],
}
SIZES = {"a": (100, 80), "b": (64, 48), "c": (120, 80)}


@pytest.fixture
def cfg(make_project):
    return make_project(data_kind="image", task_kind="boxes", labels=LABELS)


@pytest.fixture
def images(tmp_path) -> dict[str, Path]:
    """One real PNG per item, of the item's size (the YOLO links point at them)."""
    out = {}
    for item_id, (w, h) in SIZES.items():
        out[item_id] = tmp_path / "images" / f"{item_id} photo.png"
        out[item_id].parent.mkdir(exist_ok=True)
        Image.new("RGB", (w, h), (40, 90, 160)).save(out[item_id])
    return out


def _rows(answers: dict[str, object], images: dict[str, Path] | None = None, sizes=SIZES) -> tuple[pa.Table, pa.Table]:
    """(labels rows, items rows) as the state database holds them."""
    ids = sorted(answers)
    labels = pa.table({
        "item_id": ids,
        "answer": [a if isinstance(a, str) else json.dumps(a) for a in (answers[i] for i in ids)],
        "confidence": [round(0.9 - 0.05 * k, 2) for k in range(len(ids))],
        "method": ["box_fusion"] * len(ids),
        "sources": [["human:ann", "human:bob"]] * len(ids),
    })
    items = pa.table({
        "item_id": ids,
        "uri": [images[i].as_uri() if images else f"https://example.org/{i}.png" for i in ids],
        "metadata": [json.dumps({"width": sizes[i][0], "height": sizes[i][1], "format": "PNG"}) if i in sizes else "{}"
                     for i in ids],
    })
    return labels, items


def _exported(cfg, labels: pa.Table, items: pa.Table, split: list[str] | None = None) -> pa.Table:
    with duckdb.connect() as con:
        con.register("l", labels)
        con.register("i", items)
        t = con.sql(f"SELECT l.item_id, 'image' AS kind, NULL::VARCHAR AS payload, i.uri, {EXPORT.select_sql(cfg, 'l')},"
                    " l.confidence, l.method, 3 AS n_votes, 2 AS n_human, 0.8 AS agreement, l.sources FROM l JOIN i USING (item_id)"
                    " ORDER BY l.item_id").to_arrow_table()
    return t.append_column("split", pa.array(split)) if split else t


def _write(cfg, table: pa.Table, out: Path) -> dict[str, list[Path]]:
    out.mkdir(exist_ok=True)
    src = out / "part-000.parquet"
    pq.write_table(table, src)
    return {name: writer([src], out, cfg) for name, writer in EXPORT.formats(cfg).items()}


def test_snapshot_columns_carry_each_box_with_its_lineage(cfg, images):
    t = _exported(cfg, *_rows(ANSWERS, images))
    assert t.schema.field("boxes").type == EXPORT_BOXES_TYPE == EXPORT.arrow_type(cfg)
    assert t.column("width").to_pylist() == [100, 64, 120] and t.column("height").to_pylist() == [80, 48, 80]
    a, b, c = t.column("boxes").to_pylist()
    assert a == [{"x": 60.0, "y": 10.0, "w": 30.5, "h": 20.0, "label": "car", "confidence": 0.97, "sources": ["human:ann", "human:bob"]},
                 {"x": 5.25, "y": 40.0, "w": 10.0, "h": 35.75, "label": "person", "confidence": 0.81, "sources": ["human:ann"]}]
    assert b == []
    # Sorted as the JSON form is (label, x, y, w, h); no recorded lineage stays null (the image's stands).
    assert c == [{"x": 10.0, "y": 20.0, "w": 5.0, "h": 5.0, "label": "car", "confidence": None, "sources": None},
                 {"x": 0.0, "y": 0.0, "w": 120.0, "h": 80.0, "label": "sign", "confidence": None, "sources": None}]


def test_coco_is_loaded_and_scored_by_pycocotools(cfg, images, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    files = _write(cfg, _exported(cfg, *_rows(ANSWERS, images)), tmp_path / "v")
    (path,) = files["coco"]
    assert path.relative_to(tmp_path / "v").as_posix() == "formats/coco/instances.json"
    with redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
    assert [c["name"] for c in gt.loadCats(gt.getCatIds())] == LABELS and gt.getCatIds() == [1, 2, 3]
    imgs = gt.loadImgs(gt.getImgIds())
    assert [(i["id"], i["item_id"], i["width"], i["height"]) for i in imgs] == [(1, "a", 100, 80), (2, "b", 64, 48), (3, "c", 120, 80)]
    assert Path(imgs[0]["file_name"]) == images["a"]  # the local path (a space in it, decoded from the URI)
    anns = gt.loadAnns(gt.getAnnIds())
    assert [(x["id"], x["image_id"], x["category_id"], x["bbox"], x["area"]) for x in anns] == [
        (1, 1, 1, [60.0, 10.0, 30.5, 20.0], 610.0), (2, 1, 2, [5.25, 40.0, 10.0, 35.75], 357.5),
        (3, 3, 1, [10.0, 20.0, 5.0, 5.0], 25.0), (4, 3, 3, [0.0, 0.0, 120.0, 80.0], 9600.0)]
    # Lineage per box: its sources always, its score only where consensus recorded a confidence.
    assert [(x.get("score"), x["sources"], x["iscrowd"]) for x in anns] == [
        (0.97, ["human:ann", "human:bob"], 0), (0.81, ["human:ann"], 0), (None, [], 0), (None, [], 0)]

    # Evaluated against itself by COCOeval: every box found at every IoU threshold.
    dets = [{"image_id": x["image_id"], "category_id": x["category_id"], "bbox": x["bbox"], "score": x.get("score", 1.0)}
            for x in anns]
    with redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0) and ev.stats[1] == pytest.approx(1.0)

    again = _write(cfg, _exported(cfg, *_rows(ANSWERS, images)), tmp_path / "w")["coco"][0]
    assert again.read_bytes() == path.read_bytes()  # the same snapshot, the same bytes


def test_coco_per_split_keeps_image_ids_of_the_whole_snapshot(cfg, images, tmp_path):
    files = _write(cfg, _exported(cfg, *_rows(ANSWERS, images), split=["train", "test", "train"]), tmp_path)
    assert [p.name for p in files["coco"]] == ["instances_test.json", "instances_train.json"]
    test, train = (json.loads(p.read_text()) for p in files["coco"])
    assert [i["id"] for i in test["images"]] == [2] and test["annotations"] == []
    assert [i["id"] for i in train["images"]] == [1, 3]
    assert [a["id"] for a in train["annotations"]] == [1, 2, 3, 4]


def test_an_empty_release_still_has_its_files(cfg, images, tmp_path):
    empty = _exported(cfg, *_rows(ANSWERS, images), split=["train"] * 3).slice(0, 0)
    files = _write(cfg, empty, tmp_path)
    body = json.loads(files["coco"][0].read_text())
    assert files["coco"][0].name == "instances.json" and (body["images"], body["annotations"]) == ([], [])
    assert [p.name for p in files["yolo"]] == ["data.yaml"]


def _yolo_boxes(text: str, width: int, height: int) -> list[tuple]:
    """A YOLO label file back to pixel boxes (x, y, w, h, label) in the box order of the file."""
    out = []
    for line in text.splitlines():
        k, cx, cy, w, h = line.split()
        cx, cy, w, h = float(cx) * width, float(cy) * height, float(w) * width, float(h) * height
        out.append((cx - w / 2, cy - h / 2, w, h, LABELS[int(k)]))
    return out


def test_yolo_files_parse_back_to_the_same_pixel_boxes(cfg, images, tmp_path):
    files = _write(cfg, _exported(cfg, *_rows(ANSWERS, images), split=["train", "validation", "train"]), tmp_path)
    root = tmp_path / "formats" / "yolo"
    assert [p.relative_to(root).as_posix() for p in files["yolo"]] == [
        "data.yaml", "labels/train/a.txt", "labels/validation/b.txt", "labels/train/c.txt"]
    assert (root / "data.yaml").read_text().splitlines()[2:] == [
        'train: "images/train"', 'val: "images/validation"', "nc: 3", "names:", '  0: "car"', '  1: "person"', '  2: "sign"']
    for item_id, split in (("a", "train"), ("b", "validation"), ("c", "train")):
        w, h = SIZES[item_id]
        got = _yolo_boxes((root / "labels" / split / f"{item_id}.txt").read_text(), w, h)
        want = sorted((b["x"], b["y"], b["w"], b["h"], b["label"]) for b in ANSWERS[item_id])
        assert len(got) == len(want)
        for g, e in zip(sorted(got, key=lambda b: (b[4], b[0])), sorted(want, key=lambda b: (b[4], b[0]))):
            assert g[4] == e[4] and all(abs(u - v) < 1e-3 for u, v in zip(g[:4], e[:4]))  # 6 decimals of the side
        # Ultralytics finds the labels by swapping images/ for labels/ in the image's path: the link is there.
        link = root / "images" / split / f"{item_id}.png"
        assert link.resolve() == images[item_id].resolve()
    assert (root / "labels" / "validation" / "b.txt").read_text() == ""  # no objects: an empty label file


def test_yolo_without_splits_trains_and_validates_on_all(cfg, images, tmp_path):
    files = _write(cfg, _exported(cfg, *_rows(ANSWERS, images)), tmp_path)
    assert [p.name for p in files["yolo"]] == ["data.yaml", "a.txt", "b.txt", "c.txt"]
    assert "train: images\nval: images\n" in files["yolo"][0].read_text()


def test_label_studio_tasks_place_rectangles_in_percent(cfg, images, tmp_path):
    from tasks.export.writers import write_label_studio

    src = tmp_path / "part-000.parquet"
    pq.write_table(_exported(cfg, *_rows(ANSWERS, images)), src)
    task_file, config = write_label_studio([src], tmp_path, cfg)
    tasks = json.loads(task_file.read_text())
    assert [t["data"]["item_id"] for t in tasks] == ["a", "b", "c"]
    assert tasks[0]["data"]["image"] == images["a"].as_uri()
    result = tasks[0]["annotations"][0]["result"]
    assert result[0] == {"from_name": "label", "to_name": "image", "type": "rectanglelabels", "original_width": 100,
                         "original_height": 80, "image_rotation": 0,
                         "value": {"x": 60.0, "y": 12.5, "width": 30.5, "height": 25.0, "rotation": 0, "rectanglelabels": ["car"]}}
    assert tasks[1]["annotations"][0]["result"] == []
    assert tasks[2]["annotations"][0]["result"][1]["value"] | {"rectanglelabels": None} == {
        "x": 0.0, "y": 0.0, "width": 100.0, "height": 100.0, "rotation": 0, "rectanglelabels": None}
    xml = config.read_text()
    assert '<RectangleLabels name="label" toName="image"' in xml and '<Image name="image" value="$image"' in xml
    assert all(f'<Label value="{label}" ' in xml for label in LABELS)


def test_generic_jsonl_and_csv_carry_the_boxes_and_image_size(cfg, images, tmp_path):
    import csv

    from tasks.export.writers import write_csv, write_jsonl

    src = tmp_path / "part-000.parquet"
    table = _exported(cfg, *_rows(ANSWERS, images))
    pq.write_table(table, src)
    (jsonl,), (csv_file,) = write_jsonl([src], tmp_path, cfg), write_csv([src], tmp_path, cfg)
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [(r["item_id"], r["width"], r["height"]) for r in records] == [("a", 100, 80), ("b", 64, 48), ("c", 120, 80)]
    assert [r["boxes"] for r in records] == table.column("boxes").to_pylist()
    with open(csv_file, newline="") as f:
        assert [json.loads(r["boxes"]) for r in csv.DictReader(f)] == table.column("boxes").to_pylist()


def _checked(cfg, labels: pa.Table, items: pa.Table) -> dict[str, list]:
    """Per row check: (item_id, what its frame column says) of every violating row."""
    table = _exported(cfg, labels, items)
    out = {}
    with duckdb.connect() as con:
        con.register("r", table)
        for c in EXPORT.row_checks(cfg):
            said = next(iter(c.frame_columns.values()), "NULL")
            out[c.name] = con.execute(f"SELECT item_id, {said} FROM r WHERE {c.violation} ORDER BY item_id").fetchall()
    return out


def test_row_checks_pass_clean_rows_and_name_every_bad_box(cfg):
    assert _checked(cfg, *_rows(ANSWERS)) == {c.name: [] for c in EXPORT.row_checks(cfg)}
    edge = {"e": [_box(-0.4, 0, 100.3, 80.5, "car")]}  # past the edges by under half a pixel, as storage accepts
    assert all(not v for v in _checked(cfg, *_rows(edge, sizes={"e": (100, 80)})).values())
    bad = {"p": "not json", "q": [_box(90, 10, 20.5, 10, "car"), _box(1, 2, 3, 4, "car")],
           "r": [_box(1, 2, 0, 4, "truck", confidence=1.5)], "s": '[{"x": "a", "y": 1, "w": 2, "h": 3, "label": "car"}]',
           "t": [_box(1, 2, 3, 4, "car")], "u": [_box(-3, 2, 3, 4, "car"), _box(1, 70, 3, 40, "sign")]}
    sizes = {"p": (100, 80), "q": (100, 80), "r": (100, 80), "s": (100, 80), "u": (100, 80)}
    got = _checked(cfg, *_rows(bad, sizes=sizes))
    assert got["boxes_present"] == [("p", None)]
    assert got["boxes_inside_image"] == [("q", "boxes[1]: x + w = 110.5 is past the right edge (width 100)"),
                                         ("u", "boxes[0]: x = -3.0 is left of the image; "
                                               + "boxes[1]: y + h = 110.0 is past the bottom edge (height 80)")]
    assert got["box_size_positive"] == [("r", "boxes[0]: w = 0.0, h = 4.0: not a positive size")]
    assert got["box_labels_in_set"] == [("r", 'boxes[0]: label "truck" is not in the label set')]
    assert got["box_confidence_in_range"] == [("r", "boxes[0]: confidence = 1.5 is outside [0, 1]")]
    assert got["boxes_well_formed"] == [("s", "boxes[0]: x, y, w, h = null, 1.0, 2.0, 3.0, label \"car\": a missing or non-finite field")]
    assert got["image_size_known"] == [("t", "width = unknown, height = unknown: not a recorded image size")]


def test_nan_coordinates_are_refused(cfg, tmp_path):
    """A NaN cannot travel in JSON, but a snapshot written by other means may hold one."""
    table = _exported(cfg, *_rows(ANSWERS))
    boxes = table.column("boxes").to_pylist()
    boxes[0][0]["y"] = math.nan
    table = table.set_column(table.schema.get_field_index("boxes"), "boxes", pa.array(boxes, EXPORT_BOXES_TYPE))
    with duckdb.connect() as con:
        con.register("r", table)
        check = next(c for c in EXPORT.row_checks(cfg) if c.name == "boxes_well_formed")
        assert con.execute(f"SELECT item_id FROM r WHERE {check.violation}").fetchall() == [("a",)]


def test_gold_match_needs_every_gold_box_matched_and_no_extra(cfg):
    gold = [_box(10, 10, 40, 40, "car"), _box(60, 10, 20, 50, "person")]
    cases = {
        "same": (gold, True),
        "jittered": ([_box(12, 11, 40, 38, "car", confidence=0.9), _box(60, 12, 21, 48, "person")], True),  # IoU ~0.86
        "loose": ([_box(20, 20, 40, 40, "car"), _box(60, 10, 20, 50, "person")], False),  # IoU 0.39
        "relabeled": ([_box(10, 10, 40, 40, "sign"), _box(60, 10, 20, 50, "person")], False),
        "missed": (gold[:1], False),
        "extra": ([*gold, _box(0, 0, 5, 5, "sign")], False),
        "empty_both": ([], None),
    }
    gm = EXPORT.gold_match(cfg)
    with duckdb.connect() as con:
        for name, (exported, correct) in cases.items():
            c = _exported(cfg, *_rows({"x": exported}))
            con.register("c", c)
            con.register("g", pa.table({"item_id": ["x"], "answer": [json.dumps(gold if name != "empty_both" else [])]}))
            got = con.execute(f"SELECT {gm.correct} FROM c JOIN g USING (item_id) WHERE {gm.present}").fetchall()[0][0]
            assert got is (correct if correct is not None else True), name


def test_box_rate_change_on_a_planted_shift():
    ref = {"label_distribution": {"car": 200, "person": 100, "sign": 4}, "row_counts": {"total": 100}}
    assert rate_change({"car": 20}, 10, None, 0.5).observed is None  # a first version: nothing to measure
    grown = rate_change({"car": 400, "person": 200, "sign": 8}, 200, ref, 0.5)  # twice the images, same rates
    assert grown.observed == 0.0
    few = rate_change({"car": 200, "person": 100, "sign": 9}, 100, ref, 0.5)  # signs 0.04 -> 0.09 per image: too few to judge
    assert few.observed == round(5 / 304, 4) and few.examples[-1]["label"] == "sign" and not few.examples[-1]["judged"]
    moved = rate_change({"car": 100, "person": 100}, 100, ref, 0.5)  # half the cars vanished
    assert moved.observed == 0.5 and moved.acceptable and moved.max_value == 0.5
    doubled = rate_change({"car": 400, "person": 200, "sign": 8}, 100, ref, 0.5)  # twice the boxes on every image
    assert doubled.observed == 1.0
    assert doubled.examples[0] == {"label": "(all labels)", "reference_boxes": 304, "reference_per_image": 3.04,
                                   "candidate_boxes": 608, "candidate_per_image": 6.08, "change": 1.0, "judged": True}


def test_coco_map_on_a_hand_case():
    truth = [[_box(0, 0, 10, 10, "car")], [_box(0, 0, 10, 10, "car")]]
    assert coco_map(truth, truth, LABELS)["map"] == 1.0
    # One of two cars found exactly, the other missed: precision 1 up to recall 0.5, i.e. 51 of COCO's
    # 101 recall points, at every IoU threshold.
    half = coco_map(truth, [[_box(0, 0, 10, 10, "car", confidence=0.9)], []], LABELS)
    assert half["map"] == half["map50"] == round(51 / 101, 4)
    # Both found, one shifted by 2 px (IoU 8x10 / 12x10 = 0.667): counted at thresholds 0.50-0.65, 4 of 10.
    # At those the shifted box ranks below the exact one (score 0.5 < 0.9): precision 1 at recall 1.
    # At the others precision is 1 up to recall 0.5 (51 points), then 1/2 at no higher recall.
    shifted = coco_map(truth, [[_box(0, 0, 10, 10, "car", confidence=0.9)], [_box(2, 0, 10, 10, "car", confidence=0.5)]], LABELS)
    assert shifted["map50"] == 1.0 and shifted["map"] == round((4 * 1.0 + 6 * 51 / 101) / 10, 4)
    assert shifted["per_label"] == {"car": shifted["map"]}  # one label: its AP is the mean
    nothing = coco_map(truth, [[], []], LABELS)
    assert (nothing["map"], nothing["predicted_boxes"]) == (0.0, 0)
    assert coco_map([[], []], [[], []], LABELS)["map"] is None  # no true box: nothing to measure


def test_evaluate_reads_resolved_answers_per_method(cfg):
    truth_boxes = {"a": [_box(0, 0, 10, 10, "car")], "b": [_box(5, 5, 10, 10, "sign")], "c": [_box(0, 0, 4, 4, "person")]}
    with duckdb.connect() as con:
        con.execute("CREATE TABLE labels (item_id VARCHAR, answer JSON, confidence DOUBLE, method VARCHAR, decision VARCHAR)")
        con.executemany("INSERT INTO labels VALUES (?, ?, ?, ?, ?)", [
            ["a", json.dumps(truth_boxes["a"]), 0.9, "box_fusion", "resolved"],
            ["b", json.dumps([_box(5, 5, 10, 10, "car")]), 0.8, "auto", "resolved"],  # wrong class
            ["c", json.dumps([]), 0.3, "box_fusion", "needs_more"]])
        truth = pa.table({"item_id": ["a", "b", "c"], "truth": [json.dumps(truth_boxes[i]) for i in "abc"]})
        q = EXPORT.evaluate(con, cfg, truth)
        assert (q["metric"], q["items_with_truth"], q["resolved_with_truth"]) == ("map", 3, 2)
        assert q["map"] == 0.5  # car found (AP 1), sign missed (AP 0); person's only image is unresolved
        assert q["per_label"] == {"car": 1.0, "sign": 0.0}
        assert q["by_method"] == {"auto": {"items": 1, "map": 0.0, "map50": 0.0},
                                  "box_fusion": {"items": 1, "map": 1.0, "map50": 1.0},
                                  "(unresolved)": {"items": 1, "map": None, "map50": None}}
        from tasks.errors import InputError

        with pytest.raises(InputError, match=r"truth file: item a: box \[0\] has no label"):
            resolved_scores(con, pa.table({"item_id": ["a"], "truth": ['[{"x": 1, "y": 1, "w": 2, "h": 2}]']}), LABELS)


def test_diff_counts_boxes_added_and_removed(cfg, tmp_path):
    from tasks.export.diff import diff_files

    a = tmp_path / "a.parquet"
    b = tmp_path / "b.parquet"
    pq.write_table(_exported(cfg, *_rows(ANSWERS)), a)
    moved = dict(ANSWERS, a=[ANSWERS["a"][0], _box(6, 40, 10, 35.75, "person", confidence=0.5)])  # one box moved
    pq.write_table(_exported(cfg, *_rows(moved)), b)
    d = diff_files([a], [b], kinds=("boxes", "boxes"))
    assert d["relabeled"] == 1 and d["parts"]["by_label"]["person"] == {"added": 1, "removed": 1, "kept": 0}
    assert d["parts"]["by_label"]["car"] == {"added": 0, "removed": 0, "kept": 2}
    same_boxes = dict(ANSWERS, a=[dict(b, confidence=0.1) for b in ANSWERS["a"]])  # only lineage moved
    pq.write_table(_exported(cfg, *_rows(same_boxes)), b)
    assert diff_files([a], [b], kinds=("boxes", "boxes"))["relabeled"] == 0


def test_export_formats_are_the_kinds(make_project):
    from tasks.errors import ConfigError

    cfg = make_project(data_kind="image", task_kind="boxes", labels=LABELS, export={"formats": ["parquet", "coco", "yolo", "label_studio"]})
    assert cfg.export.formats == ["parquet", "coco", "yolo", "label_studio"]
    with pytest.raises(ConfigError, match="'conll' is not a format of task_kind 'boxes'"):
        make_project(data_kind="image", task_kind="boxes", labels=LABELS, export={"formats": ["conll"]})
