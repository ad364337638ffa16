"""Each behaviour rule on SIMULATED annotators that trigger it and ones that must not, on a real DuckDB file."""

from __future__ import annotations

import random

import pytest

from schemas.config import validate_config
from tasks.behaviour.pause import resume
from tasks.behaviour.rules import evaluate
from tasks.behaviour.simulation import SimulatedWorker, gold_table, replay, simulate_stream, votes_table
from tasks.behaviour.stage import run_rules
from tasks.kinds import kind_of
from schemas.migrations import migrate
from tasks.store import connect, open_store

LABELS = ["a", "b", "c"]


def _project(tmp_path, kind="single_label", **behaviour):
    return validate_config({"name": "beh", "labels": LABELS, "task_kind": kind, "root": str(tmp_path),
                            "behaviour": behaviour})


def _truth(n, kind, seed=0):
    rng = random.Random(seed)
    t = rng.choices(LABELS, weights=[0.6, 0.3, 0.1], k=n)
    return [[x] for x in t] if kind_of(_project("/tmp", kind)).storage.column == "labels" else t


def _store(cfg, rows, truth, gold_every=5):
    ids = [f"item-{i:05d}" for i in range(len(truth))]
    col = kind_of(cfg).storage.column
    con = connect(cfg.db_path)
    migrate(con)
    con.register("_v", votes_table(rows, ids, col))
    con.execute("INSERT INTO votes BY NAME SELECT * EXCLUDE (answer), answer::JSON AS answer FROM _v")
    gi = list(range(0, len(truth), gold_every))
    con.register("_g", gold_table([ids[i] for i in gi], [truth[i] for i in gi], col))
    con.execute("INSERT INTO gold BY NAME SELECT * EXCLUDE (answer), answer::JSON AS answer FROM _g")
    return con, ids


HONEST = [SimulatedWorker(f"honest-{i}", 0.92 + 0.01 * i, speed=0.8 + 0.1 * i) for i in range(5)]


@pytest.mark.parametrize("kind", ["single_label", "multi_label"])
def test_too_fast_pauses_a_fast_spammer_but_not_a_fast_expert(tmp_path, kind):
    cfg = _project(tmp_path, kind)
    truth = _truth(600, kind)
    crowd = [*HONEST, SimulatedWorker("fast-spammer", 0.3, speed=0.08, spammer="uniform"),
             SimulatedWorker("fast-expert", 0.99, speed=0.1)]
    con, _ = _store(cfg, simulate_stream(kind_of(cfg), LABELS, truth, crowd, seed=3), truth)
    found = {(f.source_id, f.rule): f for f in evaluate(con, cfg.behaviour, kind_of(cfg).storage.column)}
    spam = found[("human:fast-spammer", "too_fast")]
    assert spam.pause and spam.evidence["fast_share"] >= 0.4 and spam.evidence["gold_high"] < 0.9
    expert = found[("human:fast-expert", "too_fast")]
    assert not expert.pause and expert.evidence["gold_high"] >= 0.9, expert
    assert "not paused" in expert.reason
    assert not [k for k in found if k[0].startswith("human:honest") and k[1] == "too_fast"]
    out = run_rules(con, cfg, "run-1")
    assert out["paused"] == ["human:fast-spammer"]
    assert "human:fast-expert" in out["flagged"]
    paused = dict(con.execute("SELECT source_id, paused FROM sources WHERE paused").fetchall())
    assert paused == {"human:fast-spammer": True}
    con.close()


@pytest.mark.parametrize("kind", ["single_label", "multi_label"])
def test_straight_lining_against_a_skewed_label_distribution(tmp_path, kind):
    """60% of items are 'a': honest annotators answer 'a' often, only the one who always does is flagged."""
    cfg = _project(tmp_path, kind)
    truth = _truth(500, kind, seed=1)
    crowd = [*HONEST, SimulatedWorker("straight", 0.3, spammer="constant")]
    con, _ = _store(cfg, simulate_stream(kind_of(cfg), LABELS, truth, crowd, seed=4), truth)
    found = [f for f in evaluate(con, cfg.behaviour, kind_of(cfg).storage.column) if f.rule == "straight_lining"]
    assert [f.source_id for f in found] == ["human:straight"]
    ev = found[0].evidence
    assert ev["share"] == 1.0 and 0.4 < ev["expected_share"] < 0.8 and ev["p_value"] < 1e-6
    assert "a" in ev["answer"]
    con.close()


def test_gold_drift_is_caught_in_a_replay_and_a_steady_annotator_is_not(tmp_path):
    cfg = _project(tmp_path)
    truth = _truth(900, "single_label", seed=2)
    crowd = [*HONEST, SimulatedWorker("tired", 0.97, drift_after=180, drift_accuracy=0.35)]
    rows = simulate_stream(kind_of(cfg), LABELS, truth, crowd, seed=5)
    con, ids = _store(cfg, [], truth, gold_every=3)
    result = replay(con, cfg, rows, ids, step=60)
    assert result["tired"]["paused_after"] is not None and result["tired"]["rule"] == "gold_drift"
    assert result["tired"]["paused_after"] > 180  # not before the drift began
    assert all(result[w.annotator_id]["paused_after"] is None for w in HONEST), result
    reason = con.execute("SELECT reason FROM annotator_events WHERE action = 'pause' AND source_id = 'human:tired'").fetchall()
    assert "gold accuracy fell from" in reason[0][0]
    con.close()


