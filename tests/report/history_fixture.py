"""A small project state with three stage runs of history, written straight into a migrated DuckDB file.

The numbers are chosen to be checked by hand (see test_data.py); the rows follow migration 006's
`metric_history` / `annotator_events` schema, the way the history and behaviour stages write them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tasks.store import open_store

__all__ = ["DAY1", "write_fixture"]

DAY1 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _history_rows(runs: int) -> list[tuple]:
    """`runs` collect/consensus runs, one a day from DAY1 (`runs` >= 3 keeps the hand-checked values)."""
    rows = []
    alice = [0.7, 0.8, 0.9] + [0.9] * (runs - 3)
    bob = [0.6, 0.5, 0.5] + [0.5] * (runs - 3)
    for i in range(runs):
        run, at = f"run-{i + 1}", DAY1 + timedelta(days=i, hours=8)
        rows += [
            (run, "collect", at, "project", "", "judgments", [2, 4, 0][i] if i < 3 else 1, None, None, None),
            (run, "collect", at, "project", "", "queue_depth", [10, 6, 3][i] if i < 3 else 3, None, None, None),
            (run, "collect", at, "project", "", "lease_expiries", [1, 0, 2][i] if i < 3 else 0, None, None, None),
            (run, "consensus", at, "source", "human:alice", "gold_accuracy", alice[i], alice[i] - 0.1, min(1.0, alice[i] + 0.05), 10 * (i + 1)),
            (run, "consensus", at, "source", "human:bob", "gold_accuracy", bob[i], bob[i] - 0.2, bob[i] + 0.2, 5 * (i + 1)),
            (run, "consensus", at, "source", "human:alice", "cost", 1.0 + 0.5 * i, None, None, None),
            (run, "consensus", at, "project", "", "alpha", 0.6 + 0.05 * min(i, 2), 0.5, 0.8, 100),
            (run, "consensus", at, "label", "pos", "alpha", 0.7, 0.6, 0.8, 40),
            (run, "consensus", at, "pair", "human:alice|human:bob", "kappa", 0.4, None, None, 12),
            # a key no view names (as a kind's agreement summary writes it): it must still appear as its own series
            (run, "consensus", at, "agreement", "mean_iou", "value", 0.55, None, None, 30),
            (run, "prelabel.route", at, "project", "", "audit_precision", [0.95, 0.9, 0.92][i] if i < 3 else 0.92, 0.85, 0.98, 50),
            (run, "prelabel.route", at, "project", "", "auto_accept_share", 0.3, None, None, None),
            (run, "consensus", at, "project", "", "cost_per_label", [0.5, 0.4, 0.3][i] if i < 3 else 0.3, None, None, None),
            (run, "consensus", at, "project", "", "cost_per_resolved_item", 0.6, None, None, None),
        ]
    return rows


def write_fixture(db: Path, runs: int = 3) -> Path:
    """Write the state (see the module docstring) into a new database at `db`."""
    with open_store(db) as con:
        con.execute("INSERT INTO projects (name, config_hash, config) VALUES ('demo', 'h', '{}')")
        con.execute("""INSERT INTO sources (source_id, kind, name, banned, paused) VALUES
            ('human:alice', 'human', 'alice', false, false), ('human:bob', 'human', 'bob', false, false),
            ('human:carol', 'human', 'carol', false, true), ('model:tfidf', 'model', 'tfidf', false, false)""")
        d1, d2 = DAY1, DAY1 + timedelta(days=1)
        votes = [  # alice: 1, 2, 3, 4 s (two each day); bob: 10, 20 s on day 2; carol 5 s on day 2; the model untimed
            ("human:alice", "human", 1000, d1), ("human:alice", "human", 2000, d1),
            ("human:alice", "human", 3000, d2), ("human:alice", "human", 4000, d2),
            ("human:bob", "human", 10000, d2), ("human:bob", "human", 20000, d2),
            ("human:carol", "human", 5000, d2),
            ("model:tfidf", "model", None, d1), ("model:tfidf", "model", None, d1), ("model:tfidf", "model", None, d1),
        ]
        con.executemany("INSERT INTO votes (vote_id, item_id, source_id, source_kind, label, duration_ms, created_at) "
                        "VALUES (?, ?, ?, ?, 'pos', ?, ?)",
                        [(f"v{i}", f"i{i % 10}", s, k, ms, at) for i, (s, k, ms, at) in enumerate(votes)])
        states = ["new"] * 3 + ["queued"] * 2 + ["auto_accepted"] + ["resolved"] * 4
        con.executemany("INSERT INTO items (item_id, kind, payload, source, state) VALUES (?, 'text', 'x', 'f', ?)",
                        [(f"i{i}", s) for i, s in enumerate(states)])
        con.executemany("INSERT INTO labels (item_id, label, confidence, method, decision, n_votes, n_human) "
                        "VALUES (?, 'pos', 0.9, 'ds', ?, 2, 2)",
                        [(f"i{i}", "resolved" if i < 4 else "needs_more") for i in range(6)])
        con.execute("""INSERT INTO source_stats (source_id, kind, n_votes, n_gold, gold_correct, gold_accuracy, gold_low,
                           gold_high, learned_accuracy, agreement_with_consensus) VALUES
            ('human:alice', 'human', 4, 10, 9, 0.9, 0.6, 0.98, 0.88, 0.85),
            ('human:bob', 'human', 2, 10, 5, 0.5, 0.24, 0.76, 0.55, 0.5)""")
        for v, dist, day in (("v0001", {"pos": 3, "neg": 1}, 1), ("v0002", {"pos": 2, "neg": 2}, 2)):
            con.execute("INSERT INTO export_versions (version, path, content_hash, n_rows, manifest, created_at) "
                        "VALUES (?, '/x', 'c', 4, ?, ?)",
                        [v, json.dumps({"version": v, "label_distribution": dist}), DAY1 + timedelta(days=day)])
        con.executemany("INSERT INTO metric_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _history_rows(runs))
        con.executemany("INSERT INTO annotator_events (event_id, source_id, action, rule, reason, actor) VALUES (?, ?, ?, ?, ?, 'annoflow')",
                        [("e1", "human:bob", "flag", "too_fast", "fast"), ("e2", "human:bob", "flag", "straight_lining", "same"),
                         ("e3", "human:bob", "flag", "too_fast", "fast again"), ("e4", "human:carol", "pause", "manual", "on leave")])
        con.execute("UPDATE sources SET pause_reason = 'manual: on leave' WHERE source_id = 'human:carol'")
    return db
