"""A spans project's history: the same stage hooks write its rows, its label distribution counts span
types (through the kind), and its own agreement measure (pairwise span F1) appears as `agreement/*`
rows although nothing in tasks/history names it."""

from __future__ import annotations

from pathlib import Path

from tasks.collect import collect
from tasks.consensus.stage import run_consensus_stage
from tasks.store import open_store
from tests.collect.spans_project import simulate_wnut_crowd, wnut_project
from tests.conftest import ADMIN_TOKEN

N = 30


def test_a_spans_project_records_its_own_agreement_measures(tmp_path: Path, fresh_app, monkeypatch) -> None:
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", ADMIN_TOKEN)
    root = tmp_path / "ner"
    cfg, _ = wnut_project(root, "ner-history", fresh_app.url, N, cost={"per_judgment": 0.1})
    simulate_wnut_crowd(root, 0.8)
    assert collect(cfg)["stored"] == 2 * N
    run_consensus_stage(cfg)
    with open_store(cfg.db_path) as con:
        rows = con.execute("SELECT stage, scope, subject, metric, value, n FROM metric_history").fetchall()
        spans_by_type = dict(con.execute(
            "SELECT s.label, count(*) FROM (SELECT unnest(from_json(answer, '[{\"start\": \"INT\", \"end\": \"INT\","
            " \"label\": \"VARCHAR\"}]')) AS s FROM labels WHERE decision = 'resolved') GROUP BY 1").fetchall())
    by = {(st, sc, su, m): (v, n) for st, sc, su, m, v, n in rows}
    assert {st for st, *_ in rows} == {"ingest", "dispatch", "collect", "consensus"}
    assert by[("collect", "project", "", "judgments")] == (2 * N, 2 * N)
    agreement = {su for st, sc, su, m in by if st == "consensus" and sc == "agreement"}
    assert {"span_f1.strict", "span_f1.overlap"} <= agreement, agreement
    strict = by[("consensus", "agreement", "span_f1.strict", "value")][0]
    assert 0 < strict < 1, "an 80%-accurate crowd neither always nor never agrees"
    resolved = {su: int(v) for (st, sc, su, m), (v, n) in by.items() if st == "consensus" and sc == "label" and m == "resolved"}
    assert resolved == spans_by_type and sum(resolved.values()) > 0
    assert abs(by[("consensus", "project", "", "cost_total")][0] - 0.1 * 2 * N) < 1e-9
