"""`annoflow simulate-crowd` on a spans project (WNUT17 sentences) against the real app: with accuracy 1
every answer the crowd submits through the app's HTTP API, once collected, is exactly the true spans."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.collect import collect
from tests.collect.spans_project import WNUT, simulate_wnut_crowd, wnut_project
from tests.conftest import ADMIN_TOKEN

N = 40


def test_a_perfect_simulated_crowd_answers_the_true_spans(tmp_path: Path, fresh_app, monkeypatch) -> None:
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", ADMIN_TOKEN)
    root = tmp_path / "ner"
    cfg, lines = wnut_project(root, "ner-crowd", fresh_app.url, N)
    report = simulate_wnut_crowd(root, 1)
    assert report["simulation"] is True and report["submitted"] == 2 * N and report["failures"] == []
    assert report["items_without_truth"] == 0
    c = collect(cfg)
    assert (c["stored"], c["quarantined"]) == (2 * N, 0), c
    truth_file = WNUT / "truth" / "labels.jsonl"
    truth = {row["text"]: row["spans"] for row in map(json.loads, truth_file.read_text(encoding="utf-8").splitlines())}
    stored = stored_answers_all(cfg)
    assert len(stored) == 2 * N and {t for t, _ in stored} == set(truth) & {json.loads(x)["text"] for x in lines}
    wrong = [(t, a, truth[t]) for t, a in stored if a != truth[t]]
    assert wrong == []
    assert sum(bool(a) for _, a in stored) > N // 2  # most sentences have entities: not a run of empty answers


def stored_answers_all(cfg) -> list[tuple[str, list]]:
    """(text, answer) for every human vote (two per sentence here)."""
    from tasks.store import open_store

    with open_store(cfg.db_path) as con:
        rows = con.execute("SELECT i.payload, v.answer::VARCHAR FROM votes v JOIN items i USING (item_id)"
                           " WHERE v.source_kind = 'human'").fetchall()
    return [(p, json.loads(a)) for p, a in rows]
