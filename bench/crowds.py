"""Seeded generators of hostile crowds (and a sparse replay of real ones) for the consensus benchmarks.

Every generator returns ``(votes, truth, classes)``: votes as ``pa.Table(item_id, source_id, label)``,
truth as ``{item_id: label}``, classes as a tuple of strings. Workloads are heavy-tailed (a few
annotators do much of the work, many do a handful of items), as on real crowds: that is where a
per-source model has little evidence and shrinkage matters.
"""

from __future__ import annotations

__all__ = ["HOSTILE", "hostile_crowd", "sparse_replay"]

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _assign(rng: np.random.Generator, n_items: int, n_sources: int, per_item: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(item, source) pairs: ``per_item[i]`` distinct sources on item i, drawn by a lognormal workload."""
    load = rng.lognormal(0.0, 1.2, n_sources)
    # Gumbel top-k: sampling without replacement in proportion to load, for every item at once.
    keys = np.log(load)[None, :] + rng.gumbel(size=(n_items, n_sources))
    order = np.argsort(-keys, axis=1)
    take = np.arange(n_sources)[None, :] < per_item[:, None]
    item = np.broadcast_to(np.arange(n_items)[:, None], order.shape)[take]
    return item, order[take]


def _confusions(acc: np.ndarray, k: int, wrong: np.ndarray | None = None) -> np.ndarray:
    """Per-source confusion (S, answer, truth): diagonal ``acc[s, truth]``, errors by ``wrong`` (answer, truth)."""
    if wrong is None:
        wrong = np.ones((k, k)) - np.eye(k)
    wrong = wrong / wrong.sum(axis=0, keepdims=True)
    conf = (1 - acc)[:, None, :] * wrong[None, :, :]
    conf[:, np.arange(k), np.arange(k)] = acc
    return conf


def _draw(rng, conf: np.ndarray, truth: np.ndarray, item: np.ndarray, source: np.ndarray) -> np.ndarray:
    """One answer per (item, source) from each source's confusion column for the item's true class."""
    cum = np.cumsum(conf[source, :, truth[item]], axis=1)
    return (rng.random(len(item))[:, None] > cum).sum(axis=1).clip(max=conf.shape[1] - 1)


def _table(item, source, label, truth, k, prefix="") -> tuple[pa.Table, dict, tuple[str, ...]]:
    classes = tuple(f"c{c}" for c in range(k))
    names = np.asarray(classes, dtype=object)
    votes = pa.table({"item_id": pc.cast(pa.array(item), pa.string()),
                      "source_id": pa.array([f"{prefix}w{s}" for s in source.tolist()], pa.string()),
                      "label": pa.array(names[label].tolist(), pa.string())})
    return votes, {str(i): names[t] for i, t in enumerate(truth.tolist())}, classes


def _spammers(rng, n_items=2000, n_sources=60, k=4, share=0.4, lo=3, hi=5):
    """``share`` of the sources answer uniformly at random; the rest are right 0.6-0.9 of the time."""
    truth = rng.integers(0, k, n_items)
    acc = np.repeat(rng.uniform(0.6, 0.9, n_sources)[:, None], k, axis=1)
    spam = rng.permutation(n_sources)[: round(share * n_sources)]
    acc[spam] = 1.0 / k
    item, source = _assign(rng, n_items, n_sources, rng.integers(lo, hi + 1, n_items))
    return item, source, _draw(rng, _confusions(acc, k), truth, item, source), truth, k


def _minority(rng, n_items=3000, n_sources=50, lo=3, hi=5):
    """Binary, 5% positives; most sources miss positives often (answer the majority class)."""
    k = 2
    truth = (rng.random(n_items) < 0.05).astype(np.int64)
    acc = np.empty((n_sources, k))
    acc[:, 0] = rng.uniform(0.85, 0.98, n_sources)
    biased = rng.random(n_sources) < 0.6
    acc[:, 1] = np.where(biased, rng.uniform(0.3, 0.6, n_sources), rng.uniform(0.7, 0.9, n_sources))
    item, source = _assign(rng, n_items, n_sources, rng.integers(lo, hi + 1, n_items))
    return item, source, _draw(rng, _confusions(acc, k), truth, item, source), truth, k


def _sparse(rng, n_items=3000, n_sources=150, k=3):
    """1-3 votes per item from many occasional sources of accuracy 0.55-0.95, items of varying difficulty."""
    truth = rng.integers(0, k, n_items)
    skill = rng.uniform(0.55, 0.95, n_sources)
    item, source = _assign(rng, n_items, n_sources, rng.integers(1, 4, n_items))
    hard = rng.random(n_items) < 0.2  # hard items: everyone is closer to chance
    p = np.where(hard[item], 1.0 / k + (skill[source] - 1.0 / k) * 0.4, skill[source])
    right = rng.random(len(item)) < p
    label = np.where(right, truth[item], (truth[item] + rng.integers(1, k, len(item))) % k)
    return item, source, label, truth, k


def _colluding(rng, n_items=2000, n_sources=40, k=4, ring=6, lo=3, hi=5):
    """A ring of ``ring`` sources copies one answer sheet that is right 30% of the time; the rest 0.65-0.9."""
    truth = rng.integers(0, k, n_items)
    acc = np.repeat(rng.uniform(0.65, 0.9, n_sources)[:, None], k, axis=1)
    item, source = _assign(rng, n_items, n_sources, rng.integers(lo, hi + 1, n_items))
    label = _draw(rng, _confusions(acc, k), truth, item, source)
    sheet = np.where(rng.random(n_items) < 0.3, truth, (truth + rng.integers(1, k, n_items)) % k)
    members = rng.permutation(n_sources)[:ring]
    copied = np.isin(source, members)
    label[copied] = sheet[item[copied]]
    return item, source, label, truth, k


def _confusable(rng, n_items=2000, n_sources=50, k=4, lo=3, hi=5):
    """Classes come in look-alike pairs (0/1, 2/3): most errors land on the twin class."""
    truth = rng.integers(0, k, n_items)
    acc = np.repeat(rng.uniform(0.55, 0.85, n_sources)[:, None], k, axis=1)
    twin = np.arange(k) ^ 1
    wrong = np.full((k, k), 0.1)
    wrong[twin, np.arange(k)] = 0.8
    np.fill_diagonal(wrong, 0.0)
    item, source = _assign(rng, n_items, n_sources, rng.integers(lo, hi + 1, n_items))
    return item, source, _draw(rng, _confusions(acc, k, wrong), truth, item, source), truth, k


HOSTILE: dict[str, Callable] = {
    "spammers_40pct": _spammers,
    "minority_5pct_biased": _minority,
    "sparse_1to3": _sparse,
    "colluding_ring": _colluding,
    "confusable_pairs": _confusable,
}


def hostile_crowd(name: str, seed: int = 0) -> tuple[pa.Table, dict, tuple[str, ...]]:
    """One of ``HOSTILE``'s crowds, seeded."""
    if name not in HOSTILE:
        raise ValueError(f"unknown crowd {name!r}; choose from {sorted(HOSTILE)!r}")
    item, source, label, truth, k = HOSTILE[name](np.random.default_rng(seed))
    return _table(item, source, label, truth, k)


def sparse_replay(votes: pa.Table, lo: int = 1, hi: int = 3, seed: int = 0) -> pa.Table:
    """Keep ``lo``-``hi`` (uniform, seeded) randomly chosen votes of each item: a real crowd at sparse overlap."""
    rng = np.random.default_rng(seed)
    v = votes.filter(pc.is_valid(votes["label"]))
    items, inv = np.unique(v["item_id"].to_numpy(zero_copy_only=False).astype(str), return_inverse=True)
    rank = np.empty(len(inv), np.int64)
    order = np.lexsort((rng.random(len(inv)), inv))
    starts = np.searchsorted(inv[order], np.arange(len(items)))
    rank[order] = np.arange(len(inv)) - np.repeat(starts, np.bincount(inv, minlength=len(items)))
    keep = rank < rng.integers(lo, hi + 1, len(items))[inv]
    return v.filter(pa.array(keep))
