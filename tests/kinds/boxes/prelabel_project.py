"""A small boxes project for the pre-labeling tests: generated scenes ingested as images, gold boxes stored."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import duckdb

from schemas.config import ProjectConfig
from tasks.ingest.stage import ingest_source, register_project
from tests.conftest import write_project

from .scenes import write_scenes

LABELS = ["car", "person", "sign"]


def boxes_project(root: Path, n: int, *, seed: int = 0, like_example: bool = False,
                  **overrides: Any) -> tuple[ProjectConfig, dict[str, list[dict]]]:
    """(config, file name -> true boxes) of a project whose `n` scenes are ingested from `root/images`
    (`like_example`: drawn by the example's generator, see `scenes.write_scenes`).

    Item ids hash the project name: pass `name` to keep them (and the calibration folds they draw) fixed."""
    truth = write_scenes(root / "images", n, seed=seed, like_example=like_example)
    cfg = write_project(root, **{"name": f"boxes-{uuid.uuid4().hex[:8]}", "data_kind": "image", "task_kind": "boxes", "labels": LABELS,
                                 "sources": [{"path": "images", "format": "folder", "name": "scenes"}], **overrides})
    register_project(cfg)
    for src in cfg.sources:
        ingest_source(cfg, src)
    return cfg, truth


def item_ids(cfg: ProjectConfig) -> dict[str, str]:
    """File name -> item id."""
    con = duckdb.connect(str(cfg.db_path), read_only=True)
    try:
        return {uri.rsplit("/", 1)[1]: i for i, uri in con.execute("SELECT item_id, uri FROM items").fetchall()}
    finally:
        con.close()


def store_gold(cfg: ProjectConfig, answers: dict[str, str]) -> None:
    """Gold box answers (item id -> canonical JSON), written as the gold import stores them."""
    con = duckdb.connect(str(cfg.db_path))
    try:
        con.executemany("INSERT INTO gold (item_id, answer, origin) VALUES (?, ?::JSON, 'file')", list(answers.items()))
    finally:
        con.close()
