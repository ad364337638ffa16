"""The release gate's box checks, as DuckDB SQL over the export rows (`boxes`, `width`, `height`).

Per row (`row_checks`): the answer present, the image's size known, every box with finite numbers
and a label, a positive width and height, inside the image, a label in the set, a confidence (where
recorded) in [0, 1]. The gate counts violating rows exactly with each predicate; the frame column
says which boxes broke the rule (`boxes[1]: x + w = 130.5 is past the right edge (width 120)`), so
the report names the item and the field.

Per candidate (`rate_change`): boxes per exported image, per label and over all labels, against
the reference version the label shift is measured against (its manifest's distribution and rows).

Against gold (`gold_correct_sql`): an exported image is correct when every gold box has an exported
box of the same label at IoU >= `match_iou` and every exported box has such a gold box, with as many
boxes on both sides (`part_checks.same_parts_sql`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..part_checks import ALL_LABELS, per_part, same_parts_sql
from ..part_checks import rate_change as part_rate_change
from ..protocol import FactCheck, RowCheck
from .columns import iou_sql, labels_sql
from .validate import (
    EDGE_TOLERANCE_PX,  # the gate never holds a box every stage before it accepted
)

__all__ = ["ALL_LABELS", "EDGE_TOLERANCE_PX", "MIN_JUDGED_BOXES", "gold_correct_sql", "rate_change", "row_checks"]

MIN_JUDGED_BOXES = 10
"""A label with fewer boxes than this in both versions is listed, not judged: too few to tell a change from noise."""


def _per_box(name: str, description: str, bad: str, says: str) -> RowCheck:
    """A check on each box `boxes[k + 1]`: `bad` and `says` are SQL over `k` (`boxes[1]: <says>` per bad box)."""
    return per_part("boxes", name, description, bad, says, sep=": ")


def _num(v: str) -> str:
    return f"round({v}, 2)"


def row_checks(labels: list[str]) -> list[RowCheck]:
    """The per-row box checks (see the module docstring); each box's fields are read as `boxes[k + 1]`."""
    b = "boxes[k + 1]"
    tol = EDGE_TOLERANCE_PX
    present = RowCheck("boxes_present", "every row has an answer (an empty list means \"no objects\")",
                       "boxes IS NULL", "ExpectColumnValuesToNotBeNull", {"column": "boxes"})
    size = RowCheck(
        "image_size_known", "every image's width and height are known (recorded at ingest in items.metadata)",
        "width IS NULL OR height IS NULL OR width <= 0 OR height <= 0", "ExpectColumnValuesToBeNull",
        {"column": "bad_image_size"},
        frame_columns={"bad_image_size": "CASE WHEN width IS NULL OR height IS NULL OR width <= 0 OR height <= 0 THEN"
                                          " 'width = ' || coalesce(width::VARCHAR, 'unknown') || ', height = '"
                                          " || coalesce(height::VARCHAR, 'unknown') || ': not a recorded image size' END"})
    finite = " OR ".join(f"{b}.{f} IS NULL OR NOT isfinite({b}.{f})" for f in "xywh")
    formed = _per_box("boxes_well_formed", "every box has finite numbers x, y, w, h (no NaN) and a label",
                      f"{finite} OR {b}.label IS NULL",
                      f"'x, y, w, h = ' || coalesce({b}.x::VARCHAR, 'null') || ', ' || coalesce({b}.y::VARCHAR, 'null')"
                      f" || ', ' || coalesce({b}.w::VARCHAR, 'null') || ', ' || coalesce({b}.h::VARCHAR, 'null')"
                      f" || ', label ' || coalesce(to_json({b}.label)::VARCHAR, 'null') || ': a missing or non-finite field'")
    positive = _per_box("box_size_positive", "every box has a positive width and height",
                        f"{b}.w <= 0 OR {b}.h <= 0",
                        f"'w = ' || {_num(f'{b}.w')} || ', h = ' || {_num(f'{b}.h')} || ': not a positive size'")
    inside = _per_box(
        "boxes_inside_image", f"every box lies inside its image (edges may overrun by {tol} px of rounding)",
        f"{b}.x < -{tol} OR {b}.y < -{tol} OR {b}.x + {b}.w > width + {tol} OR {b}.y + {b}.h > height + {tol}",
        f"CASE WHEN {b}.x < -{tol} THEN 'x = ' || {_num(f'{b}.x')} || ' is left of the image'"
        f" WHEN {b}.y < -{tol} THEN 'y = ' || {_num(f'{b}.y')} || ' is above the image'"
        f" WHEN {b}.x + {b}.w > width + {tol} THEN 'x + w = ' || {_num(f'{b}.x + {b}.w')}"
        f" || ' is past the right edge (width ' || width || ')'"
        f" ELSE 'y + h = ' || {_num(f'{b}.y + {b}.h')} || ' is past the bottom edge (height ' || height || ')' END")
    in_set = _per_box("box_labels_in_set", "every box's label is in the project's label set",
                      f"NOT list_contains({labels_sql(labels)}, {b}.label)",
                      f"'label ' || to_json({b}.label) || ' is not in the label set'")
    confident = _per_box("box_confidence_in_range", "every box's confidence (where recorded) is in [0, 1]",
                         f"{b}.confidence < 0 OR {b}.confidence > 1 OR isnan({b}.confidence)",
                         f"'confidence = ' || {b}.confidence || ' is outside [0, 1]'")
    return [present, size, formed, positive, inside, in_set, confident]


def gold_correct_sql(exported: str, gold: str, match_iou: float) -> str:
    """True when the typed box lists `exported` and `gold` match (see the module docstring)."""
    return same_parts_sql(exported, gold, match_iou, iou_sql)


def rate_change(now: Mapping[str, int], n_now: int, reference: Mapping[str, Any] | None, limit: float) -> FactCheck:
    """Boxes per image of each label, and of all labels together (`ALL_LABELS`), now vs in `reference` (a manifest).

    The largest relative change among judged rows is the observed value; a row is judged when it has
    `MIN_JUDGED_BOXES` boxes in one of the versions. A label that vanishes or appears counts as a change
    of 1 (100%). Per image, so a release that only grows keeps its rates."""
    description = f"boxes per image, per label and over all labels, moved at most {limit:.0%} from the reference version"
    return part_rate_change("max_box_rate_change", description, now, n_now, reference, limit, unit="boxes",
                            per="image", min_judged=MIN_JUDGED_BOXES, all_labels=True)
