"""The conflict an adjudicator resolves: every answer on the item, whose it is, how far to trust it, and consensus.

Dispatch attaches it to each adjudication task as `context.conflict` (the app shows it in the conflict
view; the shape is in docs/review.md):

    {"answers": [{"source_id", "source_type": "human" | "model" | "lf" | "reviewer", "answer",
                  "reliability": {"value", "low", "high", "n", "metric"}}, ...],
     "consensus": {"answer", "confidence", "method"} | null,
     "posterior": <the kind's `consensus.conflict_posterior`>}

Reliability is the source's score as consensus last measured it (`source_stats`): on gold when it was
scored on gold (`metric` "gold", with its Wilson interval and `n` gold items), else its learned accuracy
(`metric` "learned", `n` its answered items), else its agreement with consensus ("agreement"). Gold
never leaks: the gold table is not read, an adjudicator's earlier answer (it becomes gold) is left
out, and an item whose stored answer is gold or adjudicated shows no consensus. One query per
pushed batch, whatever the number of adjudication tasks in it.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from tasks.kinds.protocol import AnswerKind

__all__ = ["CONTEXT", "conflict_contexts", "conflict_inputs", "with_conflict_context"]

CONTEXT = "context"
"""The task column (`tasks.queues.TASK_SCHEMA`) the conflict travels in, as JSON text."""

_ANSWERS = """
SELECT v.item_id, v.source_id,
    CASE WHEN v.source_kind IN ('human', 'model', 'lf') THEN v.source_kind ELSE 'reviewer' END AS source_type,
    CAST(to_json(v.{col}) AS VARCHAR) AS answer,
    CASE WHEN s.n_gold > 0 THEN s.gold_accuracy ELSE coalesce(s.learned_accuracy, s.agreement_with_consensus) END
        AS reliability,
    CASE WHEN s.n_gold > 0 THEN s.gold_low END AS low,
    CASE WHEN s.n_gold > 0 THEN s.gold_high END AS high,
    CASE WHEN s.n_gold > 0 THEN s.n_gold ELSE s.n_votes END AS n,
    CASE WHEN s.n_gold > 0 THEN 'gold' WHEN s.learned_accuracy IS NOT NULL THEN 'learned'
         WHEN s.agreement_with_consensus IS NOT NULL THEN 'agreement' END AS metric
FROM votes v LEFT JOIN source_stats s USING (source_id)
WHERE v.item_id IN (SELECT item_id FROM _conflict_items) AND v.source_kind <> 'adjudicator' AND v.{col} IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY v.item_id, v.source_id ORDER BY v.created_at DESC, v.vote_id DESC) = 1
ORDER BY v.item_id, CASE source_type WHEN 'human' THEN 0 WHEN 'reviewer' THEN 1 WHEN 'model' THEN 2 ELSE 3 END,
    v.source_id
"""

_CONSENSUS = """
WITH latest AS (
    SELECT item_id, CAST(to_json({col}) AS VARCHAR) AS answer, confidence, method FROM labels
    WHERE item_id IN (SELECT item_id FROM _conflict_items)
    QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY updated_at DESC) = 1
)
SELECT i.item_id, l.answer, l.confidence, l.method
FROM _conflict_items i LEFT JOIN latest l ON l.item_id = i.item_id AND l.method NOT IN ('gold', 'adjudicated')
ORDER BY i.item_id
"""

_ASSEMBLE = """
WITH a AS (
    SELECT item_id, list({'source_id': source_id, 'source_type': source_type, 'answer': json(answer),
        'reliability': {'value': round(reliability, 4), 'low': round(low, 4), 'high': round(high, 4), 'n': n,
                        'metric': metric}} ORDER BY pos) AS answers
    FROM _conflict_answers GROUP BY item_id
)
SELECT c.item_id, CAST(to_json({'conflict': {
        'answers': coalesce(a.answers, []),
        'consensus': CASE WHEN c.answer IS NOT NULL THEN {'answer': json(c.answer), 'confidence': round(c.confidence, 4),
                                                          'method': c.method} END,
        'posterior': json(c.posterior)}}) AS VARCHAR) AS context
FROM _conflict_consensus c LEFT JOIN a USING (item_id)
"""


def conflict_inputs(con: duckdb.DuckDBPyConnection, kind: AnswerKind, item_ids: pa.Array) -> tuple[pa.Table, pa.Table]:
    """The items' current answers (one per source, newest) with their reliabilities, and their consensus rows.

    Read from the state database in two queries whatever the number of items; the tables are the
    inputs of `conflict_contexts` (and of the kind's `conflict_posterior`)."""
    col = kind.storage.column
    con.register("_conflict_items", pa.table({"item_id": pc.unique(item_ids.cast(pa.string()))}))
    try:
        answers = con.sql(_ANSWERS.replace("{col}", col)).to_arrow_table()
        consensus = con.sql(_CONSENSUS.replace("{col}", col)).to_arrow_table()
    finally:
        con.unregister("_conflict_items")
    return answers, consensus


def conflict_contexts(kind: AnswerKind, answers: pa.Table, consensus: pa.Table, labels: list[str]) -> pa.Table:
    """`item_id, context` (JSON text) for each consensus row: pure, over the tables `conflict_inputs` reads."""
    # a kind that has not written its posterior yet still gets the answers and the consensus shown
    of_kind = getattr(kind.consensus, "conflict_posterior", None)
    posterior = of_kind(answers, consensus, labels) if of_kind else pa.nulls(consensus.num_rows, pa.string())
    with duckdb.connect() as con:
        con.register("_conflict_answers", answers.append_column("pos", pa.array(range(answers.num_rows), pa.int64())))
        con.register("_conflict_consensus", consensus.append_column("posterior", posterior))
        return con.sql(_ASSEMBLE).to_arrow_table()


def with_conflict_context(con: duckdb.DuckDBPyConnection, kind: AnswerKind, labels: list[str], tasks: pa.Table) -> pa.Table:
    """`tasks` (`TASK_SCHEMA`) with the `context` of its adjudication tasks filled; others unchanged."""
    adjudication = pc.equal(tasks["kind"], "adjudication")
    if not pc.any(adjudication).as_py():
        return tasks
    answers, consensus = conflict_inputs(con, kind, pc.filter(tasks["item_id"], adjudication))
    contexts = conflict_contexts(kind, answers, consensus, labels)
    by_item = pc.index_in(tasks["item_id"], value_set=contexts["item_id"])
    context = pc.if_else(adjudication, pc.take(contexts[CONTEXT], by_item), tasks[CONTEXT])
    return tasks.set_column(tasks.schema.get_field_index(CONTEXT), CONTEXT, context)
