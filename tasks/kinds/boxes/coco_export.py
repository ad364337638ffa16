"""COCO instances JSON from the export snapshot, written by DuckDB in two streaming passes.

`formats/coco/instances.json` (or one `instances_<split>.json` per split) holds `images` (`id`,
`file_name`, `width`, `height`, plus the item's `item_id`, `confidence` and `method`), `annotations`
(`id`, `image_id`, `category_id`, `bbox` = [x, y, w, h] in pixels, `area`, `iscrowd` = 0, plus each
box's lineage: `score`, its consensus confidence where recorded, and `sources`) and `categories` (the
project's labels in order, ids from 1). `pycocotools.coco.COCO` loads it as it is.

Ids are positions: an image's id is its rank by item_id in the whole snapshot (the same across split
files), an annotation's is its rank by (image, box order); so the same snapshot gives the same bytes.
`file_name` is the image's local path for `file://` items (absolute, so `os.path.join(root, file_name)`
finds it whatever root a training script passes) and the URI otherwise.

Each array is written by one DuckDB `COPY` (one JSON text a line) into a scratch file and the scratch
files are stitched into the final JSON, commas put in a megabyte at a time: memory stays bounded by
DuckDB's limit and no row passes through Python (bench/box_export.py: 1M boxes in 14 s, 0.9 GB peak,
on 2 cores shared with a load average of 15).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.export.writers import FORMATS_DIR, parquet_list_sql, reader_connection

from .columns import labels_sql, literal

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["categories", "file_name_sql", "write_coco"]

_DIR = "coco"


def categories(labels: Sequence[str]) -> list[dict]:
    """COCO categories: one per label, in the project's label order, ids from 1 (0 is background to many tools)."""
    return [{"id": i, "name": label, "supercategory": "object"} for i, label in enumerate(labels, start=1)]


def file_name_sql(uri: str) -> str:
    """A media URI as a COCO `file_name`: the local path of a `file://` URI, any other URI unchanged."""
    return f"CASE WHEN starts_with({uri}, 'file://') THEN url_decode(substr({uri}, 8)) ELSE {uri} END"


def _category_sql(labels: Sequence[str], label: str) -> str:
    """The category id of `label` (NULL for a label outside the set: the gate refuses such a release)."""
    return f"list_position({labels_sql(list(labels))}, {label})"


def _ranked_sql(src: str, where: str) -> str:
    """The snapshot's rows with `image_id` (rank by item_id over the whole snapshot), filtered by `where`."""
    return f"SELECT * FROM (SELECT row_number() OVER (ORDER BY item_id) AS image_id, * FROM {src}) WHERE {where}"


def _lines_sql(obj: str, order: str, source: str) -> str:
    """One JSON text per row of `source`, in `order`: the elements of a JSON array, a line each."""
    return f"SELECT ({obj})::VARCHAR AS j FROM ({source}) ORDER BY {order}"


def _queries(src: str, labels: Sequence[str], where: str) -> dict[str, str]:
    """The `images` and `annotations` arrays' bodies as SELECTs of one JSON text per row, in id order."""
    ranked = _ranked_sql(src, where)
    image = (f"to_json({{'id': image_id, 'file_name': {file_name_sql('uri')}, 'width': width, 'height': height,"
             " 'item_id': item_id, 'confidence': confidence, 'method': method})")
    # json_merge_patch with a null value drops the key: `score` is written only where a box has a confidence.
    ann = (f"json_merge_patch(to_json({{'id': annotation_id, 'image_id': image_id,"
           f" 'category_id': {_category_sql(labels, 'b.label')}, 'bbox': [b.x, b.y, b.w, b.h], 'area': b.w * b.h,"
           " 'iscrowd': 0, 'sources': coalesce(b.sources, [])}), to_json({'score': b.confidence}))")
    boxes = f"SELECT image_id, unnest(boxes) AS b, generate_subscripts(boxes, 1) AS k FROM ({ranked})"
    numbered = f"SELECT *, row_number() OVER (ORDER BY image_id, k) AS annotation_id FROM ({boxes})"
    return {"images": _lines_sql(image, "image_id", ranked), "annotations": _lines_sql(ann, "annotation_id", numbered)}


# One JSON text a line, never quoted: JSON text holds no raw control characters, so \x01 / \x02 never occur in it.
_RAW_LINES = "FORMAT csv, HEADER false, DELIMITER '\x01', QUOTE '\x02', ESCAPE '\x02'"


def write_coco(src: list[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """`formats/coco/instances.json`, or `instances_<split>.json` per split (see the module docstring)."""
    target_dir = out_dir / FORMATS_DIR / _DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    files = parquet_list_sql(src)
    head = {"info": {"description": f"annoflow export of {cfg.name}: boxes in pixels, bbox = [x, y, width, height]"
                     " from the top-left corner", "contributor": "annoflow"},
            "licenses": [], "categories": categories(cfg.labels)}
    out: list[Path] = []
    with reader_connection(cfg.export.memory_limit) as rc:
        has_split = "split" in rc.sql(f"SELECT * FROM {files} LIMIT 0").columns
        splits = [r[0] for r in rc.execute(f"SELECT DISTINCT split FROM {files} ORDER BY 1").fetchall()] if has_split else []
        splits = splits or [None]  # an empty release still has its (empty) file, so the manifest lists the same files
        for split in splits:
            name = "instances.json" if split is None else f"instances_{split}.json"
            where = "true" if split is None else f"split = {literal(split)}"
            parts = []
            for part, sql in _queries(files, cfg.labels, where).items():
                scratch = target_dir / f".{name}.{part}"
                rc.execute(f"COPY ({sql}) TO {literal(scratch)} ({_RAW_LINES})").fetchall()
                parts.append((part, scratch))
            _stitch(target_dir / name, head, parts)
            out.append(target_dir / name)
    return out


def _stitch(target: Path, head: dict, parts: list[tuple[str, Path]]) -> None:
    """`head`'s keys, then each part's array under its name, as one JSON object; the scratch files are removed.

    A scratch file holds one JSON text a line; JSON text has no raw newline, so every newline ends an
    element and becomes a comma-newline except the last: bytes replaced a megabyte at a time."""
    with open(target, "wb") as f:
        f.write(json.dumps(head, separators=(",", ":"))[:-1].encode())
        for part, scratch in parts:
            f.write(f',"{part}":[\n'.encode())
            with open(scratch, "rb") as s:
                held = b""
                while chunk := s.read(1 << 20):
                    f.write(held.replace(b"\n", b",\n"))
                    held = chunk
                f.write(held[:-1].replace(b"\n", b",\n") + held[-1:])
            f.write(b"]")
            scratch.unlink()
        f.write(b"}\n")
