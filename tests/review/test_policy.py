"""The review policy picks what `[review]` says, on a real DuckDB file: shares, first answers, low confidence,
machine labels; never the reviewed person, never a gold answer; each target once."""

from __future__ import annotations

import math

import orjson

from tasks.dispatch import dispatch
from tasks.dispatch.plan import ASSIGNMENT_COLUMNS, PLANNED
from tasks.review.policy import PICKED, commit_reviews, pick_reviews, plan_reviews
from tasks.store import open_store
from tests.conftest import seed_items
from tests.review.state import auto_accepted, consensus_labels, labelled_work

PEOPLE = ["ann", "bob", "cyd", "dee"]


def _picked(con):
    return con.sql(f"SELECT target, item_id, origin, source_id, reason, context::VARCHAR, exclude_annotators FROM {PICKED}"
                   " ORDER BY target").fetchall()


def _within_binomial(k: int, n: int, p: float, z: float = 4.0) -> bool:
    return abs(k - n * p) <= z * math.sqrt(n * p * (1 - p))


def test_share_of_each_annotators_work_is_binomial_and_never_their_own(make_project):
    cfg = make_project(review={"share": 0.2, "seed": 7})
    labelled_work(cfg, PEOPLE, 400)
    with open_store(cfg.db_path) as con:
        pick_reviews(con, cfg)
        rows = _picked(con)
    assert {r[4] for r in rows} == {"share"} and {r[2] for r in rows} == {"human"}
    by_person = {p: sum(r[3] == f"human:{p}" for r in rows) for p in PEOPLE}
    assert all(_within_binomial(k, 400, 0.2) for k in by_person.values()), by_person
    assert all(k > 0 for k in by_person.values())
    for target, _, _, source, _, context, exclude in rows:
        review = orjson.loads(context)["review"]
        assert review["target"] == target and review["origin"] == "human"
        assert review["source_id"] == source.removeprefix("human:") and review["source_id"] in exclude


def test_draw_is_deterministic_by_seed(make_project, tmp_path):
    cfg = make_project(review={"share": 0.3, "seed": 1})
    labelled_work(cfg, PEOPLE, 50)
    with open_store(cfg.db_path) as con:
        pick_reviews(con, cfg)
        first = _picked(con)
        pick_reviews(con, cfg)
        assert _picked(con) == first
        pick_reviews(con, cfg.model_copy(update={"review": cfg.review.model_copy(update={"seed": 2})}))
        assert {r[0] for r in _picked(con)} != {r[0] for r in first}


def test_all_of_a_new_annotators_first_items(make_project):
    cfg = make_project(review={"new_annotator_items": 5})
    labelled_work(cfg, PEOPLE, 30)
    with open_store(cfg.db_path) as con:
        first5 = {r[0] for r in con.execute(
            "SELECT vote_id FROM votes QUALIFY row_number() OVER (PARTITION BY source_id ORDER BY created_at) <= 5").fetchall()}
        pick_reviews(con, cfg)
        rows = _picked(con)
    assert {r[0] for r in rows} == first5 and len(first5) == 5 * len(PEOPLE)
    assert {r[4] for r in rows} == {"new_annotator"}


def test_one_answer_of_each_item_below_the_confidence(make_project):
    cfg = make_project(review={"below_confidence": 0.7})
    items = labelled_work(cfg, PEOPLE, 5)
    low, high = items[:8], items[8:]
    consensus_labels(cfg, {i: 0.55 for i in low} | {i: 0.9 for i in high})
    consensus_labels(cfg, {items[-1]: 0.2}, method="gold")  # a gold answer is never "low confidence"
    with open_store(cfg.db_path) as con:
        pick_reviews(con, cfg)
        rows = _picked(con)
    assert sorted(r[1] for r in rows) == sorted(low)
    assert {r[4] for r in rows} == {"below_confidence"}


def test_share_of_auto_accepted_machine_labels(make_project):
    cfg = make_project(review={"machine_share": 0.25, "seed": 3}, gold={"rate": 0.0})
    auto = auto_accepted(cfg, [f"auto {i}" for i in range(600)])
    audited = auto_accepted(cfg, [f"audited {i}" for i in range(50)], audit=True)  # already checked by a person
    with open_store(cfg.db_path) as con:
        pick_reviews(con, cfg)
        rows = _picked(con)
    assert {r[2] for r in rows} == {"machine"} and {r[4] for r in rows} == {"machine_share"}
    assert set(r[1] for r in rows) <= set(auto) and not set(r[1] for r in rows) & set(audited)
    assert _within_binomial(len(rows), len(auto), 0.25), len(rows)
    review = orjson.loads(rows[0][5])["review"]
    assert review["answer"] == "spam" and review["target"] == f"machine:{rows[0][1]}:pre-1"
    assert review["assignment_id"] is None and review["source_id"] == "machine:label_model"


