"""Rating answers (JSON text) flattened to one row per rated unit: `item_id, source_id, [source_kind,]
criterion, score`, in one DuckDB query (criterion null for a single score)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import duckdb
import pyarrow as pa

from tasks.consensus.errors import ConsensusError

__all__ = ["flatten"]


def flatten(answers: pa.Table, criteria: Sequence[str], scale: tuple[int, int], who: str = "source") -> pa.Table:
    """`answers` (`item_id`, optional `source_id` / `source_kind`, `answer` JSON text, no nulls) as scores.

    Raises `ConsensusError` naming the item and source of the first answer that is not a rating of this
    project (collect refuses those, so one here means the store was written around it)."""
    cols = [c for c in ("source_id", "source_kind") if c in answers.column_names]
    t = answers.select(["item_id", *cols, "answer"])
    t = pa.table({c: t[c].combine_chunks().cast(pa.string()) for c in t.column_names})
    keep = ", ".join(cols) + ", " if cols else ""
    with duckdb.connect() as con:
        con.register("_a", t)
        con.execute("SET VARIABLE criteria = ?::VARCHAR[]", [list(criteria)])
        if criteria:  # one parse per answer for every criterion's path, unnested side by side with the names
            paths = ", ".join("'$.scores." + json.dumps(c).replace("'", "''") + "'" for c in criteria)
            sql = (f"SELECT item_id, {keep}unnest(getvariable('criteria')) AS criterion,"
                   f" TRY_CAST(unnest(json_extract(answer, [{paths}])) AS DOUBLE) AS score FROM _a")
        else:
            sql = f"SELECT item_id, {keep}NULL::VARCHAR AS criterion, TRY_CAST(json_extract(answer, '$.score') AS DOUBLE) AS score FROM _a"
        out = con.sql(f"SELECT * FROM ({sql}) ORDER BY ALL").to_arrow_table()
        lo, hi = scale
        bad = con.sql(f"SELECT * FROM out WHERE score IS NULL OR score <> round(score) OR score < {lo} OR score > {hi} LIMIT 1").fetchall()
    if bad:
        r = dict(zip(out.column_names, bad[0]))
        where = f", {who} {r['source_id']!r}" if "source_id" in r else ""
        field = "answer.score" if r["criterion"] is None else f"answer.scores.{r['criterion']}"
        raise ConsensusError(f"item {r['item_id']!r}{where}: {field} = {r['score']} is not an integer score on the scale "
                             f"{lo}-{hi}; fix or delete that answer, then run consensus again")
    return out.set_column(out.column_names.index("score"), "score", out["score"].cast(pa.int64()))
