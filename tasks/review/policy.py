"""The review policy (`[review]`): which answers go to a reviewer, as one DuckDB query over state.

Targets, each picked once (`review_targets` is keyed by target, and the query skips stored ones):
- `new_annotator`: each annotator's first `new_annotator_items` answers (by submit time), all of them;
- `below_confidence`: for an item whose latest consensus label (not auto, gold or adjudicated, not sent
  to adjudication) is less confident than `below_confidence`, one of its human answers (the smallest
  draw); an item is picked this way once;
- `share`: each human answer whose draw is below `share`, so every annotator has that share of their
  work reviewed (a binomial count, independent of what they answered);
- `machine_share`: each auto-accepted machine label (not already audited) whose draw is below it.
A draw is uniform on [0, 1): the upper 64 bits of md5(target, seed). Human answers are the votes of
label, gold and audit assignments (a review's own vote is never reviewed). Gold items may be reviewed
(that scores the reviewer on gold without telling them), but the task shows the reviewed answer, never
the gold answer. Nobody who answered the item (the reviewed annotator included) may take the task.
"""

from __future__ import annotations

import duckdb

from schemas.config import ProjectConfig
from tasks.kinds import kind_of

__all__ = ["PICKED", "REASONS", "commit_reviews", "pick_reviews", "plan_reviews"]

PICKED = "_review_picked"
REASONS = ("new_annotator", "below_confidence", "share", "machine_share")

_DRAW = "(md5_number_upper(concat_ws(chr(31), {x}, $seed::VARCHAR))::DOUBLE / 18446744073709551616.0)"

_PICK = """
WITH kinds AS (SELECT DISTINCT ON (assignment_id) assignment_id, kind FROM assignments),
hv AS (  -- every person's answer to a label, gold or audit task
    SELECT v.vote_id, v.item_id, v.source_id, v.assignment_id, v.created_at, CAST(to_json(v.{col}) AS VARCHAR) AS answer,
        row_number() OVER (PARTITION BY v.source_id ORDER BY v.created_at, v.vote_id) AS nth,
        {draw_vote} AS u
    FROM votes v JOIN kinds k USING (assignment_id)
    WHERE v.source_kind = 'human' AND k.kind IN ('label', 'gold', 'audit') AND v.{col} IS NOT NULL
),
latest AS (
    SELECT item_id, confidence, method, decision, {col} AS ans, run_id FROM labels
    QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY updated_at DESC) = 1
),
low AS (
    SELECT hv.*, 'below_confidence' AS reason FROM hv JOIN latest l USING (item_id)
    WHERE l.confidence < $below AND l.method NOT IN ('auto', 'gold', 'adjudicated')
      AND l.decision <> 'adjudicate'
      AND item_id NOT IN (SELECT item_id FROM review_targets WHERE reason = 'below_confidence')
    QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY u, vote_id) = 1
),
human AS (
    SELECT *, CASE WHEN nth <= $first_n THEN 'new_annotator' ELSE 'share' END AS reason FROM hv
    WHERE nth <= $first_n OR u < $share
    UNION ALL BY NAME SELECT * FROM low
),
machine AS (
    SELECT 'machine:' || l.item_id || ':' || coalesce(l.run_id, '') AS target, l.item_id, 'machine' AS origin,
        'machine:' || coalesce(p.combiner, 'prelabel') AS source_id, NULL::VARCHAR AS reviewed_assignment,
        'machine_share' AS reason, CAST(to_json(l.ans) AS VARCHAR) AS answer
    FROM latest l JOIN items i USING (item_id)
    LEFT JOIN (SELECT item_id, any_value(combiner) AS combiner FROM prelabels GROUP BY 1) p USING (item_id)
    WHERE $machine_share > 0 AND l.method = 'auto' AND i.state = 'auto_accepted' AND NOT coalesce(i.audit, false)
      AND l.ans IS NOT NULL
      AND item_id NOT IN (SELECT item_id FROM gold)
      AND {draw_machine} < $machine_share
),
picked AS (
    SELECT vote_id AS target, item_id, 'human' AS origin, source_id, assignment_id AS reviewed_assignment, reason, answer
    FROM human
    UNION ALL BY NAME SELECT * FROM machine
),
voters AS (
    SELECT item_id, list(DISTINCT substr(source_id, 7) ORDER BY substr(source_id, 7)) AS who FROM votes
    WHERE source_kind = 'human' AND starts_with(source_id, 'human:') GROUP BY 1
)
SELECT DISTINCT ON (p.target) p.target, p.item_id, p.origin, p.source_id, p.reviewed_assignment, p.reason,
    md5(concat_ws(chr(31), p.target, 'review')) AS assignment_id, coalesce(i.priority, 0.0)::DOUBLE AS priority,
    json_object('review', json_object(
        'target', p.target,
        'source_id', CASE WHEN p.origin = 'human' THEN substr(p.source_id, 7) ELSE p.source_id END,
        'origin', p.origin, 'answer', p.answer::JSON, 'assignment_id', p.reviewed_assignment)) AS context,
    coalesce(w.who, []::VARCHAR[]) AS exclude_annotators
FROM picked p
JOIN items i USING (item_id)
LEFT JOIN voters w USING (item_id)
WHERE p.target NOT IN (SELECT target FROM review_targets)
ORDER BY p.target, CASE p.reason WHEN 'new_annotator' THEN 0 WHEN 'below_confidence' THEN 1 ELSE 2 END
"""


