"""Scoring sources against gold and adjudicated answers: accuracy, Wilson interval, the ban rule.

What counts as one scored answer and when it is right is the kind's (its consensus facet calls
``score_table`` with per-answer counts); the interval and the ban rule are the same for every kind.
"""

from __future__ import annotations

__all__ = ["answer_sets", "empty_scores", "gold_confusions", "reference_answers", "reference_sets", "score_table"]

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .gold import wilson_interval
from .votes import encode_votes

if TYPE_CHECKING:
    from .pipeline import ConsensusInputs, ConsensusSettings

_STR = pa.string()


def reference_answers(inputs: ConsensusInputs, column: str = "label") -> pa.Table:
    """Accepted answers per item (``item_id`` and the answer ``column``): adjudications replace file gold."""
    adj = inputs.adjudications.select(["item_id", column])
    gold = inputs.gold.select(["item_id", column])
    if adj.num_rows:
        gold = gold.filter(pc.invert(pc.is_in(gold["item_id"], value_set=adj["item_id"].combine_chunks())))
    return pa.concat_tables([gold.cast(adj.schema), adj]) if adj.num_rows else gold


def answer_sets(votes: pa.Table, classes: Sequence[str]) -> tuple[pa.Table, np.ndarray]:
    """(item, source) answers with a class-membership matrix (one row per answer)."""
    k = len(classes)
    enc = encode_votes(votes, classes)
    pair = enc.item.astype(np.int64) * enc.n_sources + enc.source
    pairs, inv = np.unique(pair, return_inverse=True)
    member = np.zeros((len(pairs), k), dtype=bool)
    ok = enc.label >= 0
    member[inv[ok], enc.label[ok]] = True
    items = pc.take(enc.item_ids.cast(_STR), pa.array(pairs // enc.n_sources))
    sources = pc.take(enc.source_ids.cast(_STR), pa.array(pairs % enc.n_sources))
    return pa.table({"item_id": items, "source_id": sources}), member


def reference_sets(ref: pa.Table, items: pa.Array, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per answer row: the accepted class set and whether the item has a reference at all."""
    k = len(classes)
    ref_items = pc.unique(ref["item_id"].combine_chunks().cast(_STR))
    has = pc.is_in(items, value_set=ref_items).to_numpy(zero_copy_only=False)
    pos = pc.index_in(ref["item_id"].combine_chunks().cast(_STR), value_set=ref_items).to_numpy(zero_copy_only=False)
    code = pc.index_in(ref["label"].combine_chunks().cast(_STR), value_set=pa.array(list(classes), _STR))
    valid = pc.is_valid(code).to_numpy(zero_copy_only=False)
    sets = np.zeros((len(ref_items), k), dtype=bool)
    sets[pos[valid].astype(np.int64), code.to_numpy(zero_copy_only=False)[valid].astype(np.int64)] = True
    row = pc.index_in(items, value_set=ref_items).to_numpy(zero_copy_only=False)
    row = np.nan_to_num(row.astype(np.float64), nan=0).astype(np.int64)
    return (sets[row] if len(ref_items) else np.zeros((len(items), k), bool)), has


def empty_scores() -> pa.Table:
    """``score_table``'s shape with no rows: nothing scored (no gold, no votes on it)."""
    return pa.table({"source_id": pa.array([], _STR), "n_gold": pa.array([], pa.int64()),
                     "correct": pa.array([], pa.int64()), "low": pa.array([], pa.float64()),
                     "high": pa.array([], pa.float64()), "accuracy": pa.array([], pa.float64()),
                     "banned": pa.array([], pa.bool_())})


def score_table(s: ConsensusSettings, src: pa.Array, n_cells: np.ndarray, right: np.ndarray) -> pa.Table:
    """Per source: scored cells, right ones, accuracy, Wilson interval and whether the ban rule fires.

    One entry per scored answer: ``src`` its source, ``n_cells`` how many scored questions it holds
    (1 for a label; one per label for a set; 0 where the item has no reference), ``right`` how
    many of them match the accepted answer.
    """
    enc = src.dictionary_encode()
    idx = enc.indices.to_numpy(zero_copy_only=False)
    m = len(enc.dictionary)
    n = np.bincount(idx, weights=n_cells, minlength=m)
    c = np.bincount(idx, weights=right.astype(np.float64), minlength=m)
    low, high = wilson_interval(c, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, c / np.where(n > 0, n, 1), np.nan)
    banned = (n >= s.min_answers_for_ban) & (high < s.ban_below)
    return pa.table({"source_id": enc.dictionary, "n_gold": pa.array(n.astype(np.int64)),
                     "correct": pa.array(c.astype(np.int64)), "low": pa.array(low), "high": pa.array(high),
                     "accuracy": pa.array(acc, mask=np.isnan(acc)), "banned": pa.array(banned)})


def gold_confusions(inputs: ConsensusInputs) -> dict[str, dict]:
    """Per source: counts of {true label: {answered label: n}} on items with one accepted label."""
    if inputs.scoring_votes.num_rows == 0:
        return {}
    ref = reference_answers(inputs)
    single = ref.group_by("item_id").aggregate([("label", "count")]).filter(pc.equal(pc.field("label_count"), 1))
    ref = ref.filter(pc.is_in(ref["item_id"], value_set=single["item_id"].combine_chunks()))
    v = inputs.scoring_votes.filter(pc.is_valid(inputs.scoring_votes["label"]))
    j = v.select(["item_id", "source_id", "label"]).join(ref.rename_columns(["item_id", "true"]), "item_id",
                                                        join_type="inner")
    g = j.group_by(["source_id", "true", "label"]).aggregate([("item_id", "count")])
    out: dict[str, dict] = {}
    for r in g.to_pylist():
        out.setdefault(r["source_id"], {}).setdefault(r["true"], {})[r["label"]] = r["item_id_count"]
    return out