def test_rules_are_idempotent_and_a_resume_is_a_clean_slate(tmp_path):
    cfg = _project(tmp_path)
    truth = _truth(400, "single_label", seed=6)
    crowd = [*HONEST, SimulatedWorker("straight", 0.3, spammer="constant")]
    con, _ = _store(cfg, simulate_stream(kind_of(cfg), LABELS, truth, crowd, seed=6), truth)
    first = run_rules(con, cfg, "run-1")
    assert first["paused"] == ["human:straight"] and first["flagged"] == ["human:straight"]
    events = con.execute("SELECT count(*) FROM annotator_events").fetchall()[0][0]
    assert events == 2  # one flag, one pause
    again = run_rules(con, cfg, "run-2")
    assert again["paused"] == [] and again["flagged"] == []
    assert con.execute("SELECT count(*) FROM annotator_events").fetchall()[0][0] == events
    resume(con, "straight", "talked to them; instructions were unclear", "lead")
    # what they did before the resume is not held against them again
    assert run_rules(con, cfg, "run-3")["paused"] == []
    assert con.execute("SELECT paused FROM sources WHERE source_id = 'human:straight'").fetchall() == [(False,)]
    actions = [r[0] for r in con.execute("SELECT action FROM annotator_events ORDER BY created_at, action").fetchall()]
    assert actions.count("pause") == 1 and actions.count("resume") == 1
    con.close()


def test_disabled_rules_and_flag_only(tmp_path):
    truth = _truth(300, "single_label", seed=7)
    crowd = [*HONEST, SimulatedWorker("straight", 0.3, spammer="constant")]
    cfg = _project(tmp_path, pause=False)
    con, _ = _store(cfg, simulate_stream(kind_of(cfg), LABELS, truth, crowd, seed=7), truth)
    out = run_rules(con, cfg, "r")
    assert out["flagged"] == ["human:straight"] and out["paused"] == []
    assert run_rules(con, _project(tmp_path, enabled=False), "r2") == {"enabled": False}
    con.close()


def test_the_consensus_stage_runs_the_rules_once_per_run(tmp_path):
    from flows.consensus import consensus_report_markdown
    from tasks.consensus.stage import run_consensus_stage

    cfg = _project(tmp_path)
    truth = _truth(300, "single_label", seed=8)
    crowd = [*HONEST, SimulatedWorker("straight", 0.3, spammer="constant")]
    con, _ = _store(cfg, simulate_stream(kind_of(cfg), LABELS, truth, crowd, seed=8), truth)
    con.close()
    first = run_consensus_stage(cfg)
    assert first["behaviour"]["paused"] == ["human:straight"]
    assert "paused: human:straight" in consensus_report_markdown(first)
    again = run_consensus_stage(cfg)
    assert again["unchanged"] and again["behaviour"]["paused"] == [] and again["behaviour"]["flagged"] == []
    assert "Behaviour rules (docs/behaviour.md): nothing new." in consensus_report_markdown(again)
    with open_store(cfg.db_path) as con:
        events = con.execute("SELECT action, run_id FROM annotator_events ORDER BY action").fetchall()
        runs = {r[0] for r in con.execute("SELECT stats->>'$.behaviour.paused[0]' FROM stage_runs"
                                          " WHERE stage = 'consensus'").fetchall()}
    assert [e[0] for e in events] == ["flag", "pause"] and events[0][1] == events[1][1]
    assert "human:straight" in runs  # the stage's run record carries what the rules did


def test_the_kinds_own_gold_score_can_clear_a_fast_annotator(tmp_path):
    """Exact agreement undersells structured and set answers; the kind's score in source_stats counts too."""
    cfg = _project(tmp_path)
    truth = _truth(600, "single_label", seed=9)
    crowd = [*HONEST, SimulatedWorker("fast-sloppy", 0.5, speed=0.08)]
    con, _ = _store(cfg, simulate_stream(kind_of(cfg), LABELS, truth, crowd, seed=9), truth)
    col = kind_of(cfg).storage.column
    before = {f.source_id: f for f in evaluate(con, cfg.behaviour, col) if f.rule == "too_fast"}
    assert before["human:fast-sloppy"].pause
    con.execute("INSERT INTO source_stats (source_id, kind, n_votes, n_gold, gold_correct, gold_accuracy, gold_low,"
                " gold_high) VALUES ('human:fast-sloppy', 'human', 100, 40, 38, 0.95, 0.83, 0.99)")
    after = {f.source_id: f for f in evaluate(con, cfg.behaviour, col) if f.rule == "too_fast"}
    assert not after["human:fast-sloppy"].pause and "kind's gold score" in after["human:fast-sloppy"].reason
    con.close()
