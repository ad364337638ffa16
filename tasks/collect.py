"""Collect stage: pull judgments after the stored cursor, store the valid ones as human votes, quarantine the rest.

One page of judgments is one transaction: its votes, the sources they name, the assignments they
finish, the quarantined rows and the new cursor commit together or not at all. A crash before
the COMMIT leaves the old cursor, so the same page is pulled again; a crash after it leaves the
new one. Votes are keyed by judgment id (`insert_missing`), so even a cursor reset re-stores
nothing.

A judgment becomes a vote with `vote_id` = judgment id, `source_id = 'human:<annotator_id>'`,
`source_kind = 'human'` (answers to `adjudication` tasks: `adjudicator:<annotator_id>`, kind
`adjudicator`, so aggregators never count an expert's tie-break as one more crowd vote), its
duration, assignment and submit time. Checks, in order (the first failing one is the reason):
`unknown_item`, `unknown_assignment`, `assignment_item_mismatch`, `unknown_annotator` (not known to
the backend), then the answer kind's own check of the answer against its item (`kind.storage.validate`: choices
say `unknown_label`, not in the label set, single-label: exactly one; other kinds their own reason,
e.g. `span_outside_text`; a rejection has no answer to check), `invalid_decision` (a review without accept,
correct or reject), `already_reviewed` (another decision on the same target was stored first),
`duplicate_judgment` (the assignment already has another judgment). Consensus reads the votes; item
states are left alone, except where a reviewer rejects a machine label (`tasks/review/decisions.py`:
review decisions, rework resubmissions and machine-label audits).

Where people can delete an answer (Label Studio; `Retracting` backends), each run first compares
the stored votes of the assignments changed since the cursor with the judgments the backend still
has: a vote whose judgment is gone is retracted (`retract`): removed from `votes`, recorded in
`quarantine` with reason `retracted`, and its assignment is open again, so a new answer to the freed
task is stored as that person's vote instead of being quarantined as a duplicate.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task

from schemas.config import ProjectConfig
from schemas.tables import Judgments, check
from tasks.behaviour.queue_sync import apply_queue_actions
from tasks.comments import pull_comments
from tasks.dispatch.access import backend_for, known_annotators, queue_name
from tasks.kinds import kind_of
from tasks.kinds.protocol import PROBLEM_SCHEMA
from tasks.progress import track
from tasks.queues import QueueBackend
from tasks.queues.base import ANSWER_PROBLEM, Retracting
from tasks.retries import STAGE_TASK
from tasks.review import decisions as review_decisions
from tasks.review.queue import review_queue
from tasks.review.decisions import (
    CLASSIFY_REASON,
    VOTES_FILTER,
    drop_reject_problems,
    record_decisions,
    rework_as_revision,
)
from tasks.store import insert_missing, project_store, record_stage_run, transaction

__all__ = ["REASONS", "answer_problems", "classify", "collect", "collect_task", "read_cursor", "retract", "store_page"]

REASONS = ("unknown_item", "unknown_assignment", "assignment_item_mismatch", "unknown_annotator",
           "<the kind's reason>", "invalid_decision", "already_reviewed", "duplicate_judgment")


def answer_problems(con: duckdb.DuckDBPyConnection, page: pa.Table, cfg: ProjectConfig) -> pa.Table:
    """The kind's check of the page's answers against their items (`kind.storage.validate`).

    Returns `PROBLEM_SCHEMA` rows (`row` indexes `page`); `classify` keeps a judgment's first problem.
    Judgments on unknown items are checked against no item (their `unknown_item` comes first anyway).
    A judgment the backend could not read (`ANSWER_PROBLEM`, e.g. Label Studio regions that do not fit
    the text) has the backend's reason instead, its detail naming item, annotator and field.
    """
    kind = kind_of(cfg)
    answers = pa.table({"item_id": page["item_id"],
                        "source_id": pc.binary_join_element_wise("human:", page["annotator_id"], ""),
                        kind.storage.column: page[kind.storage.column]})
    con.register("_ids", pa.table({"item_id": pc.unique(page["item_id"].combine_chunks())}))
    try:
        items = con.sql("SELECT item_id, payload, metadata::VARCHAR AS metadata FROM items"
                        " WHERE item_id IN (SELECT item_id FROM _ids)").to_arrow_table()
    finally:
        con.unregister("_ids")
    found = kind.storage.validate(answers, items, cfg)
    if ANSWER_PROBLEM not in page.column_names:
        return found
    # The backend could not read these answers at all (`ANSWER_PROBLEM`): its reason is the one kept,
    # and the kind's check of what was received instead is dropped.
    unread = pc.is_valid(page[ANSWER_PROBLEM])
    rows = pc.indices_nonzero(unread)
    said = [orjson.loads(x) for x in page[ANSWER_PROBLEM].filter(unread).to_pylist()]
    item_ids = page["item_id"].take(rows).to_pylist()
    annotators = page["annotator_id"].take(rows).to_pylist()
    backend = pa.table({
        "row": rows.cast(pa.int64()), "item_id": item_ids,
        "source_id": [f"human:{a}" for a in annotators],
        "field": [p.get("field") or "answer" for p in said],
        "reason": [p.get("reason") or "invalid_answer" for p in said],
        "detail": [f"item {i!r}, annotator {a!r}, field {p.get('field') or 'answer'}: {p.get('detail') or ''}"
                   for i, a, p in zip(item_ids, annotators, said)],
    }, schema=PROBLEM_SCHEMA)
    kept = found.filter(pc.invert(pc.is_in(found["row"], value_set=backend["row"])))
    return pa.concat_tables([backend, kept.cast(PROBLEM_SCHEMA)])


_CLASSIFY = """
WITH _page AS (
    SELECT j.* EXCLUDE (_row), pr.reason AS answer_reason, pr.field AS answer_field, pr.detail AS answer_detail
    FROM _page_in j
    LEFT JOIN (SELECT DISTINCT ON ("row") * FROM _problems ORDER BY "row") pr ON pr."row" = j._row
),
page AS (
    SELECT j.*, a.kind AS assignment_kind, a.item_id AS assignment_item, a.assignment_id IS NOT NULL AS known,
        CASE WHEN a.kind = 'adjudication' THEN 'adjudicator:' ELSE 'human:' END || j.annotator_id AS vote_source
    FROM _page j
    LEFT JOIN (SELECT DISTINCT ON (assignment_id) assignment_id, item_id, kind FROM assignments
               WHERE assignment_id IN (SELECT assignment_id FROM _page)) a USING (assignment_id)
),
-- votes already stored for the page's assignments (only human and adjudicator votes carry one)
stored AS (
    SELECT assignment_id, source_id, vote_id, created_at FROM votes
    WHERE source_kind IN ('human', 'adjudicator') AND assignment_id IN (SELECT assignment_id FROM _page)
),
other AS (  -- someone else already answered the assignment
    SELECT p.judgment_id FROM page p JOIN stored s ON s.assignment_id = p.assignment_id
        AND s.source_id <> p.vote_source GROUP BY 1
),
own AS (  -- the same annotator answered it before, under another judgment id: this one may be an edit
    SELECT p.judgment_id, arg_max(s.vote_id, s.created_at) AS own_vote, max(s.created_at) AS own_at
    FROM page p JOIN stored s ON s.assignment_id = p.assignment_id AND s.source_id = p.vote_source
        AND s.vote_id <> p.judgment_id
    GROUP BY 1
)
SELECT p.* EXCLUDE (assignment_item, known, vote_source),
    CASE WHEN p.submitted_at > own.own_at THEN own.own_vote END AS revises,
    coalesce(p.submitted_at <= own.own_at, false) AS superseded,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM items i WHERE i.item_id = p.item_id) THEN 'unknown_item'
        WHEN NOT p.known THEN 'unknown_assignment'
        WHEN p.assignment_item <> p.item_id THEN 'assignment_item_mismatch'
        WHEN $check_annotators AND p.annotator_id NOT IN (SELECT annotator_id FROM _annotators) THEN 'unknown_annotator'
        WHEN p.answer_reason IS NOT NULL THEN p.answer_reason
{review_reasons}        WHEN other.judgment_id IS NOT NULL
          OR (own.own_vote IS NULL
              AND row_number() OVER (PARTITION BY p.assignment_id ORDER BY p.submitted_at, p.judgment_id) > 1)
            THEN 'duplicate_judgment'
    END AS reason
