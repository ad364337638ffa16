"""Vote-table encoding shared by every aggregator: ids to integer codes, labels to class codes."""

from __future__ import annotations

__all__ = [
    "ABSTAIN",
    "EncodedVotes",
    "encode_votes",
    "encode_gold",
    "factorize",
    "check_option",
    "label_table",
    "proba_table",
    "empty_votes",
]

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InvalidVotesError, UnknownLabelError

ABSTAIN = -1
"""Class code of an explicit abstain (a null label)."""

_REQUIRED = ("item_id", "source_id", "label")


@dataclass(frozen=True)
class EncodedVotes:
    """Votes as integer codes, the only form the algorithms see.

    Attributes:
        item_ids: distinct item ids, in order of first appearance; ``item`` indexes it.
        source_ids: distinct source ids, in order of first appearance; ``source`` indexes it.
        classes: the project's ordered label set; ``label`` indexes it, -1 is an abstain.
        item, source, label: one entry per vote.
        weight: one float per vote (1.0 when the table has no weight column).
    """

    item_ids: pa.Array
    source_ids: pa.Array
    classes: tuple[str, ...]
    item: np.ndarray
    source: np.ndarray
    label: np.ndarray
    weight: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_sources(self) -> int:
        return len(self.source_ids)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_votes(self) -> int:
        return len(self.item)

    def class_counts(self) -> np.ndarray:
        """Weighted non-abstain votes per item and class, shape (n_items, n_classes)."""
        k = self.n_classes
        voted = self.label >= 0
        flat = np.bincount(
            self.item[voted] * k + self.label[voted],
            weights=self.weight[voted],
            minlength=self.n_items * k,
        )
        return flat.reshape(self.n_items, k)


