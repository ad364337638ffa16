"""Dispatch → simulated crowd → collect → consensus core, round after round, on a fresh app."""

from __future__ import annotations

from tasks.collect import collect
from tasks.consensus.dawid_skene import DawidSkene
from tasks.consensus.resolution import human_vote_counts, resolve_items
from tasks.dispatch import dispatch
from tasks.queues.simulated_crowd import make_crowd, run_simulated_crowd
from tasks.store import open_store
from tests.conftest import ADMIN_TOKEN, seed_items


def _consensus(cfg) -> dict[str, int]:
    """A stand-in for the consensus stage: Dawid-Skene over human votes, decisions into `labels`."""
    with open_store(cfg.db_path) as con:
        votes = con.sql("SELECT item_id, source_id, label FROM votes WHERE source_kind = 'human'").to_arrow_table()
        gold = con.sql("SELECT item_id, label FROM gold").to_arrow_table()
        labels = DawidSkene(cfg.labels).fit_predict(votes, gold=gold)
        decided = resolve_items(labels, human_vote_counts(votes), cfg.consensus.target_confidence, cfg.overlap.max)
        con.register("_decided", decided)
        con.execute("INSERT INTO labels (item_id, label, confidence, method, decision, n_votes, n_human) "
                    "SELECT item_id, label, coalesce(confidence, 0), 'dawid_skene', decision, n_votes, n_votes "
                    "FROM _decided WHERE item_id NOT IN (SELECT item_id FROM gold)")
    return dict(zip(*decided.group_by("decision").aggregate([("item_id", "count")]).to_pydict().values()))


def test_rounds_with_a_simulated_crowd(queue_project, fresh_app):
    cfg = queue_project(queue={"url": fresh_app.url}, overlap={"policy": "adaptive", "initial": 1, "max": 4},
                        gold={"rate": 0.1, "min_per_annotator": 1}, consensus={"target_confidence": 0.95})
    texts = [f"comment number {i}" for i in range(40)]
    truth = {t: ("spam" if i % 3 == 0 else "ham") for i, t in enumerate(texts)}
    gold = {f"gold comment {i}": ("spam" if i % 2 else "ham") for i in range(4)}
    seed_items(cfg, texts)
    seed_items(cfg, list(gold), state="resolved", gold=gold)
    crowd = make_crowd(6, cfg.labels, accuracy=(0.7, 0.95), spammer_share=0.0, experts=1, seed=3)
    answers = {**truth, **gold}
    created = []
    # Each item gets at most overlap.max slots then one adjudication, so this ends; but not within
    # max + 1 rounds: refitting Dawid-Skene on new votes can turn an item resolved early back into
    # needs_more many rounds later (seen once in ~20 runs at round 15).
    for _ in range(40):
        d = dispatch(cfg)
        created.append(d["created"])
        run_simulated_crowd(fresh_app.url, ADMIN_TOKEN, cfg.name, answers, crowd=crowd, seed=len(created))
        c = collect(cfg)
        assert c["quarantined"] == 0
        _consensus(cfg)
        if d["created"] == 0:
            break
    assert created[-1] == 0, created
    with open_store(cfg.db_path) as con:
        n_votes, n_distinct = con.execute("SELECT count(*), count(DISTINCT vote_id) FROM votes").fetchall()[0]
        done = con.execute("SELECT count(*) FROM assignments WHERE state = 'done'").fetchall()[0][0]
        # open adjudications are possible: the only expert may have voted on the item already, and the
        # app never gives anyone the same item twice
        open_ = con.execute("SELECT count(*) FROM assignments WHERE state IN ('pending', 'pushed') "
                            "AND kind IN ('label', 'audit')").fetchall()[0][0]
        per_item = con.execute("SELECT max(n) FROM (SELECT item_id, count(*) n FROM votes WHERE source_kind = 'human' "
                               "AND item_id NOT IN (SELECT item_id FROM gold) GROUP BY 1)").fetchall()[0][0]
    assert n_votes == n_distinct == done  # every judgment stored exactly once, every slot answered
    assert open_ == 0
    assert per_item <= cfg.overlap.max