FROM page p
LEFT JOIN other USING (judgment_id)
LEFT JOIN own USING (judgment_id)
""".replace("{review_reasons}", CLASSIFY_REASON)


def classify(con: duckdb.DuckDBPyConnection, page: pa.Table, problems: pa.Table,
             annotators: Sequence[str] | None) -> pa.Table:
    """The page with `assignment_kind` and `reason` (null = valid) against the stored state.

    `problems`: the kind's verdict on the answers (`answer_problems`, `PROBLEM_SCHEMA`, `row` indexing
    `page`); a judgment quarantined for its answer keeps the kind's `answer_field` and `answer_detail`."""
    page = page.append_column("_row", pa.array(np.arange(page.num_rows, dtype=np.int64)))
    con.register("_page_in", page)
    con.register("_problems", problems)
    con.register("_annotators", pa.table({"annotator_id": pa.array(list(annotators or []), pa.string())}))
    try:
        return con.sql(_CLASSIFY, params={"check_annotators": annotators is not None}).to_arrow_table()
    finally:
        con.unregister("_page_in")
        con.unregister("_problems")
        con.unregister("_annotators")


_DETAIL = {**review_decisions.DETAIL,
    "unknown_item": "item_id is not in this project's items",
    "unknown_assignment": "assignment_id was never dispatched by this project",
    "assignment_item_mismatch": "the assignment belongs to another item",
    "unknown_annotator": "annotator is not known to the queue backend",
    "duplicate_judgment": "the assignment already has a judgment",
}
_FIELD = {**review_decisions.FIELD, "unknown_item": "item_id", "unknown_assignment": "assignment_id", "assignment_item_mismatch": "item_id",
          "unknown_annotator": "annotator_id", "duplicate_judgment": "assignment_id"}


