"""Transcripts: how an answer is stored, carried and checked (see tasks/kinds/protocol.py, storage).

In DuckDB an answer is the JSON text `{"text": "..."}` in the `answer` column; a machine draft or a
consensus may add `words` (`[{"word", "start_s", "end_s", "score", "confidence"}]`, every key but `word`
optional). In Arrow it is `TRANSCRIPT_TYPE`.

Every place that accepts a transcript applies the same rules with the same reason codes: collect and gold
ingest check many answers at once in DuckDB (`validate`), the app's submit and a single gold row check one
with `check_transcript`. Rules, in order (the first failure is reported):
the answer present -> valid JSON (a lone UTF-16 surrogate escape or a raw control character is reported as
`invalid_text_encoding` on `answer.text`, not as bad JSON: it is what text in a wrong encoding looks like)
-> a JSON object -> `text` present and a string -> no control characters (tab and line breaks are fine)
and no U+FFFD replacement character (the mark a wrong decoding leaves) -> not empty unless
`allow_empty` -> at most `max_chars` characters -> `words`, when given, a list of objects with a text
`word`, times in seconds with start <= end, `score` / `confidence` in [0, 1].
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from tasks.errors import InputError

from ..part_answers import JSON_NUMBER_TYPES, problems_select
from ..protocol import PROBLEM_SCHEMA, AnswerError, AnswerStorage
from .options import TranscriptOptions

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "TRANSCRIPT_TYPE", "WORD_TYPE", "check_transcript", "from_json", "to_json", "validate"]

WORD_TYPE = pa.struct([("word", pa.string()), ("start_s", pa.float64()), ("end_s", pa.float64()),
                       ("score", pa.float64()), ("confidence", pa.float64())])
TRANSCRIPT_TYPE = pa.struct([("text", pa.string()), ("words", pa.list_(WORD_TYPE))])
_WORD_KEYS = ("word", "start_s", "end_s", "score", "confidence")

_CONTROL = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]"
"""Control characters a transcript never holds (tab, line feed and carriage return are allowed)."""
_LONE_SURROGATE = r"\\u[dD][89a-fA-F][0-9a-fA-F][0-9a-fA-F]"
_SURROGATE_PAIR = r"\\u[dD][89abAB][0-9a-fA-F][0-9a-fA-F]\\u[dD][c-fC-F][0-9a-fA-F][0-9a-fA-F]"

_RULES = """
WITH raw AS (
    SELECT row, item_id, source_id, answer::VARCHAR AS answer,
           -- escaped backslashes and well-formed surrogate pairs removed: what is left of \\uD8xx is lone
           regexp_replace(regexp_replace(answer::VARCHAR, '\\\\\\\\', '', 'g'), '{pair}', '', 'g') AS bare
    FROM _answers),
a AS (
    SELECT *, CASE WHEN answer IS NULL THEN 'missing_answer'
                   WHEN regexp_matches(bare, '{lone}') THEN 'invalid_text_encoding'
                   WHEN regexp_matches(answer, '{control}') THEN 'invalid_text_encoding'
                   WHEN NOT json_valid(answer) THEN 'malformed_json'
                   WHEN json_type(answer::JSON) <> 'OBJECT' THEN 'not_an_object'
                   WHEN json_type(answer::JSON, '$.text') IS NULL OR json_type(answer::JSON, '$.text') = 'NULL'
                        THEN 'missing_text'
                   WHEN json_type(answer::JSON, '$.text') <> 'VARCHAR' THEN 'text_not_a_string' END AS fault
    FROM raw),
t AS (
    SELECT a.*, CASE WHEN fault IS NULL THEN answer::JSON ->> '$.text' END AS text FROM a),
judged AS (
    SELECT t.*, i.item_id IS NOT NULL AS known,
      coalesce(fault, CASE
        WHEN regexp_matches(text, '{control}') THEN 'invalid_text_encoding'
        WHEN contains(text, chr(65533)) THEN 'replacement_character'
        WHEN trim(text) = '' AND NOT getvariable('allow_empty') THEN 'empty_transcript'
        WHEN length(text) > getvariable('max_chars') THEN 'too_long'
        WHEN i.item_id IS NULL THEN 'unknown_item' END) AS reason
    FROM t LEFT JOIN (SELECT DISTINCT item_id FROM _items) i USING (item_id)),