def check_option(name: str, value: str, allowed: Sequence[str]) -> str:
    """Validate a string-enum option, echoing the bad value with ``!r``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)!r}, got {value!r}")
    return value


def _as_string(col: pa.ChunkedArray) -> pa.Array:
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = col.cast(pa.string())
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def factorize(col: pa.ChunkedArray | pa.Array, name: str) -> tuple[pa.Array, np.ndarray]:
    """Distinct ids in order of first appearance, and each row's position among them.

    A dictionary column (as the consensus stage reads ids) is factorized through its integer
    indices, never decoded to one string per vote; its dictionary may hold unused values.
    """
    if col.null_count:
        raise InvalidVotesError(f"column {name!r} has {col.null_count} null value(s); every vote needs an id")
    if pa.types.is_dictionary(col.type):
        if isinstance(col, pa.ChunkedArray):
            col = col.unify_dictionaries() if col.num_chunks > 1 else col
            dictionary = col.chunk(0).dictionary if col.num_chunks else pa.array([], col.type.value_type)
            indices = pa.chunked_array([c.indices for c in col.chunks], col.type.index_type).combine_chunks()
        else:
            dictionary, indices = col.dictionary, col.indices
        enc = indices.dictionary_encode()
        return _as_string(dictionary.take(enc.dictionary)), enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    enc = _as_string(col).dictionary_encode()
    return enc.dictionary, enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def encode_votes(votes: pa.Table, classes: Sequence[str]) -> EncodedVotes:
    """Factorize a votes table once, so the algorithms only touch numpy arrays.

    Args:
        votes: columns ``item_id``, ``source_id``, ``label`` (null = explicit abstain) and an
            optional ``weight`` (float, null read as 1.0).
        classes: the project's ordered label set.

    Raises:
        InvalidVotesError: a required column is missing, an id is null or a weight negative.
        UnknownLabelError: a non-null label is not in ``classes``.
    """
    classes = tuple(str(c) for c in classes)
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise InvalidVotesError(f"classes must hold at least two distinct labels, got {list(classes)!r}")
    missing = [c for c in _REQUIRED if c not in votes.column_names]
    if missing:
        raise InvalidVotesError(
            f"votes table lacks column(s) {missing!r}; it has {votes.column_names!r}"
        )
    item_ids, item = factorize(votes.column("item_id"), "item_id")
    source_ids, source = factorize(votes.column("source_id"), "source_id")
    raw = votes.column("label")
    if not pa.types.is_dictionary(raw.type):  # a dictionary column is matched through its dictionary
        raw = _as_string(raw)
    value_type = raw.type.value_type if pa.types.is_dictionary(raw.type) else raw.type
    code = pc.index_in(raw, value_set=pa.array(classes, type=value_type))
    unknown = pc.and_(pc.is_null(code), pc.is_valid(raw))
    if pc.any(unknown).as_py():
        bad_rows = pc.filter(raw, unknown)
        first = int(pc.index(unknown, True).as_py())
        raise UnknownLabelError(
            pc.unique(bad_rows).to_pylist(),
            votes.column("source_id")[first].as_py(),
            votes.column("item_id")[first].as_py(),
            classes,
        )
    label = pc.fill_null(code, ABSTAIN).to_numpy(zero_copy_only=False).astype(np.int64)
    if "weight" in votes.column_names:
        weight = pc.fill_null(votes.column("weight").cast(pa.float64()), 1.0).to_numpy()
        weight = np.ascontiguousarray(weight, dtype=np.float64)
        if (weight < 0).any() or not np.isfinite(weight).all():
            raise InvalidVotesError("column 'weight' must hold finite, non-negative numbers")
    else:
        weight = np.ones(len(item), dtype=np.float64)
    return EncodedVotes(item_ids, source_ids, classes, item, source, label, weight)


def encode_gold(gold: pa.Table | None, enc: EncodedVotes) -> np.ndarray | None:
    """Gold answers as a boolean mask (n_items, n_classes) of accepted classes, or None.

    An item may have several accepted gold labels (one row each); items with gold but no
    votes are ignored here (nothing to anchor), a gold label outside the label set raises.
    """
    if gold is None or gold.num_rows == 0:
        return None
    for c in ("item_id", "label"):
        if c not in gold.column_names:
            raise InvalidVotesError(f"gold table lacks column {c!r}; it has {gold.column_names!r}")
    items = _as_string(gold.column("item_id"))
    labels = _as_string(gold.column("label"))
    code = pc.index_in(labels, value_set=pa.array(enc.classes, type=labels.type))
    bad = pc.is_null(code)
    if pc.any(bad).as_py():
        first = int(pc.index(bad, True).as_py())
        raise UnknownLabelError(
            pc.unique(pc.filter(labels, bad)).to_pylist(), None, items[first].as_py(),
            enc.classes, what="gold",
        )
    row = pc.index_in(items, value_set=enc.item_ids.cast(items.type)).to_numpy(zero_copy_only=False)
    keep = ~np.isnan(row.astype(np.float64))
    mask = np.zeros((enc.n_items, enc.n_classes), dtype=bool)
    mask[row[keep].astype(np.int64), code.to_numpy(zero_copy_only=False)[keep].astype(np.int64)] = True
    return mask


def label_table(item_ids: pa.Array, probas: np.ndarray, classes: Sequence[str]) -> pa.Table:
    """Most probable class per item; ties go to the earlier class in ``classes``.

    Rows whose probabilities are undefined (NaN: no usable vote) get a null label and confidence.
    """
    n = len(item_ids)
    if n == 0:
        return pa.table({"item_id": pa.array([], pa.string()), "label": pa.array([], pa.string()),
                         "confidence": pa.array([], pa.float64())})
    undefined = np.isnan(probas).any(axis=1)
    safe = np.where(undefined[:, None], 0.0, probas)
    best = np.argmax(safe, axis=1)
    conf = safe[np.arange(n), best]
    labels = pa.array(np.asarray(classes, dtype=object)[best], pa.string())
    labels = pc.if_else(pa.array(undefined), pa.nulls(n, pa.string()), labels)
    return pa.table({
        "item_id": item_ids.cast(pa.string()),
        "label": labels,
        "confidence": pa.array(conf, pa.float64(), mask=undefined),
    })


def proba_table(item_ids: pa.Array, probas: np.ndarray, classes: Sequence[str]) -> pa.Table:
    """One float column per class (named after it); NaN rows become nulls."""
    cols = {"item_id": item_ids.cast(pa.string())}
    for k, c in enumerate(classes):
        col = probas[:, k] if len(probas) else np.zeros(0)
        cols[c] = pa.array(col, pa.float64(), mask=np.isnan(col))
    return pa.table(cols)


def empty_votes() -> pa.Table:
    """A votes table with no rows and the contract's columns."""
    return pa.table({"item_id": pa.array([], pa.string()), "source_id": pa.array([], pa.string()),
                     "label": pa.array([], pa.string())})