def store_page(con: duckdb.DuckDBPyConnection, queue: str, classified: pa.Table, cursor: str | None,
               run_id: str | None = None) -> dict[str, int]:
    """Write one classified page and advance the cursor, in one transaction.

    A valid judgment that `revises` a stored vote (the same annotator edited their answer, e.g. in
    Label Studio) replaces that vote's answer in place; one older than the stored answer
    (`superseded`) changes nothing.
    """
    ok = pc.is_null(classified["reason"])
    valid = classified.filter(pc.and_(ok, pc.and_(pc.is_null(classified["revises"]), pc.invert(classified["superseded"]))))
    edits = classified.filter(pc.and_(ok, pc.is_valid(classified["revises"])))
    bad = classified.filter(pc.invert(ok))
    con.register("_valid", valid)
    con.register("_edits", edits)
    con.register("_bad", bad)
    try:
        with transaction(con):
            votes = con.sql(
                "SELECT judgment_id AS vote_id, item_id,"
                " CASE WHEN assignment_kind = 'adjudication' THEN 'adjudicator:' ELSE 'human:' END || annotator_id AS source_id,"
                " CASE WHEN assignment_kind = 'adjudication' THEN 'adjudicator' ELSE 'human' END AS source_kind,"
                " label, labels, answer::JSON AS answer, assignment_id, duration_ms, submitted_at AS created_at,"
                f" $run AS run_id FROM _valid WHERE {VOTES_FILTER}",
                params={"run": run_id}).to_arrow_table()
            stored = insert_missing(con, "votes", votes, ["vote_id"])
            if edits.num_rows:
                con.execute(  # the replaced answer is kept, the live one stays in `votes`
                    "INSERT INTO superseded_votes BY NAME SELECT v.*, e.judgment_id AS superseded_by, now() AS superseded_at"
                    " FROM votes v JOIN _edits e ON v.vote_id = e.revises").fetchall()
                con.execute(
                    "UPDATE votes SET label = e.label, labels = e.labels, answer = e.answer::JSON, duration_ms = e.duration_ms,"
                    " created_at = e.submitted_at, run_id = $run FROM _edits e WHERE votes.vote_id = e.revises",
                    {"run": run_id}).fetchall()
            con.execute(
                "INSERT INTO sources (source_id, kind, name) SELECT DISTINCT source_id, source_kind, annotator_id"
                " FROM (SELECT CASE WHEN assignment_kind = 'adjudication' THEN 'adjudicator:' ELSE 'human:' END"
                "  || annotator_id AS source_id, CASE WHEN assignment_kind = 'adjudication' THEN 'adjudicator'"
                f"  ELSE 'human' END AS source_kind, annotator_id FROM _valid WHERE {VOTES_FILTER}) ON CONFLICT DO NOTHING").fetchall()
            con.execute(
                "UPDATE assignments SET state = 'done', annotator_id = v.annotator_id, updated_at = now()"
                " FROM _valid v WHERE assignments.assignment_id = v.assignment_id").fetchall()
            decided = record_decisions(con, run_id)
            detail = "CASE reason " + " ".join(f"WHEN '{k}' THEN '{v.replace(chr(39), chr(39) * 2)}'" for k, v in _DETAIL.items()) + " END"
            field = "CASE reason " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _FIELD.items()) + " END"
            con.execute(
                "INSERT INTO quarantine (quarantine_id, stage, source, field, reason, detail, raw)"
                " SELECT md5(concat_ws(chr(31), 'collect', $queue, judgment_id, reason)), 'collect', $queue,"
                f" CASE WHEN reason = answer_reason THEN answer_field ELSE {field} END, reason,"
                f" CASE WHEN reason = answer_reason THEN answer_detail ELSE {detail} END"
                "  || ' (judgment ' || judgment_id || ', annotator ' || annotator_id || ')',"
                " left(to_json(struct_pack(judgment_id := judgment_id, assignment_id := assignment_id, item_id := item_id,"
                "  annotator_id := annotator_id, label := label, labels := labels, answer := answer, duration_ms := duration_ms,"
                "  submitted_at := submitted_at))::VARCHAR, 1000)"
                " FROM _bad ON CONFLICT DO NOTHING", {"queue": queue}).fetchall()
            if cursor is not None:
                con.execute(
                    "INSERT INTO queue_cursors (queue, cursor) VALUES (?, ?) ON CONFLICT (queue) DO UPDATE"
                    " SET cursor = excluded.cursor, updated_at = now()", [queue, cursor]).fetchall()
    finally:
        con.unregister("_valid")
        con.unregister("_edits")
        con.unregister("_bad")
    superseded = classified.num_rows - valid.num_rows - edits.num_rows - bad.num_rows
    rejections = pc.sum(pc.fill_null(pc.equal(valid["decision"], "reject"), False).cast(pa.int64())).as_py() or 0
    return {"stored": stored, "revised": edits.num_rows, "decisions": decided["decisions"],
            "duplicates": valid.num_rows - rejections - stored + superseded, "quarantined": bad.num_rows}