whole AS (
    SELECT row, item_id, source_id, reason,
      CASE WHEN reason IN ('missing_answer', 'malformed_json', 'not_an_object') THEN 'answer'
           WHEN reason = 'unknown_item' THEN 'item_id' ELSE 'answer.text' END AS field,
      CASE reason
        WHEN 'missing_answer' THEN 'the answer is missing (an empty transcript is {"text": ""})'
        WHEN 'invalid_text_encoding' THEN 'the text holds a lone surrogate or a control character, the mark of'
             || ' text decoded or escaped in the wrong encoding: save the file as UTF-8 and send it again'
        WHEN 'malformed_json' THEN 'the answer ' || left(answer, 80) || ' is not valid JSON'
        WHEN 'not_an_object' THEN 'the answer ' || left(answer, 80) || ' is not an object {"text": "..."}'
        WHEN 'missing_text' THEN 'the answer has no "text" (a transcript is {"text": "..."})'
        WHEN 'text_not_a_string' THEN 'the text ' || left(answer::JSON -> '$.text', 80) || ' is not a string'
        WHEN 'replacement_character' THEN 'the text holds U+FFFD, the mark of bytes decoded in the wrong'
             || ' encoding: ' || left(text, 60)
        WHEN 'empty_transcript' THEN 'the transcript is empty, and this project does not allow empty'
             || ' transcripts ([answer] allow_empty = false)'
        WHEN 'too_long' THEN 'the transcript has ' || length(text) || ' characters, more than [answer] max_chars = '
             || getvariable('max_chars')
        ELSE 'no ingested item has this id' END AS detail
    FROM judged WHERE reason IS NOT NULL),
words AS (
    SELECT row, item_id, source_id, unnest(range(json_array_length(answer::JSON, '$.words')::BIGINT)) AS k,
           unnest((answer::JSON -> '$.words')::JSON[]) AS w
    FROM judged
    WHERE reason IS NULL AND json_type(answer::JSON, '$.words') = 'ARRAY'),
word_faults AS (
    SELECT row, item_id, source_id, 'answer.words' AS field, 'words_not_a_list' AS reason,
           'the words ' || left(answer::JSON -> '$.words', 80) || ' are not a list of {"word": ...}' AS detail
    FROM judged
    WHERE reason IS NULL AND json_type(answer::JSON, '$.words') NOT IN ('ARRAY', 'NULL')
    UNION ALL
    SELECT row, item_id, source_id, 'answer.words[' || k || ']' || verdict[1], verdict[2],
           'answer.words[' || k || ']' || verdict[1] || ' = ' || left(coalesce((w -> ('$' || verdict[1]))::VARCHAR, 'null'), 60)
           || CASE verdict[2] WHEN 'word_not_text' THEN ' is not a word (text)'
                              WHEN 'not_a_number' THEN ' is not a finite number of seconds'
                              WHEN 'reversed_times' THEN ' is before start_s'
                              ELSE ' is not a probability in [0, 1]' END
    FROM (SELECT *, CASE
            WHEN json_type(w) <> 'OBJECT' OR json_type(w, '$.word') IS DISTINCT FROM 'VARCHAR' THEN ['', 'word_not_text']
            WHEN coalesce(json_type(w, '$.start_s'), 'NULL') NOT IN ('NULL', {number})
                 OR NOT isfinite(coalesce(TRY_CAST(w ->> '$.start_s' AS DOUBLE), 0)) THEN ['.start_s', 'not_a_number']
            WHEN coalesce(json_type(w, '$.end_s'), 'NULL') NOT IN ('NULL', {number})
                 OR NOT isfinite(coalesce(TRY_CAST(w ->> '$.end_s' AS DOUBLE), 0)) THEN ['.end_s', 'not_a_number']
            WHEN TRY_CAST(w ->> '$.end_s' AS DOUBLE) < TRY_CAST(w ->> '$.start_s' AS DOUBLE) THEN ['.end_s', 'reversed_times']
            WHEN NOT coalesce(TRY_CAST(w ->> '$.score' AS DOUBLE) BETWEEN 0 AND 1, json_type(w, '$.score') IS NULL
                              OR json_type(w, '$.score') = 'NULL') THEN ['.score', 'score_out_of_range']
            WHEN NOT coalesce(TRY_CAST(w ->> '$.confidence' AS DOUBLE) BETWEEN 0 AND 1, json_type(w, '$.confidence') IS NULL
                              OR json_type(w, '$.confidence') = 'NULL') THEN ['.confidence', 'score_out_of_range']
          END AS verdict FROM words)
    WHERE verdict IS NOT NULL)
