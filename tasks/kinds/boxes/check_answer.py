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
from .geometry import canonical

__all__ = ["EDGE_TOLERANCE_PX", "check_boxes", "image_size"]

EDGE_TOLERANCE_PX = 0.5
"""How far a box may reach past the image border and still count as inside: a canvas drawn at screen
resolution, or Label Studio's percentages, round by up to half a pixel."""


def _fail(code: str, field: str, message: str) -> AnswerError:
    return AnswerError(code, f"{field}: {message}", field=field)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail("not_a_number", where, f"{value!r} is not a finite number of pixels")
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
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in (w, h))
    return (float(w), float(h)) if ok else None


def check_boxes(raw: Any, labels: Sequence[str] | None, size: tuple[float, float] | None,
                field: str = "answer") -> list[dict[str, Any]]:
    """`raw` as a box answer in JSON form (rounded, sorted), or `AnswerError` naming the box and field.

    Checks: a list of objects with finite numeric `x, y, w, h`, positive `w` and `h`, a text label in
    `labels` (not checked when `labels` is None), inside the image (within `EDGE_TOLERANCE_PX`) when
    `size` (width, height) is known, `score` in [0, 1] where given. `[]` is the answer "no objects".
    Other keys are dropped. Reason codes are those of the storage facet's validation.
    """
    if raw is None:
        raise _fail("missing_answer", field, 'the answer is missing (an empty list [] means "no objects")')
    if not isinstance(raw, list):
        raise _fail("not_a_list", field, "expected a list of boxes {x, y, w, h, label} (an empty list means no "
                    f"objects), got {type(raw).__name__}")
    known = set(labels) if labels is not None else None
    for i, box in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(box, dict):
            raise _fail("not_a_box", where, f"expected an object {{x, y, w, h, label}}, got {type(box).__name__}")
        for k in ("x", "y", "w", "h", "label"):
            if box.get(k) is None:
                raise _fail("missing_field", f"{where}.{k}", f"the box has no {k} (a box is {{x, y, w, h, label}} in pixels)")
        x, y, w, h = (_number(box[k], f"{where}.{k}") for k in ("x", "y", "w", "h"))
        label = box["label"]
        if not isinstance(label, str):
            raise _fail("label_not_text", f"{where}.label", f"{label!r} is not a text label")
        for k, v in (("w", w), ("h", h)):
            if v <= 0:
                raise _fail("non_positive_size", f"{where}.{k}", f"{'width' if k == 'w' else 'height'} {v:g} is not positive")
        if size is not None:
            for k, lo, hi, lim, axis in (("x", x, x + w, size[0], "width"), ("y", y, y + h, size[1], "height")):
                if lo < -EDGE_TOLERANCE_PX or hi > lim + EDGE_TOLERANCE_PX:
                    part = k if lo < -EDGE_TOLERANCE_PX else ("w" if k == "x" else "h")
                    raise _fail("box_outside_image", f"{where}.{part}",
                                f"the box spans {k} {lo:g} to {hi:g}, outside the image's {axis} 0 to {lim:g} px")
        if known is not None and label not in known:
            raise _fail("unknown_label", f"{where}.label", f"{label!r} is not one of this project's labels "
                        f"({', '.join(labels or ())})")
        if box.get("score") is not None:
            s = _number(box["score"], f"{where}.score")
            if not 0 <= s <= 1:
                raise _fail("score_out_of_range", f"{where}.score", f"score {s:g} is not a probability in [0, 1]")
    return json.loads(canonical(raw))
