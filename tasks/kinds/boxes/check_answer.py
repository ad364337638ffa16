"""The check of one box answer, shared by the app's submit and the Label Studio conversion.

Pure and cheap (it runs on the app's hot path for every submit). Until the storage facet's own
one-answer check lands, the queue side keeps this minimal one: the browser is not trusted, so the
server checks again what the box tool already enforces.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from ..protocol import AnswerError
from .geometry import DECIMALS, canonical

__all__ = ["check_boxes", "image_size"]

_KEYS = {"x", "y", "w", "h", "label", "score"}
_SLACK = 0.5 * 10 ** -DECIMALS  # rounding to DECIMALS places may push an edge this far out


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AnswerError("invalid_box", f"{where}: expected a number of pixels, got {value!r}", field=where)
    if not math.isfinite(value):
        raise AnswerError("invalid_box", f"{where}: {value!r} is not a finite number", field=where)
    return float(value)


def image_size(metadata: Any) -> tuple[float, float] | None:
    """(width, height) of the stored image from an item's metadata (dict or JSON text), when recorded."""
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return None
    if not isinstance(metadata, dict):
        return None
    w, h = metadata.get("width"), metadata.get("height")
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in (w, h))
    return (float(w), float(h)) if ok else None


def check_boxes(raw: Any, labels: Sequence[str] | None, size: tuple[float, float] | None,
                field: str = "answer") -> list[dict[str, Any]]:
    """`raw` as a box answer in JSON form (rounded, sorted), or `AnswerError` naming the box and field.

    Checks: a list of objects with numeric finite `x, y, w, h`, positive `w` and `h`, a label in
    `labels` (not checked when `labels` is None), inside the image when `size` (width, height) is
    known; `score` only between 0 and 1. `[]` is the answer "no objects".
    """
    if not isinstance(raw, list):
        raise AnswerError("invalid_boxes", f"{field}: expected a list of boxes {{x, y, w, h, label}} ([] for no "
                          f"objects), got {type(raw).__name__}", field=field)
    known = set(labels) if labels is not None else None
    for i, box in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(box, dict):
            raise AnswerError("invalid_box", f"{where}: expected an object {{x, y, w, h, label}}, got {box!r:.60}",
                              field=where)
        extra = sorted(set(box) - _KEYS)
        if extra:
            raise AnswerError("invalid_box", f"{where}.{extra[0]}: unknown field; a box has x, y, w, h, label",
                              field=f"{where}.{extra[0]}")
        for k in ("x", "y", "w", "h", "label"):
            if k not in box:
                raise AnswerError("missing_field", f"{where}.{k}: missing", field=f"{where}.{k}")
        x, y, w, h = (_number(box[k], f"{where}.{k}") for k in ("x", "y", "w", "h"))
        for k, v in (("w", w), ("h", h)):
            if v <= 0:
                raise AnswerError("invalid_box_size", f"{where}.{k}: {v:g} px; a box's width and height must be "
                                  "positive", field=f"{where}.{k}")
        label = box["label"]
        if not isinstance(label, str) or (known is not None and label not in known):
            raise AnswerError("unknown_label", f"{where}.label: {label!r:.60} is not one of {sorted(known or [])}",
                              field=f"{where}.label")
        if box.get("score") is not None:
            s = _number(box["score"], f"{where}.score")
            if not 0 <= s <= 1:
                raise AnswerError("invalid_box", f"{where}.score: {s:g} is not between 0 and 1", field=f"{where}.score")
        if size is not None:
            width, height = size
            for k, lo, hi, lim in (("x", x, x + w, width), ("y", y, y + h, height)):
                if lo < -_SLACK or hi > lim + _SLACK:
                    span = "width" if k == "x" else "height"
                    raise AnswerError("box_outside_image", f"{where}.{k}: the box spans {lo:g}–{hi:g} px, outside the "
                                      f"image's {span} 0–{lim:g} px", field=f"{where}.{k}")
    return json.loads(canonical(raw))
