"""Boxes: how an answer is stored, carried and checked (see tasks/kinds/protocol.py, storage).

In DuckDB an answer is the JSON text `geometry.canonical` writes (`[{"x", "y", "w", "h", "label"}]`,
pixels of the stored image, rounded and sorted; `[]` = no objects); in Arrow it is `BOXES_TYPE`.

Validation runs in DuckDB over all answers at once: the JSON is unnested into one row per box and
every rule of `validate.check_boxes` is a column expression (same reason codes, same tolerance at the
image border), so a million answers cost one query, not a Python loop.
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
from .coco import looks_like_coco, read_instances
from .geometry import BOXES_TYPE, canonical
from .validate import COORDS, EDGE_TOLERANCE_PX, PX_MACRO

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "from_json", "read_answer_file", "to_json", "validate"]

_ANSWERS = whole_answer_cte('boxes [{"x": ..., "y": ..., "w": ..., "h": ..., "label": ...}]', "no objects")

# One row per problem; every rule is one CASE arm so the first failing rule names the fault, in the
# order `check_boxes` tries them.
_BOX_RULES = """
WITH {answers},
sized AS (
    SELECT a.*, i.item_id IS NOT NULL AS known_item,
           CASE WHEN json_type(i.meta, '$.width') IN ({number}) THEN TRY_CAST(i.meta ->> '$.width' AS DOUBLE) END AS width,
           CASE WHEN json_type(i.meta, '$.height') IN ({number}) THEN TRY_CAST(i.meta ->> '$.height' AS DOUBLE) END AS height
    FROM a LEFT JOIN _items i USING (item_id)),
whole AS (
    SELECT row, item_id, source_id, reason, CASE WHEN fault IS NOT NULL THEN fault_detail
             WHEN reason = 'unknown_item' THEN 'no ingested item has this id'
             ELSE 'the image''s size is unknown (ingest records width and height from the file), so its '
                  || json_array_length(answer) || ' box(es) cannot be checked' END AS detail
    FROM (SELECT *, CASE WHEN fault IS NOT NULL THEN fault WHEN NOT known_item THEN 'unknown_item'
                         WHEN json_array_length(answer) > 0 AND NOT coalesce(width > 0 AND height > 0, false) THEN 'image_size_unknown'
                    END AS reason FROM sized)
    WHERE reason IS NOT NULL),
boxes AS (
    -- Each answer is parsed once into structs of JSON fields; the raw elements come along for messages.
    SELECT row, item_id, source_id, width, height,
           unnest(range(json_array_length(answer)::BIGINT)) AS k, unnest(answer::JSON[]) AS e,
           unnest(json_transform(answer, '[{"x": "JSON", "y": "JSON", "w": "JSON", "h": "JSON", "label": "JSON", "score": "JSON"}]')) AS b
    FROM sized
    WHERE fault IS NULL AND known_item AND width > 0 AND height > 0),
parsed AS MATERIALIZED (
    SELECT row, item_id, source_id, width, height, k, e, json_type(e) AS e_type,
           json_type(b.label) AS l_type, b.label ->> '$' AS lab, {coord_types}, {coord_values},
           json_type(b.score) AS score_type, TRY_CAST(b.score AS DOUBLE) AS score
    FROM boxes),
judged AS (
    SELECT *,
      CASE
        WHEN e_type <> 'OBJECT' THEN ['', 'not_a_box']
        {missing}
        WHEN l_type IS NULL OR l_type = 'NULL' THEN ['.label', 'missing_field']
        {not_number}
        WHEN l_type <> 'VARCHAR' THEN ['.label', 'label_not_text']
        WHEN w <= 0 THEN ['.w', 'non_positive_size']
        WHEN h <= 0 THEN ['.h', 'non_positive_size']
        WHEN x < -{tol} THEN ['.x', 'box_outside_image']
        WHEN x + w > width + {tol} THEN ['.w', 'box_outside_image']
        WHEN y < -{tol} THEN ['.y', 'box_outside_image']
        WHEN y + h > height + {tol} THEN ['.h', 'box_outside_image']
        WHEN NOT list_contains(getvariable('labels'), lab) THEN ['.label', 'unknown_label']
        WHEN score_type IS NOT NULL AND score_type <> 'NULL' AND (score_type NOT IN ({number}) OR NOT isfinite(score))
            THEN ['.score', 'not_a_number']
        WHEN score < 0 OR score > 1 THEN ['.score', 'score_out_of_range']
      END AS verdict
    FROM parsed),
