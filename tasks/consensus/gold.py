"""Gold scoring: per-source accuracy with a Wilson interval, confusion on gold, and the ban rule."""

from __future__ import annotations

__all__ = ["wilson_interval", "score_sources", "gold_confusion", "exclude_banned"]

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import norm

from .votes import encode_gold, encode_votes


def wilson_interval(correct: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion, vectorised; n = 0 gives (0, 1).

    Wilson rather than the normal approximation because sources often have few gold answers,
    where the normal interval leaves [0, 1] and is far too narrow at accuracy 0 or 1.
    """
    correct = np.asarray(correct, np.float64)
    n = np.asarray(n, np.float64)
    z = norm.ppf(0.5 + confidence / 2)
    safe = np.where(n > 0, n, 1.0)
    p = correct / safe
    denom = 1 + z * z / safe
    centre = (p + z * z / (2 * safe)) / denom
    half = z * np.sqrt(p * (1 - p) / safe + z * z / (4 * safe * safe)) / denom
    low = np.where(n > 0, np.clip(centre - half, 0, 1), 0.0)
    high = np.where(n > 0, np.clip(centre + half, 0, 1), 1.0)
    return low, high


def _gold_votes(votes: pa.Table, gold: pa.Table, classes: Sequence[str]):
    enc = encode_votes(votes, classes)
    mask = encode_gold(gold, enc)
    if mask is None:
        mask = np.zeros((enc.n_items, enc.n_classes), dtype=bool)
    on_gold = mask.any(axis=1)[enc.item] & (enc.label >= 0)
    return enc, mask, on_gold


def score_sources(votes: pa.Table, gold: pa.Table, classes: Sequence[str], threshold: float = 0.7,
                  min_gold: int = 10, confidence: float = 0.95) -> pa.Table:
    """Accuracy of every source on gold items, with the ban decision and its evidence.

    A vote is correct when it matches any accepted gold label of its item; abstains do not
    count. A source is banned when it has at least ``min_gold`` gold answers and even the
    upper end of its Wilson interval is below ``threshold``: the evidence says it is worse
    than the project accepts, not merely unlucky.

    Returns:
        ``pa.Table(source_id, n_gold, correct, accuracy, low, high, threshold, min_gold,
        banned)``, one row per source that has votes (n_gold = 0 rows are never banned).
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be within [0, 1], got {threshold!r}")
    enc, mask, on_gold = _gold_votes(votes, gold, classes)
    right = on_gold & mask[enc.item, np.maximum(enc.label, 0)]
    n = np.bincount(enc.source, weights=on_gold.astype(np.float64), minlength=enc.n_sources)
    c = np.bincount(enc.source, weights=right.astype(np.float64), minlength=enc.n_sources)
    low, high = wilson_interval(c, n, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, c / np.where(n > 0, n, 1.0), np.nan)
    banned = (n >= min_gold) & (high < threshold)
    m = enc.n_sources
    return pa.table({
        "source_id": enc.source_ids.cast(pa.string()),
        "n_gold": pa.array(n.astype(np.int64)),
        "correct": pa.array(c.astype(np.int64)),
        "accuracy": pa.array(acc, pa.float64(), mask=np.isnan(acc)),
        "low": pa.array(low),
        "high": pa.array(high),
        "threshold": pa.array(np.full(m, float(threshold))),
        "min_gold": pa.array(np.full(m, int(min_gold), dtype=np.int64)),
        "banned": pa.array(banned),
    })


def gold_confusion(votes: pa.Table, gold: pa.Table, classes: Sequence[str]) -> pa.Table:
    """Counts of (source, gold label, answered label) on gold items with a single gold label.

    Returns ``pa.Table(source_id, true_label, label, count)`` with only non-zero cells.
    """
    enc, mask, on_gold = _gold_votes(votes, gold, classes)
    single = mask.sum(axis=1) == 1
    use = on_gold & single[enc.item]
    k = enc.n_classes
    true = np.argmax(mask, axis=1)[enc.item[use]]
    flat = np.bincount((enc.source[use] * k + true) * k + enc.label[use], minlength=enc.n_sources * k * k)
    nz = np.flatnonzero(flat)
    s, rest = np.divmod(nz, k * k)
    t, o = np.divmod(rest, k)
    cls = np.asarray(enc.classes, dtype=object)
    return pa.table({
        "source_id": pc.take(enc.source_ids.cast(pa.string()), pa.array(s)),
        "true_label": pa.array(cls[t], pa.string()),
        "label": pa.array(cls[o], pa.string()),
        "count": pa.array(flat[nz].astype(np.int64)),
    })


def exclude_banned(votes: pa.Table, scores: pa.Table) -> pa.Table:
    """Drop the votes of banned sources (``scores`` from ``score_sources`` or a stored ban list)."""
    banned = scores.filter(scores["banned"])["source_id"] if "banned" in scores.column_names \
        else scores["source_id"]
    keep = pc.invert(pc.is_in(votes["source_id"].cast(pa.string()), value_set=banned.combine_chunks().cast(pa.string())))
    return votes.filter(keep)