""" + problems_select("SELECT row, item_id, source_id, field, reason, detail FROM whole UNION ALL SELECT * FROM word_faults")


def _sql() -> str:
    return (_RULES.replace("{pair}", _SURROGATE_PAIR).replace("{lone}", _LONE_SURROGATE)
            .replace("{control}", _CONTROL).replace("{number}", JSON_NUMBER_TYPES))


def validate(answers: pa.Table, items: pa.Table, cfg: ProjectConfig) -> pa.Table:
    """Problems of transcript answers (see `PROBLEM_SCHEMA` and the module docstring for the rules).

    `answers`: `item_id`, optional `source_id`, `answer` (JSON text). `items`: `item_id`. `row` is the
    answer's index in `answers`; `field` is `answer`, `answer.text` or `answer.words[k].<key>`."""
    opts = _options(cfg)
    n = answers.num_rows
    source = answers.column("source_id") if "source_id" in answers.column_names else pa.nulls(n, pa.string())
    table = pa.table({"row": pa.array(range(n), pa.int64()), "item_id": answers.column("item_id").cast(pa.string()),
                      "source_id": source.cast(pa.string()), "answer": answers.column("answer").cast(pa.string())})
    with duckdb.connect() as con:
        con.register("_answers", table)
        con.register("_items", pa.table({"item_id": items.column("item_id").cast(pa.string())}))
        con.execute("SET VARIABLE allow_empty = ?", [bool(opts.allow_empty)])
        con.execute("SET VARIABLE max_chars = ?", [int(opts.max_chars)])
        out = con.sql(_sql()).to_arrow_table()
    return out.cast(PROBLEM_SCHEMA)


def _options(cfg: Any) -> TranscriptOptions:
    opts = getattr(cfg, "answer_options", None)
    if isinstance(opts, TranscriptOptions):
        return opts
    return TranscriptOptions.model_validate(dict(getattr(cfg, "answer", None) or {}))


