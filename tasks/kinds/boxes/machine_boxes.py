"""Checks on one machine box (a detector's answer or a predictions-file entry) before it becomes a vote.

People's boxes are checked by the storage facet when they are collected; a machine's boxes are checked
here, where the model or file that produced them is known, so the message can name it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["box_problem", "clip_to_image", "image_size"]


def image_size(metadata: Any) -> tuple[float, float] | None:
    """(width, height) recorded at ingest in `items.metadata`, or None when the item has none."""
    if metadata is None:
        return None
    meta = orjson.loads(metadata) if isinstance(metadata, (str, bytes)) else metadata
    w, h = meta.get("width"), meta.get("height")
    return (float(w), float(h)) if isinstance(w, (int, float)) and isinstance(h, (int, float)) else None


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def box_problem(box: Any, labels: Sequence[str], size: tuple[float, float] | None) -> tuple[str, str, str] | None:
    """(field, reason, sentence) of the first thing wrong with `box` (`{x, y, w, h, label, score?}`), or None.

    `size`: the image's (width, height); the box must then lie inside it (None: not checked)."""
    if not isinstance(box, dict):
        return "", "invalid_box", f"is {box!r}, expected {{x, y, w, h, label, score}}"
    for f in ("x", "y", "w", "h"):
        if not _number(box.get(f)):
            return f, "invalid_coordinate", f"is {box.get(f)!r}, expected a finite number"
    if box["w"] <= 0 or box["h"] <= 0:
        f = "w" if box["w"] <= 0 else "h"
        return f, "empty_box", f"is {box[f]!r}: a box needs a positive width and height"
    if box.get("label") not in labels:
        return "label", "unknown_label", f"is {box.get('label')!r}, not one of {list(labels)}"
    s = box.get("score")
    if s is not None and not (_number(s) and 0 <= s <= 1):
        return "score", "invalid_score", f"is {s!r}, expected a number in [0, 1]"
    if size is not None:
        w, h = size
        eps = 0.5  # half a pixel: rounding in the producer's coordinates is not a mistake
        if box["x"] < -eps or box["y"] < -eps or box["x"] + box["w"] > w + eps or box["y"] + box["h"] > h + eps:
            return "bbox", "box_outside_image", (f"[{box['x']}, {box['y']}, {box['w']}, {box['h']}] reaches outside the "
                                                 f"{w:g}x{h:g} image")
    return None


def clip_to_image(boxes: list[dict], size: tuple[float, float] | None) -> list[dict]:
    """Boxes cut to the image (a box left with no area is dropped); unchanged when the size is unknown."""
    if size is None:
        return boxes
    w, h = size
    out = []
    for b in boxes:
        x0, y0 = max(b["x"], 0.0), max(b["y"], 0.0)
        x1, y1 = min(b["x"] + b["w"], w), min(b["y"] + b["h"], h)
        if x1 > x0 and y1 > y0:
            out.append({**b, "x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0})
    return out
