"""Ratings: how an answer is stored, carried and checked (see tasks/kinds/protocol.py, storage).

In DuckDB an answer is JSON text: `{"score": 4}`, or `{"scores": {"fluency": 4, ...}}` when the project
rates criteria; in Arrow it is `RATING_TYPE`. Validation runs in DuckDB over all answers at once: each
answer is unnested into one row per expected score (the single score, or one per configured criterion)
and each rule is a CASE arm with `check.check_rating`'s reason codes and fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tasks.errors import InputError

from ..part_answers import JSON_NUMBER_TYPES, problems_select, run_rules
from ..protocol import AnswerFile
from .options import RatingOptions

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "RATING_TYPE", "canonical", "options_of", "validate"]

RATING_TYPE = pa.struct([("score", pa.int32()), ("scores", pa.map_(pa.string(), pa.int32()))])
"""One answer: `score` for a single score, `scores` (criterion -> score) when the project has criteria."""


def options_of(cfg: Any) -> RatingOptions:
    opts = getattr(cfg, "answer_options", None)
    return opts if isinstance(opts, RatingOptions) else RatingOptions.model_validate(dict(getattr(cfg, "answer", {}) or {}))


def canonical(answer: dict[str, Any]) -> str:
    """The stored text: compact, criteria in sorted order, so equal answers are equal strings."""
    if answer.get("scores") is not None:
        return json.dumps({"scores": dict(sorted(answer["scores"].items()))}, separators=(",", ":"))
    return json.dumps({"score": answer["score"]}, separators=(",", ":"))


_RULES = """
WITH a AS (
    SELECT row, item_id, source_id, answer,
           CASE WHEN answer IS NULL THEN 'missing_answer'
                WHEN NOT json_valid(answer) THEN 'malformed_json'
                WHEN json_type(answer::JSON) <> 'OBJECT' THEN 'not_a_rating'
                WHEN len(getvariable('criteria')) = 0 AND json_type(answer::JSON, '$.score') IS NULL THEN 'missing_field'
                WHEN len(getvariable('criteria')) > 0 AND coalesce(json_type(answer::JSON, '$.scores'), '') <> 'OBJECT'
                    THEN 'missing_field' END AS fault
    FROM _answers),
whole AS (
    SELECT row, item_id, source_id,
           CASE WHEN fault = 'missing_field' THEN 'answer.' || CASE WHEN len(getvariable('criteria')) = 0 THEN 'score'
                ELSE 'scores' END ELSE 'answer' END AS field, fault AS reason,
           CASE fault WHEN 'missing_answer' THEN 'the answer is missing'
                WHEN 'malformed_json' THEN 'the answer ' || left(answer, 80) || ' is not valid JSON'
                WHEN 'not_a_rating' THEN 'the answer ' || left(answer, 80) || ' is not {"score": n} or {"scores": {criterion: n}}'
                ELSE CASE WHEN len(getvariable('criteria')) = 0 THEN 'the answer has no score'
                     ELSE 'expected one score per criterion (' || array_to_string(getvariable('criteria'), ', ') || ')' END
           END AS detail
    FROM a WHERE fault IS NOT NULL),
unknown AS (
    SELECT row, item_id, source_id, 'answer' AS field, 'unknown_item' AS reason, 'no ingested item has this id' AS detail
    FROM a WHERE fault IS NULL AND item_id NOT IN (SELECT item_id FROM _items)),
wanted AS (
    SELECT row, item_id, source_id, answer, NULL::VARCHAR AS crit, '$.score' AS path, 'answer.score' AS field
    FROM a WHERE fault IS NULL AND len(getvariable('criteria')) = 0
    UNION ALL
    SELECT row, item_id, source_id, answer, c AS crit, '$.scores.' || to_json(c)::VARCHAR AS path, 'answer.scores.' || c AS field
    FROM a, unnest(getvariable('criteria')) AS t(c) WHERE fault IS NULL),
extra AS (
    SELECT row, item_id, source_id, 'answer.scores.' || k AS field, 'unknown_criterion' AS reason,
           'answer.scores.' || k || ': not a criterion of this project (' || array_to_string(getvariable('criteria'), ', ') || ')' AS detail
    FROM (SELECT row, item_id, source_id, unnest(json_keys(answer::JSON, '$.scores')) AS k
          FROM a WHERE fault IS NULL AND len(getvariable('criteria')) > 0)
    WHERE NOT list_contains(getvariable('criteria'), k)),