def _fail(code: str, field: str, message: str) -> AnswerError:
    return AnswerError(code, f"{field}: {message}", field=field)


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def check_transcript(raw: object, options: TranscriptOptions | Mapping[str, Any] | None = None,
                     field: str = "answer") -> dict[str, Any]:
    """One answer checked by the rules of `validate` (same reason codes): the app's submit and a gold row.

    `raw` is the parsed JSON value (a JSON text is parsed first). Returns the answer in canonical form:
    `{"text": ...}` plus `words` when given (each with the keys it had, in `WORD_TYPE` order). Raises
    `AnswerError` whose `field` is `answer`, `answer.text` or `answer.words[k].<key>`."""
    opts = options if isinstance(options, TranscriptOptions) else TranscriptOptions.model_validate(dict(options or {}))
    text_field = f"{field}.text"
    if raw is None:
        raise _fail("missing_answer", field, 'the answer is missing (an empty transcript is {"text": ""})')
    if isinstance(raw, str):
        try:
            raw = json.loads(raw, strict=False)  # a raw control character is judged below, as the text's fault
        except ValueError:
            raise _fail("malformed_json", field, f"{raw[:80]!r} is not valid JSON") from None
    if not isinstance(raw, dict):
        raise _fail("not_an_object", field, f'expected an object {{"text": "..."}}, got {type(raw).__name__}')
    text = raw.get("text")
    if text is None:
        raise _fail("missing_text", text_field, 'the answer has no "text" (a transcript is {"text": "..."})')
    if not isinstance(text, str):
        raise _fail("text_not_a_string", text_field, f"{text!r} is not a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail("invalid_text_encoding", text_field, "the text holds a lone surrogate, the mark of text escaped "
                    "in the wrong encoding: save it as UTF-8 and send it again") from None
    if any(ord(c) < 32 and c not in "\t\n\r" or c == "\x7f" for c in text):
        raise _fail("invalid_text_encoding", text_field, "the text holds a control character, the mark of text "
                    "decoded in the wrong encoding: save it as UTF-8 and send it again")
    if "\ufffd" in text:
        raise _fail("replacement_character", text_field, "the text holds U+FFFD, the mark of bytes decoded in the "
                    f"wrong encoding: {text[:60]!r}")
    if not text.strip() and not opts.allow_empty:
        raise _fail("empty_transcript", text_field, "the transcript is empty, and this project does not allow empty "
                    "transcripts ([answer] allow_empty = false)")
    if len(text) > opts.max_chars:
        raise _fail("too_long", text_field, f"the transcript has {len(text)} characters, more than [answer] "
                    f"max_chars = {opts.max_chars}")
    out: dict[str, Any] = {"text": text}
    words = raw.get("words")
    if words is not None:
        if not isinstance(words, list):
            raise _fail("words_not_a_list", f"{field}.words", f"{str(words)[:80]!r} is not a list of {{\"word\": ...}}")
        out["words"] = [_check_word(w, f"{field}.words[{k}]") for k, w in enumerate(words)]
    return out


def _check_word(w: object, where: str) -> dict[str, Any]:
    if not isinstance(w, dict) or not isinstance(w.get("word"), str):
        raise _fail("word_not_text", where, f"{str(w)[:60]} is not a word {{\"word\": \"...\"}}")
    for key in ("start_s", "end_s"):
        if w.get(key) is not None and not _finite(w[key]):
            raise _fail("not_a_number", f"{where}.{key}", f"{w[key]!r} is not a finite number of seconds")
    if w.get("start_s") is not None and w.get("end_s") is not None and w["end_s"] < w["start_s"]:
        raise _fail("reversed_times", f"{where}.end_s", f"{w['end_s']} is before start_s {w['start_s']}")
    for key in ("score", "confidence"):
        if w.get(key) is not None and not (_finite(w[key]) and 0 <= w[key] <= 1):
            raise _fail("score_out_of_range", f"{where}.{key}", f"{w[key]!r} is not a probability in [0, 1]")
    return {k: w[k] for k in _WORD_KEYS if w.get(k) is not None}


def to_json(answers: pa.Array) -> pa.Array:
    """Answers of `TRANSCRIPT_TYPE` as JSON text (`words` only when given; a word's null keys left out)."""
    out = []
    for a in answers.cast(TRANSCRIPT_TYPE).to_pylist():
        if a is None:
            out.append(None)
            continue
        value: dict[str, Any] = {"text": a["text"]}
        if a.get("words") is not None:
            value["words"] = [{k: w[k] for k in _WORD_KEYS if w.get(k) is not None} for w in a["words"]]
        out.append(json.dumps(value, ensure_ascii=False))
    return pa.array(out, pa.string())


def from_json(texts: pa.Array) -> pa.Array:
    """JSON transcripts back to `TRANSCRIPT_TYPE`; raises `InputError` naming the first value that is not one."""
    out: list[dict[str, Any] | None] = []
    for i, text in enumerate(texts.cast(pa.string()).to_pylist()):
        if text is None:
            out.append(None)
            continue
        try:
            value = check_transcript(text, TranscriptOptions(allow_empty=True, max_chars=10**9))
        except AnswerError as e:
            raise InputError(f"answer {i}: {text[:120]!r} is not a transcript {{\"text\": \"...\"}} ({e})") from None
        out.append({"text": value["text"], "words": value.get("words")})
    return pa.array(out, TRANSCRIPT_TYPE)


FACET = AnswerStorage(TRANSCRIPT_TYPE, to_json, from_json, validate)
"""Gold transcripts come as the generic table (item id + {"text": ...} per row)."""
