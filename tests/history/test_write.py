"""Writing history: once per run id, nothing with history off, and retention by age and by run count."""

from __future__ import annotations

import time

from pytest import approx

from tasks.history.write import append_run
from tasks.store import open_store, record_stage_run
from tests.export.conftest import seed_state


def _runs(con, stage: str) -> list[str]:
    return [r for (r,) in con.execute("SELECT DISTINCT run_id FROM metric_history WHERE stage = ? ORDER BY run_id",
                                      [stage]).fetchall()]


def test_a_run_is_written_once_and_a_new_run_adds_rows(make_project) -> None:
    cfg = make_project()
    seed_state(cfg, 30)
    with open_store(cfg.db_path) as con:
        first = record_stage_run(con, "export", "completed", {}, time.time(), cfg=cfg)
        rows = con.execute("SELECT scope, subject, metric, value, n FROM metric_history WHERE run_id = ?"
                           " ORDER BY ALL", [first]).fetchall()
        got = {(s, sub, m): (v, n) for s, sub, m, v, n in rows}
        assert got[("project", "", "items_total")] == (33.0, 33)
        assert got[("decision", "resolved", "items")] == (30.0, 30) and got[("decision", "needs_more", "items")] == (3.0, 3)
        assert got[("label", "ham", "resolved")] == (15.0, 15) and got[("label", "spam", "share")] == (0.5, 30)
        assert append_run(con, cfg, first, "export", {}) == 0
        assert con.execute("SELECT count(*) FROM metric_history").fetchall()[0][0] == len(rows)
        second = record_stage_run(con, "export", "completed", {}, time.time(), cfg=cfg)
        assert con.execute("SELECT count(*) FROM metric_history WHERE run_id = ?", [second]).fetchall()[0][0] == len(rows)


def test_history_off_writes_nothing(make_project) -> None:
    cfg = make_project(history={"enabled": False})
    seed_state(cfg, 10)
    with open_store(cfg.db_path) as con:
        record_stage_run(con, "consensus", "completed", {}, time.time(), cfg=cfg)
        assert con.execute("SELECT count(*) FROM stage_runs").fetchall()[0][0] == 1
        assert con.execute("SELECT count(*) FROM metric_history").fetchall()[0][0] == 0


def test_retention_keeps_the_latest_runs_and_drops_old_ones(make_project) -> None:
    cfg = make_project(history={"keep_runs": 2, "keep_days": 30})
    seed_state(cfg, 10)
    with open_store(cfg.db_path) as con:
        con.execute("INSERT INTO metric_history VALUES ('old', 'dispatch', now() - INTERVAL 31 DAY, 'project', '',"
                    " 'queue_depth', 5, NULL, NULL, 5), ('recent', 'dispatch', now() - INTERVAL 29 DAY, 'project', '',"
                    " 'queue_depth', 4, NULL, NULL, 4)").fetchall()
        ids = [record_stage_run(con, "ingest", "completed", {}, time.time(), cfg=cfg) for _ in range(4)]
        assert _runs(con, "ingest") == sorted(ids[-2:]), "only the two latest ingest runs are kept"
        assert _runs(con, "dispatch") == ["recent"], "the run older than keep_days is gone, the other stage untouched"


def test_cost_rows_from_stored_votes_by_hand(make_project) -> None:
    cfg = make_project(cost={"per_judgment": 0.1, "per_hour": 10.0, "per_call": {"lf:*": 0.01}, "fixed_overlap": 3})
    seed_state(cfg, 30)  # 33 items, each with one human:alice vote and one lf:kw vote; 30 resolved
    with open_store(cfg.db_path) as con:
        con.execute("UPDATE votes SET duration_ms = 1800000 WHERE source_kind = 'human'").fetchall()  # 30 min each
        run = record_stage_run(con, "consensus", "completed", {}, time.time(), cfg=cfg)
        got = dict(con.execute("SELECT subject || '/' || metric, value FROM metric_history WHERE run_id = ?"
                               " AND metric LIKE 'cost%'", [run]).fetchall())
    # alice: 33 * 0.10 + 16.5 h * 10 = 168.30; lf:kw: 33 * 0.01 = 0.33
    assert got["human:alice/cost"] == approx(168.3) and got["lf:kw/cost"] == approx(0.33)
    assert got["/cost_total"] == approx(168.63) and got["/cost_per_resolved_item"] == approx(168.63 / 30)
    # baseline: 3 judgments on each of the 30 resolved items at alice's mean 168.3 / 33 = 5.1 each
    assert got["/cost_fixed_overlap"] == approx(3 * 30 * 5.1) and got["/cost_saved"] == approx(459.0 - 168.63)
