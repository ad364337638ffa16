"""Dispatch against a real annotation app and a real DuckDB file."""

from __future__ import annotations

import pytest

from tasks.dispatch import dispatch
from tasks.queues import BuiltinBackend
from tasks.store import open_store
from tests.conftest import ADMIN_TOKEN, seed_items


def _assignments(cfg):
    with open_store(cfg.db_path) as con:
        return con.execute("SELECT item_id, kind, round, slot, state, annotator_id FROM assignments "
                           "ORDER BY item_id, round, slot").fetchall()


def _counts(cfg):
    with BuiltinBackend(cfg.queue.url, ADMIN_TOKEN, cfg.name) as b:
        return b.counts()


def test_fixed_overlap_is_idempotent(queue_project):
    cfg = queue_project(overlap={"policy": "fixed", "initial": 2, "max": 2}, gold={"rate": 0.0})
    seed_items(cfg, [f"text {i}" for i in range(5)])
    r1 = dispatch(cfg)
    assert r1["created"] == 10 and r1["pushed"] == 10 and r1["new_to_backend"] == 10
    r2 = dispatch(cfg)
    assert r2["created"] == 0 and r2["pushed"] == 0
    rows = _assignments(cfg)
    assert len(rows) == 10 and {r[4] for r in rows} == {"pushed"}
    assert _counts(cfg)["open"] == 10
