"""The dashboard's series on a hand-checkable project state (history_fixture.py), on a real DuckDB file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from tasks.report.data import dashboard_data, label_drift, vote_counts, vote_times
from tests.report.history_fixture import DAY1, write_fixture


def _ms(dt) -> int:
    return int(dt.timestamp() * 1000)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    db = write_fixture(tmp_path_factory.mktemp("report") / "state.duckdb")
    con = duckdb.connect(str(db), read_only=True)
    con.execute("SET TimeZone = 'America/New_York'").fetchall()  # days are UTC days whatever the session's zone
    try:
        return dashboard_data(con)
    finally:
        con.close()


def test_throughput_counts_human_judgments_per_day_and_per_run(data: dict) -> None:
    day = data["throughput"]["per_day"]
    assert day["x"] == [_ms(DAY1.replace(hour=0)), _ms(DAY1.replace(hour=0) + timedelta(days=1))]
    assert day["y"] == [2, 5]  # alice 2 on day 1; alice 2 + bob 2 + carol 1 on day 2; the model never counts
    assert data["throughput"]["per_run"]["y"] == [2, 4, 0]
    queue = {s["name"]: s["y"] for s in data["queue"]}
    assert queue == {"queue_depth": [10, 6, 3], "lease_expiries": [1, 0, 2]}


def test_time_per_item_quantiles_per_human_in_seconds(data: dict) -> None:
    rows = {r["source"]: r for r in data["time_per_item"]}
    assert set(rows) == {"human:alice", "human:bob", "human:carol"}  # untimed model votes are not a time
    a = rows["human:alice"]  # 1, 2, 3, 4 s: linear interpolation between order statistics
    assert (a["n"], a["p25"], a["median"], a["p75"], a["p10"], a["p90"]) == (4, 1.75, 2.5, 3.25, 1.3, 3.7)
    assert rows["human:bob"]["median"] == 15.0
    assert [r["source"] for r in data["time_per_item"]] == ["human:alice", "human:bob", "human:carol"]  # busiest first


def test_accuracy_series_carry_their_interval_band_in_time_order(data: dict) -> None:
    acc = {s["name"]: s for s in data["accuracy"]}
    assert acc["human:alice"]["y"] == [0.7, 0.8, 0.9]
    assert acc["human:alice"]["low"] == pytest.approx([0.6, 0.7, 0.8])
    assert acc["human:alice"]["n"] == [10, 20, 30]
    assert acc["human:bob"]["high"] == pytest.approx([0.8, 0.7, 0.7])
    assert acc["human:alice"]["x"] == sorted(acc["human:alice"]["x"])


def test_every_agreement_metric_is_its_own_series(data: dict) -> None:
    agr = {s["name"]: s for s in data["agreement"]}
    assert list(agr) == ["alpha", "mean_iou", "alpha · pos"]  # mean_iou: a key no view knows by name; no pair kappa
    assert agr["alpha"]["y"] == pytest.approx([0.6, 0.65, 0.7]) and agr["alpha"]["low"] == [0.5] * 3
    assert agr["mean_iou"]["low"] is None  # no interval recorded: no band


def test_audit_precision_cost_and_funnel(data: dict) -> None:
    prec = data["audit"]["precision"][0]
    assert (prec["name"], prec["y"], prec["low"][0], prec["high"][0]) == ("all", [0.95, 0.9, 0.92], 0.85, 0.98)
    assert data["audit"]["share"][0]["y"] == [0.3] * 3
    assert {s["name"]: s["y"] for s in data["cost"]} == {"cost_per_label": [0.5, 0.4, 0.3], "cost_per_resolved_item": [0.6] * 3}
    f = data["funnel"]
    assert (f["states"], f["counts"], f["total"]) == (["new", "queued", "auto_accepted", "resolved"], [3, 2, 1, 4], 10)
    assert f["decisions"] == {"needs_more": 2, "resolved": 4}


def test_label_drift_shares_and_distance_between_versions(data: dict, tmp_path: Path) -> None:
    d = data["drift"]
    assert d["versions"] == ["v0001", "v0002"] and d["labels"] == ["neg", "pos"]
    assert d["shares"] == {"neg": [0.25, 0.5], "pos": [0.75, 0.5]}
    assert d["tvd"] == [None, 0.25]  # (|0.25-0.5| + |0.75-0.5|) / 2
    db = write_fixture(tmp_path / "s.duckdb")
    with duckdb.connect(str(db), read_only=True) as con:  # a version being exported, not recorded yet
        pending = label_drift(con, {"version": "new", "label_distribution": {"pos": 1, "neg": 3, "other": 4}})
    assert pending["versions"][-1] == "new" and pending["labels"] == ["neg", "other", "pos"]
    assert pending["tvd"][-1] == pytest.approx(0.5)  # neg .5 -> .375, other 0 -> .5, pos .5 -> .125


def test_leaderboard_rows_and_headline(data: dict) -> None:
    board = {r["source"]: r for r in data["leaderboard"]}
    assert [r["source"] for r in data["leaderboard"]] == ["human:alice", "model:tfidf", "human:bob", "human:carol"]
    a, b, c = board["human:alice"], board["human:bob"], board["human:carol"]
    assert (a["judgments"], a["gold_accuracy"], a["gold_low"], a["gold_high"], a["n_gold"]) == (4, 0.9, 0.6, 0.98, 10)
    assert (a["seconds_per_judgment"], a["cost"], a["agreement"]) == (2.5, 2.0, 0.85)  # cost: the source's latest `cost`
    assert a["accuracy_trend"] == pytest.approx(0.2) and b["accuracy_trend"] == pytest.approx(-0.1)
    assert (b["flags"], b["flag_rules"], b["paused"]) == (3, "straight_lining, too_fast", False)
    assert (c["paused"], c["flags"]) == (True, 0)  # a pause is not a flag
    assert (c["last_action"], c["last_reason"]) == ("pause", "on leave") and b["last_action"] == "flag"
    assert board["model:tfidf"]["seconds_per_judgment"] is None
    h = data["headline"]
    assert (h["items"], h["resolved_share"], h["human_judgments"], h["annotators"], h["flagged"], h["paused"]) == (10, 0.4, 7, 3, 1, 1)
    assert h["agreement"] == {"name": "alpha", "value": pytest.approx(0.7), "low": 0.5, "high": 0.8}
    assert h["cost_per_label"]["value"] == 0.3 and h["queue_depth"]["value"] == 3
    assert data["project"] == "demo" and data["history_runs"] == 3


def test_a_database_without_history_tables_still_has_the_current_views(tmp_path: Path) -> None:
    db = write_fixture(tmp_path / "s.duckdb")
    with duckdb.connect(str(db)) as con:  # as before migration 006
        con.execute("DROP TABLE metric_history; DROP TABLE annotator_events")
        d = dashboard_data(con)
    assert d["history_runs"] == 0 and d["accuracy"] == [] and d["queue"] == [] and d["throughput"]["per_run"] is None
    assert d["funnel"]["total"] == 10 and d["leaderboard"][0]["source"] == "human:alice"
    assert d["leaderboard"][2]["flags"] == 0 and d["throughput"]["per_day"]["y"] == [2, 5]


def test_sampled_times_fall_back_to_exact_for_sources_the_sample_missed(tmp_path: Path) -> None:
    db = write_fixture(tmp_path / "s.duckdb")
    with duckdb.connect(str(db), read_only=True) as con:
        counts = vote_counts(con)
        exact = vote_times(con, counts)
        sampled = vote_times(con, counts, sample_rows=3)  # 10 votes > 3: the sampling path
    assert set(exact) == {"human:alice", "human:bob", "human:carol"}
    assert sampled == exact  # a table this small is one block: sampled whole or missed and redone exactly


def test_an_empty_history_gives_empty_views_not_empty_series(tmp_path: Path) -> None:
    db = write_fixture(tmp_path / "s.duckdb")
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM metric_history").fetchall()
        d = dashboard_data(con)
    assert d["throughput"]["per_run"] is None and d["audit"] == {"precision": [], "share": []} and d["cost"] == []
    assert d["headline"]["agreement"] is None and d["headline"]["cost_per_label"] is None


def test_vote_aggregates_are_reused_until_the_votes_change(tmp_path: Path) -> None:
    db = write_fixture(tmp_path / "s.duckdb")
    memo: dict = {}
    with duckdb.connect(str(db)) as con:
        first = dashboard_data(con, memo=memo)
        views = memo["views"]
        assert dashboard_data(con, memo=memo)["leaderboard"] == first["leaderboard"] and memo["views"] is views
        con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, label, duration_ms, created_at) "
                    "VALUES ('late', 'i1', 'human:bob', 'human', 'pos', 30000, ?)", [DAY1 + timedelta(days=1)]).fetchall()
        again = dashboard_data(con, memo=memo)
    assert memo["views"] is not views
    bob = next(r for r in again["leaderboard"] if r["source"] == "human:bob")
    assert again["throughput"]["per_day"]["y"] == [2, 6] and (bob["judgments"], bob["seconds_per_judgment"]) == (3, 20.0)
