"""What collect does with reviewers' decisions and reworked answers (called inside its page transaction).

- A review judgment (assignment kind `review`) is one `reviews` row. `accept` and `correct` carry an
  answer (the reviewed one, or the correction) and are stored as the reviewer's vote like any answer
  (`human:<reviewer>`, the review assignment), so consensus and gold scoring use them; consensus keeps
  a source's latest vote per item, so a reviewer who also labeled the item counts once. `reject`
  carries no answer and makes no vote: the app gives the annotator a `rework` task at once.
- A rework resubmission (`rework:<reviewed assignment>:<n>`) is read as a new answer to the reviewed
  assignment, so collect's revision rule replaces the annotator's rejected vote; the old vote is kept in
  `superseded_votes`.
- A decision on a machine label (a review of an auto-accepted label, or an audit answered in the
  grid with accept|reject) is an audit of the pre-label: its frozen `prelabels` row is marked
  `route = 'audit'`, so the kind's `prelabel.audited` scores it against the people's resolved answer
  and the calibrated auto-accept thresholds move as with any audit. A reject also takes the item out
  of auto-accept at once: its `auto` label is dropped and it is queued for people (dispatch plans fresh
  label slots; pre-labeling leaves it to them).
Every decision is applied once: `reviews` is keyed by the judgment, and effects follow only new rows.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DECISIONS", "REWORK", "drop_reject_problems", "record_decisions", "rework_as_revision"]

DECISIONS = ("accept", "correct", "reject")
REWORK = r"^rework:(.+):[0-9]+$"


def rework_as_revision(page: pa.Table) -> pa.Table:
    """The page with each rework judgment pointed at the assignment it reworks (`rework:<id>:<n>` → `<id>`)."""
    aid = page["assignment_id"]
    is_rework = pc.match_substring_regex(aid, REWORK)
    if not pc.any(is_rework).as_py():
        return page
    mapped = pc.if_else(is_rework, pc.replace_substring_regex(aid, REWORK, r"\1"), aid)
    return page.set_column(page.schema.get_field_index("assignment_id"), "assignment_id", mapped)


def drop_reject_problems(page: pa.Table, problems: pa.Table) -> pa.Table:
    """The kind's answer problems without those of rejections (a reject has no answer to check)."""
    if "decision" not in page.column_names or not problems.num_rows:
        return problems
    rejected = pc.indices_nonzero(pc.fill_null(pc.equal(page["decision"], "reject"), False))
    return problems.filter(pc.invert(pc.is_in(problems["row"], value_set=rejected.cast(problems.schema.field("row").type))))


CLASSIFY_REASON = """
        WHEN p.assignment_kind = 'review' AND coalesce(p.decision, '') NOT IN ('accept', 'correct', 'reject')
            THEN 'invalid_decision'
        WHEN p.decision IN ('accept', 'correct', 'reject') AND EXISTS (SELECT 1 FROM reviews r
             WHERE r.assignment_id = p.assignment_id AND r.review_id <> p.judgment_id) THEN 'already_reviewed'
"""
"""collect's checks of a decision (SQL CASE branches over its classified page `p`)."""

DETAIL = {"invalid_decision": "a review needs a decision: accept, correct or reject",
          "already_reviewed": "another decision on this target was stored first"}
FIELD = {"invalid_decision": "decision", "already_reviewed": "assignment_id"}

VOTES_FILTER = "coalesce(decision, '') <> 'reject'"
"""Which valid judgments become votes: all but rejections."""

_NEW = """
SELECT v.judgment_id AS review_id,
    CASE WHEN v.assignment_kind = 'review' THEN t.target ELSE 'machine:' || v.item_id || ':' || coalesce(p.run_id, '') END AS target,
    v.item_id,
    CASE WHEN v.assignment_kind = 'review' THEN t.origin ELSE 'machine' END AS origin,
    CASE WHEN v.assignment_kind = 'review' THEN t.source_id ELSE 'machine:' || coalesce(p.combiner, 'prelabel') END AS reviewed_source,
    v.annotator_id AS reviewer, v.decision, v.comment, v.submitted_at AS decided_at, v.judgment_id, v.assignment_id,
    $run AS run_id
FROM _valid v
LEFT JOIN review_targets t ON t.assignment_id = v.assignment_id
LEFT JOIN (SELECT item_id, arg_max(run_id, updated_at) AS run_id, arg_max(combiner, updated_at) AS combiner
           FROM prelabels GROUP BY 1) p ON p.item_id = v.item_id
WHERE ((v.assignment_kind = 'review' AND t.target IS NOT NULL) OR (v.assignment_kind = 'audit' AND v.decision IN ('accept', 'reject')))
  AND v.judgment_id NOT IN (SELECT review_id FROM reviews)
"""


def record_decisions(con: duckdb.DuckDBPyConnection, run_id: str | None) -> dict[str, int]:
    """Store the decisions among collect's valid judgments (registered as `_valid`) and apply the machine-label
    ones; runs inside collect's page transaction. Returns counts of new decisions."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _new_reviews AS {_NEW}", {"run": run_id}).fetchall()
    n = con.execute("INSERT INTO reviews BY NAME SELECT * FROM _new_reviews").fetchall()[0][0]
    if n:
        con.execute("UPDATE prelabels SET route = 'audit' WHERE route IN ('auto', 'audit') AND item_id IN"
                    " (SELECT item_id FROM _new_reviews WHERE origin = 'machine')").fetchall()
        con.execute("DELETE FROM labels WHERE method = 'auto' AND item_id IN"
                    " (SELECT item_id FROM _new_reviews WHERE origin = 'machine' AND decision = 'reject')").fetchall()
        con.execute("UPDATE items SET state = 'queued', audit = false, priority = greatest(coalesce(priority, 0), 1.0)"
                    " WHERE item_id IN (SELECT item_id FROM _new_reviews WHERE origin = 'machine' AND decision = 'reject')"
                    " AND item_id NOT IN (SELECT item_id FROM labels WHERE method <> 'auto')").fetchall()
    counts = dict(con.execute("SELECT origin || '_' || decision, count(*) FROM _new_reviews GROUP BY 1").fetchall())
    con.execute("DROP TABLE _new_reviews").fetchall()
    return {"decisions": int(n), **{k: int(v) for k, v in counts.items()}}