_GONE = """
SELECT v.vote_id, v.item_id, v.source_id, v.assignment_id, v.label, v.labels, v.answer, v.created_at
FROM votes v JOIN _live l USING (assignment_id)
WHERE v.source_kind IN ('human', 'adjudicator')
  AND NOT list_contains(l.judgment_ids, split_part(v.vote_id, '@', 1))
"""


def retract(con: duckdb.DuckDBPyConnection, queue: str, live: pa.Table) -> int:
    """Withdraw the votes of `live`'s assignments whose judgment the backend no longer has (`LIVE_SCHEMA`).

    One transaction: each such vote goes to `quarantine` (reason `retracted`, the vote as `raw`) and
    out of `votes`; an assignment left without a vote is `pushed` again, with no annotator. A
    revision id `<id>@<time>` counts as its `<id>`. Running it twice changes nothing. Returns how
    many votes were retracted.
    """
    if not live.num_rows:
        return 0
    con.register("_live", live)
    try:
        with transaction(con):
            con.execute(f"CREATE OR REPLACE TEMP TABLE _gone AS {_GONE}").fetchall()
            n = con.execute("SELECT count(*) FROM _gone").fetchall()[0][0]
            if n:
                con.execute(
                    "INSERT INTO quarantine (quarantine_id, stage, source, field, reason, detail, raw)"
                    " SELECT md5(concat_ws(chr(31), 'collect', $queue, vote_id, 'retracted')), 'collect', $queue,"
                    " 'judgment_id', 'retracted', 'the judgment was deleted in the queue, so its vote is withdrawn'"
                    " || ' (judgment ' || vote_id || ', source ' || source_id || ')',"
                    " left(to_json(struct_pack(vote_id := vote_id, assignment_id := assignment_id, item_id := item_id,"
                    "  source_id := source_id, label := label, labels := labels, answer := answer,"
                    "  created_at := created_at))::VARCHAR, 1000)"
                    " FROM _gone ON CONFLICT DO NOTHING", {"queue": queue}).fetchall()
                con.execute("DELETE FROM votes WHERE source_kind IN ('human', 'adjudicator')"
                            " AND vote_id IN (SELECT vote_id FROM _gone)").fetchall()
                con.execute(
                    "UPDATE assignments SET state = 'pushed', annotator_id = NULL, updated_at = now()"
                    " WHERE state = 'done' AND assignment_id IN (SELECT assignment_id FROM _gone)"
                    " AND NOT EXISTS (SELECT 1 FROM votes v WHERE v.assignment_id = assignments.assignment_id"
                    "  AND v.source_kind IN ('human', 'adjudicator'))").fetchall()
            con.execute("DROP TABLE _gone").fetchall()
    finally:
        con.unregister("_live")
    return int(n)


