"""Factorizing ids: dictionary columns (as the stages read votes) give exactly what plain strings give."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tasks.consensus.votes import encode_votes, factorize


def test_dictionary_chunks_with_other_and_unused_values_factorize_like_strings() -> None:
    plain = pa.chunked_array([pa.array(["b", "a", "b"]), pa.array(["c", "a"])])
    # chunks with their own dictionaries, one holding a value no row uses
    encoded = pa.chunked_array([
        pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], pa.int32()), pa.array(["a", "b", "unused"])),
        pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["c", "a"])),
    ])
    ids_p, codes_p = factorize(plain, "item_id")
    ids_e, codes_e = factorize(encoded, "item_id")
    assert ids_p.to_pylist() == ids_e.to_pylist() == ["b", "a", "c"]
    assert np.array_equal(codes_p, codes_e) and codes_e.tolist() == [0, 1, 0, 2, 1]


def test_encode_votes_reads_dictionary_labels_and_ids() -> None:
    votes = pa.table({"item_id": ["i1", "i1", "i2"], "source_id": ["s1", "s2", "s1"], "label": ["pos", None, "neg"]})
    encoded = pa.table({c: pa.array(votes[c].to_pylist()).dictionary_encode() for c in votes.column_names})
    a, b = encode_votes(votes, ["neg", "pos"]), encode_votes(encoded, ["neg", "pos"])
    assert a.item_ids.to_pylist() == b.item_ids.to_pylist() and a.source_ids.to_pylist() == b.source_ids.to_pylist()
    assert np.array_equal(a.item, b.item) and np.array_equal(a.source, b.source) and np.array_equal(a.label, b.label)
