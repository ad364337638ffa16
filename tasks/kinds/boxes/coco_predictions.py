"""A file of existing detections (COCO results JSON) as a model source with a name and a version.

Teams usually already ran a detector; its output is one model's votes like an endpoint's. The entry
`[[prelabel.models]] kind = "predictions"` names:
- `path`: the results, `[{"image_id": 1, "bbox": [x, y, w, h], "score": 0.93, "category_id": 3}, ...]`
  (pycocotools' `loadRes` format; pixels, top-left corner);
- `images`: a COCO JSON whose `images` (`id`, `file_name`, and `width`/`height` where known) say which
  file each `image_id` is, and whose `categories` (`id`, `name`) say which label each `category_id` is;
  `categories` in the entry (`{"3" = "car"}`) adds to or replaces those names;
- `version`: the predictions' version. Votes are stored per version, so importing the same version
  again stores nothing new, and a new version replaces the old one's votes (the stage retires them).

An image of the `images` file is matched to the project item whose file has that `file_name` (the
path's trailing components, or its base name). An image listed there without any entry gets `[]`:
the detector ran and found nothing. An item of no listed image gets no vote.

Bad entries are set aside, the rest stored: an unknown `image_id` or `category_id`, a category outside
the label set, a `bbox` that is not four finite numbers, has no area or reaches outside the image, a
score that is not in [0, 1]. Each is one row of `problems` naming the file, the entry index and the
field; the stage quarantines them (`annoflow status --quarantine`). A file that is not a JSON list, or
an images file without `images`, is refused whole (`InputError`) before anything is stored.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Any, Self
from urllib.parse import unquote, urlparse

import pyarrow as pa

from tasks.errors import InputError

from .geometry import canonical
from .machine_boxes import box_problem, image_size

__all__ = ["PredictionsFile"]


def _load(path: Path, what: str) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)  # the standard parser: NaN and Infinity load, and are then reported per entry
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist; fix `path`/`images` of the model in annoflow.toml") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{what} {path} is not valid JSON: {e}") from None


class PredictionsFile:
    """The votes a predictions file holds for the project's items (the stage's `Model`: `name`, `version`, `close()`)."""

    def __init__(self, mcfg: Any, labels: list[str], root: Path) -> None:
        self.name, self.version, self.labels = mcfg.name, mcfg.version, list(labels)
        self.path = root / mcfg.path
        self.source = mcfg.path  # as the user wrote it: what messages and quarantine rows name
        self.problems: list[dict] = []
        images_path = root / mcfg.images
        meta = _load(images_path, "images file")
        if not isinstance(meta, dict) or not isinstance(meta.get("images"), list):
            raise InputError(f"images file {images_path} needs an `images` list of {{id, file_name}} (a COCO JSON)")
        self.images: dict[Any, tuple[str, tuple[float, float] | None]] = {}
        for k, im in enumerate(meta["images"]):
            if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
                raise InputError(f"images file {images_path}: images[{k}] needs `id` and `file_name`")
            self.images[im["id"]] = (im["file_name"], image_size(im))
        names = {c["id"]: c.get("name") for c in meta.get("categories") or [] if isinstance(c, dict) and "id" in c}
        for key, name in (mcfg.categories or {}).items():
            names[int(key) if key.lstrip("-").isdigit() else key] = name
        self.categories = names
        self._by_file: dict[str, list[tuple[int, dict]]] = {}
        self._read(_load(self.path, "predictions file"))

    def close(self) -> None:
        """Nothing to release: the file was read whole when the source was opened."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _problem(self, row: int | None, field: str, reason: str, detail: str, raw: Any) -> None:
        where = f"entry {row}" if row is not None else "an image"
        self.problems.append({"source": self.source, "source_row": row, "field": field, "reason": reason,
                              "detail": f"{self.source} {where}: {field} {detail}", "raw": json.dumps(raw, default=str)[:500]})

    def _read(self, entries: Any) -> None:
        if not isinstance(entries, list):
            raise InputError(f"predictions file {self.path} is not a COCO results list [{{image_id, bbox, score, category_id}}, ...]")
        per_image: dict[Any, list[tuple[int, dict]]] = defaultdict(list)
        for k, e in enumerate(entries):
            box = self._entry(k, e)
            if box is not None:
                per_image[e["image_id"]].append((k, box))
        for image_id, (file_name, _) in self.images.items():
            self._by_file[str(PurePosixPath(file_name))] = per_image.get(image_id, [])

    def _entry(self, k: int, e: Any) -> dict | None:
        if not isinstance(e, dict):
            self._problem(k, "entry", "invalid_entry", "is not an object {image_id, bbox, score, category_id}", e)
            return None
        if e.get("image_id") not in self.images:
            self._problem(k, "image_id", "unknown_image", f"{e.get('image_id')!r} is not in the images file", e)
            return None
        if e.get("category_id") not in self.categories:
            self._problem(k, "category_id", "unknown_category", f"{e.get('category_id')!r} is not a known category", e)
            return None
        bbox = e.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            self._problem(k, "bbox", "invalid_coordinate", f"is {bbox!r}, expected [x, y, w, h]", e)
            return None
        box = {"x": bbox[0], "y": bbox[1], "w": bbox[2], "h": bbox[3], "label": self.categories[e["category_id"]], "score": e.get("score")}
        if box["score"] is None:
            self._problem(k, "score", "invalid_score", "is missing", e)
            return None
        why = box_problem(box, self.labels, self.images[e["image_id"]][1])
        if why:
            field = {"x": "bbox[0]", "y": "bbox[1]", "w": "bbox[2]", "h": "bbox[3]", "label": "category_id"}.get(why[0], why[0])
            detail = f"{e['category_id']!r} is the label {box['label']!r}, not one of {self.labels}" if why[0] == "label" else why[2]
            self._problem(k, field, why[1], detail, e)
            return None
        return box

    def _lookup(self, uri: str | None) -> list[tuple[int, dict]] | None:
        if not uri:
            return None
        parts = PurePosixPath(unquote(urlparse(uri).path)).parts
        for n in range(len(parts), 0, -1):  # the longest trailing path that names an image of the file
            hit = self._by_file.get(str(PurePosixPath(*parts[-n:])))
            if hit is not None:
                return hit
        return None

    def predict(self, batch: pa.Table) -> pa.Table:
        """`item_id`, `answer` for the items of `batch` the file has an image for; boxes outside the item's
        recorded size are set aside like other bad entries."""
        ids, answers = [], []
        metadata = batch.column("metadata").to_pylist() if "metadata" in batch.column_names else [None] * batch.num_rows
        for item, uri, meta in zip(batch.column("item_id").to_pylist(), batch.column("uri").to_pylist(), metadata):
            found = self._lookup(uri)
            if found is None:
                continue
            size, keep = image_size(meta), []
            for k, box in found:
                why = box_problem(box, self.labels, size)
                if why:
                    self._problem(k, "bbox", why[1], f"{why[2]} (item {item})", {"item_id": item, **box})
                else:
                    keep.append(box)
            ids.append(item)
            answers.append(canonical(keep))
        return pa.table({"item_id": pa.array(ids, pa.string()), "answer": pa.array(answers, pa.string())})
