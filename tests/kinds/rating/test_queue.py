"""The rating queue: submissions checked by the app's parser, and Label Studio `Rating` results both ways."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from schemas.config import ProjectConfig
from tasks.kinds import get
from tasks.kinds.protocol import AnswerError

QUEUE = get("rating").queue


def _cfg(data_kind="text", **answer) -> ProjectConfig:
    return ProjectConfig.model_validate({"name": "r", "data_kind": data_kind, "task_kind": "rating", "labels": ["a", "b"],
                                         "answer": answer, "sources": [{"path": "x"}]})


def test_page_config_and_parse_submission() -> None:
    cfg = _cfg(scale=[1, 5], criteria=["fluency", "accuracy"], anchors={"1": "bad", "5": "great"})
    opts = QUEUE.page_config(cfg)
    assert opts == {"scale": [1, 5], "anchors": {"1": "bad", "5": "great"}, "criteria": ["fluency", "accuracy"],
                    "keys": ["1", "2", "3", "4", "5"]}
    ok = QUEUE.parse_submission({"answer": {"scores": {"fluency": 4, "accuracy": 2.0}}}, cfg.labels, opts, "t")
    assert ok == {"scores": {"fluency": 4, "accuracy": 2}}
    assert QUEUE.parse_submission({"answer": json.dumps({"scores": {"fluency": 1, "accuracy": 5}})}, cfg.labels, opts, None)
    for body, field, code in (({"answer": {"scores": {"fluency": 6, "accuracy": 2}}}, "answer.scores.fluency", "score_outside_scale"),
                              ({"answer": {"scores": {"fluency": 3}}}, "answer.scores.accuracy", "missing_criterion"),
                              ({"answer": {"scores": {"fluency": 3, "accuracy": 2, "x": 1}}}, "answer.scores.x", "unknown_criterion"),
                              ({"answer": {"scores": {"fluency": True, "accuracy": 2}}}, "answer.scores.fluency", "not_an_integer"),
                              ({}, "answer", "missing_answer")):
        with pytest.raises(AnswerError) as e:
            QUEUE.parse_submission(body, cfg.labels, opts, None)
        assert (e.value.field, e.value.code) == (field, code) and str(e.value).startswith(field)


def test_keys_for_a_long_scale() -> None:
    opts = QUEUE.page_config(_cfg(scale=[0, 10]))
    assert opts["keys"][:10] == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"] and opts["keys"][10] == ""
    assert QUEUE.page_config(_cfg(scale=[0, 9]))["keys"] == [str(k) for k in range(10)]


@pytest.mark.parametrize("data_kind", ["text", "image", "audio"])
def test_label_studio_config_has_one_rating_per_criterion(data_kind) -> None:
    cfg = _cfg(data_kind, scale=[0, 4], criteria=["fluency", "accuracy"], anchors={"0": "bad"})
    root = ET.fromstring(QUEUE.label_studio_config(cfg))
    ratings = root.findall("Rating")
    assert [(r.get("name"), r.get("toName"), r.get("maxRating")) for r in ratings] == [
        ("label_fluency", data_kind, "5"), ("label_accuracy", data_kind, "5")]
    assert root.find(data_kind.capitalize()) is not None and "0 = bad" in root.find("Header").get("value")


def test_label_studio_results_both_ways() -> None:
    cfg = _cfg(scale=[0, 4], criteria=["fluency", "accuracy"])
    answer = {"scores": {"fluency": 0, "accuracy": 4}}
    results = QUEUE.to_label_studio(json.dumps(answer), cfg)
    assert [(r["from_name"], r["type"], r["value"]["rating"]) for r in results] == [("label_fluency", "rating", 1),
                                                                                    ("label_accuracy", "rating", 5)]
    assert QUEUE.from_label_studio(results, cfg) == answer
    single = _cfg(scale=[1, 5])
    assert QUEUE.from_label_studio(QUEUE.to_label_studio('{"score": 3}', single), single) == {"score": 3}
    # Label Studio does not enforce its config: too many stars come back as a score outside the scale (collect refuses it)
    assert QUEUE.from_label_studio([{"from_name": "label", "type": "rating", "value": {"rating": 9}}], single) == {"score": 9}
    # a criterion with no stars comes back missing, so collect names it
    assert QUEUE.from_label_studio(results[:1], cfg) == {"scores": {"fluency": 0, "accuracy": None}}
    with pytest.raises(AnswerError, match=r"result\[0\].from_name"):
        QUEUE.from_label_studio([{"from_name": "label_style", "type": "rating", "value": {"rating": 2}}], cfg)
