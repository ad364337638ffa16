"""Ingest of a boxes project: image sizes recorded, undecodable images quarantined, gold boxes from JSONL
and from COCO instances JSON, each bad row or annotation named by file, row or annotation id and field
while the rest is stored; and through the CLI, exit 2 with nothing stored changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annoflow_cli.main import app
from schemas.config import load_config
from tasks.ingest.stage import import_gold, ingest_source
from tasks.store import open_store

EXAMPLE = Path(__file__).parents[3] / "examples" / "shapes-boxes"
LABELS = ["car", "person", "sign"]
IMAGES = ["scene_00.png", "scene_01.png", "scene_02.png", "scene_03.png"]  # 240x180, 192x144, 240x180, 320x240


def _truth() -> dict[str, list[dict]]:
    rows = [json.loads(line) for line in (EXAMPLE / "truth" / "labels.jsonl").read_text().splitlines()]
    return {r["file"]: r["answer"] for r in rows}


def _box(x, y, w, h, label="car") -> dict:
    return {"x": x, "y": y, "w": w, "h": h, "label": label}


def _project(make_project, gold: str, gold_text: str, **gold_cfg):
    cfg = make_project(task_kind="boxes", data_kind="image", labels=LABELS,
                       sources=[{"path": "data/images", "format": "folder"}],
                       gold={"path": gold, "key_field": "file", "label_field": "answer", **gold_cfg})
    root = Path(cfg.root)
    (root / "data" / "images").mkdir(parents=True)
    for name in IMAGES:
        shutil.copy(EXAMPLE / "data" / "images" / name, root / "data" / "images" / name)
    (root / gold).write_text(gold_text, encoding="utf-8")
    for src in cfg.sources:
        ingest_source(cfg, src)
    return cfg


def _query(cfg, sql: str) -> list[tuple]:
    with open_store(cfg.db_path) as con:
        return con.execute(sql).fetchall()


def _gold(cfg) -> dict[str, list[dict]]:
    rows = _query(cfg, "SELECT json_extract_string(i.metadata, '$.file'), g.answer::VARCHAR FROM gold g JOIN items i USING (item_id)")
    return {f: json.loads(a) for f, a in rows}


def test_image_sizes_land_in_metadata_and_a_broken_image_is_quarantined(make_project) -> None:
    cfg = make_project(task_kind="boxes", data_kind="image", labels=LABELS, sources=[{"path": "data", "format": "folder"}])
    data = Path(cfg.root) / "data"
    data.mkdir()
    shutil.copy(EXAMPLE / "data" / "images" / "scene_03.png", data / "ok.png")
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG signature and nothing readable
    [report] = ingest_source(cfg, cfg.sources[0])
    assert (report["inserted"], report["quarantined"]) == (1, 1)
    [(meta,)] = _query(cfg, "SELECT metadata::VARCHAR FROM items")
    assert {k: json.loads(meta)[k] for k in ("file", "width", "height")} == {"file": "ok.png", "width": 320, "height": 240}
    [(field, reason, detail)] = _query(cfg, "SELECT field, reason, detail FROM quarantine WHERE stage = 'ingest'")
    assert (field, reason) == ("file", "corrupt_media") and detail.startswith("broken.png: not a readable image")


def test_gold_jsonl_stores_good_rows_and_names_each_bad_one(make_project) -> None:
    truth = _truth()
    lines = [
        {"file": "scene_00.png", "answer": truth["scene_00.png"]},
        {"file": "scene_01.png", "answer": [_box(150, 10, 50, 20)]},            # past the right edge of 192 px
        {"file": "scene_02.png", "answer": [_box(10, 10, 5, 5, "truck")]},      # not a label of the project
        {"file": "scene_03.png", "answer": []},                                 # "no objects"
        {"file": "never_ingested.png", "answer": []},
    ]
    text = "".join(json.dumps(r) + "\n" for r in lines) + '{"file": "scene_02.png", "answer": [{"x": NaN, "y": 1, "w": 2, "h": 2, "label": "car"}]}\n'
    cfg = _project(make_project, "gold.jsonl", text)
    report = import_gold(cfg)
    assert (report["gold_rows"], report["gold_stored"], report["gold_quarantined"]) == (6, 2, 4)
    assert _gold(cfg) == {"scene_00.png": truth["scene_00.png"], "scene_03.png": []}
    assert len(report["errors"]) == 3
    assert report["errors"][0].startswith("gold.jsonl row 2: column 'answer': item ")
    assert report["errors"][0].endswith(", gold: answer[0].w = 50.0: the box spans x 150 to 200, outside the image's "
                                        "width 0 to 192 px")
    assert report["errors"][1].startswith("gold.jsonl row 3: column 'answer': item ")
    assert report["errors"][1].endswith('answer[0].label = "truck" is not in the label set ["car", "person", "sign"]')
    assert report["errors"][2].startswith("gold.jsonl row 6: column 'answer': item ")
    assert report["errors"][2].endswith("answer[0].x = NaN is not a finite number")
    q = _query(cfg, "SELECT source_row, field, reason FROM quarantine WHERE stage = 'gold' ORDER BY 1")
    assert q == [(2, "answer[0].w", "box_outside_image"), (3, "answer[0].label", "unknown_label"),
                 (5, "file", "gold_item_unknown"), (6, "answer[0].x", "not_a_number")]


def _coco(images: list[tuple[int, str, int, int]], annotations: list[tuple[int, int, int, list]]) -> str:
    return json.dumps({
        "info": {"description": "existing boxes"},
        "images": [{"id": i, "file_name": f, "width": w, "height": h} for i, f, w, h in images],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}, {"id": 3, "name": "sign"}, {"id": 7, "name": "truck"}],
        "annotations": [{"id": a, "image_id": i, "category_id": c, "bbox": b, "area": 1, "iscrowd": 0} for a, i, c, b in annotations],
    })


COCO_IMAGES = [(1, "scene_00.png", 240, 180), (2, "scene_01.png", 192, 144), (3, "scene_02.png", 240, 180),
               (4, "scene_03.png", 320, 240), (5, "elsewhere.png", 64, 64)]


def test_gold_from_coco_instances(make_project) -> None:
    anns = [(10, 1, 1, [54, 82, 44, 21]), (11, 1, 2, [100, 60.5, 12, 40]),     # scene_00: two boxes
            (20, 2, 1, [150, 10, 50, 20]),                                     # scene_01: past the right edge
            (30, 3, 7, [10, 10, 5, 5]),                                        # scene_02: a category outside the labels
            (31, 3, 1, [10, 10, 5, 5]),
            (40, 9, 1, [1, 1, 2, 2]),                                          # an image id the file does not list
            (41, 4, 5, [1, 1, 2, 2])]                                          # a category id it does not list
    cfg = _project(make_project, "instances.json", _coco(COCO_IMAGES, anns))
    report = import_gold(cfg)
    assert _gold(cfg) == {"scene_00.png": [_box(54.0, 82.0, 44.0, 21.0), _box(100.0, 60.5, 12.0, 40.0, "person")]}
    assert report["errors"] == [
        ("instances.json annotations[2] (id 20): bbox: [150,10,50,20] spans x 150 to 200, y 10 to 30: "
         'outside image 2 ("scene_01.png", 192 x 144 px)'),
        'instances.json annotations[3] (id 30): category_id: category 7 "truck" is not in the label set ["car", "person", "sign"]',
        'instances.json annotations[5] (id 40): image_id: image_id 9 is not the id of any entry of "images" (or that id is used twice)',
        'instances.json annotations[6] (id 41): category_id: category_id 5 is not the id of any entry of "categories"',
    ]
    # scene_03 lost its only annotation (id 41), so it gives no answer rather than a wrong "no objects";
    # elsewhere.png matches no ingested item.
    q = _query(cfg, "SELECT source_row, field, reason FROM quarantine WHERE stage = 'gold' ORDER BY reason, source_row")
    assert q == [(2, "bbox", "box_outside_image"), (4, "file", "gold_item_unknown"), (6, "category_id", "unknown_category"),
                 (5, "image_id", "unknown_image"), (3, "category_id", "unknown_label")]
    assert report["gold_stored"] == 1


def test_coco_image_without_annotations_is_no_objects_and_auto_detects(make_project) -> None:
    cfg = _project(make_project, "gold.json", _coco(COCO_IMAGES[:2], [(1, 1, 3, [95, 83, 11, 11])]))
    assert cfg.gold.format == "auto"
    report = import_gold(cfg)
    assert report["errors"] == [] and report["gold_stored"] == 2
    assert _gold(cfg) == {"scene_00.png": [_box(95.0, 83.0, 11.0, 11.0, "sign")], "scene_01.png": []}
    assert import_gold(cfg) | {"gold_rows": 0} == {"gold_rows": 0, "gold_stored": 0, "gold_quarantined": 0, "gold_changed": 0, "errors": []}


def test_coco_boxes_are_checked_against_the_stored_image_too(make_project) -> None:
    """A COCO file that claims a bigger image than the one ingested: the stored size decides."""
    cfg = _project(make_project, "gold.json", _coco([(1, "scene_01.png", 1000, 1000)], [(1, 1, 1, [150, 10, 50, 20])]))
    report = import_gold(cfg)
    assert report["gold_stored"] == 0
    [line] = report["errors"]
    assert line.startswith('gold.json image id 1 ("scene_01.png"): column \'answer\': item ')
    assert line.endswith("answer[0].w = 50.0: the box spans x 150 to 200, outside the image's width 0 to 192 px")


def test_a_json_list_of_rows_is_read_as_a_table(make_project) -> None:
    rows = [{"file": "scene_03.png", "answer": []}]
    cfg = _project(make_project, "gold.json", json.dumps(rows))
    assert import_gold(cfg)["gold_stored"] == 1


def test_coco_format_named_but_not_coco_is_one_message(make_project) -> None:
    from tasks.errors import InputError

    cfg = _project(make_project, "gold.json", json.dumps([{"file": "scene_03.png", "answer": []}]), format="coco")
    with pytest.raises(InputError, match=r'not a COCO instances file \(it is not an object with .*"images"'):
        import_gold(cfg)


def test_unknown_gold_format_is_a_config_error(make_project) -> None:
    with pytest.raises(Exception, match=r"gold.format: 'yolo' is not a gold file format of task_kind 'boxes' \(available: auto, table, coco\)"):
        make_project(task_kind="boxes", data_kind="image", labels=LABELS, gold={"path": "g.json", "format": "yolo"})


def test_the_example_project_ingests(make_project, tmp_path: Path) -> None:
    project = tmp_path / "shapes"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".annoflow"))
    cfg = load_config(project)
    [report] = ingest_source(cfg, cfg.sources[0])
    assert (report["inserted"], report["quarantined"]) == (80, 0)
    gold = import_gold(cfg)
    assert (gold["gold_rows"], gold["gold_stored"], gold["errors"]) == (15, 15, [])
    truth = _truth()
    stored = _gold(cfg)
    assert len(stored) == 15 and all(stored[f] == truth[f] for f in stored)
    assert sum(1 for v in stored.values() if not v) == 2
    again = import_gold(cfg)  # a re-run finds every answer already stored, equal to the file's
    assert (again["gold_stored"], again["gold_changed"], again["errors"]) == (0, 0, [])
    sizes = _query(cfg, "SELECT count(*) FROM items WHERE (metadata ->> '$.width')::INT BETWEEN 160 AND 320"
                        " AND (metadata ->> '$.height')::INT BETWEEN 120 AND 240")
    assert sizes == [(80,)]


def test_cli_ingest_refuses_bad_gold_with_exit_2_and_keeps_stored_gold(prefect_harness, make_project) -> None:
    truth = _truth()
    good = "".join(json.dumps({"file": f, "answer": truth[f]}) + "\n" for f in ("scene_00.png", "scene_01.png"))
    cfg = _project(make_project, "gold.jsonl", good)
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", "--config", cfg.root])
    assert first.exit_code == 0, first.output
    before = _gold(cfg)
    assert set(before) == {"scene_00.png", "scene_01.png"}

    bad = [{"file": "scene_00.png", "answer": []},                              # contradicts stored gold
           {"file": "scene_01.png", "answer": [_box(10, 10, 0, 5)]},            # zero width
           {"file": "scene_02.png", "answer": [_box(10, -4, 5, 5)]},            # above the top edge
           {"file": "scene_03.png", "answer": [_box(10, 10, 5, 5, "person")]}]  # fine: stored
    (Path(cfg.root) / "gold.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bad), encoding="utf-8")
    out = runner.invoke(app, ["ingest", "--config", cfg.root])
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output
    text = " ".join(out.output.split())
    assert "gold.jsonl row 2: column 'answer': item" in text and "answer[0].w = 0 is not a positive size in pixels" in text
    assert "gold.jsonl row 3: column 'answer': item" in text and "answer[0].y = -4: the box spans y -4 to 1" in text
    assert "gold.jsonl row 1: item 'scene_00.png': stored gold says" in text
    after = _gold(cfg)
    assert {f: after[f] for f in before} == before  # nothing stored changed
    assert after["scene_03.png"] == [_box(10.0, 10.0, 5.0, 5.0, "person")]  # the rest is stored
