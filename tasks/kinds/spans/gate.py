"""The release gate's span checks: every exported span well-formed, and span counts per type stable.

The per-span checks reuse the storage facet's validation (one DuckDB query over every answer), so
what the gate refuses is exactly what ingest and collect refuse, with the same messages. Each check
comes back as a dict with the fields of the export gate's `CheckResult` (minus `frame`), so the gate
shows span checks beside its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa

from .storage import validate

__all__ = ["CHECKS", "gate_checks", "span_counts", "type_shift"]

CHECKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "spans_well_formed": ("every answer is a list of spans with whole-number offsets and a text type",
                          ("missing_answer", "malformed_json", "not_a_list", "not_a_span", "missing_field",
                           "non_integer_offset", "label_not_text", "unknown_item")),
    "spans_inside_text": ("every span lies inside its text and cuts no character",
                          ("negative_offset", "span_outside_text", "splits_character")),
    "spans_start_before_end": ("every span has start < end", ("empty_or_reversed_span",)),
    "span_types_in_label_set": ("every span's type is in the label set", ("unknown_label",)),
    "span_overlaps_allowed": ("spans overlap only where [answer] allow_overlap says so; none repeats",
                              ("overlapping_spans", "duplicate_span")),
}
_EXAMPLES = 3


def span_counts(rows: pa.Table) -> dict[str, int]:
    """Spans per type over the rows' answers (what the manifest keeps for the next version's shift check)."""
    with duckdb.connect() as con:
        con.register("_r", rows.select(["answer"]))
        got = con.sql("SELECT e ->> '$.label' AS label, count(*) AS n FROM (SELECT unnest(answer::JSON[]) AS e FROM _r"
                      " WHERE json_valid(answer) AND json_type(answer::JSON) = 'ARRAY') GROUP BY 1 ORDER BY 1").fetchall()
    return {label: int(n) for label, n in got}


def type_shift(current: Mapping[str, int], previous: Mapping[str, int]) -> float:
    """Total-variation distance between two span-type distributions (0: same shares, 1: disjoint)."""
    a, b = sum(current.values()), sum(previous.values())
    if not a or not b:
        return 0.0 if a == b else 1.0
    return 0.5 * sum(abs(current.get(k, 0) / a - previous.get(k, 0) / b) for k in set(current) | set(previous))


def gate_checks(rows: pa.Table, cfg, previous_counts: Mapping[str, int] | None = None) -> list[dict]:
    """The span checks on the export rows (`item_id`, `payload`, `answer`): one dict per check.

    `previous_counts` is `span_counts` of the version the gate compares against (its manifest's
    `spans.span_counts`); without one the shift check is skipped (`success` None).
    """
    items = rows.select(["item_id", "payload"])
    problems = validate(rows.select(["item_id", "answer"]), items, cfg).to_pylist()
    checks = []
    for name, (description, reasons) in CHECKS.items():
        hits = [p for p in problems if p["reason"] in reasons]
        bad_rows = len({p["row"] for p in hits})
        checks.append({"name": name, "description": description, "success": not hits, "observed": bad_rows,
                       "threshold": 0, "unexpected_count": bad_rows,
                       "examples": [{"item_id": p["item_id"], "field": p["field"], "reason": p["reason"], "detail": p["detail"]}
                                    for p in hits[:_EXAMPLES]], "note": ""})
    counts = span_counts(rows)
    limit = cfg.validation.max_label_shift
    shift = {"name": "span_type_shift", "description": f"span counts per type moved at most {limit} (total variation) "
             "from the previous version", "threshold": limit, "unexpected_count": None, "examples": []}
    if previous_counts is None:
        checks.append({**shift, "success": None, "observed": None, "note": "no previous version to compare with"})
    else:
        tv = round(type_shift(counts, previous_counts), 4)
        moved = sorted(set(counts) | set(previous_counts), key=lambda k: -abs(counts.get(k, 0) - previous_counts.get(k, 0)))
        note = "; ".join(f"{k}: {previous_counts.get(k, 0)} -> {counts.get(k, 0)}" for k in moved[:5])
        checks.append({**shift, "success": tv <= limit, "observed": tv, "note": note})
    return checks