judged AS (
    SELECT row, item_id, source_id, field, t, v, answer, path,
           CASE WHEN t IS NULL OR t = 'NULL' THEN CASE WHEN crit IS NULL THEN 'missing_field' ELSE 'missing_criterion' END
                WHEN t NOT IN ({number}) OR v IS NULL OR v <> round(v) THEN 'not_an_integer'
                WHEN v < getvariable('lo') OR v > getvariable('hi') THEN 'score_outside_scale' END AS reason
    FROM (SELECT *, json_type(answer::JSON, path) AS t, TRY_CAST(json_extract(answer, path) AS DOUBLE) AS v FROM wanted)),
per_score AS (
    SELECT row, item_id, source_id, field, reason, field || CASE reason
             WHEN 'missing_field' THEN ': the answer has no score'
             WHEN 'missing_criterion' THEN ': no score for this criterion'
             WHEN 'not_an_integer' THEN ' = ' || v_text || ' is not an integer score on the scale ' || getvariable('lo') || '-' || getvariable('hi')
             ELSE ' = ' || v_text || ' is outside the scale ' || getvariable('lo') || '-' || getvariable('hi') END AS detail
    FROM (SELECT *, coalesce(CASE WHEN v = round(v) THEN TRY_CAST(v AS BIGINT)::VARCHAR ELSE v::VARCHAR END, json_extract(answer, path)::VARCHAR, 'null') AS v_text FROM judged) WHERE reason IS NOT NULL)
""".replace("{number}", JSON_NUMBER_TYPES) + problems_select(
    "SELECT * FROM whole UNION ALL SELECT * FROM unknown UNION ALL SELECT * FROM extra UNION ALL SELECT * FROM per_score")


def validate(answers: pa.Table, items: pa.Table, cfg: ProjectConfig) -> pa.Table:
    """Problems of rating answers (see `PROBLEM_SCHEMA`): not JSON, not a rating, a criterion missing or
    unknown, a score that is not an integer or lies outside the scale (`answer.score`, `answer.scores.<c>`)."""
    opts = options_of(cfg)
    lo, hi = opts.scale
    return run_rules(answers, items, _RULES, list(cfg.labels),
                     [("SET VARIABLE criteria = ?::VARCHAR[]", [list(opts.criteria)]),
                      ("SET VARIABLE lo = ?::BIGINT", [lo]), ("SET VARIABLE hi = ?::BIGINT", [hi])])


def to_json(answers: pa.Array) -> pa.Array:
    """Answers of `RATING_TYPE` as canonical JSON text, nulls kept."""
    out = []
    for a in answers.cast(RATING_TYPE).to_pylist():
        if a is None:
            out.append(None)
        elif a["scores"] is not None:
            out.append(canonical({"scores": dict(a["scores"])}))
        else:
            out.append(canonical({"score": a["score"]}))
    return pa.array(out, pa.string())


def from_json(texts: pa.Array) -> pa.Array:
    """JSON ratings back to `RATING_TYPE`; raises `InputError` naming the first value that is not a rating."""
    out = []
    for i, t in enumerate(texts.cast(pa.string()).to_pylist()):
        if t is None:
            out.append(None)
            continue
        try:
            v = json.loads(t)
            if "scores" in v:
                out.append({"score": None, "scores": [(str(k), int(x)) for k, x in sorted(v["scores"].items())]})
            else:
                out.append({"score": int(v["score"]), "scores": None})
        except (ValueError, TypeError, KeyError, AttributeError):
            raise InputError(f"answer {i}: {t[:80]!r} is not a rating {{\"score\": n}} or {{\"scores\": {{criterion: n}}}}") from None
    return pa.array(out, RATING_TYPE)


class _RatingStorage:
    column = "answer"
    arrow_type = RATING_TYPE
    answer_file_formats: tuple[str, ...] = ()
    to_json = staticmethod(to_json)
    from_json = staticmethod(from_json)
    validate = staticmethod(validate)

    def read_answer_file(self, path: Path, fmt: str, cfg: ProjectConfig) -> AnswerFile | None:
        """No rating-specific file format: gold comes as a table with an `answer` column."""
        return None


FACET = _RatingStorage()
