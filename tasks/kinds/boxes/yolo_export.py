"""YOLO detection labels from the export snapshot: one text file per image and a `data.yaml`.

Layout under `formats/yolo/` (Ultralytics' layout, so `yolo train data=formats/yolo/data.yaml` runs):

    data.yaml                       train/val/test folders relative to this file, nc, names (class id -> label)
    labels/<split>/<item_id>.txt    one line per box: `class cx cy w h`, class = label index from 0,
                                    centre and size as fractions of the image (6 decimals); empty = no objects
    images/<split>/<item_id>.<ext>  a symbolic link to the stored image (local `file://` items only)

Without splits the folders are `labels/` and `images/` and every image serves as train and val.
Ultralytics finds an image's labels by swapping `images` for `labels` in its path, hence the links;
the manifest lists the label files and `data.yaml` (the links point at images the release does not
own). Lines are formatted by DuckDB per image; Python only writes the files, a batch at a time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.export.writers import FORMATS_DIR, parquet_list_sql, reader_connection

from .coco_export import file_name_sql
from .columns import labels_sql

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["DECIMALS", "YOLO_ROLES", "data_yaml", "write_yolo"]

DECIMALS = 6
"""Decimals of the normalised coordinates: 1e-6 of a 10,000-pixel side is a hundredth of a pixel."""
YOLO_ROLES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val",
              "test": "test", "testing": "test"}
"""Which `data.yaml` key a split name fills; other split names get a key of their own (ignored by Ultralytics)."""
_DIR = "yolo"
_BATCH = 8192


def _lines_sql(labels: Sequence[str]) -> str:
    """Each row's label file text: one `class cx cy w h` line per box that can be written (a box the gate refuses,
    with an unknown label, no image size or no finite numbers, is left out here)."""
    listed = labels_sql(list(labels))
    d = DECIMALS
    line = (f"printf('%d %.{d}f %.{d}f %.{d}f %.{d}f', list_position({listed}, b.label) - 1,"
            " (b.x + b.w / 2) / width, (b.y + b.h / 2) / height, b.w / width, b.h / height)")
    ok = f"list_contains({listed}, b.label) AND isfinite(b.x + b.y + b.w + b.h) AND width > 0 AND height > 0"
    return (f"array_to_string(list_transform(list_filter(coalesce(boxes, []), lambda b: {ok}),"
            f" lambda b: {line} || chr(10)), '')")


def data_yaml(name: str, labels: Sequence[str], splits: Sequence[str] | None) -> str:
    """The dataset file: folders relative to its own (no `path:` key, so Ultralytics reads them from there)."""
    out = [f"# annoflow export of {name}: YOLO detection labels (class cx cy w h, fractions of the image size).",
           "# Folders are relative to this file: without a `path:` key Ultralytics resolves them from here."]
    if splits:
        roles: dict[str, str] = {}
        for s in splits:
            roles.setdefault(YOLO_ROLES.get(s.lower(), s), s)
        out += [f"{role}: {json.dumps(f'images/{s}')}" for role, s in roles.items()]
    else:
        out += ["train: images", "val: images"]
    out += [f"nc: {len(labels)}", "names:"] + [f"  {i}: {json.dumps(label)}" for i, label in enumerate(labels)]
    return "\n".join(out) + "\n"


def write_yolo(src: list[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """`formats/yolo/` (see the module docstring); returns `data.yaml` and the label files, in item_id order."""
    root = out_dir / FORMATS_DIR / _DIR
    files = parquet_list_sql(src)
    written: list[Path] = []
    with reader_connection(cfg.export.memory_limit) as rc:
        has_split = "split" in rc.sql(f"SELECT * FROM {files} LIMIT 0").columns
        split = "split" if has_split else "NULL::VARCHAR"
        cur = rc.execute(f"SELECT item_id, {split} AS split, {file_name_sql('uri')} AS path, uri,"
                         f" {_lines_sql(cfg.labels)} AS text FROM {files} ORDER BY item_id")
        splits: set[str] = set()
        made: set[Path] = set()
        while batch := cur.fetchmany(_BATCH):
            for item_id, part, path, uri, text in batch:
                sub = Path(part) if part is not None else Path()
                if part is not None:
                    splits.add(part)
                labels_dir, images_dir = root / "labels" / sub, root / "images" / sub
                if labels_dir not in made:
                    labels_dir.mkdir(parents=True, exist_ok=True)
                    images_dir.mkdir(parents=True, exist_ok=True)
                    made.add(labels_dir)
                target = labels_dir / f"{item_id}.txt"
                target.write_text(text or "", encoding="utf-8", newline="\n")
                written.append(target)
                if uri and uri.startswith("file://"):
                    link = images_dir / (item_id + Path(path).suffix.lower())
                    if not link.is_symlink():
                        os.symlink(path, link)
    root.mkdir(parents=True, exist_ok=True)
    yaml = root / "data.yaml"
    yaml.write_text(data_yaml(cfg.name, cfg.labels, sorted(splits) if has_split else None), encoding="utf-8", newline="\n")
    return [yaml, *written]