def test_a_gold_items_review_shows_the_annotators_answer_not_gold(make_project):
    cfg = make_project(review={"share": 1.0})
    [item] = seed_items(cfg, ["a gold item"], gold={"a gold item": "spam"})
    with open_store(cfg.db_path) as con:
        con.execute("INSERT INTO assignments (assignment_id, item_id, queue, kind, round, slot, state) VALUES"
                    " ('g1', ?, 'q', 'gold', 0, 0, 'done')", [item]).fetchall()
        con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, label, assignment_id) VALUES"
                    " ('jg', ?, 'human:ann', 'human', 'ham', 'g1')", [item]).fetchall()
        pick_reviews(con, cfg)
        [row] = _picked(con)
    assert orjson.loads(row[5])["review"]["answer"] == "ham" and "spam" not in row[5]


def test_idempotent_a_target_is_picked_once_and_off_by_default(make_project):
    cfg = make_project(review={"share": 0.5, "new_annotator_items": 2, "below_confidence": 0.9})
    items = labelled_work(cfg, PEOPLE, 20)
    consensus_labels(cfg, {i: 0.5 for i in items})
    with open_store(cfg.db_path) as con:
        con.register("_empty", ASSIGNMENT_COLUMNS.empty_table())
        con.execute(f"CREATE TEMP TABLE {PLANNED} AS SELECT * FROM _empty").fetchall()  # dispatch's plan, empty
        n = plan_reviews(con, cfg, "q", PLANNED)
        assert n > 0 and con.execute(f"SELECT count(*) FROM {PLANNED} WHERE kind = 'review'").fetchall()[0][0] == n
        assert commit_reviews(con) == n
        assert pick_reviews(con, cfg) == 0  # every target already picked
        assert plan_reviews(con, cfg, None, PLANNED) == 0  # no queue to review in (Label Studio without review.app_url)
        per_item = con.execute("SELECT max(c) FROM (SELECT count(*) c FROM review_targets WHERE reason = 'below_confidence'"
                               " GROUP BY item_id)").fetchall()[0][0]
        assert per_item == 1
        off = cfg.model_copy(update={"review": type(cfg.review)()})
        con.execute("DELETE FROM review_targets").fetchall()
        assert pick_reviews(con, off) == 0


def test_dispatch_pushes_review_tasks_with_their_context_once(queue_project):
    """Through the real app: dispatch plans and pushes review tasks; a second run pushes nothing."""
    cfg = queue_project(review={"share": 1.0}, gold={"rate": 0.0, "min_per_annotator": 0})
    labelled_work(cfg, ["ann", "bob"], 3)
    first = dispatch(cfg)
    assert first["created_by_kind"].get("review") == 6 and first["review_targets"] == 6
    assert first["new_to_backend"] >= 6
    again = dispatch(cfg)
    assert again["created"] == 0 and again["review_targets"] == 0
    with open_store(cfg.db_path) as con:
        rows = con.execute("SELECT a.state, c.exclude_annotators, t.source_id FROM assignments a"
                           " JOIN task_contexts c USING (assignment_id) JOIN review_targets t USING (assignment_id)"
                           " WHERE a.kind = 'review'").fetchall()
    assert len(rows) == 6 and {r[0] for r in rows} == {"pushed"}
    assert all(src.removeprefix("human:") in ex for _, ex, src in rows)


def test_reviewers_get_no_targeted_gold(queue_project, fresh_app):
    """Dispatch plans gold for the people who label (annotators, experts), never for a reviewer-only account."""
    from tasks.queues import BuiltinBackend
    from tests.conftest import ADMIN_TOKEN

    cfg = queue_project(queue={"url": fresh_app.url}, gold={"rate": 0.0, "min_per_annotator": 2})
    seed_items(cfg, ["g one", "g two", "work"], gold={"g one": "ham", "g two": "spam"})
    with BuiltinBackend(fresh_app.url, ADMIN_TOKEN, cfg.name) as admin:
        admin.create_annotator("labeller", roles=["annotator"])
        admin.create_annotator("checker", roles=["reviewer"])
        admin.create_annotator("senior", roles=["expert"])
    dispatch(cfg)
    with open_store(cfg.db_path) as con:
        targets = con.execute("SELECT annotator_id, count(*) FROM assignments WHERE kind = 'gold' GROUP BY 1 ORDER BY 1").fetchall()
    assert targets == [("labeller", 2), ("senior", 2)]
