"""The release gate's segment checks, as DuckDB SQL over the export rows (`segments`, `duration_s`).

Per row (`row_checks`): the answer present, the clip's duration known (for a clip with regions), every
region with finite times and a label, starting before it ends, inside the clip (up to the same edge
tolerance every stage before applied), a label in the set, a confidence (where recorded) in [0, 1]. The
gate counts violating rows exactly with each predicate; the frame column says which regions broke the rule
(`segments[1]: ends at 12.5 s, past the clip's end (10 s)`), so the report names the item and the field.

Per candidate (`rate_change`): regions per exported clip, per label and over all labels, against the
reference version the label shift is measured against (`part_checks.rate_change`, as boxes do).

Against gold (`gold_correct_sql`): the same regions at temporal IoU >= `match_iou` with the same labels
(`part_checks.same_parts_sql`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..part_checks import per_part, same_parts_sql
from ..part_checks import rate_change as part_rate_change
from ..protocol import FactCheck, RowCheck
from .columns import iou_sql
from .intervals import EDGE_TOLERANCE_S

__all__ = ["MIN_JUDGED_SEGMENTS", "gold_correct_sql", "rate_change", "row_checks"]

MIN_JUDGED_SEGMENTS = 10
"""A label with fewer regions than this in both versions is listed, not judged: too few to tell a change from noise."""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _per_region(name: str, description: str, bad: str, says: str) -> RowCheck:
    """A check on each region `segments[k + 1]`: `bad` and `says` are SQL over `k`."""
    return per_part("segments", name, description, bad, says, sep=": ")


def row_checks(labels: list[str]) -> list[RowCheck]:
    """The per-row segment checks (see the module docstring); each region's fields are read as `segments[k + 1]`."""
    r = "segments[k + 1]"
    tol = EDGE_TOLERANCE_S
    listed = "[" + ", ".join(_literal(x) for x in labels) + "]::VARCHAR[]"
    no_duration = "(duration_s IS NULL OR NOT isfinite(duration_s) OR duration_s <= 0)"
    present = RowCheck("segments_present", "every row has an answer (an empty list means \"no regions\")",
                       "segments IS NULL", "ExpectColumnValuesToNotBeNull", {"column": "segments"})
    duration = RowCheck(
        "clip_duration_known", "every clip with regions has a known duration (recorded at ingest in items.metadata)",
        f"len(segments) > 0 AND {no_duration}", "ExpectColumnValuesToBeNull", {"column": "bad_clip_duration"},
        frame_columns={"bad_clip_duration": f"CASE WHEN len(segments) > 0 AND {no_duration} THEN 'duration_s = '"
                                            " || coalesce(duration_s::VARCHAR, 'unknown') || ': not a recorded clip length' END"})
    formed = _per_region("segments_well_formed", "every region has finite start_s and end_s (no NaN) and a label",
                         f"{r}.start_s IS NULL OR NOT isfinite({r}.start_s) OR {r}.end_s IS NULL OR NOT isfinite({r}.end_s)"
                         f" OR {r}.label IS NULL",
                         f"'start_s, end_s = ' || coalesce({r}.start_s::VARCHAR, 'null') || ', '"
                         f" || coalesce({r}.end_s::VARCHAR, 'null') || ', label ' || coalesce(to_json({r}.label)::VARCHAR, 'null')"
                         " || ': a missing or non-finite field'")
    ordered = _per_region("segment_start_before_end", "every region starts before it ends",
                          f"{r}.end_s <= {r}.start_s",
                          f"'starts at ' || {r}.start_s || ' s and ends at ' || {r}.end_s || ' s'")
    inside = _per_region(
        "segments_inside_clip", f"every region lies inside its clip (ends may overrun by {tol} s of rounding)",
        f"{r}.start_s < -{tol} OR {r}.end_s > duration_s + {tol}",
        f"CASE WHEN {r}.start_s < -{tol} THEN 'starts at ' || {r}.start_s || ' s, before the clip'"
        f" ELSE 'ends at ' || {r}.end_s || ' s, past the clip''s end (' || duration_s || ' s)' END")
    in_set = _per_region("segment_labels_in_set", "every region's label is in the project's label set",
                         f"NOT list_contains({listed}, {r}.label)", f"'label ' || to_json({r}.label) || ' is not in the label set'")
    confident = _per_region("segment_confidence_in_range", "every region's confidence (where recorded) is in [0, 1]",
                            f"{r}.confidence < 0 OR {r}.confidence > 1 OR isnan({r}.confidence)",
                            f"'confidence = ' || {r}.confidence || ' is outside [0, 1]'")
    return [present, duration, formed, ordered, inside, in_set, confident]


def gold_correct_sql(exported: str, gold: str, match_iou: float) -> str:
    """True when the typed region lists `exported` and `gold` match (see the module docstring)."""
    return same_parts_sql(exported, gold, match_iou, iou_sql)


def rate_change(now: Mapping[str, int], n_now: int, reference: Mapping[str, Any] | None, limit: float) -> FactCheck:
    """Regions per clip of each label, and of all labels together, now vs in `reference` (a manifest)."""
    description = f"regions per clip, per label and over all labels, moved at most {limit:.0%} from the reference version"
    return part_rate_change("max_segment_rate_change", description, now, n_now, reference, limit, unit="regions",
                            per="clip", min_judged=MIN_JUDGED_SEGMENTS, all_labels=True)
