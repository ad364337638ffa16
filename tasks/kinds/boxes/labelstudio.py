"""Boxes in Label Studio: `<RectangleLabels>` over an `<Image>`, and answers to and from LS results.

Label Studio places a rectangle in percentages of the image it shows (`value.x/y/width/height`,
0–100, top-left corner) and records the image's natural size beside it (`original_width`,
`original_height`); annoflow stores pixels of the stored image. Pushing a pre-label therefore needs
the image's size (the item's metadata, recorded at ingest); pulling reads the size from each result.
Rotated rectangles have no place in an axis-aligned answer, so a result with `rotation` ≠ 0 is
refused with its field named rather than stored as a different box.

The control is named "label" and the object "image", the names the Label Studio backend reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

from ..protocol import AnswerError
from ..spans.palette import type_colours
from .geometry import canonical
from .validate import check_boxes, image_size

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FROM_NAME", "TO_NAME", "from_label_studio", "label_studio_config", "to_label_studio"]

FROM_NAME = "label"
TO_NAME = "image"
RESULT_TYPE = "rectanglelabels"
_LS_NAMES = {"x": "x", "y": "y", "w": "width", "h": "height", "label": "rectanglelabels"}


def label_studio_config(cfg: ProjectConfig) -> str:
    """An `<Image>` (zoomable) with a `<RectangleLabels>` control carrying the project's labels and colours."""
    labels = "".join(f"<Label value={quoteattr(label)} background={quoteattr(colour)}/>"
                     for label, colour in zip(cfg.labels, type_colours(cfg.labels)))
    return (f'<View><Image name="{TO_NAME}" value="${TO_NAME}" zoom="true" zoomControl="true"/>'
            f'<RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}" strokeWidth="2">{labels}</RectangleLabels></View>')


def to_label_studio(answer_json: str, cfg: ProjectConfig, payload: str | None = None,
                    metadata: Mapping[str, Any] | str | None = None) -> list[dict[str, Any]]:
    """One answer (JSON form, pixels) as LS `rectanglelabels` results in percent of the image's size,
    which comes from the item's `metadata` (`width`, `height`); without it there is nothing to place."""
    size = image_size(metadata)
    if size is None:
        raise AnswerError("missing_image_size", "metadata: the item's image size (width, height) is not recorded; "
                          "boxes cannot be placed in Label Studio without it", field="metadata")
    width, height = size
    boxes = check_boxes(json.loads(answer_json), cfg.labels, size)
    return [{"id": f"box{i}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": RESULT_TYPE,
             "original_width": int(width), "original_height": int(height), "image_rotation": 0,
             "value": {"x": b["x"] / width * 100, "y": b["y"] / height * 100, "width": b["w"] / width * 100,
                       "height": b["h"] / height * 100, "rotation": 0, "rectanglelabels": [b["label"]]}}
            for i, b in enumerate(boxes)]


def _size_of(res: Mapping[str, Any], where: str) -> tuple[float, float]:
    size = image_size({"width": res.get("original_width"), "height": res.get("original_height")})
    if size is None:
        raise AnswerError("missing_image_size", f"{where}.original_width: the result does not say the image's size "
                          f"(original_width={res.get('original_width')!r}, original_height="
                          f"{res.get('original_height')!r}); its percentages cannot become pixels",
                          field=f"{where}.original_width")
    return size


def from_label_studio(results: Sequence[Mapping[str, Any]], cfg: ProjectConfig,
                      payload: str | None = None) -> list[dict[str, Any]]:
    """The `rectanglelabels` results of one LS annotation (other controls ignored) as one answer in
    pixels (JSON form). A label outside the set is returned as annotated (collect quarantines it).

    Raises `AnswerError` naming the result at fault (`result[2].value.rotation`): a rotated
    rectangle, a result without the image's size, no label, non-numeric or non-positive sizes, a
    rectangle outside the image.
    """
    boxes: list[dict[str, Any]] = []
    for i, res in enumerate(results):
        if res.get("type") != RESULT_TYPE or res.get("from_name") != FROM_NAME:
            continue
        where = f"result[{i}]"
        value = res.get("value") or {}
        rotation = value.get("rotation") or 0
        if not isinstance(rotation, (int, float)) or abs(rotation) > 1e-6:
            raise AnswerError("rotated_box", f"{where}.value.rotation: {rotation!r}°; boxes are axis-aligned, "
                              "undo the rotation in Label Studio and submit again", field=f"{where}.value.rotation")
        width, height = _size_of(res, where)
        labels = value.get("rectanglelabels")
        if not isinstance(labels, list) or not labels:
            raise AnswerError("missing_field", f"{where}.value.rectanglelabels: expected a list of labels, got "
                              f"{labels!r}", field=f"{where}.value.rectanglelabels")
        pct = {k: value.get(k) for k in ("x", "y", "width", "height")}
        bad = [k for k, v in pct.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            raise AnswerError("invalid_box", f"{where}.value.{bad[0]}: expected a percentage, got {pct[bad[0]]!r}",
                              field=f"{where}.value.{bad[0]}")
        box = {"x": pct["x"] / 100 * width, "y": pct["y"] / 100 * height,
               "w": pct["width"] / 100 * width, "h": pct["height"] / 100 * height}
        try:  # each box against its own result's image size
            boxes += check_boxes([{**box, "label": label} for label in labels], None, (width, height), field="box")
        except AnswerError as e:
            def named(text: str, where: str = where) -> str:  # box[0].w -> result[i].value.width
                return re.sub(r"box\[\d+\]\.(\w+)", lambda m: f"{where}.value.{_LS_NAMES.get(m[1], m[1])}", text)
            raise AnswerError(e.code, named(str(e)), field=named(e.field or where)) from None
    return json.loads(canonical(boxes))