def pick_reviews(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, *, enabled: bool = True) -> int:
    """This run's new review targets (policy above) into the temp table `PICKED`; returns how many.

    Read-only over state; the rows carry the review assignment's id, priority, the task's context
    (`{"review": {target, source_id, origin, answer, assignment_id}}`, the answer in the kind's JSON
    form) and who must not take it.
    """
    r = cfg.review
    col = kind_of(cfg).storage.column
    sql = (_PICK.replace("{col}", col)
           .replace("{draw_vote}", _DRAW.format(x="v.vote_id"))
           .replace("{draw_machine}", _DRAW.format(x="'machine:' || l.item_id || ':' || coalesce(l.run_id, '')")))
    if not (enabled and r.enabled):
        sql = f"SELECT * FROM ({sql}) LIMIT 0"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {PICKED} AS {sql}",
                {"seed": r.seed, "share": r.share, "first_n": r.new_annotator_items, "below": r.below_confidence or -1.0,
                 "machine_share": r.machine_share}).fetchall()
    return int(con.execute(f"SELECT count(*) FROM {PICKED}").fetchall()[0][0])


def plan_reviews(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, queue: str | None, plan: str) -> int:
    """Pick targets and add one `review` assignment per target, in `queue`, to dispatch's plan (the temp table
    `plan`, `tasks.dispatch.plan.ASSIGNMENT_COLUMNS`); nothing when there is no queue to review in
    (`tasks.review.queue.review_queue` is None)."""
    n = pick_reviews(con, cfg, enabled=queue is not None)
    if n:
        con.execute(
            f"INSERT INTO {plan} SELECT assignment_id, item_id, $queue, 'review', 0, 0, priority, 'pending', NULL"
            f" FROM {PICKED}", {"queue": queue}).fetchall()
    return n


def commit_reviews(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> int:
    """Store the picked targets and their tasks' contexts (inside dispatch's transaction); returns how many."""
    n = con.execute(
        "INSERT INTO review_targets (target, item_id, origin, source_id, reviewed_assignment, reason, assignment_id, run_id)"
        f" SELECT target, item_id, origin, source_id, reviewed_assignment, reason, assignment_id, $run FROM {PICKED}"
        " ON CONFLICT DO NOTHING", {"run": run_id}).fetchall()[0][0]
    con.execute(
        "INSERT INTO task_contexts (assignment_id, context, exclude_annotators)"
        f" SELECT assignment_id, context, exclude_annotators FROM {PICKED} ON CONFLICT DO NOTHING").fetchall()
    con.execute(f"DROP TABLE IF EXISTS {PICKED}").fetchall()
    return int(n)
