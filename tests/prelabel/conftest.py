"""Tiny text projects for the pre-labeling tests: items ingested, gold stored, LFs on disk."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from schemas.config import ProjectConfig
from tasks.ingest.stage import import_gold, ingest_source, register_project

SPAM = [
    "check out my channel please",
    "subscribe to my channel for free money",
    "visit www.spam.com now",
    "free gift cards at http://x.co",
    "please subscribe and like my video",
    "earn money fast check my page",
    "sub 4 sub anyone? check out my channel",
    "my new mixtape is out, check it out",
]
HAM = [
    "i love this song",
    "best song ever",
    "this video is so funny",
    "who is watching in 2015",
    "great voice and nice dance",
    "wow",
    "the chorus is amazing",
    "classic, still love it",
]

LF_MODULE = '''
import numpy as np
from tasks.prelabel.lf import labeling_function


@labeling_function(name="py_love", labels=["ham"])
def py_love(batch):
    return np.where(batch["payload"].str.contains("love"), "ham", None)


@labeling_function(name="py_raises")
def py_raises(batch):
    if batch["payload"].str.contains("wow").any():
        raise ValueError("cannot handle wow")
    return [None] * len(batch)


@labeling_function(name="py_unknown")
def py_unknown(batch):
    return np.where(batch["payload"].str.contains("money"), "eggs", None)


@labeling_function(name="py_arrow", input="arrow")
def py_arrow(batch):
    import pyarrow.compute as pc
    hit = pc.match_substring(batch["payload"], "subscribe")
    return pc.if_else(hit, "spam", None)
'''

SQL_LFS = [
    {"name": "kw_check", "sql": "CASE WHEN regexp_matches(lower(payload), 'check') THEN 'spam' END"},
    {"name": "kw_song", "sql": "CASE WHEN payload LIKE '%song%' THEN 'ham' END"},
    {"name": "sql_unknown", "sql": "CASE WHEN payload LIKE '%free%' THEN 'maybe' END"},
    {"name": "sql_broken", "sql": "CASE WHEN no_such_column > 1 THEN 'spam' END"},
]


def build_text_project(root: Path, make: Callable[..., ProjectConfig], *, module: str, lfs: list[dict] | None = None,
                       gold_n: int = 6, **overrides: Any) -> ProjectConfig:
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    rows = [{"text": t, "truth": "spam"} for t in SPAM] + [{"text": t, "truth": "ham"} for t in HAM]
    (data / "items.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    gold = [r for r in rows if r["truth"] == "spam"][: gold_n // 2] + [r for r in rows if r["truth"] == "ham"][: gold_n // 2]
    (root / "gold.csv").write_text("text,label\n" + "\n".join(f'"{r["text"]}",{r["truth"]}' for r in gold) + "\n")
    (root / f"{module}.py").write_text(LF_MODULE)
    sys.modules.pop(module, None)
    default_lfs = SQL_LFS + [{"name": n, "python": f"{module}:{n}"} for n in ("py_love", "py_raises", "py_unknown", "py_arrow")]
    cfg = make(
        sources=[{"path": "data/items.jsonl"}],
        gold={"path": "gold.csv"},
        prelabel={"labeling_functions": default_lfs if lfs is None else lfs, **overrides.pop("prelabel", {})},
        **overrides,
    )
    register_project(cfg)
    for src in cfg.sources:
        ingest_source(cfg, src)
    import_gold(cfg)
    return cfg


@pytest.fixture
def text_project(tmp_path: Path, make_project: Callable[..., ProjectConfig], request: pytest.FixtureRequest) -> Callable[..., ProjectConfig]:
    module = "lfs_" + request.node.name.replace("[", "_").replace("]", "_").replace("-", "_")
    return lambda **kw: build_text_project(tmp_path / "project", make_project, module=module, **kw)
