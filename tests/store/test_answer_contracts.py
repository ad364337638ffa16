"""The Votes / Labels / Gold contracts and the JSON `answer` column structured kinds store answers in."""

import pyarrow as pa
import pytest

from schemas.tables import Gold, Labels, Votes, check
from tasks.errors import ContractError
from tasks.kinds import get, names

L = pa.list_(pa.string())


def _labels(**answer: pa.Array) -> pa.Table:
    base = {"item_id": ["a", "b"], "confidence": [0.9, 0.4], "method": ["dawid_skene", "dawid_skene"],
            "decision": ["resolved", "needs_more"], "n_votes": [3, 1], "n_human": [2, 1], "agreement": [0.5, None],
            "sources": pa.array([["human:a"], None], L)}
    return pa.table({**base, **answer})


def test_labels_carry_only_the_kinds_answer_column() -> None:
    check(_labels(label=pa.array(["ham", None])), Labels, "labels")
    check(_labels(labels=pa.array([["a", "b"], None], L)), Labels, "labels")
    check(_labels(answer=pa.array(['[{"start": 0, "end": 5, "label": "person"}]', None])), Labels, "labels")
    check(_labels(answer=pa.array(["[]", None])), Labels, "labels")  # "no entities" is an answer


@pytest.mark.parametrize("table, message", [
    (_labels(answer=pa.array(['[{"start": 0,', None])), "answer must be JSON"),
    (_labels(answer=pa.array([None, None], pa.string())), "resolved item needs a label"),
    (_labels(), "need an answer column"),
])
def test_labels_reject_a_missing_or_malformed_answer(table: pa.Table, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        check(table, Labels, "labels")


def test_votes_and_gold_accept_json_answers_and_reject_malformed_ones() -> None:
    v = pa.table({"vote_id": ["1", "2"], "item_id": ["a", "a"], "source_id": ["human:x", "lf:y"],
                  "source_kind": ["human", "lf"], "label": pa.nulls(2, pa.string()), "labels": pa.nulls(2, L),
                  "answer": ['[{"start": 1, "end": 3, "label": "place"}]', None], "confidence": [None, 0.7],
                  "probs": pa.nulls(2, pa.string()), "assignment_id": pa.nulls(2, pa.string()),
                  "duration_ms": pa.nulls(2, pa.int64()), "run_id": ["r", "r"]})
    check(v, Votes, "votes")
    check(v.drop_columns(["answer"]), Votes, "votes")  # choice kinds' producers need not send the column
    with pytest.raises(ContractError, match="answer must be JSON"):
        check(v.set_column(6, "answer", pa.array(["{not json", None])), Votes, "votes")
    g = pa.table({"item_id": ["a", "b"], "answer": ["[]", '[{"start": 0, "end": 1, "label": "x"}]'],
                  "origin": ["file", "adjudication"]})
    check(g, Gold, "gold")
    check(pa.table({"item_id": ["a"], "label": ["ham"], "origin": ["file"]}), Gold, "gold")
    with pytest.raises(ContractError, match="item_id"):
        check(g.set_column(0, "item_id", pa.array(["a", "a"])), Gold, "gold")
    with pytest.raises(ContractError, match="origin"):
        check(g.set_column(2, "origin", pa.array(["file", "guess"])), Gold, "gold")


@pytest.mark.parametrize("kind", names())
def test_labels_accept_every_method_a_kind_declares(kind: str) -> None:
    for method in get(kind).consensus.methods:
        check(_labels(answer=pa.array(["[]", None])).set_column(2, "method", pa.array([method] * 2)), Labels, "labels")


def test_labels_reject_a_method_no_kind_declares() -> None:
    with pytest.raises(ContractError, match="method"):
        check(_labels(answer=pa.array(["[]", None])).set_column(2, "method", pa.array(["box_majority"] * 2)),
              Labels, "labels")
