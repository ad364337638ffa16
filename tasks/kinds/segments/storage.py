"""Time segments: how an answer is stored, carried and checked (see tasks/kinds/protocol.py, storage).

In DuckDB an answer is the JSON text `intervals.canonical` writes (`[{"start_s", "end_s", "label"}]`,
seconds rounded to milliseconds, sorted; `[]` = no regions); in Arrow it is `SEGMENTS_TYPE`.

Validation runs in DuckDB over all answers at once: the JSON is unnested into one row per region and
every rule of `intervals.check_segments` is a column expression (same reason codes, same tolerance at the
clip's ends), overlaps are found with one window over each answer's regions in time order, so a million
answers cost one query, not a Python loop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..part_answers import (
    JSON_NUMBER_TYPES,
    finite,
    parts_from_json,
    problems_select,
    run_rules,
    whole_answer_cte,
)
from ..protocol import AnswerFile, AnswerStorage
from .intervals import EDGE_TOLERANCE_S, OVERLAP_TOLERANCE_S, SEGMENTS_TYPE, canonical
from .options import SegmentOptions

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "SECONDS_MACRO", "from_json", "read_answer_file", "to_json", "validate"]

SECONDS_MACRO = "CREATE OR REPLACE TEMP MACRO secs(v) AS rtrim(rtrim(printf('%.3f', v), '0'), '.')"
"""DuckDB's spelling of `intervals.seconds`, for messages written in SQL."""

_ANSWERS = whole_answer_cte('regions [{"start_s": ..., "end_s": ..., "label": ...}]', "no regions")

# One row per problem; every rule is one CASE arm so the first failing rule names the fault, in the
# order `check_segments` tries them; overlaps are judged on the regions no rule refused.
_RULES = """
WITH {answers},
timed AS (
    SELECT a.*, i.item_id IS NOT NULL AS known_item,
           CASE WHEN json_type(i.meta, '$.duration_s') IN ({number}) THEN TRY_CAST(i.meta ->> '$.duration_s' AS DOUBLE) END AS duration
    FROM a LEFT JOIN _items i USING (item_id)),
whole AS (
    SELECT row, item_id, source_id, reason, CASE WHEN fault IS NOT NULL THEN fault_detail
             WHEN reason = 'unknown_item' THEN 'no ingested item has this id'
             ELSE 'the clip''s duration is unknown (ingest records duration_s from the file), so its '
                  || json_array_length(answer) || ' region(s) cannot be checked' END AS detail
    FROM (SELECT *, CASE WHEN fault IS NOT NULL THEN fault WHEN NOT known_item THEN 'unknown_item'
                         WHEN json_array_length(answer) > 0 AND NOT coalesce(isfinite(duration) AND duration > 0, false)
                             THEN 'duration_unknown'
                    END AS reason FROM timed)
    WHERE reason IS NOT NULL),
regions AS (
    SELECT row, item_id, source_id, duration,
           unnest(range(json_array_length(answer)::BIGINT)) AS k, unnest(answer::JSON[]) AS e,
           unnest(json_transform(answer, '[{"start_s": "JSON", "end_s": "JSON", "label": "JSON", "text": "JSON", "score": "JSON"}]')) AS r
    FROM timed
    WHERE fault IS NULL AND known_item AND isfinite(duration) AND duration > 0),
parsed AS MATERIALIZED (
    SELECT row, item_id, source_id, duration, k, e, json_type(e) AS e_type,
           json_type(r.start_s) AS s_type, json_type(r.end_s) AS en_type, json_type(r.label) AS l_type,
           json_type(r.text) AS t_type, json_type(r.score) AS score_type,
           TRY_CAST(r.start_s AS DOUBLE) AS s, TRY_CAST(r.end_s AS DOUBLE) AS en, r.label ->> '$' AS lab,
           r.text ->> '$' AS txt, TRY_CAST(r.score AS DOUBLE) AS score
    FROM regions),
judged AS (
    SELECT *,
      CASE
        WHEN e_type <> 'OBJECT' THEN ['', 'not_a_segment']
        WHEN s_type IS NULL OR s_type = 'NULL' THEN ['.start_s', 'missing_field']
        WHEN en_type IS NULL OR en_type = 'NULL' THEN ['.end_s', 'missing_field']
        WHEN l_type IS NULL OR l_type = 'NULL' THEN ['.label', 'missing_field']
        WHEN s_type NOT IN ({number}) OR NOT isfinite(s) THEN ['.start_s', 'not_a_number']
        WHEN en_type NOT IN ({number}) OR NOT isfinite(en) THEN ['.end_s', 'not_a_number']
        WHEN l_type <> 'VARCHAR' THEN ['.label', 'label_not_text']
        WHEN en <= s THEN ['.end_s', 'empty_or_reversed']
        WHEN s < -{tol} THEN ['.start_s', 'segment_outside_clip']
        WHEN en > duration + {tol} THEN ['.end_s', 'segment_outside_clip']
        WHEN NOT list_contains(getvariable('labels'), lab) THEN ['.label', 'unknown_label']
        WHEN t_type IS NOT NULL AND t_type <> 'NULL' AND t_type <> 'VARCHAR' THEN ['.text', 'text_not_text']
        WHEN getvariable('with_text') AND (t_type IS NULL OR t_type = 'NULL' OR trim(txt) = '') THEN ['.text', 'missing_text']
        WHEN score_type IS NOT NULL AND score_type <> 'NULL' AND (score_type NOT IN ({number}) OR NOT isfinite(score))
            THEN ['.score', 'not_a_number']
        WHEN score < 0 OR score > 1 THEN ['.score', 'score_out_of_range']
      END AS verdict
    FROM parsed),
per_region AS (
    SELECT row, item_id, source_id, 'answer[' || k || ']' || verdict[1] AS field, verdict[2] AS reason,
      'answer[' || k || ']' || verdict[1] || ' = ' || CASE WHEN verdict[1] = '' THEN left(e::VARCHAR, 80)
          ELSE coalesce((e -> ('$' || verdict[1]))::VARCHAR, 'null') END
      || CASE verdict[2]
          WHEN 'not_a_segment' THEN ' is not a region object {"start_s": ..., "end_s": ..., "label": ...}'
          WHEN 'missing_field' THEN ': the region has no ' || ltrim(verdict[1], '.') || ' (a region is {start_s, end_s, label} in seconds)'
          WHEN 'not_a_number' THEN ' is not a finite number'
          WHEN 'label_not_text' THEN ' is not a text label'
          WHEN 'empty_or_reversed' THEN ': the region ends at ' || secs(en) || ' s, not after its start ' || secs(s) || ' s'
          WHEN 'segment_outside_clip' THEN ': the region spans ' || secs(s) || ' to ' || secs(en)
                || ' s, outside the clip''s 0 to ' || secs(duration) || ' s'
          WHEN 'unknown_label' THEN ' is not in the label set {labels}'
          WHEN 'text_not_text' THEN ' is not text'
          WHEN 'missing_text' THEN ': the region has no text (this project asks what was said in each region)'
          WHEN 'score_out_of_range' THEN ' is not a probability in [0, 1]'
        END AS detail
    FROM judged WHERE verdict IS NOT NULL),
reach AS (
    SELECT row, item_id, source_id, k, s,
           max(en) OVER w AS reach, arg_max(k, en) OVER w AS reach_at
    FROM judged WHERE verdict IS NULL AND NOT getvariable('allow_overlap')
    WINDOW w AS (PARTITION BY row ORDER BY s, en, lab, k ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
overlapping AS (
    SELECT row, item_id, source_id, 'answer[' || k || '].start_s' AS field, 'overlap_not_allowed' AS reason,
           'answer[' || k || '].start_s = ' || secs(s) || ': the region starts inside answer[' || reach_at
           || '] (which ends at ' || secs(reach) || ' s); this project does not allow overlapping regions' AS detail
    FROM reach WHERE s < reach - {overlap_tol})
""" + problems_select("SELECT row, item_id, source_id, 'answer' AS field, reason, detail FROM whole"
                     " UNION ALL SELECT * FROM per_region UNION ALL SELECT * FROM overlapping")


