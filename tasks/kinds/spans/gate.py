"""The release gate's span checks, as DuckDB SQL over the export rows (`spans`: a sorted list of structs).

Per row (`row_checks`): every answer present and well formed, every span inside its text with
start < end, every type in the label set, overlaps only where `[answer] allow_overlap` says so (an
exact repeat never). The gate counts violating rows exactly with each check's predicate; the frame
column beside it says which spans broke the rule (`spans[2].end = 40 is past the end of the text (13
characters)`), so the report names the item and the field.

Per candidate (`rate_change`): spans per exported item, type by type, against the reference version
the label shift is measured against (its manifest's `label_distribution` and row count).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..part_checks import per_part
from ..part_checks import rate_change as part_rate_change
from ..protocol import FactCheck, RowCheck

__all__ = ["MIN_JUDGED_SPANS", "rate_change", "row_checks"]

MIN_JUDGED_SPANS = 10
"""A type with fewer spans than this in both versions is listed, not judged: too few to tell a change from noise."""


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _per_span(name: str, description: str, bad: str, says: str, first: int = 0) -> RowCheck:
    """A check on each span `spans[k + 1]` (k from `first`): `bad` and `says` are SQL over `k`."""
    return per_part("spans", name, description, bad, says, first)


def row_checks(labels: list[str], allow_overlap: bool) -> list[RowCheck]:
    """The per-row span checks (see the module docstring); each span's fields are read as `spans[k + 1]`."""
    s, prev = "spans[k + 1]", "spans[k]"
    present = RowCheck("spans_present", "every row has an answer (an empty list means \"no entities\")",
                       "spans IS NULL", "ExpectColumnValuesToNotBeNull", {"column": "spans"})
    formed = _per_span("spans_well_formed", "every span has whole-number offsets and a type",
                       f"{s}.start IS NULL OR {s}.\"end\" IS NULL OR {s}.label IS NULL",
                       "' has a missing or non-integer start, end or label'")
    inside = _per_span("spans_inside_text", "every span lies inside its item's text",
                       f"{s}.start < 0 OR {s}.\"end\" > length(payload)",
                       f"CASE WHEN {s}.start < 0 THEN '.start = ' || {s}.start || ' is negative'"
                       f" ELSE '.end = ' || {s}.\"end\" || ' is past the end of the text (' || length(payload) || ' characters)' END")
    ordered = _per_span("spans_start_before_end", "every span has start < end (end is exclusive)",
                        f"{s}.start >= {s}.\"end\"",
                        f"'.end = ' || {s}.\"end\" || ' is not after start ' || {s}.start")
    in_set = _per_span("span_types_in_label_set", "every span's type is in the project's label set",
                       f"NOT list_contains({_sql_list(labels)}, {s}.label)",
                       f"'.label = ' || to_json({s}.label) || ' is not in the label set'")
    # A repeat is the same (start, end, type): the spans' lineage (confidence, sources) is not the answer.
    same = f"({s}.start = {prev}.start AND {s}.\"end\" = {prev}.\"end\" AND {s}.label = {prev}.label)"
    overlap = (same if allow_overlap else f"{s}.start < {prev}.\"end\"")
    overlaps = _per_span(
        "span_overlaps_allowed",
        "no span repeats another" if allow_overlap else "spans do not overlap ([answer] allow_overlap is off)",
        overlap, f"' ' || {s}.start || '-' || {s}.\"end\" || ' ' || to_json({s}.label) || CASE WHEN {same}"
                 f" THEN ' repeats spans[' || (k - 1) || ']' ELSE ' overlaps spans[' || (k - 1) || '] ('"
                 f" || {prev}.start || '-' || {prev}.\"end\" || ')' END", first=1)
    return [present, formed, inside, ordered, in_set, overlaps]


def rate_change(now: Mapping[str, int], n_now: int, reference: Mapping[str, Any] | None, limit: float) -> FactCheck:
    """Spans per item of each type now vs in `reference` (a manifest): the largest relative change.

    Sorted sentences exported later need not look like the first ones, so counts are compared per item;
    a type judged must have `MIN_JUDGED_SPANS` spans in one of the versions. A type that vanishes or
    appears counts as a change of 1 (100%)."""
    description = f"spans per item of each type moved at most {limit:.0%} from the reference version"
    return part_rate_change("max_span_rate_change", description, now, n_now, reference, limit, unit="spans", per="item",
                            min_judged=MIN_JUDGED_SPANS)
