"""The release gate's Great Expectations suites, built from the project's `validation` thresholds.

Two suites run on two pandas DataFrames (GE's DuckDB SQL datasource is broken, see STACK-FACTS):

* `rows`: per-row expectations on the candidate rows: every row of a small export, or for a large one
  a hash sample plus every row that violates some check (found by an exact DuckDB scan), so an
  expectation fails exactly when some row of the full candidate violates it.
* `facts`: one row of exact aggregates computed in DuckDB over the whole candidate (missing resolved
  items, mean confidence and agreement, gold accuracy, label shift vs the reference version, which is
  the newest representative version in the lineage: tasks/export/reference.py).

Each check has a stable name (`item_once`, `min_gold_accuracy`, ...) used in reports, manifests and
tests. The checks of the answer itself (present, in the label set, inside the text, ...) and any
aggregate only a kind measures come from the project's kind (`kind_of(cfg).export.row_checks` /
`fact_checks`); the rest is the same for every kind. Great Expectations is imported inside
`build_suite` only: it costs 3-4 s to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.config import ProjectConfig
from schemas.tables import LABEL_METHODS
from tasks.kinds import kind_of

__all__ = ["NOT_NULL_COLUMNS", "CheckSpec", "build_suite", "fact_checks", "row_checks"]

NOT_NULL_COLUMNS = ("kind", "method", "n_votes", "n_human", "sources")


@dataclass(frozen=True)
class CheckSpec:
    """One expectation: `expectation` is the GE class name, `kwargs` its arguments."""

    name: str
    frame: str  # rows | facts
    expectation: str
    kwargs: dict[str, Any]
    description: str
    threshold: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


def row_checks(cfg: ProjectConfig, *, has_split: bool) -> list[CheckSpec]:
    """Per-row expectations on the candidate rows frame."""
    kind = [CheckSpec(c.name, "rows", c.expectation, dict(c.kwargs), c.description, c.threshold)
            for c in kind_of(cfg).export.row_checks(cfg)]
    checks = [
        CheckSpec("item_once", "rows", "ExpectColumnValuesToBeUnique", {"column": "item_id"},
                  "every resolved item appears exactly once (no duplicates)"),
        CheckSpec("item_id_not_null", "rows", "ExpectColumnValuesToNotBeNull", {"column": "item_id"},
                  "every row has an item id"),
        *kind,
        CheckSpec("confidence_not_null", "rows", "ExpectColumnValuesToNotBeNull", {"column": "confidence"},
                  "every row has a confidence"),
        CheckSpec("confidence_in_range", "rows", "ExpectColumnValuesToBeBetween",
                  {"column": "confidence", "min_value": 0.0, "max_value": 1.0}, "confidence is in [0, 1]", threshold=[0, 1]),
        CheckSpec("content_present", "rows", "ExpectColumnValuesToBeInSet", {"column": "has_content", "value_set": [True]},
                  "every row carries its payload or media URI (the item exists)"),
        CheckSpec("method_known", "rows", "ExpectColumnValuesToBeInSet", {"column": "method", "value_set": LABEL_METHODS},
                  "method is auto, an aggregation method, adjudicated or gold", threshold=LABEL_METHODS),
        CheckSpec("agreement_in_range", "rows", "ExpectColumnValuesToBeBetween",
                  {"column": "agreement", "min_value": -1.0, "max_value": 1.0}, "agreement (when measured) is in [-1, 1]"),
    ]
    cols = list(NOT_NULL_COLUMNS) + (["split"] if has_split else [])
    checks += [
        CheckSpec(f"not_null_{c}", "rows", "ExpectColumnValuesToNotBeNull", {"column": c}, f"{c} is never null")
        for c in cols
    ]
    return checks


def fact_checks(cfg: ProjectConfig, facts: dict[str, Any]) -> tuple[list[CheckSpec], dict[str, str]]:
    """Expectations on the one-row facts frame, and the checks skipped with the reason (nothing to measure)."""
    v = cfg.validation
    checks = [
        CheckSpec("resolved_items_present", "facts", "ExpectColumnValuesToBeBetween",
                  {"column": "missing_items", "min_value": 0, "max_value": 0},
                  "every resolved item in the state database is in the export", threshold=0),
        CheckSpec("only_resolved_items", "facts", "ExpectColumnValuesToBeBetween",
                  {"column": "unexpected_items", "min_value": 0, "max_value": 0},
                  "the export holds no item that is not resolved", threshold=0),
        CheckSpec("min_mean_confidence", "facts", "ExpectColumnValuesToBeBetween",
                  {"column": "mean_confidence", "min_value": v.min_mean_confidence},
                  f"mean confidence >= {v.min_mean_confidence}", threshold=v.min_mean_confidence),
    ]
    skipped: dict[str, str] = {}
    if facts.get("n_agreement"):
        checks.append(CheckSpec("min_agreement", "facts", "ExpectColumnValuesToBeBetween",
                                {"column": "mean_agreement", "min_value": v.min_agreement},
                                f"mean agreement >= {v.min_agreement}", threshold=v.min_agreement))
    else:
        skipped["min_agreement"] = "no exported item has a measured agreement"
    if facts.get("gold_n", 0) >= max(v.min_gold_items, 1):
        checks.append(CheckSpec("min_gold_accuracy", "facts", "ExpectColumnValuesToBeBetween",
                                {"column": "gold_accuracy", "min_value": v.min_gold_accuracy},
                                f"accuracy on gold items >= {v.min_gold_accuracy}", threshold=v.min_gold_accuracy))
    else:
        skipped["min_gold_accuracy"] = (
            f"{facts.get('gold_n', 0)} exported item(s) with a gold answer (labels not taken from gold), "
            f"fewer than validation.min_gold_items = {max(v.min_gold_items, 1)}"
        )
    if facts.get("shift_reference") is not None:
        checks.append(CheckSpec("max_label_shift", "facts", "ExpectColumnValuesToBeBetween",
                                {"column": "label_shift", "max_value": v.max_label_shift},
                                f"label distribution shift vs {facts['shift_reference']} (total variation) <= {v.max_label_shift}",
                                threshold=v.max_label_shift))
    elif facts.get("shift_passed_over"):
        skipped["max_label_shift"] = ("no representative version to compare with: "
                                      + "; ".join(facts["shift_passed_over"]))
    else:
        skipped["max_label_shift"] = "no parent version to compare with"
    for k in facts.get("kind_facts", ()):
        if k["observed"] is None:
            skipped[k["name"]] = f"{k['description']}: nothing to measure"
            continue
        bounds = {b: k[b] for b in ("min_value", "max_value") if k[b] is not None}
        checks.append(CheckSpec(k["name"], "facts", "ExpectColumnValuesToBeBetween", {"column": k["name"], **bounds},
                                k["description"], threshold=k["threshold"]))
    return checks, skipped


def build_suite(name: str, checks: list[CheckSpec]) -> Any:
    """A `great_expectations.ExpectationSuite` holding `checks` (each tagged with its check name in meta)."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=name)
    for c in checks:
        cls = getattr(gx.expectations, c.expectation)
        suite.add_expectation(cls(**c.kwargs, meta={"check": c.name, "description": c.description}))
    return suite
