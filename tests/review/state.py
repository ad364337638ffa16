"""State for review tests, written straight into the project's DuckDB file as collect and pre-labeling leave it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from schemas.config import ProjectConfig
from tasks.store import open_store
from tests.conftest import seed_items


def labelled_work(cfg: ProjectConfig, annotators: list[str], per_annotator: int, *, seed: int = 0,
                  labels: tuple[str, ...] = ("ham", "spam")) -> list[str]:
    """Each annotator answers `per_annotator` items of their own (one label assignment and vote each,
    submit times increasing); returns the item ids."""
    rng = np.random.default_rng(seed)
    n = len(annotators) * per_annotator
    items = seed_items(cfg, [f"work item {i}" for i in range(n)])
    who = np.repeat(annotators, per_annotator)
    t = pa.table({
        "item_id": items,
        "annotator": who.tolist(),
        "label": rng.choice(labels, n).tolist(),
        "k": np.arange(n),
    })
    with open_store(cfg.db_path) as con:
        con.register("_w", t)
        con.execute("INSERT INTO assignments (assignment_id, item_id, queue, kind, round, slot, state, annotator_id)"
                    " SELECT md5(item_id || 'label'), item_id, 'q', 'label', 0, 0, 'done', annotator FROM _w").fetchall()
        con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, label, labels, assignment_id, created_at)"
                    " SELECT 'j-' || k, item_id, 'human:' || annotator, 'human', label, [label], md5(item_id || 'label'),"
                    " TIMESTAMPTZ '2026-01-01' + to_seconds(k::BIGINT) FROM _w").fetchall()
        con.execute("INSERT INTO sources (source_id, kind, name) SELECT DISTINCT 'human:' || annotator, 'human', annotator"
                    " FROM _w ON CONFLICT DO NOTHING").fetchall()
        con.unregister("_w")
    return items


def consensus_labels(cfg: ProjectConfig, confidence: dict[str, float], method: str = "dawid_skene") -> None:
    """A latest `labels` row per item with the given consensus confidence."""
    with open_store(cfg.db_path) as con:
        for item, c in confidence.items():
            con.execute("INSERT INTO labels (item_id, label, confidence, method, decision, n_votes, n_human, updated_at)"
                        " VALUES (?, 'ham', ?, ?, 'resolved', 1, 1, now())", [item, c, method]).fetchall()


def auto_accepted(cfg: ProjectConfig, texts: list[str], *, audit: bool = False, label: str = "spam",
                  run_id: str = "pre-1") -> list[str]:
    """Items pre-labeling auto-accepted: state, the `auto` label and the frozen pre-label."""
    items = seed_items(cfg, texts, state="auto_accepted", audit=audit)
    route = "audit" if audit else "auto"
    with open_store(cfg.db_path) as con:
        for item in items:
            con.execute("INSERT INTO labels (item_id, label, confidence, method, decision, n_votes, n_human, run_id)"
                        " VALUES (?, ?, 0.97, 'auto', 'resolved', 1, 0, ?)", [item, label, run_id]).fetchall()
            con.execute("INSERT INTO prelabels (item_id, label, confidence, route, threshold, n_sources, combiner, run_id)"
                        " VALUES (?, ?, 0.97, ?, 0.9, 1, 'label_model', ?)", [item, label, route, run_id]).fetchall()
    return items
