"""The consensus posterior of an answer made of parts (spans of a text, boxes on an image), for the conflict view.

Consensus already stores, in each part of the item's answer, the part's calibrated `confidence` and the
`sources` that drew it; the adjudicator is shown exactly those, so what they read is what decided.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

__all__ = ["part_posterior"]


def part_posterior(consensus: pa.Table, keys: Sequence[str]) -> pa.Array:
    """One JSON text per consensus row: its answer's parts as `{<keys>, "p", "sources"}`, surest first
    (null where the item has no consensus answer). `keys` are the fields that say what the part is."""
    fields = ", ".join(f"'{k}': x -> '$.{k}'" for k in keys)
    with duckdb.connect() as con:
        con.register("_c", consensus.select(["answer"]).append_column(
            "pos", pa.array(range(consensus.num_rows), pa.int64())))
        return con.sql(f"""
            SELECT CASE WHEN answer IS NOT NULL THEN CAST(to_json(list_sort(
                list_transform(CAST(json(answer) AS JSON[]), lambda x: {{'p': TRY_CAST(x ->> '$.confidence' AS DOUBLE), {fields},
                    'sources': coalesce(CAST(x -> '$.sources' AS VARCHAR[]), [])}}),
                'DESC', 'NULLS LAST')) AS VARCHAR) END AS posterior
            FROM _c ORDER BY pos""").to_arrow_table()["posterior"].combine_chunks()
