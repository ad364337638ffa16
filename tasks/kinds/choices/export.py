"""Choices: the export facet (see tasks/kinds/protocol.py, export): one label or a sorted set of labels.

Single- and multi-label differ only in the answer column and in how a set is read (unnested for the
distribution, sorted for comparisons); everything else is this one class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..protocol import ExportWriter, FactCheck, GoldMatch, RowCheck
from . import queue

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["MULTI", "SINGLE"]


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


class _ChoicesExport:
    def __init__(self, multi: bool) -> None:
        self.multi = multi
        self.column = "labels" if multi else "label"

    def select_sql(self, cfg: ProjectConfig, alias: str) -> str:
        # A set is exported sorted: the same labels must give the same bytes (content hash).
        return f"list_sort({alias}.labels) AS labels" if self.multi else f"{alias}.label AS label"

    def arrow_type(self, cfg: ProjectConfig) -> pa.DataType:
        return pa.list_(pa.string()) if self.multi else pa.string()

    def formats(self, cfg: ProjectConfig) -> Mapping[str, ExportWriter]:
        return {}

    def manifest_section(self, cfg: ProjectConfig) -> dict[str, Any]:
        return {}  # the label column and the label list (generic manifest keys) say it all

    def label_studio_config(self, cfg: ProjectConfig) -> str:
        # The config tasks are pushed with: an exported file imports into the same Label Studio project.
        return (queue.MULTI if self.multi else queue.SINGLE).label_studio_config(cfg)

    def label_studio_result_sql(self, cfg: ProjectConfig, data_key: str) -> str:
        chosen = "labels" if self.multi else "[label]"
        return (f"[{{'from_name': 'label', 'to_name': '{data_key}', 'type': 'choices',"
                f" 'value': {{'choices': {chosen}}}}}]")

    def _unknown(self, cfg: ProjectConfig) -> str:
        """The labels of a row's set outside the label set (NULL elements count as unknown)."""
        return f"list_filter(labels, lambda x: x IS NULL OR NOT list_contains({_sql_list(cfg.labels)}, x))"

    def row_checks(self, cfg: ProjectConfig) -> list[RowCheck]:
        col, labels = self.column, list(cfg.labels)
        present = RowCheck("label_not_null", f"every row has a {col}", f"{col} IS NULL",
                           "ExpectColumnValuesToNotBeNull", {"column": col})
        description = "every label is in the project's label set"
        if self.multi:
            # GE cannot look inside a list cell: it checks a column holding each row's unknown labels.
            unknown = self._unknown(cfg)
            in_set = RowCheck(
                "label_in_set", description, f"len({unknown}) > 0", "ExpectColumnValuesToBeNull",
                {"column": "unknown_labels"}, threshold=labels,
                frame_columns={"unknown_labels": f"CASE WHEN len({unknown}) > 0 THEN array_to_string({unknown}, ', ') END"},
            )
        else:
            in_set = RowCheck("label_in_set", description,
                              f"label IS NOT NULL AND NOT list_contains({_sql_list(labels)}, label)",
                              "ExpectColumnValuesToBeInSet", {"column": "label", "value_set": labels}, threshold=labels)
        return [present, in_set]

    def fact_checks(self, con: Any, src: str, cfg: ProjectConfig, reference: Mapping[str, Any] | None) -> list[FactCheck]:
        return []  # the generic label shift (total variation of `distribution_sql`) covers choices

    def distribution_sql(self, cfg: ProjectConfig, src: str) -> str:
        return f"SELECT unnest(labels) AS l FROM {src}" if self.multi else f"SELECT label AS l FROM {src}"

    def gold_match(self, cfg: ProjectConfig) -> GoldMatch:
        col = self.column
        same = f"list_sort(c.{col}) = list_sort(g.{col})" if self.multi else f"c.{col} = g.{col}"
        return GoldMatch(present=f"g.{col} IS NOT NULL", correct=same, exported=f"c.{col}", gold=f"g.{col}")

    def diff_key_sql(self) -> str:
        return "array_to_string(list_sort(labels), '|')" if self.multi else "label"

    def diff_units_sql(self) -> str | None:
        return None

    def evaluate(self, con: Any, cfg: ProjectConfig, truth: pa.Table) -> dict[str, Any]:
        # A multi-label truth cell is a JSON array or labels joined by "|"; a set matches only exactly.
        if self.multi:
            as_set = ("list_sort(CASE WHEN starts_with(trim(t.truth), '[') THEN from_json(t.truth, '[\"VARCHAR\"]')"
                      " ELSE list_transform(string_split(t.truth, '|'), lambda x: trim(x)) END)")
            correct = f"list_sort(l.labels) = {as_set}"
        else:
            correct = "l.label = t.truth"
        con.register("_truth", truth)
        try:
            rows = con.execute(
                f"SELECT coalesce(l.method, '(unresolved)') AS method, count(*) AS n, count(*) FILTER (WHERE {correct}) AS correct"
                " FROM _truth t LEFT JOIN labels l ON l.item_id = t.item_id AND l.decision = 'resolved'"
                " GROUP BY ALL ORDER BY n DESC"
            ).fetchall()
        finally:
            con.unregister("_truth")
        resolved = [(n, c) for m, n, c in rows if m != "(unresolved)"]
        n_res, c_res = sum(n for n, _ in resolved), sum(c for _, c in resolved)
        return {
            "metric": "accuracy",
            "items_with_truth": sum(n for _, n, _ in rows),
            "resolved_with_truth": n_res,
            "accuracy": round(c_res / n_res, 4) if n_res else None,
            "by_method": {m: {"items": n, "accuracy": round(c / n, 4)} for m, n, c in rows},
        }


SINGLE = _ChoicesExport(multi=False)
MULTI = _ChoicesExport(multi=True)
