"""A probe annotator: can anything served with a task tell gold and audits from ordinary work?

Shared by the built-in app's test (tests/dispatch/test_gold_hidden.py) and Label Studio's
(tests/labelstudio/test_gold_hidden.py). The state is what a real project holds after pre-labeling:
ordinary items routed to people because the machine was unsure of them, audits of items it was sure
of, and gold items drawn from the same texts; a fifth of all items has no machine vote.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from schemas.config import ProjectConfig
from tasks.store import open_store
from tests.conftest import seed_items

__all__ = ["flatten", "probe", "seed_mixed_project"]

_WORDS = ("order", "refund", "late", "great", "broken", "thanks", "never", "again", "price", "box", "blue", "fast")


def _texts(rng: np.random.Generator, n: int) -> list[str]:
    """Texts of random length, made unique by a number of fixed width (so it says nothing)."""
    return [f"{' '.join(rng.choice(_WORDS, size=int(rng.integers(3, 30))))} #{k:05d}"
            for k in rng.permutation(n)]


def seed_mixed_project(cfg: ProjectConfig, seed: int = 7, n_work: int = 200, n_gold: int = 30,
                       n_audit: int = 30) -> dict[str, str]:
    """Items, machine votes and gold as pre-labeling leaves them; returns payload → 'work'|'gold'|'audit'."""
    rng = np.random.default_rng(seed)
    texts = _texts(rng, n_work + n_gold + n_audit)
    work, audit, gold = texts[:n_work], texts[n_work:n_work + n_audit], texts[n_work + n_audit:]
    unsure = rng.uniform(0.5, 0.85, n_work)   # routed to people: below the accept threshold
    sure = rng.uniform(0.9, 1.0, n_audit)     # auto-accepted, audited
    seed_items(cfg, work, priorities=list(1 - unsure))
    seed_items(cfg, audit, state="auto_accepted", audit=True, priorities=list(1 - sure))
    seed_items(cfg, gold, state="prelabeled", gold={t: str(rng.choice(cfg.labels)) for t in gold})
    conf = np.r_[unsure, sure, rng.uniform(0.5, 1.0, n_gold)]
    voted = rng.random(len(texts)) >= 0.2
    with open_store(cfg.db_path) as con:
        con.execute(
            "INSERT INTO votes (vote_id, item_id, source_id, source_kind, label, confidence)"
            " SELECT 'm:' || i.item_id, i.item_id, 'model:probe', 'model', s.label, s.conf"
            " FROM (SELECT unnest(?) AS payload, unnest(?) AS label, unnest(?) AS conf) s JOIN items i USING (payload)",
            [[t for t, v in zip(texts, voted) if v],
             [str(x) for x, v in zip(rng.choice(cfg.labels, len(texts)), voted) if v],
             [float(c) for c, v in zip(conf, voted) if v]]).fetchall()
    return {**{t: "work" for t in work}, **{t: "audit" for t in audit}, **{t: "gold" for t in gold}}


def flatten(obj: Any, prefix: str = "") -> dict[str, float]:
    """Every field as numbers: presence of each key path, numbers as they are, the length of strings and lists."""
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            out[f"has:{path}"] = 1.0
            out.update(flatten(v, path))
    elif isinstance(obj, list):
        out[f"len:{prefix}"] = float(len(obj))
        for i, v in enumerate(obj[:3]):
            out.update(flatten(v, f"{prefix}[{i}]"))
    elif isinstance(obj, bool):
        out[f"val:{prefix}"] = float(obj)
    elif isinstance(obj, (int, float)):
        out[f"val:{prefix}"] = float(obj)
    elif isinstance(obj, str):
        out[f"len:{prefix}"] = float(len(obj))
    elif obj is None:
        out[f"null:{prefix}"] = 1.0
    return out


def probe(rows: list[dict[str, float]], special: list[bool]) -> dict[str, float]:
    """Cross-validated accuracy of a decision tree and a logistic regression telling `special` tasks apart.

    Returns both accuracies, the majority-class rate and its 99% one-sided binomial bound: a
    classifier at or below the bound does no better than always answering the commoner class.
    """
    keys = sorted({k for r in rows for k in r})
    x = np.array([[r.get(k, 0.0) for k in keys] for r in rows])
    y = np.array(special, dtype=int)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    tree = cross_val_score(DecisionTreeClassifier(max_depth=4, random_state=0), x, y, cv=folds).mean()
    logit = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), x, y, cv=folds).mean()
    majority = max(y.mean(), 1 - y.mean())
    bound = majority + 2.33 * math.sqrt(majority * (1 - majority) / len(y))
    return {"tree": float(tree), "logit": float(logit), "majority": float(majority), "bound": float(bound),
            "n": len(y), "n_special": int(y.sum()), "features": len(keys)}
