"""Helpers the structured kinds' consensus facets share when they summarise agreement: a fixed sample of
items (so the summary's cost stops growing with the project and reruns compare like with like), the
JSON-safe form of a measured value (the summary is stored as JSON, where NaN has no spelling), and the
wording of both in the summary's lines."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import duckdb
import pyarrow as pa

__all__ = ["json_safe", "measure", "sample_note", "stable_sample"]


def stable_sample(items: pa.Array, n: int) -> pa.Array:
    """At most `n` of `items` in the order of a hash of the id: the same items on every run, and any first
    k of them a sample too."""
    with duckdb.connect() as con:
        con.register("_i", pa.table({"item_id": items}))
        return con.sql(f"SELECT item_id FROM _i ORDER BY hash(item_id), item_id LIMIT {int(n)}") \
            .to_arrow_table()["item_id"].combine_chunks()


def json_safe(x: Any) -> Any:
    """`x`, with a float NaN (an undefined measure: no pairs, no gold) as None."""
    return None if isinstance(x, float) and math.isnan(x) else x


def measure(x: float | None) -> str:
    """A measured value as a summary line shows it: three decimals, "-" when it is undefined (None)."""
    return "-" if x is None else f"{x:.3f}"


def sample_note(summary: Mapping, n_key: str = "n_items", unit: str = "items") -> str:
    """" (on a fixed sample of n of N items)" when `summary` (with `of_items` and `n_key`) was measured on a
    `stable_sample` of the items, else ""."""
    of = summary.get("of_items")
    sampled = of and summary.get(n_key, 0) < of
    return f" (on a fixed sample of {summary[n_key]:,} of {of:,} {unit})" if sampled else ""
