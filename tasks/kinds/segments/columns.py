"""The export snapshot's segment columns as DuckDB SQL: typed regions read from stored JSON, the clip's facts,
and the temporal IoU of two typed regions (gold match). Every format and gate check reads these columns.

`segments` is a list of `{start_s, end_s, label, text, confidence, sources}` sorted as `intervals.canonical`
sorts a region set (start_s, end_s, label), so the same stored answer gives the same bytes; `confidence` and
`sources` are each region's lineage as consensus stores it (extra keys of the region in `labels.answer`),
NULL where the stored region has none (an auto-accepted pre-label: the clip's `confidence` and `sources`
stand). A stored answer that is not a JSON list of objects becomes NULL (the gate's `segments_present`
names the item).
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["EXPORT_SEGMENTS_TYPE", "bare_sql", "duration_sql", "file_sql", "iou_sql", "segments_sql"]

EXPORT_SEGMENTS_TYPE = pa.list_(pa.struct([("start_s", pa.float64()), ("end_s", pa.float64()), ("label", pa.string()),
                                           ("text", pa.string()), ("confidence", pa.float64()),
                                           ("sources", pa.list_(pa.string()))]))
"""The snapshot's `segments`: each region in seconds with its text, its confidence and the sources that drew it."""

_FIELDS = "start_s DOUBLE, end_s DOUBLE, label VARCHAR, text VARCHAR, confidence DOUBLE, sources VARCHAR[]"


def segments_sql(json_text: str) -> str:
    """Stored region JSON as the snapshot's sorted typed list (NULL when it is not a JSON list)."""
    typed = f"TRY_CAST(CASE WHEN json_valid({json_text}) THEN {json_text}::JSON END AS STRUCT({_FIELDS})[])"
    return (f"list_sort(list_transform({typed}, lambda r: {{'start_s': r.start_s, 'end_s': r.end_s, 'label': r.label,"
            " 'text': r.text, 'confidence': r.confidence, 'sources': list_sort(r.sources)}))")


def bare_sql(segments: str) -> str:
    """The regions without their lineage: what an answer is when answers are compared (gold, diff)."""
    return f"list_transform({segments}, lambda r: {{'start_s': r.start_s, 'end_s': r.end_s, 'label': r.label}})"


def duration_sql(metadata: str) -> str:
    """`duration_s` recorded at ingest in the item's metadata JSON (NULL when absent or not a number)."""
    return f"TRY_CAST(json_extract({metadata}::VARCHAR, '$.duration_s') AS DOUBLE)"


def file_sql(metadata: str) -> str:
    """The clip's path inside its source folder, recorded at ingest (`file`), NULL when absent."""
    return f"json_extract_string({metadata}::VARCHAR, '$.file')"


def iou_sql(a: str, b: str) -> str:
    """Temporal IoU of two typed regions (0 when they do not overlap), as `regions.corners.corner_iou` computes it."""
    inter = f"greatest(0, least({a}.end_s, {b}.end_s) - greatest({a}.start_s, {b}.start_s))"
    union = f"(({a}.end_s - {a}.start_s) + ({b}.end_s - {b}.start_s) - {inter})"
    return f"CASE WHEN {union} > 0 THEN {inter} / {union} ELSE 0 END"
