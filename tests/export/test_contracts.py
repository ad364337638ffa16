"""Pandera contracts of the state tables: one valid batch and the failures each model must catch."""

from __future__ import annotations

import pyarrow as pa
import pytest

from schemas.tables import (
    Assignments,
    ExportRows,
    Judgments,
    Labels,
    SourceStats,
    Votes,
    check,
)
from tasks.errors import ContractError

L = pa.list_(pa.string())


def _fails(table: pa.Table, model, *needles: str) -> None:
    with pytest.raises(ContractError) as ei:
        check(table, model, "test")
    for n in needles:
        assert n in str(ei.value)


def test_votes() -> None:
    t = pa.table({"vote_id": ["v1", "v2"], "item_id": ["a", "a"], "source_id": ["human:ann", "lf:kw"],
                  "source_kind": ["human", "lf"], "label": ["ham", None], "labels": pa.array([None, None], L),
                  "confidence": [None, 0.7], "probs": [None, None], "assignment_id": ["as1", None],
                  "duration_ms": pa.array([1200, None], pa.int64()), "run_id": [None, None]})
    check(t, Votes, "votes")
    _fails(t.set_column(3, "source_kind", pa.array(["model", "lf"])), Votes, "source_id prefix")
    _fails(t.set_column(6, "confidence", pa.array([1.5, 0.7])), Votes, "confidence")


def test_assignments_and_judgments() -> None:
    a = pa.table({"assignment_id": ["0" * 32], "item_id": ["a"], "queue": ["builtin"], "kind": ["gold"], "round": [1], "slot": [0],
                  "priority": [0.5], "state": ["pending"], "annotator_id": ["ann"]})
    check(a, Assignments, "assignments")
    _fails(a.set_column(7, "state", pa.array(["lost"])), Assignments, "state")
    _fails(a.set_column(3, "kind", pa.array(["label"])), Assignments, "only gold assignments may target an annotator")
    j = pa.table({"judgment_id": ["j"], "assignment_id": ["x"], "item_id": ["a"], "annotator_id": ["ann"], "label": ["ham"],
                  "duration_ms": pa.array([900], pa.int64())})
    check(j, Judgments, "judgments")
    _fails(j.set_column(5, "duration_ms", pa.array([-1], pa.int64())), Judgments, "duration_ms")


def test_labels_and_source_stats() -> None:
    t = pa.table({"item_id": ["a", "b"], "label": ["ham", None], "labels": pa.array([None, None], L), "confidence": [0.9, 0.4],
                  "method": ["dawid_skene", "auto"], "decision": ["resolved", "needs_more"], "n_votes": [3, 1], "n_human": [2, 0],
                  "agreement": [0.5, None], "sources": pa.array([["human:a"], None], L), "run_id": ["r", "r"]})
    check(t, Labels, "labels")
    _fails(t.set_column(0, "item_id", pa.array(["a", "a"])), Labels, "item_id")
    _fails(t.set_column(1, "label", pa.array([None, None], pa.string())), Labels, "resolved item needs a label")
    s = pa.table({"source_id": ["human:a"], "kind": ["human"], "n_votes": [10], "n_gold": [4], "gold_correct": [3],
                  "gold_accuracy": [0.75], "gold_low": [0.3], "gold_high": [0.95], "learned_accuracy": [0.8],
                  "agreement_with_consensus": [0.9], "confusion": ["{}"]})
    check(s, SourceStats, "source stats")
    _fails(s.set_column(4, "gold_correct", pa.array([5])), SourceStats, "gold_correct")


def test_export_rows() -> None:
    t = pa.table({"item_id": ["a"], "kind": ["text"], "payload": ["hi"], "uri": [None], "label": ["ham"], "confidence": [0.9],
                  "method": ["glad"], "n_votes": pa.array([2], pa.int32()), "n_human": pa.array([1], pa.int32()),
                  "agreement": [None], "sources": pa.array([["human:a"]], L)})
    check(t, ExportRows, "export")
    _fails(t.append_column("labels", pa.array([["ham"]], L)), ExportRows, "exactly one of label / labels")
    _fails(t.set_column(2, "payload", pa.array([None], pa.string())), ExportRows, "payload or a URI")
    _fails(t.append_column("extra", pa.array([1])), ExportRows, "extra")


def test_chunked_check_sees_duplicates_across_chunks_and_counts_rows_from_the_start(monkeypatch) -> None:
    import schemas.tables as tables

    monkeypatch.setattr(tables, "CHECK_CHUNK_ROWS", 2)
    ids = ["a" * 32, "b" * 32, "c" * 32, "a" * 32, "d" * 32]  # the duplicate sits in another chunk
    t = pa.table({"assignment_id": ids, "item_id": list("vwxyz"), "queue": ["q"] * 5,
                  "kind": ["label", "label", "label", "label", "nonsense"], "round": [0] * 5, "slot": [0] * 5,
                  "priority": [0.0] * 5, "state": ["pending"] * 5, "annotator_id": pa.nulls(5, pa.string())})
    with pytest.raises(ContractError) as ei:
        check(t, Assignments, "test")
    cases = ei.value.failures
    assert cases[cases["check"] == "field_uniqueness"]["failure_case"].tolist() == ["a" * 32]
    bad_kind = cases[cases["column"] == "kind"]
    assert bad_kind["failure_case"].tolist() == ["nonsense"] and bad_kind["index"].tolist() == [4]
    check(t.slice(0, 3), Assignments, "test")  # the valid part passes
