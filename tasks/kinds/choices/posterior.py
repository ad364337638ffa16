"""What the votes on a choice item say about each label, weighted by how reliable each voter is.

The adjudicator's conflict view shows it beside the answers (tasks/dispatch/conflict.py asks the
consensus facet's `conflict_posterior`). It is the one-coin model (a source with reliability r picks
the true class with probability r, each other class with (1 - r) / (K - 1)), read with the same
reliabilities the view prints beside each answer, so the adjudicator can follow where the numbers come
from. A set is K such present/absent questions. A source nothing is known about counts halfway between
chance and certain; reliabilities are kept inside [0.01, 0.99] so one source can never settle a class alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

__all__ = ["choice_posterior"]

_CLIP = (0.01, 0.99)

_SINGLE = """
WITH v AS (
    SELECT a.item_id, a.answer ->> '$' AS said,
        least(greatest(coalesce(a.reliability, $unknown), $lo), $hi) AS r
    FROM _answers a
),
ll AS (
    SELECT v.item_id, c.label,
        sum(CASE WHEN v.said = c.label THEN ln(v.r) ELSE ln((1 - v.r) / ($k - 1)) END) AS ll,
        count(*) FILTER (WHERE v.said = c.label) AS votes
    FROM v CROSS JOIN _classes c GROUP BY ALL
),
e AS (SELECT item_id, label, votes, exp(ll - max(ll) OVER (PARTITION BY item_id)) AS e FROM ll),
p AS (SELECT item_id, label, votes, e / sum(e) OVER (PARTITION BY item_id) AS p FROM e)
SELECT item_id, CAST(to_json(list({'label': label, 'p': round(p, 4), 'votes': votes} ORDER BY p DESC, label)) AS VARCHAR) AS posterior
FROM p GROUP BY item_id
"""

_MULTI = """
WITH v AS (
    SELECT a.item_id, CAST(a.answer ->> '$[*]' AS VARCHAR[]) AS said,
        least(greatest(coalesce(a.reliability, $unknown), $lo), $hi) AS r
    FROM _answers a
),
ll AS (
    SELECT v.item_id, c.label,
        sum(CASE WHEN list_contains(v.said, c.label) THEN 1 ELSE -1 END * ln(v.r / (1 - v.r))) AS x,
        count(*) FILTER (WHERE list_contains(v.said, c.label)) AS votes
    FROM v CROSS JOIN _classes c GROUP BY ALL
)
SELECT item_id, CAST(to_json(list({'label': label, 'p': round(1 / (1 + exp(-x)), 4), 'votes': votes}
                                  ORDER BY x DESC, label)) AS VARCHAR) AS posterior
FROM ll GROUP BY item_id
"""


def choice_posterior(answers: pa.Table, consensus: pa.Table, labels: Sequence[str], multi: bool) -> pa.Array:
    """`ConsensusFacet.conflict_posterior` for choices: JSON `[{"label", "p", "votes"}]` per consensus row."""
    k = max(len(labels), 2)
    unknown = 0.5 * (1 + 1 / (2 if multi else k))
    with duckdb.connect() as con:
        con.register("_answers", answers.select(["item_id", "answer", "reliability"]))
        con.register("_classes", pa.table({"label": pa.array(list(labels), pa.string())}))
        con.register("_items", consensus.select(["item_id"]).append_column("pos", pa.array(range(consensus.num_rows), pa.int64())))
        params = {"unknown": unknown, "lo": _CLIP[0], "hi": _CLIP[1]} | ({} if multi else {"k": k})
        return con.sql(f"SELECT p.posterior FROM _items i LEFT JOIN ({_MULTI if multi else _SINGLE}) p USING (item_id)"
                       " ORDER BY i.pos", params=params).to_arrow_table()["posterior"].combine_chunks()
