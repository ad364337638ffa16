"""Reviewers' verdicts per reviewed annotator: how many of their answers were reviewed, accepted, corrected
and rejected, with acceptance and rejection rates and their Wilson intervals (95%).

Read by `annoflow status` and the consensus summary (its artifact), and written to `metric_history`
(scope `source`, subject `human:<id>`) after collect and consensus, so the dashboard can draw them.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from tasks.history.names import REVIEW_ACCEPTANCE, REVIEW_CORRECTED, REVIEW_REJECTION, REVIEWED, SOURCE
from tasks.prelabel.routing import wilson_interval

__all__ = ["review_history", "review_stats"]

_COUNTS = """
SELECT reviewed_source AS source_id, count(*) AS reviewed,
    count(*) FILTER (WHERE decision = 'accept') AS accepted,
    count(*) FILTER (WHERE decision = 'correct') AS corrected,
    count(*) FILTER (WHERE decision = 'reject') AS rejected
FROM reviews WHERE origin = 'human' GROUP BY 1 ORDER BY 1
"""


def review_stats(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """One row per reviewed annotator (`human:<id>`), rates rounded to 4 places."""
    r4 = lambda x: None if x is None else round(x, 4)
    out = []
    for sid, n, acc, cor, rej in con.execute(_COUNTS).fetchall():
        a_lo, a_hi = wilson_interval(acc, n)
        r_lo, r_hi = wilson_interval(rej, n)
        out.append({"source_id": sid, "reviewed": n, "accepted": acc, "corrected": cor, "rejected": rej,
                    "acceptance_rate": r4(acc / n), "acceptance_low": r4(a_lo), "acceptance_high": r4(a_hi),
                    "rejection_rate": r4(rej / n), "rejection_low": r4(r_lo), "rejection_high": r4(r_hi)})
    return out


def review_history(con: duckdb.DuckDBPyConnection, ctx: object = None) -> pa.Table:
    """`metric_history` rows (scope, subject, metric, value, low, high, n) of every reviewed annotator."""
    rows = []
    for s in review_stats(con):
        sid, n = s["source_id"], s["reviewed"]
        rows += [(SOURCE, sid, REVIEWED, float(n), None, None, n),
                 (SOURCE, sid, REVIEW_ACCEPTANCE, s["acceptance_rate"], s["acceptance_low"], s["acceptance_high"], n),
                 (SOURCE, sid, REVIEW_REJECTION, s["rejection_rate"], s["rejection_low"], s["rejection_high"], n),
                 (SOURCE, sid, REVIEW_CORRECTED, float(s["corrected"]), None, None, n)]
    names = ["scope", "subject", "metric", "value", "low", "high", "n"]
    types = [pa.string()] * 3 + [pa.float64()] * 3 + [pa.int64()]
    return pa.table([pa.array([r[i] for r in rows], t) for i, t in enumerate(types)], names=names)
