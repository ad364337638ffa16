"""Collect turns review decisions into `reviews` rows, reviewer votes and audits; a rework replaces the rejected
vote (the old one kept); a rejected machine label goes back to people and counts as an audit. Real DuckDB file;
the judgments are pulled from a table-backed queue shaped like the app's pull (the loop through the real app is
tests/review/test_review_loop.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasks.collect import collect
from tasks.dispatch.plan import plan_work
from tasks.kinds import kind_of
from tasks.prelabel.routing import wilson_interval
from tasks.status import collect_status
from tasks.store import open_store
from tests.judgment_pages import JudgmentPages
from tests.review.state import auto_accepted, labelled_work

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class _Pages(JudgmentPages):
    """Judgments added one by one, each submitted a minute after the one before."""

    def add(self, **row) -> dict:
        row.setdefault("judgment_id", f"j{len(self.rows) + 100}")
        row.setdefault("client_id", row["judgment_id"])
        row.setdefault("submitted_at", T0 + timedelta(minutes=len(self.rows) + 1))
        if "label" in row and "labels" not in row:
            row["labels"] = None if row["label"] is None else [row["label"]]
        self.rows.append(row)
        return row


def _review_target(con, vote_id: str, assignment: str) -> None:
    """What dispatch leaves for a picked human answer: the target and its review assignment."""
    item, source, reviewed = con.execute("SELECT item_id, source_id, assignment_id FROM votes WHERE vote_id = ?",
                                         [vote_id]).fetchall()[0]
    con.execute("INSERT INTO review_targets (target, item_id, origin, source_id, reviewed_assignment, reason, assignment_id)"
                " VALUES (?, ?, 'human', ?, ?, 'share', ?)", [vote_id, item, source, reviewed, assignment]).fetchall()
    con.execute("INSERT INTO assignments (assignment_id, item_id, queue, kind, round, slot, state)"
                " VALUES (?, ?, 'q', 'review', 0, 0, 'pushed')", [assignment, item]).fetchall()


def _q(cfg, sql, params=None):
    with open_store(cfg.db_path) as con:
        return con.execute(sql, params or []).fetchall()


def test_decisions_become_reviews_and_reviewer_votes_once(make_project):
    cfg = make_project(review={"share": 1.0})
    items = labelled_work(cfg, ["ann"], 3)
    with open_store(cfg.db_path) as con:
        for k in range(3):
            _review_target(con, f"j-{k}", f"rv-{k}")
        answers = dict(con.execute("SELECT vote_id, label FROM votes").fetchall())
    other = {"ham": "spam", "spam": "ham"}
    q = _Pages(["ann", "rex", "roy"])
    q.add(judgment_id="d0", assignment_id="rv-0", item_id=items[0], annotator_id="rex", label=answers["j-0"],
          task_kind="review", decision="accept", target="j-0")
    q.add(judgment_id="d1", assignment_id="rv-1", item_id=items[1], annotator_id="rex", label=other[answers["j-1"]],
          task_kind="review", decision="correct", comment="it is the other one", target="j-1")
    q.add(judgment_id="d2", assignment_id="rv-2", item_id=items[2], annotator_id="rex", label=None, labels=None,
          task_kind="review", decision="reject", comment="read it again", target="j-2")
    report = collect(cfg, q)
    assert report["decisions"] == 3 and report["quarantined"] == 0
    # a later decision on a target already decided (another reviewer): refused, nothing applied
    q.add(judgment_id="d3", assignment_id="rv-2", item_id=items[2], annotator_id="roy", label=answers["j-2"],
          task_kind="review", decision="accept", target="j-2")
    late = collect(cfg, q)
    assert late["decisions"] == 0 and late["quarantined_by_reason"] == {"already_reviewed": 1}
    rows = _q(cfg, "SELECT review_id, target, origin, reviewed_source, reviewer, decision, comment FROM reviews ORDER BY 1")
    assert rows == [("d0", "j-0", "human", "human:ann", "rex", "accept", None),
                    ("d1", "j-1", "human", "human:ann", "rex", "correct", "it is the other one"),
                    ("d2", "j-2", "human", "human:ann", "rex", "reject", "read it again")]
    votes = _q(cfg, "SELECT vote_id, item_id, source_id, source_kind, label FROM votes WHERE source_id = 'human:rex' ORDER BY 1")
    assert votes == [("d0", items[0], "human:rex", "human", answers["j-0"]),
                     ("d1", items[1], "human:rex", "human", other[answers["j-1"]])]  # a reject makes no vote
    assert _q(cfg, "SELECT count(*) FROM assignments WHERE kind = 'review' AND state = 'done'") == [(3,)]
    # the reviewed annotator's figures: in status and in history (scope source) for the dashboard
    with open_store(cfg.db_path) as con:
        [stats] = collect_status(con, kind_of(cfg).consensus)["review"]
    lo, hi = wilson_interval(1, 3)
    assert stats == {"source_id": "human:ann", "reviewed": 3, "accepted": 1, "corrected": 1, "rejected": 1,
                     "acceptance_rate": 0.3333, "acceptance_low": round(lo, 4), "acceptance_high": round(hi, 4),
                     "rejection_rate": 0.3333, "rejection_low": round(lo, 4), "rejection_high": round(hi, 4)}
    assert _q(cfg, "SELECT DISTINCT metric, value, n FROM metric_history WHERE scope = 'source' AND subject = 'human:ann'"
                   " AND metric LIKE 'review%' ORDER BY metric") == [
        ("review_acceptance", 0.3333, 3), ("review_corrected", 1.0, 3), ("review_rejection", 0.3333, 3), ("reviewed", 3.0, 3)]
    # a second collect (even from the start) applies nothing again
    with open_store(cfg.db_path) as con:
        con.execute("DELETE FROM queue_cursors").fetchall()
    again = collect(cfg, q)
    assert again["decisions"] == 0 and again["stored"] == 0
    assert _q(cfg, "SELECT count(*) FROM reviews") == [(3,)]
    assert _q(cfg, "SELECT count(*) FROM votes WHERE source_id = 'human:rex'") == [(2,)]


def test_rework_resubmission_replaces_the_rejected_vote_and_keeps_the_old_one(make_project):
    cfg = make_project(review={"share": 1.0})
    [item] = labelled_work(cfg, ["ann"], 1)
    with open_store(cfg.db_path) as con:
        _review_target(con, "j-0", "rv-0")
        old, reviewed = con.execute("SELECT label, assignment_id FROM votes WHERE vote_id = 'j-0'").fetchall()[0]
    fixed = {"ham": "spam", "spam": "ham"}[old]
    q = _Pages(["ann", "rex"])
    q.add(judgment_id="d0", assignment_id="rv-0", item_id=item, annotator_id="rex", label=None, labels=None,
          task_kind="review", decision="reject", comment="no", target="j-0")
    collect(cfg, q)
    assert _q(cfg, "SELECT label FROM votes WHERE vote_id = 'j-0'") == [(old,)]  # counts until it is reworked
    q.add(judgment_id="w1", assignment_id=f"rework:{reviewed}:1", item_id=item, annotator_id="ann", label=fixed,
          task_kind="rework", decision="resubmit")
    report = collect(cfg, q)
    assert report["revised"] == 1 and report["quarantined"] == 0
    assert _q(cfg, "SELECT vote_id, label, assignment_id FROM votes WHERE source_id = 'human:ann'") == [("j-0", fixed, reviewed)]
    assert _q(cfg, "SELECT vote_id, label, superseded_by FROM superseded_votes") == [("j-0", old, "w1")]
    with open_store(cfg.db_path) as con:
        con.execute("DELETE FROM queue_cursors").fetchall()
    again = collect(cfg, q)
    assert again["revised"] == 0 and again["stored"] == 0
    assert _q(cfg, "SELECT count(*) FROM superseded_votes") == [(1,)]


def test_machine_label_reject_goes_back_to_people_and_counts_as_an_audit(make_project):
    cfg = make_project(review={"machine_share": 1.0}, gold={"rate": 0.0}, overlap={"initial": 2, "max": 3})
    rejected, accepted, grid_rejected = auto_accepted(cfg, ["machine wrong", "machine right", "grid says wrong"])
    with open_store(cfg.db_path) as con:
        for item, aid in ((rejected, "rv-m0"), (accepted, "rv-m1")):
            con.execute("INSERT INTO review_targets (target, item_id, origin, source_id, reason, assignment_id)"
                        " VALUES (?, ?, 'machine', 'machine:label_model', 'machine_share', ?)",
                        [f"machine:{item}:pre-1", item, aid]).fetchall()
            con.execute("INSERT INTO assignments (assignment_id, item_id, queue, kind, round, slot, state)"
                        " VALUES (?, ?, 'q', 'review', 0, 0, 'pushed')", [aid, item]).fetchall()
        # an audit answered in the machine-label grid
        con.execute("UPDATE prelabels SET route = 'audit' WHERE item_id = ?", [grid_rejected]).fetchall()
        con.execute("INSERT INTO assignments (assignment_id, item_id, queue, kind, round, slot, state)"
                    " VALUES ('au-1', ?, 'q', 'audit', 0, 0, 'pushed')", [grid_rejected]).fetchall()
    q = _Pages(["rex"])
    q.add(judgment_id="m0", assignment_id="rv-m0", item_id=rejected, annotator_id="rex", label=None, labels=None,
          task_kind="review", decision="reject", comment="not spam", target=f"machine:{rejected}:pre-1")
    q.add(judgment_id="m1", assignment_id="rv-m1", item_id=accepted, annotator_id="rex", label="spam",
          task_kind="review", decision="accept", target=f"machine:{accepted}:pre-1")
    q.add(judgment_id="g1", assignment_id="au-1", item_id=grid_rejected, annotator_id="rex", label=None, labels=None,
          task_kind="audit", decision="reject")
    report = collect(cfg, q)
    assert report["decisions"] == 3 and report["quarantined"] == 0 and report["duplicates"] == 0
    assert _q(cfg, "SELECT review_id, origin, decision, target FROM reviews ORDER BY 1") == [
        ("g1", "machine", "reject", f"machine:{grid_rejected}:pre-1"),
        ("m0", "machine", "reject", f"machine:{rejected}:pre-1"),
        ("m1", "machine", "accept", f"machine:{accepted}:pre-1")]
    # both rejected labels leave auto-accept: no auto label, queued for people, pre-label counted as an audit
    for item in (rejected, grid_rejected):
        assert _q(cfg, "SELECT state, audit FROM items WHERE item_id = ?", [item]) == [("queued", False)]
        assert _q(cfg, "SELECT count(*) FROM labels WHERE item_id = ? AND method = 'auto'", [item]) == [(0,)]
    assert _q(cfg, "SELECT state FROM items WHERE item_id = ?", [accepted]) == [("auto_accepted",)]
    assert _q(cfg, "SELECT item_id FROM prelabels WHERE route = 'audit' ORDER BY 1") == sorted(
        [(rejected,), (accepted,), (grid_rejected,)])
    assert _q(cfg, "SELECT vote_id, label FROM votes ORDER BY 1") == [("m1", "spam")]
    with open_store(cfg.db_path) as con:
        n = plan_work(con, cfg, "q")  # dispatch plans fresh label slots for the two rejected items
        planned = con.execute("SELECT item_id, kind FROM _planned ORDER BY 1, 2").fetchall()
        assert n == 4 and sorted({p[0] for p in planned}) == sorted([rejected, grid_rejected])
        assert {p[1] for p in planned} == {"label"}
        # people answer: consensus resolves the rejected item as 'ham', the accepted one as the machine said
        con.execute("INSERT INTO labels (item_id, label, confidence, method, decision, n_votes, n_human) VALUES"
                    " (?, 'ham', 0.9, 'dawid_skene', 'resolved', 2, 2), (?, 'spam', 0.9, 'dawid_skene', 'resolved', 1, 1)",
                    [rejected, accepted]).fetchall()
        audited = kind_of(cfg).prelabel.audited(con, cfg.labels).to_pylist()
    verdict = {r["item_id"]: r["correct"] for r in audited}
    assert verdict == {rejected: False, accepted: True}  # the grid-rejected item is scored once people resolve it
    assert collect(cfg, q)["decisions"] == 0  # nothing applied twice
    assert _q(cfg, "SELECT state FROM items WHERE item_id = ?", [rejected]) == [("queued",)]
