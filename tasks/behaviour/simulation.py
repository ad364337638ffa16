"""SIMULATION ONLY: simulated crowds with timing, for the behaviour rules' tests and benchmark.

The answers come from the kind's simulation facet (`kind.simulation`, the same simulated
annotators `tasks/queues/simulated_crowd.py` drives through the app); this module adds what the
rules look at and the app-driven crowd does not vary: how long each judgment took, and an accuracy
that may change half-way (drift). Nothing here is ever applied to real annotators' judgments.

Times: each item has its own difficulty (a log-normal base time), each annotator a speed factor,
each judgment log-normal noise, so "fast" must be told apart from "easy item" and "quick person".
"""

from __future__ import annotations

__all__ = ["SimulatedWorker", "gold_table", "replay", "simulate_stream", "votes_table"]

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.kinds.protocol import AnswerKind
from tasks.queues.base import answer_columns


@dataclass(frozen=True)
class SimulatedWorker:
    """A SIMULATED annotator: accuracy, spamming style, speed, and optional drift after some judgments."""

    annotator_id: str
    accuracy: float
    speed: float = 1.0                 # multiplies the item's time: 0.1 = ten times quicker than usual
    spammer: str | None = None         # None | "uniform" | "constant" (the simulation facet's styles)
    drift_after: int | None = None     # from this many of their own judgments on ...
    drift_accuracy: float | None = None  # ... they answer with this accuracy


def simulate_stream(kind: AnswerKind, labels: Sequence[str], truth: Sequence[Any], workers: Sequence[SimulatedWorker],
                    *, overlap: int = 3, seed: int = 0, base_seconds: float = 12.0) -> list[dict[str, Any]]:
    """Judgments in submission order: item i (truth[i]) is answered by `overlap` distinct random workers.

    Returns dicts `item` (index), `annotator_id`, `answer` (JSON form), `duration_ms`, `at` (datetime).
    """
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    profiles = {w.annotator_id: kind.simulation.annotator(w.accuracy, labels, rng, w.spammer) for w in workers}
    drifted = {w.annotator_id: kind.simulation.annotator(w.drift_accuracy, labels, rng, None)
               for w in workers if w.drift_after is not None}
    item_seconds = base_seconds * np.exp(nrng.normal(0.0, 0.6, len(truth)))
    done = {w.annotator_id: 0 for w in workers}
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i, true in enumerate(truth):
        for j, w in enumerate(rng.sample(list(workers), min(overlap, len(workers)))):
            profile = profiles[w.annotator_id]
            if w.drift_after is not None and done[w.annotator_id] >= w.drift_after:
                profile = drifted[w.annotator_id]
            done[w.annotator_id] += 1
            seconds = item_seconds[i] * w.speed * float(np.exp(nrng.normal(0.0, 0.3)))
            out.append({"item": i, "annotator_id": w.annotator_id,
                        "answer": kind.simulation.answer(profile, true, rng, labels, None),
                        "duration_ms": max(1, int(seconds * 1000)), "at": t0 + timedelta(seconds=10 * i + j)})
    return out


def votes_table(rows: Sequence[dict[str, Any]], item_ids: Sequence[str], column: str) -> pa.Table:
    """Simulated judgments as `votes` rows (human source `human:<id>`, the answer in `column`)."""
    cols = [answer_columns(column, r["answer"]) for r in rows]
    return pa.table({
        "vote_id": [f"sim-{r['annotator_id']}-{r['item']}" for r in rows],
        "item_id": [item_ids[r["item"]] for r in rows],
        "source_id": [f"human:{r['annotator_id']}" for r in rows],
        "source_kind": ["human"] * len(rows),
        "label": pa.array([c["label"] for c in cols], pa.string()),
        "labels": pa.array([c["labels"] for c in cols], pa.list_(pa.string())),
        "answer": pa.array([c["answer"] for c in cols], pa.string()),
        "duration_ms": pa.array([r["duration_ms"] for r in rows], pa.int64()),
        "created_at": pa.array([r["at"] for r in rows], pa.timestamp("us", tz="UTC")),
    })


def gold_table(item_ids: Sequence[str], truth: Sequence[Any], column: str) -> pa.Table:
    """Gold rows for the given items (their true answers, in the kind's storage column)."""
    cols = [answer_columns(column, t) for t in truth]
    return pa.table({
        "item_id": list(item_ids),
        "label": pa.array([c["label"] for c in cols], pa.string()),
        "labels": pa.array([c["labels"] for c in cols], pa.list_(pa.string())),
        "answer": pa.array([c["answer"] for c in cols], pa.string()),
        "origin": ["file"] * len(item_ids),
    })



def replay(con: Any, cfg: Any, rows: Sequence[dict[str, Any]], item_ids: Sequence[str], *,
           step: int = 50) -> dict[str, dict[str, Any]]:
    """Store `rows` in order, `step` judgments at a time, running the behaviour step after each batch.

    A paused annotator gets no more work, so their later judgments are dropped (the queue would have
    given those items to others). Returns per annotator: `judgments` stored, `paused_after` (their
    own judgments when the pause came, None if never) and the pausing `rule`.
    """
    from tasks.behaviour.stage import run_rules
    from tasks.kinds import kind_of

    column = kind_of(cfg).storage.column
    stored: dict[str, int] = {}
    paused: dict[str, tuple[int, str]] = {}
    for start in range(0, len(rows), step):
        batch = [r for r in rows[start:start + step] if f"human:{r['annotator_id']}" not in paused]
        for r in batch:
            stored[r["annotator_id"]] = stored.get(r["annotator_id"], 0) + 1
        con.register("_sim_votes", votes_table(batch, item_ids, column))
        con.execute("INSERT INTO votes BY NAME SELECT * EXCLUDE (answer), answer::JSON AS answer FROM _sim_votes")
        con.unregister("_sim_votes")
        run_rules(con, cfg, f"replay-{start}")
        for source_id, rule in con.execute(
                "SELECT source_id, rule FROM annotator_events WHERE action = 'pause'").fetchall():
            paused.setdefault(source_id, (stored.get(source_id.removeprefix("human:"), 0), rule))
    return {a: {"judgments": n, "paused_after": paused.get(f"human:{a}", (None, None))[0],
                "rule": paused.get(f"human:{a}", (None, None))[1]} for a, n in sorted(stored.items())}