def read_cursor(con: duckdb.DuckDBPyConnection, queue: str) -> str | None:
    rows = con.execute("SELECT cursor FROM queue_cursors WHERE queue = ?", [queue]).fetchall()
    return rows[0][0] if rows else None


def lease_expiries(backend: QueueBackend) -> int | None:
    """Leases the queue took back because the annotator did not submit in time, so far (None: the
    backend does not count them)."""
    counts = getattr(backend, "counts", None)
    return counts().get("expired") if callable(counts) else None


def _pull_queue(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, queue: str, backend: QueueBackend,
                cursor: str | None, annotators: Sequence[str] | None, run_id: str, totals: Counter, reasons: Counter,
                bar) -> str | None:
    """Every page of `queue` after `cursor`, each stored in its own transaction; returns the last cursor."""
    limit = cfg.queue.pull_limit
    while True:
        page, nxt = backend.pull(cursor, limit)
        check(page.select(list(Judgments.to_schema().columns)), Judgments, f"collect (page after {cursor!r})")
        page = rework_as_revision(page)
        problems = drop_reject_problems(page, answer_problems(con, page, cfg))
        classified = classify(con, page, problems, annotators)
        counts = store_page(con, queue, classified, nxt, run_id)
        totals.update(counts)
        totals["pulled"] += page.num_rows
        totals["pages"] += 1
        reasons.update(r for r in classified.column("reason").to_pylist() if r)
        bar.advance(page.num_rows)
        cursor = nxt
        if page.num_rows < limit:
            return cursor


def collect(cfg: ProjectConfig, backend: QueueBackend | None = None) -> dict:
    """Pull every judgment after the stored cursor, page by page; returns counts."""
    started = time.time()
    run_id = uuid.uuid4().hex  # stamped on this run's votes, so history measures exactly them
    queue = queue_name(cfg)
    own = backend is None
    backend = backend or backend_for(cfg)
    rq = None
    totals: Counter = Counter()
    reasons: Counter = Counter()
    try:
        # The first pipeline run collects before anything was dispatched: the queue must know the
        # project (an empty one has nothing to pull) rather than refuse it with 404.
        backend.ensure_project(cfg)
        annotators = known_annotators(backend)
        rq = review_queue(cfg, queue, backend)
        with project_store(cfg) as con, \
                track("collect", None) as bar:
            cursor = read_cursor(con, queue)
            start_cursor = cursor
            if isinstance(backend, Retracting):
                totals["retracted"] = retract(con, queue, backend.live_judgments(cursor))
            cursor = _pull_queue(con, cfg, queue, backend, cursor, annotators, run_id, totals, reasons, bar)
            if rq is not None and rq.separate:  # decisions made in the review app of a queue without review
                rq.backend.ensure_project(cfg)
                _pull_queue(con, cfg, rq.name, rq.backend, read_cursor(con, rq.name), known_annotators(rq.backend),
                            run_id, totals, reasons, bar)
            # pauses / resumes / unbans admins made in the queue's dashboard, recorded with their actor
            actions = apply_queue_actions(con, queue, backend)
            comments = pull_comments(con, queue, backend)  # item threads and guideline questions (built-in app)
            report = {"queue": queue, "cursor_from": start_cursor, "cursor_to": cursor, "annotator_actions": actions,
                      **{k: totals.get(k, 0) for k in ("pulled", "stored", "revised", "decisions", "retracted", "duplicates", "quarantined",
                                               "pages")},
                      "quarantined_by_reason": dict(reasons), "seconds": round(time.time() - started, 3)}
            if comments is not None:
                report["comments"] = comments
            expired = lease_expiries(backend)
            if expired is not None:
                report["lease_expiries"] = expired
            record_stage_run(con, "collect", "completed", report, started, cfg=cfg, run_id=run_id)
        return report
    finally:
        if rq is not None and rq.separate:
            rq.backend.close()
        if own:
            backend.close()


@task(name="collect", **STAGE_TASK)
def collect_task(cfg: ProjectConfig) -> dict:
    return collect(cfg)
