"""Export fixtures: a project whose DuckDB state holds items, votes, gold and resolved labels."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from schemas.config import ProjectConfig
from tasks.kinds import kind_of
from tasks.store import open_store


def iid(i: int) -> str:
    return hashlib.md5(f"item-{i}".encode()).hexdigest()


def seed_state(cfg: ProjectConfig, n: int = 40, *, label_of: Callable[[int], Any] | None = None,
               gold: dict[int, Any] | None = None, unresolved: int = 3, payload_of: Callable[[int], str] | None = None,
               **overrides: Callable[[int], Any]) -> None:
    """Insert n resolved items (+ `unresolved` needing more votes) with two votes each into the project's database.

    `label_of(i)` gives item i's label (a list for multi-label), `payload_of(i)` its text; `overrides` replace a
    labels column per row (e.g. confidence=lambda i: 0.5, or answer=... for a kind answering in JSON)."""
    multi = kind_of(cfg).storage.column == "labels"
    labels = cfg.labels
    label_of = label_of or (lambda i: [labels[i % len(labels)]] if multi else labels[i % len(labels)])
    total = n + unresolved
    ids = [iid(i) for i in range(total)]
    items = pa.table({
        "item_id": ids, "kind": ["text"] * total, "payload": [(payload_of or "text number {}".format)(i) for i in range(total)],
        "source": ["data/x.jsonl"] * total, "source_row": list(range(1, total + 1)),
    })
    votes_rows = []
    for i in range(total):
        for src in ("human:alice", "lf:kw"):
            lab = label_of(i)
            votes_rows.append({"vote_id": hashlib.md5(f"{src}{i}".encode()).hexdigest(), "item_id": ids[i], "source_id": src,
                               "source_kind": src.split(":")[0], "label": None if multi else lab,
                               "labels": lab if multi else None, "confidence": 0.9})
    cols = {
        "item_id": lambda i: ids[i],
        "label": lambda i: None if multi else label_of(i),
        "labels": lambda i: label_of(i) if multi else None,
        "confidence": lambda i: 0.95,
        "method": lambda i: "dawid_skene",
        "decision": lambda i: "resolved" if i < n else "needs_more",
        "n_votes": lambda i: 2,
        "n_human": lambda i: 1,
        "agreement": lambda i: 0.8,
        "sources": lambda i: ["lf:kw", "human:alice"],
    }
    cols.update(overrides)
    lab_rows = {k: [f(i) for i in range(total)] for k, f in cols.items()}
    with open_store(cfg.db_path) as con:
        con.register("_items", items)
        con.execute("INSERT INTO items (item_id, kind, payload, source, source_row) SELECT * FROM _items")
        con.register("_votes", pa.Table.from_pylist(votes_rows, schema=pa.schema([
            ("vote_id", pa.string()), ("item_id", pa.string()), ("source_id", pa.string()), ("source_kind", pa.string()),
            ("label", pa.string()), ("labels", pa.list_(pa.string())), ("confidence", pa.float64())])))
        con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, label, labels, confidence) SELECT * FROM _votes")
        con.execute("INSERT INTO sources (source_id, kind, name) VALUES ('human:alice', 'human', 'alice'), ('lf:kw', 'lf', 'kw')")
        con.register("_labels", pa.table({k: pa.array(v, type=pa.list_(pa.string())) if k in ("labels", "sources") else v
                                          for k, v in lab_rows.items()}))
        con.execute(f"INSERT INTO labels ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _labels")
        for i, g in (gold or {}).items():
            con.execute("INSERT INTO gold (item_id, label, labels, origin) VALUES (?, ?, ?, 'file')",
                        [ids[i], None if multi else g, g if multi else None])


def set_labels(cfg: ProjectConfig, sql: str, params: list | None = None) -> None:
    """Change the state between exports (e.g. "UPDATE labels SET label = 'spam' WHERE ...")."""
    with open_store(cfg.db_path) as con:
        con.execute(sql, params or [])


@pytest.fixture
def project(make_project) -> ProjectConfig:
    """A single-label project (ham/spam) with 40 resolved items and gold for 10 of them, all correct."""
    cfg = make_project()
    seed_state(cfg, 40, gold={i: cfg.labels[i % 2] for i in range(10)})
    return cfg


@pytest.fixture
def tmp_export_root(tmp_path: Path) -> Path:
    return tmp_path
