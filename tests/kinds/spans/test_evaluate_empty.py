"""Span evaluation of a set with no entity at all (a round where neither truth nor answers mark any)."""

import warnings

import pyarrow as pa

from tasks.kinds.spans.evaluate import entity_scores


def test_a_set_without_any_entity_scores_instead_of_warning() -> None:
    answers = pa.table({"item_id": ["a"], "answer": ["[]"]})
    texts = pa.table({"item_id": ["a"], "payload": ["hello world"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's empty-mean warning once stopped the demo flow here
        out = entity_scores(answers, answers, texts)
    assert out["f1"] == 0.0 and out["per_type"] == {} and out["items"] == 1
