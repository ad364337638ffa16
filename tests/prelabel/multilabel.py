"""A small multi-label text project: support tickets tagged billing / bug / feature (any subset, empty included).

Each ticket is built from one phrase per true label plus neutral filler, drawn with a fixed seed, so the
truth is known for every item; a share of items gets gold (stored in `gold.labels`, as the ingest of a
multi-label gold file would). The labeling functions use every output form a multi-label LF has.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from schemas.config import ProjectConfig
from tasks.ingest.stage import ingest_source, register_project
from tasks.store import open_store

LABELS = ["billing", "bug", "feature"]
PHRASES = {
    "billing": ["i was charged twice this month", "the invoice shows the wrong amount", "please refund my payment",
                "my card was billed after i cancelled"],
    "bug": ["the app crashes when i open settings", "the export button throws an error", "sync is broken since the update",
            "the page freezes on login"],
    "feature": ["please add a dark mode", "it would be great to have an api", "can you support csv import",
                "i wish there was a calendar view"],
}
FILLER = ["hello team", "thanks in advance", "regards", "quick question", "hi there", "best wishes"]

LF_MODULE = '''
import numpy as np
import pandas as pd
from tasks.prelabel.lf import labeling_function


@labeling_function(name="py_feature_set", labels=["feature"])
def py_feature_set(batch):
    """A set over its declared label: {'feature'} = present, {} = absent; None abstains."""
    has = batch["payload"].str.contains("please add|would be great|can you support|i wish")
    quiet = batch["payload"].str.len() < 30
    return [{"feature"} if h else (set() if q else None) for h, q in zip(has, quiet)]


@labeling_function(name="py_bug_frame")
def py_bug_frame(batch):
    """Per-label booleans: bug present on crash words, absent on billing words, else abstain."""
    crash = batch["payload"].str.contains("crash|error|broken|freezes")
    money = batch["payload"].str.contains("charged|invoice|refund|billed")
    return pd.DataFrame({"bug": np.where(crash, True, np.where(money & ~crash, False, None))})


@labeling_function(name="py_eggs", labels=["billing"])
def py_eggs(batch):
    return [["eggs"] if "refund" in t else None for t in batch["payload"]]
'''

SQL_LFS = [
    # a label: present, no word on the others
    {"name": "kw_billing", "sql": "CASE WHEN regexp_matches(payload, 'charged|invoice|refund|billed') THEN 'billing' END"},
    # per-label booleans as a struct
    {"name": "kw_feature_struct",
     "sql": "CASE WHEN regexp_matches(payload, 'dark mode|api|csv') THEN {'feature': true}"
            " WHEN regexp_matches(payload, 'crashes|error') THEN {'feature': false} END"},
]
GOOD_PY = ["py_feature_set", "py_bug_frame"]


def tickets(n: int, seed: int = 7) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        truth = [c for c in LABELS if rng.random() < 0.4]
        parts = [str(rng.choice(FILLER))] + [str(rng.choice(PHRASES[c])) for c in truth]
        if rng.random() < 0.5:
            parts.append(str(rng.choice(FILLER)))
        rows.append({"text": f"#{k} " + ", ".join(parts), "truth": truth})
    return rows


def build_multilabel_project(root: Path, make: Callable[..., ProjectConfig], *, module: str, n: int = 240, n_gold: int = 90,
                             lfs: list[dict] | None = None, **overrides: Any) -> tuple[ProjectConfig, dict[str, list[str]]]:
    """The project on a real DuckDB file, its items ingested and `n_gold` items' true labels stored as gold.

    Returns the config and the truth of every item by item id.
    """
    rows = tickets(n)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "items.jsonl").write_text("\n".join(json.dumps({"text": r["text"]}) for r in rows) + "\n")
    (root / f"{module}.py").write_text(LF_MODULE)
    sys.modules.pop(module, None)
    default = SQL_LFS + [{"name": name, "python": f"{module}:{name}"} for name in GOOD_PY]
    cfg = make(task_kind="multi_label", labels=LABELS, sources=[{"path": "data/items.jsonl"}],
               prelabel={"labeling_functions": default if lfs is None else lfs, **overrides.pop("prelabel", {})}, **overrides)
    register_project(cfg)
    for src in cfg.sources:
        ingest_source(cfg, src)
    with open_store(cfg.db_path) as con:
        ids = dict(con.execute("SELECT payload, item_id FROM items").fetchall())
        truth = {ids[r["text"]]: r["truth"] for r in rows}
        gold = [(ids[r["text"]], r["truth"]) for r in rows[:n_gold]]
        con.executemany("INSERT INTO gold (item_id, labels, origin) VALUES (?, ?, 'file')", gold)
    return cfg, truth
