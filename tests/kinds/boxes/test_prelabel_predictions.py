"""Importing a detector's existing output (COCO results JSON) as a versioned model source, through the real stage
on a DuckDB file: good entries become votes, bad ones are quarantined naming file, entry and field, a re-import of
the same version changes nothing, a new version replaces the votes, a broken file is refused whole (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import tomli_w
from typer.testing import CliRunner

from annoflow_cli.main import app
from schemas.config import load_config
from tasks.errors import ConfigError, InputError
from tasks.kinds.boxes.geometry import canonical
from tasks.prelabel.stage import apply_model

from .prelabel_project import boxes_project, item_ids

CATEGORY = {"car": 1, "person": 2, "sign": 3}


def _write_predictions(root: Path, truth: dict[str, list[dict]], *, bad: bool = True, shift: float = 0.0) -> list[dict]:
    """images.json (ids 1.., plus an image that is not in the project) and a results file: every true box of every
    scene but the first, as a detector would answer it, then the bad entries (when `bad`)."""
    names = sorted(truth)
    (root / "preds").mkdir(exist_ok=True)
    images = [{"id": k + 1, "file_name": f"images/{n}", "width": 200, "height": 150} for k, n in enumerate(names)]
    images.append({"id": 99, "file_name": "images/not_in_project.png", "width": 200, "height": 150})
    (root / "preds" / "images.json").write_text(json.dumps({
        "images": images, "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}]}))  # 3 named in the config
    results = [{"image_id": k + 1, "bbox": [b["x"] + shift, b["y"], b["w"], b["h"]], "score": 0.9, "category_id": CATEGORY[b["label"]]}
               for k, n in enumerate(names) if k > 0 for b in truth[n]]
    if bad:
        results += [
            {"image_id": 777, "bbox": [1, 1, 5, 5], "score": 0.5, "category_id": 1},
            {"image_id": 2, "bbox": [1, 1, 5, 5], "score": 0.5, "category_id": 9},
            {"image_id": 2, "bbox": [1, float("nan"), 5, 5], "score": 0.5, "category_id": 1},
            {"image_id": 3, "bbox": [190, 10, 30, 10], "score": 0.5, "category_id": 1},
            {"image_id": 3, "bbox": [10, 10, 30, 10], "score": 1.5, "category_id": 1},
            {"image_id": 4, "bbox": [10, 10, 30, 10], "score": 0.5, "category_id": 4},
        ]
    (root / "preds" / "results.json").write_text(json.dumps(results))
    return results


def _model(root: Path, version: str = "2024-05") -> dict:
    return {"name": "yolo-run", "kind": "predictions", "path": "preds/results.json", "images": "preds/images.json",
            "version": version, "categories": {"3": "sign", "4": "tree"}}


def _votes(cfg) -> list[tuple]:
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        return con.execute("SELECT item_id, source_id, source_version, answer::VARCHAR FROM votes ORDER BY ALL").fetchall()


def _quarantine(cfg) -> list[tuple]:
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        return con.execute("SELECT stage, source, source_row, field, reason, detail FROM quarantine ORDER BY source_row").fetchall()


@pytest.fixture
def project(tmp_path: Path):
    root = tmp_path / "p"
    cfg, truth = boxes_project(root, 12, seed=5)
    _write_predictions(root, truth)
    data = {**json.loads(cfg.model_dump_json(exclude_none=True, exclude_defaults=True)), "prelabel": {"models": [_model(root)]}}
    data.pop("root", None)
    (root / "annoflow.toml").write_text(tomli_w.dumps(data))
    return load_config(root), truth


def test_import_stores_good_entries_quarantines_bad_ones_and_reimport_changes_nothing(project) -> None:
    cfg, truth = project
    ids = item_ids(cfg)
    report = apply_model(cfg, cfg.prelabel.models[0])
    assert report["version"] == "2024-05" and report["inserted"] == 12 and report["quarantined"] == 6
    votes = _votes(cfg)
    by_item = {i: a for i, _, _, a in votes}
    names = sorted(truth)
    # every project image listed gets a vote: the first scene had no detection, so its vote is "no objects"
    assert json.loads(by_item[ids[names[0]]]) == []
    for n in names[1:]:
        assert json.loads(by_item[ids[n]]) == json.loads(canonical([{**b, "score": 0.9} for b in truth[n]])), n
    assert {(s, v) for _, s, v, _ in votes} == {("model:yolo-run", "2024-05")}
    rows = _quarantine(cfg)
    base = sum(len(truth[n]) for n in names[1:])
    assert [(r[2] - base, r[3], r[4]) for r in rows] == [
        (0, "image_id", "unknown_image"), (1, "category_id", "unknown_category"), (2, "bbox[1]", "invalid_coordinate"),
        (3, "bbox", "box_outside_image"), (4, "score", "invalid_score"), (5, "category_id", "unknown_label")]
    assert all(r[0] == "prelabel.model.yolo-run" and r[1] == "preds/results.json" for r in rows)
    assert rows[0][5] == f"preds/results.json entry {base}: image_id 777 is not in the images file"
    assert "nan" in rows[2][5].lower() and "4 is the label 'tree'" in rows[5][5]

    again = apply_model(cfg, cfg.prelabel.models[0])
    assert again["inserted"] == 0 and again["retired"] == 0
    assert _votes(cfg) == votes and _quarantine(cfg) == rows


def test_a_new_version_replaces_the_votes(project) -> None:
    cfg, truth = project
    apply_model(cfg, cfg.prelabel.models[0])
    _write_predictions(Path(cfg.root), truth, bad=False, shift=1.0)
    mcfg = cfg.prelabel.models[0].model_copy(update={"version": "2024-06"})
    report = apply_model(cfg, mcfg)
    assert report["retired"] == 12 and report["inserted"] == 12 and report["quarantined"] == 0
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        current = con.execute("SELECT count(*) FROM votes v JOIN sources s USING (source_id) WHERE v.source_version = s.version").fetchall()[0][0]
        assert con.execute("SELECT version FROM sources WHERE source_id = 'model:yolo-run'").fetchall() == [("2024-06",)]
    assert current == 12


def test_a_file_that_is_not_a_results_list_is_refused_whole(project, tmp_path: Path) -> None:
    cfg, _ = project
    apply_model(cfg, cfg.prelabel.models[0])
    before = _votes(cfg)
    (Path(cfg.root) / "preds" / "results.json").write_text('{"image_id": 1')
    with pytest.raises(InputError, match=r"predictions file .*results\.json is not valid JSON"):
        apply_model(cfg, cfg.prelabel.models[0].model_copy(update={"version": "2024-07"}))
    (Path(cfg.root) / "preds" / "results.json").write_text('{"annotations": []}')
    with pytest.raises(InputError, match="is not a COCO results list"):
        apply_model(cfg, cfg.prelabel.models[0].model_copy(update={"version": "2024-07"}))
    assert _votes(cfg) == before


def test_cli_reports_set_aside_entries_and_exits_2_on_a_missing_images_file(prefect_harness, project, monkeypatch) -> None:
    cfg, _ = project
    monkeypatch.chdir(cfg.root)
    res = CliRunner().invoke(app, ["prelabel", "--config", str(cfg.root)])
    assert res.exit_code == 0, res.output
    assert "Model yolo-run: 6 inputs set aside, the rest stored (first: preds/results.json entry" in " ".join(res.output.split())
    before = _votes(cfg)
    assert len(before) == 12
    (Path(cfg.root) / "preds" / "images.json").unlink()
    res = CliRunner().invoke(app, ["prelabel", "--config", str(cfg.root)])
    assert res.exit_code == 2, res.output
    assert "images file" in res.output and "does not exist" in res.output and "Traceback" not in res.output
    assert _votes(cfg) == before


def test_a_predictions_entry_needs_its_images_file_and_a_version(project) -> None:
    cfg, _ = project
    with pytest.raises(ConfigError, match="needs `images`"):
        apply_model(cfg, cfg.prelabel.models[0].model_copy(update={"images": None}))
    with pytest.raises(ValueError, match="of kind 'predictions' needs version"):
        type(cfg.prelabel.models[0])(name="x", kind="predictions", path="p.json")
