"""The export snapshot's box columns as DuckDB SQL: typed boxes read from stored JSON, the image's size,
and the IoU of two typed boxes (gold match). Every format and gate check reads these columns.

`boxes` is a list of `{x, y, w, h, label, confidence, sources}` sorted as `geometry.canonical` sorts a
box set (label, x, y, w, h), so the same stored answer gives the same bytes; `confidence` and `sources`
are each box's lineage as consensus stores it (extra keys of the box in `labels.answer`), NULL where
the stored box has none (an auto-accepted pre-label: the image's `confidence` and `sources` stand).
A stored answer that is not a JSON list of objects becomes NULL (the gate's `boxes_present` names the
item); a coordinate that is not a number stays a NULL field (`boxes_well_formed`).
"""

from __future__ import annotations

import pyarrow as pa

from .geometry import BOX_TYPE

__all__ = ["EXPORT_BOXES_TYPE", "SIZE_TYPE", "bare_sql", "boxes_sql", "iou_sql", "labels_sql", "literal", "size_sql"]

EXPORT_BOXES_TYPE = pa.list_(pa.struct([*BOX_TYPE, ("confidence", pa.float64()), ("sources", pa.list_(pa.string()))]))
"""The snapshot's `boxes`: each box in pixels with its confidence and the sources that proposed it."""
SIZE_TYPE = pa.int32()
"""The snapshot's `width` and `height`: the stored image's size in pixels (from `items.metadata`)."""

_FIELDS = "x DOUBLE, y DOUBLE, w DOUBLE, h DOUBLE, label VARCHAR, confidence DOUBLE, sources VARCHAR[]"


def boxes_sql(json_text: str) -> str:
    """Stored box JSON as the snapshot's sorted typed list (NULL when it is not a JSON list)."""
    typed = f"TRY_CAST(CASE WHEN json_valid({json_text}) THEN {json_text}::JSON END AS STRUCT({_FIELDS})[])"
    # Sorted on a label-first struct (list_sort orders structs field by field), then put back in x, y, w, h order.
    keyed = (f"list_sort(list_transform({typed}, lambda b: {{'label': b.label, 'x': b.x, 'y': b.y, 'w': b.w, 'h': b.h,"
             " 'confidence': b.confidence, 'sources': list_sort(b.sources)}))")
    return (f"list_transform({keyed}, lambda b: {{'x': b.x, 'y': b.y, 'w': b.w, 'h': b.h, 'label': b.label,"
            " 'confidence': b.confidence, 'sources': b.sources})")


def bare_sql(boxes: str) -> str:
    """The boxes without their lineage: what an answer is when answers are compared (gold, diff)."""
    return f"list_transform({boxes}, lambda b: {{'x': b.x, 'y': b.y, 'w': b.w, 'h': b.h, 'label': b.label}})"


def size_sql(metadata: str, side: str) -> str:
    """`width` or `height` recorded at ingest in the item's metadata JSON (NULL when absent or not a number)."""
    return f"TRY_CAST(TRY_CAST(json_extract({metadata}::VARCHAR, '$.{side}') AS DOUBLE) AS INTEGER)"


def iou_sql(a: str, b: str) -> str:
    """IoU of two typed boxes (0 when they do not overlap), as `geometry.iou_pairs` computes it."""
    ix = f"greatest(0, least({a}.x + {a}.w, {b}.x + {b}.w) - greatest({a}.x, {b}.x))"
    iy = f"greatest(0, least({a}.y + {a}.h, {b}.y + {b}.h) - greatest({a}.y, {b}.y))"
    union = f"({a}.w * {a}.h + {b}.w * {b}.h - {ix} * {iy})"
    return f"CASE WHEN {union} > 0 THEN {ix} * {iy} / {union} ELSE 0 END"


def literal(text: object) -> str:
    """A SQL string literal of `text` (a label, a split, a path)."""
    return "'" + str(text).replace("'", "''") + "'"


def labels_sql(labels: list[str] | tuple[str, ...]) -> str:
    """The project's labels as a typed SQL list (`list_contains`, `list_position` read it)."""
    return "[" + ", ".join(literal(x) for x in labels) + "]::VARCHAR[]"