def _rules_sql(labels: list[str]) -> str:
    listed = json.dumps(labels, ensure_ascii=False).replace("'", "''")
    return (_RULES.replace("{answers}", _ANSWERS).replace("{number}", JSON_NUMBER_TYPES).replace("{tol}", repr(EDGE_TOLERANCE_S))
            .replace("{overlap_tol}", repr(OVERLAP_TOLERANCE_S)).replace("{labels}", listed))


def validate(answers: pa.Table, items: pa.Table, cfg: ProjectConfig) -> pa.Table:
    """Problems of segments answers against their clips and the project (see `PROBLEM_SCHEMA`).

    `answers`: `item_id`, optional `source_id`, `answer` (JSON text). `items`: `item_id`, `metadata`
    (JSON text with `duration_s`, as ingest records it). `row` in the result is the answer's index in
    `answers`; `field` is `answer` for the whole answer or `answer[k].<key>`.
    """
    opts = cfg.answer_options if isinstance(cfg.answer_options, SegmentOptions) else SegmentOptions()
    return run_rules(answers, items, _rules_sql(list(cfg.labels)), cfg.labels,
                     [("SET VARIABLE with_text = ?::BOOLEAN", [opts.with_text]),
                      ("SET VARIABLE allow_overlap = ?::BOOLEAN", [opts.allow_overlap]), (SECONDS_MACRO, [])])


def to_json(answers: pa.Array) -> pa.Array:
    """Answers of `SEGMENTS_TYPE` as canonical JSON text (`intervals.canonical`), nulls kept."""
    return pa.array([None if a is None else canonical(a) for a in answers.cast(SEGMENTS_TYPE).to_pylist()], pa.string())


def _readable(value: Any) -> bool:
    """Whether one parsed answer has the shape of `SEGMENTS_TYPE` (regions with finite times and text labels)."""
    return isinstance(value, list) and all(
        isinstance(r, dict) and isinstance(r.get("label"), str) and (r.get("text") is None or isinstance(r["text"], str))
        and finite(r.get("start_s")) and finite(r.get("end_s")) for r in value)


def from_json(texts: pa.Array) -> pa.Array:
    """JSON region lists back to `SEGMENTS_TYPE` (canonical order; a machine region's `score` is not part of
    the type); raises `InputError` naming the first value that is not a list of regions."""
    return parts_from_json(
        texts, _readable, canonical,
        lambda r: {"start_s": r["start_s"], "end_s": r["end_s"], "label": r["label"], "text": r.get("text")},
        SEGMENTS_TYPE, 'a list of regions [{"start_s": <seconds>, "end_s": <seconds>, "label": "<label>"}, ...] '
        "with finite numbers")


def read_answer_file(path: Path, fmt: str, cfg: ProjectConfig) -> AnswerFile | None:
    """An RTTM file (speaker turns) when `gold.format` is "rttm", or "auto" and the file has its shape."""
    from .rttm import looks_like_rttm, read_rttm

    if fmt == "rttm" or (fmt == "auto" and looks_like_rttm(path)):
        return read_rttm(path)
    return None


FACET = AnswerStorage(SEGMENTS_TYPE, to_json, from_json, validate, read_answer_file, answer_file_formats=("rttm",))
