"""Transcript answers: canonical JSON, validation in DuckDB and of one answer, with the same reason codes."""

import json
from types import SimpleNamespace

import pyarrow as pa
import pytest

from tasks.errors import InputError
from tasks.kinds import get
from tasks.kinds.protocol import PROBLEM_SCHEMA, AnswerError
from tasks.kinds.transcript.options import TranscriptOptions
from tasks.kinds.transcript.storage import TRANSCRIPT_TYPE, check_transcript

STORAGE = get("transcript").storage

# (raw answer text, expected field, expected reason); None = valid. max_chars is 20 below.
CASES = [
    ('{"text": "hello"}', None, None),
    ('{"text": "a\\ud83d\\ude00b"}', None, None),                       # a well-formed surrogate pair: an emoji
    (r'{"text": "\\ud800 typed"}', None, None),                       # an escaped backslash, then letters
    ('{"text": "ok", "words": [{"word": "ok", "start_s": 0.1, "end_s": 0.4, "score": 0.7}]}', None, None),
    (None, "answer", "missing_answer"),
    ("nope", "answer", "malformed_json"),
    ("[1]", "answer", "not_an_object"),
    ('{"x": 1}', "answer.text", "missing_text"),
    ('{"text": 5}', "answer.text", "text_not_a_string"),
    ('{"text": "a\\ud800b"}', "answer.text", "invalid_text_encoding"),   # a lone surrogate escape
    ('{"text": "a\\u0001b"}', "answer.text", "invalid_text_encoding"),   # an escaped control character
    ('{"text": "a\x01b"}', "answer.text", "invalid_text_encoding"),      # a raw control character
    ('{"text": "bad \ufffd"}', "answer.text", "replacement_character"),
    ('{"text": "   "}', "answer.text", "empty_transcript"),
    ('{"text": "' + "x" * 21 + '"}', "answer.text", "too_long"),
    ('{"text": "ok", "words": 3}', "answer.words", "words_not_a_list"),
    ('{"text": "ok", "words": [{"word": 3}]}', "answer.words[0]", "word_not_text"),
    ('{"text": "ok", "words": [{"word": "ok", "start_s": 1, "end_s": 0.5}]}', "answer.words[0].end_s", "reversed_times"),
    ('{"text": "ok", "words": [{"word": "ok", "score": 2}]}', "answer.words[0].score", "score_out_of_range"),
]


def _validate(answers, item_ids=None, **opts):
    cfg = SimpleNamespace(answer={"max_chars": 20, **opts})
    table = pa.table({"item_id": item_ids or ["c1"] * len(answers), "source_id": ["ann"] * len(answers),
                      "answer": pa.array(answers, pa.string())})
    return STORAGE.validate(table, pa.table({"item_id": ["c1"]}), cfg)


def test_validate_names_each_bad_answer_once_with_field_and_reason():
    out = _validate([c[0] for c in CASES])
    assert out.schema == PROBLEM_SCHEMA
    got = {r["row"]: (r["field"], r["reason"]) for r in out.to_pylist()}
    want = {k: (f, r) for k, (_, f, r) in enumerate(CASES) if r is not None}
    assert got == want
    assert all(r["detail"].startswith('item "c1", source "ann": ') for r in out.to_pylist())


def test_empty_allowed_by_option_and_unknown_item():
    assert _validate(['{"text": ""}'], allow_empty=True).num_rows == 0
    out = _validate(['{"text": "hi"}'], item_ids=["zz"]).to_pylist()
    assert [(r["field"], r["reason"]) for r in out] == [("item_id", "unknown_item")]


@pytest.mark.parametrize(("raw", "field", "reason"), [c for c in CASES if c[2] is not None])
def test_one_answer_check_agrees_with_validate(raw, field, reason):
    try:  # as the app receives it: parsed (a lone surrogate and a control character survive), or as typed
        value = json.loads(raw, strict=False) if raw is not None else None
    except ValueError:
        value = raw
    with pytest.raises(AnswerError) as e:
        check_transcript(value, TranscriptOptions(max_chars=20))
    assert (e.value.field, e.value.code) == (field, reason)


def test_one_answer_check_returns_canonical_form():
    got = check_transcript('{"text": "Hi", "words": [{"word": "hi", "score": 0.5, "extra": 1}], "x": 2}')
    assert got == {"text": "Hi", "words": [{"word": "hi", "score": 0.5}]}


def test_json_round_trip_and_parse_error():
    texts = pa.array(['{"text": "hi", "words": [{"word": "hi", "confidence": 0.5}]}', '{"text": ""}', None])
    typed = STORAGE.from_json(texts)
    assert typed.type == TRANSCRIPT_TYPE
    assert [json.loads(x) if x else None for x in STORAGE.to_json(typed).to_pylist()] == \
        [{"text": "hi", "words": [{"word": "hi", "confidence": 0.5}]}, {"text": ""}, None]
    with pytest.raises(InputError, match="answer 1"):
        STORAGE.from_json(pa.array(['{"text": "ok"}', '["not", "one"]']))