per_box AS (
    SELECT row, item_id, source_id, 'answer[' || k || ']' || verdict[1] AS field, verdict[2] AS reason,
      'answer[' || k || ']' || verdict[1] || ' = ' || CASE WHEN verdict[1] = '' THEN left(e::VARCHAR, 80)
          ELSE coalesce((e -> ('$' || verdict[1]))::VARCHAR, 'null') END
      || CASE verdict[2]
          WHEN 'not_a_box' THEN ' is not a box object {"x": ..., "y": ..., "w": ..., "h": ..., "label": ...}'
          WHEN 'missing_field' THEN ': the box has no ' || ltrim(verdict[1], '.') || ' (a box is {x, y, w, h, label} in pixels)'
          WHEN 'not_a_number' THEN ' is not a finite number'
          WHEN 'label_not_text' THEN ' is not a text label'
          WHEN 'non_positive_size' THEN ' is not a positive size in pixels'
          WHEN 'box_outside_image' THEN CASE WHEN verdict[1] IN ('.x', '.w')
                THEN ': the box spans x ' || px(x) || ' to ' || px(x + w) || ', outside the image''s width 0 to ' || px(width) || ' px'
                ELSE ': the box spans y ' || px(y) || ' to ' || px(y + h) || ', outside the image''s height 0 to ' || px(height) || ' px' END
          WHEN 'unknown_label' THEN ' is not in the label set {labels}'
          WHEN 'score_out_of_range' THEN ' is not a probability in [0, 1]'
        END AS detail
    FROM judged WHERE verdict IS NOT NULL)
""" + problems_select("SELECT row, item_id, source_id, 'answer' AS field, reason, detail FROM whole"
                     " UNION ALL SELECT * FROM per_box")


def _rules_sql(labels: list[str]) -> str:
    coord_types = ", ".join(f"json_type(b.{c}) AS {c}_type" for c in COORDS)
    coord_values = ", ".join(f"TRY_CAST(b.{c} AS DOUBLE) AS {c}" for c in COORDS)
    missing = "\n        ".join(f"WHEN {c}_type IS NULL OR {c}_type = 'NULL' THEN ['.{c}', 'missing_field']" for c in COORDS)
    not_number = "\n        ".join(f"WHEN {c}_type NOT IN ({JSON_NUMBER_TYPES}) OR NOT isfinite({c}) THEN ['.{c}', 'not_a_number']" for c in COORDS)
    listed = json.dumps(labels, ensure_ascii=False).replace("'", "''")
    return (_BOX_RULES.replace("{answers}", _ANSWERS).replace("{coord_types}", coord_types).replace("{coord_values}", coord_values)
            .replace("{missing}", missing).replace("{not_number}", not_number).replace("{number}", JSON_NUMBER_TYPES)
            .replace("{tol}", repr(EDGE_TOLERANCE_PX)).replace("{labels}", listed))


def validate(answers: pa.Table, items: pa.Table, cfg: ProjectConfig) -> pa.Table:
    """Problems of box answers against their images and the project (see `PROBLEM_SCHEMA`).

    `answers`: `item_id`, optional `source_id`, `answer` (JSON text). `items`: `item_id`, `metadata`
    (JSON text with `width` and `height` in pixels, as ingest records them). `row` in the result is
    the answer's index in `answers`; `field` is `answer` for the whole answer or `answer[k].<key>`.
    """
    return run_rules(answers, items, _rules_sql(list(cfg.labels)), cfg.labels, [(PX_MACRO, [])])


def to_json(answers: pa.Array) -> pa.Array:
    """Answers of `BOXES_TYPE` as canonical JSON text (`geometry.canonical`), nulls kept."""
    return pa.array([None if a is None else canonical(a) for a in answers.cast(BOXES_TYPE).to_pylist()], pa.string())


def _readable(value: Any) -> bool:
    """Whether one parsed answer has the shape of `BOXES_TYPE` (a list of boxes with finite numbers)."""
    return isinstance(value, list) and all(
        isinstance(box, dict) and isinstance(box.get("label"), str) and all(finite(box.get(c)) for c in COORDS)
        for box in value)


def from_json(texts: pa.Array) -> pa.Array:
    """JSON box lists back to `BOXES_TYPE` (canonical order; a machine box's `score` is not part of the
    type); raises `InputError` naming the first value that is not a list of boxes."""
    return parts_from_json(texts, _readable, canonical, lambda b: {k: b[k] for k in ("x", "y", "w", "h", "label")},
                           BOXES_TYPE, 'a list of boxes [{"x": <px>, "y": <px>, "w": <px>, "h": <px>, "label": "<label>"}, ...]'
                           " with finite numbers")


def read_answer_file(path: Path, fmt: str, cfg: ProjectConfig) -> AnswerFile | None:
    """A COCO instances JSON when `gold.format` is "coco", or "auto" and the file has its shape."""
    if fmt == "coco" or (fmt == "auto" and looks_like_coco(path)):
        return read_instances(path, cfg.labels)
    return None


FACET = AnswerStorage(BOXES_TYPE, to_json, from_json, validate, read_answer_file, answer_file_formats=("coco",))
