"""Per-item resolution decisions from the posterior: resolved, needs more votes, or adjudicate."""

from __future__ import annotations

__all__ = ["DECISIONS", "decide", "human_vote_counts", "resolve_items"]

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DECISIONS = ("resolved", "needs_more", "adjudicate")


def decide(confidence: np.ndarray, n_votes: np.ndarray, target_confidence: float,
           max_overlap: int, min_votes: int = 1) -> np.ndarray:
    """Vectorised rule, returning one of ``DECISIONS`` per item.

    resolved when confidence >= target and the item has at least ``min_votes`` human votes
    (the overlap policy's first round: a posterior built on one vote of a barely known source
    is the least trustworthy number the model makes, so the policy's minimum is a floor, not a
    suggestion); needs_more when not resolved and the item has fewer human votes than
    ``max_overlap`` (dispatch asks for one more); adjudicate when the overlap budget is spent
    and it is still unresolved. A missing confidence (NaN: no usable vote) counts as below target.
    """
    if not 0 < target_confidence <= 1:
        raise ValueError(f"target_confidence must be within (0, 1], got {target_confidence!r}")
    if max_overlap < 1:
        raise ValueError(f"max_overlap must be >= 1, got {max_overlap!r}")
    if not 0 <= min_votes <= max_overlap:
        raise ValueError(f"min_votes must be within [0, max_overlap={max_overlap!r}], got {min_votes!r}")
    conf = np.nan_to_num(np.asarray(confidence, np.float64), nan=-1.0)
    n = np.asarray(n_votes)
    out = np.where((conf >= target_confidence) & (n >= min_votes), 0, np.where(n < max_overlap, 1, 2))
    return np.asarray(DECISIONS, dtype=object)[out]


def human_vote_counts(votes: pa.Table, human_sources: pa.Array | None = None) -> pa.Table:
    """Non-abstain votes per item, counting only ``human_sources`` when given.

    Model and labeling-function votes do not use up the human overlap budget.
    """
    v = votes.filter(pc.is_valid(votes["label"]))
    if human_sources is not None:
        v = v.filter(pc.is_in(v["source_id"], value_set=pa.array(human_sources).cast(v["source_id"].type)))
    g = v.group_by("item_id").aggregate([("source_id", "count")])
    return g.rename_columns(["item_id", "n_votes"])


def resolve_items(labels: pa.Table, n_votes: pa.Table, target_confidence: float, max_overlap: int,
                  adjudications: pa.Table | None = None, min_votes: int = 1) -> pa.Table:
    """Attach a decision to each aggregated label; adjudicated labels override.

    Args:
        labels: ``pa.Table(item_id, label, confidence)`` from an aggregator.
        n_votes: ``pa.Table(item_id, n_votes)`` human votes per item (see ``human_vote_counts``).
        target_confidence, max_overlap, min_votes: the project's settings (see ``decide``).
        adjudications: ``pa.Table(item_id, label)`` from the expert queue.

    Returns:
        ``pa.Table(item_id, label, confidence, n_votes, decision, adjudicated)``; an
        adjudicated item gets the expert's label, confidence 1.0 and decision "resolved".
    """
    ids = labels["item_id"].combine_chunks().cast(pa.string())
    pos = pc.index_in(ids, value_set=n_votes["item_id"].combine_chunks().cast(pa.string()))
    counts = pc.take(n_votes["n_votes"].combine_chunks(), pos)
    n = pc.fill_null(counts, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    conf = labels["confidence"].combine_chunks().cast(pa.float64())
    conf_np = pc.fill_null(conf, np.nan).to_numpy(zero_copy_only=False)
    label = labels["label"].combine_chunks().cast(pa.string())
    adjudicated = np.zeros(len(ids), dtype=bool)
    if adjudications is not None and adjudications.num_rows:
        apos = pc.index_in(ids, value_set=adjudications["item_id"].combine_chunks().cast(pa.string()))
        adjudicated = pc.is_valid(apos).to_numpy(zero_copy_only=False)
        expert = pc.take(adjudications["label"].combine_chunks().cast(pa.string()), apos)
        label = pc.if_else(pa.array(adjudicated), expert, label)
        conf_np = np.where(adjudicated, 1.0, conf_np)
    decision = decide(conf_np, n, target_confidence, max_overlap, min_votes)
    decision[adjudicated] = "resolved"
    return pa.table({
        "item_id": ids, "label": label,
        "confidence": pa.array(conf_np, pa.float64(), mask=np.isnan(conf_np)),
        "n_votes": pa.array(n), "decision": pa.array(decision, pa.string()),
        "adjudicated": pa.array(adjudicated),
    })
