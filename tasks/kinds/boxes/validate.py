"""One box answer checked against its image: the rules every place that accepts boxes applies.

The app's submit (`queue.parse_submission`), Label Studio's pulled results, a predictions file and the
release gate check one answer at a time with `check_boxes`; collect and gold ingest check many answers
at once in DuckDB (`storage.validate`), with the same reason codes and the same tolerance, so a box
the app refuses is quarantined under the same name when it arrives another way.

Rules, in the order they are tried for each box (the first failure is reported):
an object with `x`, `y`, `w`, `h` (finite numbers) and `label` (text) -> `w` and `h` positive ->
inside the image (up to `EDGE_TOLERANCE_PX`) -> label in the project's set -> an optional `score`
in [0, 1]. An empty list is a valid answer ("no objects") and needs no image size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..part_answers import check_list, check_score, fail, number, positive_facts
from .geometry import DECIMALS

__all__ = ["COORDS", "EDGE_TOLERANCE_PX", "PX_MACRO", "check_boxes", "image_size", "px"]

COORDS = ("x", "y", "w", "h")

EDGE_TOLERANCE_PX = 0.5
"""How far a box may reach past the image border and still count as inside: tools that draw in
display pixels and convert back (Label Studio's percentages, a zoomed canvas) round by up to half a
pixel, and refusing those boxes would only teach people to pull their edges in."""


PX_MACRO = "CREATE OR REPLACE TEMP MACRO px(v) AS rtrim(rtrim(printf('%.2f', v), '0'), '.')"
"""DuckDB's spelling of `px`, for messages written in SQL (storage.validate, the COCO reader)."""


def px(value: float) -> str:
    """A pixel coordinate as a message shows it: at most two decimals, no trailing zeros ("192", "60.5")."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def image_size(metadata: Any) -> tuple[float, float] | None:
    """(width, height) in pixels of an item's stored image from its metadata (a dict or JSON text) as
    ingest recorded it; None when either is missing or not a positive finite number."""
    size = positive_facts(metadata, ("width", "height"))
    return None if size is None else (size[0], size[1])


def check_boxes(raw: object, labels: Sequence[str] | None, size: tuple[float, float] | None,
                field: str = "answer", size_required: bool = False) -> list[dict[str, Any]]:
    """The boxes of `raw` (a list of `{x, y, w, h, label[, score]}`) in canonical form: rounded to
    `geometry.DECIMALS` places and sorted by (label, x, y, w, h), as `geometry.canonical` writes them.

    `labels`: the project's labels (None: not checked). `size`: the image's (width, height) in pixels,
    `image_size(item metadata)`; None skips the border check (the app's submit does not know the
    image), unless `size_required`, which refuses any box of an image of unknown size as
    `storage.validate` does. Raises `AnswerError` (a `ValueError`) with the reason code of
    `storage.validate` and the first field at fault, e.g. `answer[2].w`. Keys other than the five and
    `score` are ignored.
    """
    raw = check_list(raw, field, "boxes {x, y, w, h, label}", "no objects")
    if raw and size is None and size_required:
        raise fail("image_size_unknown", field, "the image's size is unknown (ingest records width and height "
                    "from the file), so its boxes cannot be checked")
    known = None if labels is None else set(labels)
    out = []
    for i, box in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(box, dict):
            raise fail("not_a_box", where, f"expected an object {{x, y, w, h, label}}, got {type(box).__name__}")
        for key in (*COORDS, "label"):
            if box.get(key) is None:
                raise fail("missing_field", f"{where}.{key}", f"the box has no {key} (a box is {{x, y, w, h, label}} in pixels)")
        x, y, w, h = (number(box, k, where, "pixels") for k in COORDS)
        label = box["label"]
        if not isinstance(label, str):
            raise fail("label_not_text", f"{where}.label", f"{label!r} is not a text label")
        if w <= 0:
            raise fail("non_positive_size", f"{where}.w", f"width {px(w)} is not positive")
        if h <= 0:
            raise fail("non_positive_size", f"{where}.h", f"height {px(h)} is not positive")
        tol = EDGE_TOLERANCE_PX
        edges = () if size is None else (("x", x, x + w, size[0], "width"), ("y", y, y + h, size[1], "height"))
        for key, lo, hi, limit, axis in edges:
            if lo < -tol or hi > limit + tol:
                part = key if lo < -tol else ("w" if key == "x" else "h")
                raise fail("box_outside_image", f"{where}.{part}",
                            f"the box spans {key} {px(lo)} to {px(hi)}, outside the image's {axis} 0 to {px(limit)} px")
        if known is not None and label not in known:
            raise fail("unknown_label", f"{where}.label", f"{label!r} is not one of this project's labels ({', '.join(labels or ())})")
        clean: dict[str, Any] = {"x": round(x, DECIMALS), "y": round(y, DECIMALS), "w": round(w, DECIMALS),
                                 "h": round(h, DECIMALS), "label": label}
        score = check_score(box, where)
        if score is not None:
            clean["score"] = score
        out.append(clean)
    out.sort(key=lambda b: (b["label"], b["x"], b["y"], b["w"], b["h"]))
    return out
