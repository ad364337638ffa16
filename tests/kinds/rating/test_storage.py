"""Rating answers checked in DuckDB: integer scores inside the scale, every criterion present, each
problem naming `answer.score` / `answer.scores.<criterion>`; JSON to Arrow and back."""

from __future__ import annotations

import pyarrow as pa
import pytest

from schemas.config import ProjectConfig
from tasks.errors import InputError
from tasks.kinds import get
from tasks.kinds.rating.storage import from_json, to_json

KIND = get("rating")


def _cfg(**answer) -> ProjectConfig:
    return ProjectConfig.model_validate({"name": "r", "data_kind": "text", "task_kind": "rating", "labels": ["a", "b"],
                                         "answer": answer, "sources": [{"path": "x.jsonl"}]})


ITEMS = pa.table({"item_id": ["i1", "i2"], "metadata": [None, None]})


def _problems(cfg: ProjectConfig, answers: list, sources=None) -> list[tuple]:
    t = pa.table({"item_id": ["i1"] * len(answers), "source_id": sources or [f"s{k}" for k in range(len(answers))],
                  "answer": answers})
    return [(r["row"], r["field"], r["reason"]) for r in KIND.storage.validate(t, ITEMS, cfg).to_pylist()]


def test_single_score_inside_the_scale() -> None:
    cfg = _cfg(scale=[1, 5])
    got = _problems(cfg, ['{"score": 1}', '{"score": 5}', '{"score": 0}', '{"score": 6}', '{"score": 2.5}',
                          '{"score": "4"}', '{"rating": 3}', '[3]', 'not json', None])
    assert got == [(2, "answer.score", "score_outside_scale"), (3, "answer.score", "score_outside_scale"),
                   (4, "answer.score", "not_an_integer"), (5, "answer.score", "not_an_integer"),
                   (6, "answer.score", "missing_field"), (7, "answer", "not_a_rating"),
                   (8, "answer", "malformed_json"), (9, "answer", "missing_answer")]


def test_every_criterion_present_and_on_the_scale() -> None:
    cfg = _cfg(scale=[0, 10], criteria=["fluency", "accuracy"])
    got = _problems(cfg, ['{"scores": {"fluency": 0, "accuracy": 10}}', '{"scores": {"fluency": 11, "accuracy": 3}}',
                          '{"scores": {"fluency": 3}}', '{"scores": {"fluency": 3, "accuracy": 3, "style": 2}}',
                          '{"score": 3}'])
    assert got == [(1, "answer.scores.fluency", "score_outside_scale"), (2, "answer.scores.accuracy", "missing_criterion"),
                   (3, "answer.scores.style", "unknown_criterion"), (4, "answer.scores", "missing_field")]
    detail = KIND.storage.validate(pa.table({"item_id": ["i1"], "source_id": ["ann"], "answer": ['{"scores": {"fluency": 11, "accuracy": 3}}']}),
                                   ITEMS, cfg)["detail"][0].as_py()
    assert detail == 'item "i1", source "ann": answer.scores.fluency = 11 is outside the scale 0-10'


def test_unknown_item_is_named() -> None:
    t = pa.table({"item_id": ["zz"], "source_id": ["s"], "answer": ['{"score": 3}']})
    assert KIND.storage.validate(t, ITEMS, _cfg())["reason"].to_pylist() == ["unknown_item"]


def test_json_round_trip_and_bad_text() -> None:
    texts = pa.array(['{"score":3}', '{"scores":{"a":2,"b":1}}', None])
    arr = from_json(texts)
    assert arr.type == KIND.storage.arrow_type
    assert to_json(arr).to_pylist() == ['{"score":3}', '{"scores":{"a":2,"b":1}}', None]
    with pytest.raises(InputError, match="answer 0"):
        from_json(pa.array(['{"nope": 1}']))


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="low < high"):
        _cfg(scale=[5, 1])
    with pytest.raises(ValueError, match="not scores on the scale"):
        _cfg(scale=[1, 5], anchors={"7": "too high"})
