"""Helpers the structured kinds' consensus facets share when they summarise agreement: a fixed sample of
items (so the summary's cost stops growing with the project and reruns compare like with like) and the
JSON-safe form of a measured value (the summary is stored as JSON, where NaN has no spelling)."""

from __future__ import annotations

import math
from typing import Any

import duckdb
import pyarrow as pa

__all__ = ["json_safe", "stable_sample"]


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
