"""What one box answer is, and the geometry every facet shares (IoU), vectorised over numpy arrays.

JSON form (what travels between processes and sits in the `answer` column):
`[{"x": 12.0, "y": 30.5, "w": 40.0, "h": 22.0, "label": "car"}, ...]`, pixels of the stored image,
`(x, y)` the top-left corner, sorted by (label, x, y, w, h); `[]` means "no objects". Coordinates
are rounded to `DECIMALS` places so that equal answers have equal JSON text (diffs, hashes).
A machine source may add `"score"` to each box (its confidence in that box); people never do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from ..regions.corners import corner_iou

__all__ = ["BOXES_TYPE", "BOX_TYPE", "DECIMALS", "canonical", "iou_matrix", "iou_pairs", "to_xywh", "to_xyxy"]

DECIMALS = 2

BOX_TYPE = pa.struct([("x", pa.float64()), ("y", pa.float64()), ("w", pa.float64()), ("h", pa.float64()),
                      ("label", pa.string())])
BOXES_TYPE = pa.list_(BOX_TYPE)


def canonical(boxes: Iterable[Mapping[str, Any]]) -> str:
    """The JSON text of a box set: rounded, sorted, only the known keys (`score` kept where given)."""
    out = []
    for b in boxes:
        box = {k: round(float(b[k]), DECIMALS) for k in ("x", "y", "w", "h")}
        box["label"] = str(b["label"])
        if b.get("score") is not None:
            box["score"] = round(float(b["score"]), 4)
        out.append(box)
    out.sort(key=lambda b: (b["label"], b["x"], b["y"], b["w"], b["h"]))
    return json.dumps(out, separators=(",", ":"))


def to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """(n, 4) x, y, w, h -> (n, 4) x1, y1, x2, y2."""
    xywh = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def to_xywh(xyxy: np.ndarray) -> np.ndarray:
    """(n, 4) x1, y1, x2, y2 -> (n, 4) x, y, w, h (the shared region code works on corners)."""
    return np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of `a` (n, 4 as x, y, w, h) with every box of `b` (m, 4): an (n, m) array."""
    a, b = to_xyxy(a), to_xyxy(b)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def iou_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of `a[i]` with `b[i]` for aligned (n, 4) arrays: the hot path of matching across many images."""
    return corner_iou(to_xyxy(a), to_xyxy(b))
