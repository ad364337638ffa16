"""`annoflow export` on a boxes project, end to end on a real DuckDB file and a real Prefect API.

PNG scenes are generated under tmp_path and ingested by the real ingest stage (which records each
image's size); resolved answers are written to `labels.answer` as consensus writes them: each box with
its confidence and sources, except auto-accepted ones (the others' method is "adjudicated", a name the
gate knows whatever the boxes aggregation is called). The release is read back by its consumers
(pycocotools, a YOLO parser, pyarrow), then a box outside its image and a planted shift in boxes per
image are held by the gate with messages naming the item and the check.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from annoflow_cli.main import app
from tasks.evaluate import evaluate_labels
from tasks.export import versions as V
from tasks.ingest.stage import ingest_source
from tasks.kinds.boxes.columns import EXPORT_BOXES_TYPE
from tests.conftest import write_project

LABELS = ["car", "person", "sign"]
FORMATS = ["parquet", "coco", "yolo", "label_studio"]
N_IMAGES = 24


def _scene(k: int) -> tuple[tuple[int, int], list[dict]]:
    """Image size and true boxes of scene k: one to three objects, sizes varying with k."""
    w, h = 80 + 8 * (k % 5), 60 + 6 * (k % 4)
    boxes = [{"x": 2.0 + k % 7, "y": 3.0, "w": 20.0 + k % 3, "h": 15.5, "label": LABELS[k % 3]}]
    if k % 2:
        boxes.append({"x": w - 30.0, "y": h - 25.0, "w": 28.0, "h": 24.0, "label": "car"})
    if k % 3 == 0:
        boxes.append({"x": 30.0, "y": 20.0, "w": 10.25, "h": 30.0, "label": "person"})
    return (w, h), boxes


@pytest.fixture
def project(tmp_path: Path):
    root = tmp_path / "street-boxes"
    folder = root / "data" / "images"
    folder.mkdir(parents=True)
    for k in range(N_IMAGES):
        (w, h), _ = _scene(k)
        Image.new("RGB", (w, h), (k * 9 % 255, 120, 200)).save(folder / f"scene-{k:02d}.png")
    cfg = write_project(root, name="street-boxes", data_kind="image", task_kind="boxes", labels=LABELS,
                        sources=[{"path": "data/images", "format": "folder", "name": "scenes"}],
                        export={"formats": FORMATS, "splits": {"train": 0.75, "val": 0.25}})
    for src in cfg.sources:
        assert not any(r["error"] for r in ingest_source(cfg, src))
    from tasks.store import open_store

    answers = {}
    with open_store(cfg.db_path) as con:
        items = con.execute("SELECT item_id, uri FROM items ORDER BY item_id").fetchall()
        rows = []
        for item_id, uri in items:
            k = int(Path(uri).stem.split("-")[1])
            answers[item_id] = _scene(k)
            auto = k % 5 == 0
            stored = answers[item_id][1] if auto else [
                {**b, "confidence": round(0.7 + 0.01 * j, 2), "sources": ["human:ann", "human:bob"]} for j, b in enumerate(answers[item_id][1])]
            rows.append([item_id, json.dumps(stored), 0.9, "auto" if auto else "adjudicated", 3, 0 if auto else 3,
                         0.75, ["human:ann", "human:bob"]])
        con.executemany("INSERT INTO labels (item_id, answer, confidence, method, decision, n_votes, n_human, agreement, sources)"
                        " VALUES (?, ?::JSON, ?, ?, 'resolved', ?, ?, ?, ?)", rows)
    return cfg, answers


def _publish(cfg, *extra: str) -> dict:
    res = CliRunner().invoke(app, ["export", "--config", cfg.root, "--json", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.output.strip().splitlines()[-1])


def test_boxes_export_end_to_end(prefect_harness, project) -> None:
    from pycocotools.coco import COCO

    from tasks.store import open_store

    cfg, answers = project
    out = _publish(cfg)
    assert (out["status"], out["version"], out["n_rows"]) == ("published", "v0001", N_IMAGES)
    m = V.read_manifest(cfg, "v0001")
    assert (m["task_kind"], m["label_column"], sorted(m["formats"])) == ("boxes", "boxes", sorted(FORMATS))
    assert m["answer"]["categories"] == {"car": 1, "person": 2, "sign": 3}
    counts: dict[str, int] = {}
    for _, boxes in answers.values():
        for b in boxes:
            counts[b["label"]] = counts.get(b["label"], 0) + 1
    assert m["label_distribution"] == dict(sorted(counts.items()))
    checks = m["validation"]["checks"]
    assert all(checks[c]["success"] for c in ("boxes_inside_image", "box_size_positive", "box_labels_in_set",
                                              "image_size_known", "boxes_well_formed"))
    assert checks["max_box_rate_change"]["success"] is None  # a first version: nothing to compare with

    # The Parquet of record: typed boxes with the image size, rows in item_id order.
    snap = pq.read_table(V.data_files(cfg, "v0001"), columns=["item_id", "boxes", "width", "height", "split"])
    assert snap.schema.field("boxes").type == EXPORT_BOXES_TYPE
    by_id = {r["item_id"]: r for r in snap.to_pylist()}
    assert {i: (r["width"], r["height"]) for i, r in by_id.items()} == {i: a[0] for i, a in answers.items()}

    # COCO, one file per split, loaded by pycocotools: every true box once, at its pixels.
    vdir = V.version_dir(cfg, "v0001") / "formats"
    seen = {}
    for split in ("train", "val"):
        with redirect_stdout(io.StringIO()):
            coco = COCO(str(vdir / "coco" / f"instances_{split}.json"))
        for img in coco.loadImgs(coco.getImgIds()):
            assert by_id[img["item_id"]]["split"] == split and Path(img["file_name"]).is_file()
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
            seen[img["item_id"]] = sorted((LABELS[a["category_id"] - 1], *a["bbox"]) for a in anns)
            lineage = {tuple(a["sources"]) for a in anns}
            assert lineage <= {("human:ann", "human:bob"), ()}
    assert seen == {i: sorted((b["label"], b["x"], b["y"], b["w"], b["h"]) for b in a[1]) for i, a in answers.items()}

    # YOLO: every label file parses back to the pixel boxes; data.yaml names the splits.
    yaml = (vdir / "yolo" / "data.yaml").read_text()
    assert 'train: "images/train"' in yaml and 'val: "images/val"' in yaml and "nc: 3" in yaml
    for item_id, ((w, h), boxes) in answers.items():
        split = by_id[item_id]["split"]
        lines = (vdir / "yolo" / "labels" / split / f"{item_id}.txt").read_text().splitlines()
        back = []
        for line in lines:
            c, cx, cy, bw, bh = line.split()
            bw, bh = float(bw) * w, float(bh) * h
            back.append((LABELS[int(c)], float(cx) * w - bw / 2, float(cy) * h - bh / 2, bw, bh))
        want = sorted((b["label"], b["x"], b["y"], b["w"], b["h"]) for b in boxes)
        assert all(g[0] == e[0] and all(abs(u - v) < 1e-3 for u, v in zip(g[1:], e[1:])) for g, e in zip(sorted(back), want))
        assert (vdir / "yolo" / "images" / split / f"{item_id}.png").resolve().is_file()

    # `annoflow demo`'s measure: COCO mAP of the resolved boxes against a truth file keyed by file name, as
    # examples ship it (`answer` column); one image's truth gains a box nobody exported.
    truth_rows, missed = [], min(answers)
    with open_store(cfg.db_path) as con:
        files = dict(con.execute("SELECT item_id, json_extract_string(metadata, '$.file') FROM items").fetchall())
    for item_id, ((w, h), boxes) in answers.items():
        extra = [{"x": 1.0, "y": h - 10.0, "w": 8.0, "h": 8.0, "label": "sign"}] if item_id == missed else []
        truth_rows.append(json.dumps({"file": files[item_id], "answer": boxes + extra}))
    truth_file = Path(cfg.root) / "truth" / "labels.jsonl"
    truth_file.parent.mkdir()
    truth_file.write_text("\n".join(truth_rows) + "\n")
    with open_store(cfg.db_path) as con:
        q = evaluate_labels(con, cfg, truth_file, key_field="file")
    assert (q["metric"], q["items_with_truth"], q["resolved_with_truth"]) == ("map", N_IMAGES, N_IMAGES)
    assert q["map50"] < 1.0 and q["map"] == q["map50"] and q["true_boxes"] == q["predicted_boxes"] + 1
    assert set(q["by_method"]) == {"auto", "adjudicated"}

    tasks = json.loads((vdir / "label_studio.json").read_text())
    assert {r["type"] for t in tasks for r in t["annotations"][0]["result"]} == {"rectanglelabels"}

    # A box past its image's right edge is held, named by item and field; nothing is published.
    bad = sorted(answers)[3]
    (w, h), boxes = answers[bad]
    with open_store(cfg.db_path) as con:
        con.execute("UPDATE labels SET answer = ?::JSON WHERE item_id = ?",
                    [json.dumps([{"x": w - 5.0, "y": 1.0, "w": 12.5, "h": 4.0, "label": "sign"}]), bad])
    res = CliRunner().invoke(app, ["export", "--config", cfg.root])
    assert res.exit_code == 2, res.output
    assert "boxes_inside_image" in res.output and bad in res.output
    assert f"boxes[0]: x + w = {w + 7.5} is past the right edge (width {w})" in res.output
    assert V.read_latest(cfg.export_dir) == "v0001"


def test_a_jump_in_boxes_per_image_is_held_until_accepted(prefect_harness, project) -> None:
    cfg, answers = project
    assert _publish(cfg)["version"] == "v0001"
    from tasks.store import open_store

    with open_store(cfg.db_path) as con:  # every image gets a copy of each box, shifted: twice the boxes per image
        for item_id, ((w, h), boxes) in answers.items():
            twice = boxes + [{**b, "x": max(0.0, b["x"] - 1.0)} for b in boxes]
            con.execute("UPDATE labels SET answer = ?::JSON WHERE item_id = ?", [json.dumps(twice), item_id])
    res = CliRunner().invoke(app, ["export", "--config", cfg.root])
    assert res.exit_code == 2 and "max_box_rate_change" in res.output and "--accept-shift" in res.output
    assert "(all labels)" in res.output
    out = _publish(cfg, "--accept-shift", "the new annotators mark every reflection too")
    accepted = V.read_manifest(cfg, out["version"])["shift_accepted"]
    assert "max_box_rate_change" in accepted["checks"] and accepted["checks"]["max_box_rate_change"]["observed"] == 1.0
