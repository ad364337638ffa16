"""COCO instances JSON read as box answers: what teams that already have boxes usually hold.

A COCO instances file is one object with `images` (`id`, `file_name`, `width`, `height`),
`categories` (`id`, `name`) and `annotations` (`id`, `image_id`, `category_id`, `bbox` =
[x, y, width, height] in pixels from the top-left corner, the same convention as a box answer).
Each image becomes one answer keyed by its `file_name` (matched to the `file` an image source
recorded at ingest, its path inside the source folder); an image without annotations is the answer
"no objects"; a category becomes the label of its `name`.

The file is parsed and checked in DuckDB (one query per table, no loop over annotations), so a file
of a million boxes costs seconds. Each refused annotation is named by its index and id; its image
gives no answer at all, since the image's answer without that box would be wrong.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from tasks.errors import InputError

from ..part_answers import JSON_NUMBER_TYPES
from ..protocol import AnswerFile
from .validate import EDGE_TOLERANCE_PX, PX_MACRO

__all__ = ["looks_like_coco", "read_instances"]


_TABLES = """
CREATE TEMP TABLE _img AS
SELECT pos, e, json_type(e) AS e_type, e ->> '$.id' AS id, e ->> '$.file_name' AS file_name,
       CASE WHEN json_type(e, '$.width') IN ({number}) THEN TRY_CAST(e ->> '$.width' AS DOUBLE) END AS width,
       CASE WHEN json_type(e, '$.height') IN ({number}) THEN TRY_CAST(e ->> '$.height' AS DOUBLE) END AS height
FROM (SELECT unnest(range(json_array_length(j, '$.images')::BIGINT)) AS pos, unnest((j -> '$.images')::JSON[]) AS e FROM _doc);

CREATE TEMP TABLE _cat AS
SELECT DISTINCT ON (id) e ->> '$.id' AS id, e ->> '$.name' AS name
FROM (SELECT unnest((j -> '$.categories')::JSON[]) AS e FROM _doc)
WHERE e ->> '$.id' IS NOT NULL ORDER BY id;

CREATE TEMP TABLE _ann AS
SELECT pos, e, json_type(e) AS e_type, a.id ->> '$' AS id, a.image_id ->> '$' AS image_id,
       a.category_id ->> '$' AS category_id, a.bbox AS bbox,
       json_type(a.bbox) = 'ARRAY' AND json_array_length(a.bbox) = 4 AS four,
       CASE WHEN json_type(a.bbox) = 'ARRAY' THEN
           [CASE WHEN json_type(x) IN ({number}) THEN TRY_CAST(x AS DOUBLE) END FOR x IN json_transform(a.bbox, '["JSON"]')] END AS v
FROM (SELECT unnest(range(json_array_length(j, '$.annotations')::BIGINT)) AS pos,
             unnest((j -> '$.annotations')::JSON[]) AS e,
             unnest(json_transform(j -> '$.annotations', '[{"id": "JSON", "image_id": "JSON", "category_id": "JSON", "bbox": "JSON"}]')) AS a
      FROM _doc);
"""

_PROBLEMS = """
WITH img AS (
    SELECT *, count(*) OVER (PARTITION BY id) AS n_same FROM _img),
img_bad AS (
    SELECT pos AS source_row, 'images[' || pos || ']' || coalesce(' (id ' || id || ')', '') AS "where", verdict[1] AS field,
           verdict[2] AS reason, verdict[3] AS detail, left(e::VARCHAR, 500) AS raw, id
    FROM (SELECT *, CASE
            WHEN e_type <> 'OBJECT' THEN ['', 'not_an_image', left(e::VARCHAR, 80) || ' is not an image object {id, file_name, width, height}']
            WHEN id IS NULL THEN ['id', 'missing_field', 'the image has no id']
            WHEN file_name IS NULL THEN ['file_name', 'missing_field', 'the image has no file_name to match it to an ingested file']
            WHEN n_same > 1 THEN ['id', 'duplicate_image_id', 'id ' || id || ' is used by ' || n_same
                                  || ' images, so their annotations cannot be told apart; none of them is stored']
          END AS verdict FROM img)
    WHERE verdict IS NOT NULL),
ann AS (
    SELECT a.*, i.pos AS image_pos, i.file_name, i.width, i.height, c.name AS category,
           i.pos IS NOT NULL AS known_image, c.id IS NOT NULL AS known_category
    FROM _ann a LEFT JOIN (SELECT * FROM img WHERE n_same = 1) i ON i.id = a.image_id LEFT JOIN _cat c ON c.id = a.category_id),
ann_bad AS (
    SELECT pos AS source_row, 'annotations[' || pos || ']' || coalesce(' (id ' || id || ')', '') AS "where",
           verdict[1] AS field, verdict[2] AS reason, verdict[3] AS detail, left(e::VARCHAR, 500) AS raw, image_pos
    FROM (SELECT *, CASE
            WHEN e_type <> 'OBJECT' THEN ['', 'not_an_annotation', left(e::VARCHAR, 80) || ' is not an annotation object']
            WHEN image_id IS NULL THEN ['image_id', 'missing_field', 'the annotation has no image_id']
            WHEN NOT known_image THEN ['image_id', 'unknown_image', 'image_id ' || image_id
                                       || ' is not the id of any entry of "images" (or that id is used twice)']
            WHEN category_id IS NULL THEN ['category_id', 'missing_field', 'the annotation has no category_id']
            WHEN NOT known_category THEN ['category_id', 'unknown_category', 'category_id ' || category_id
                                          || ' is not the id of any entry of "categories"']
            WHEN category IS NULL OR category NOT IN (SELECT label FROM _labels) THEN ['category_id', 'unknown_label',
                 'category ' || category_id || ' ' || coalesce(to_json(category)::VARCHAR, 'without a name')
                 || ' is not in the label set {labels}']
            WHEN bbox IS NULL THEN ['bbox', 'missing_field', 'the annotation has no bbox']
            WHEN NOT four THEN ['bbox', 'not_a_box', left(bbox::VARCHAR, 80) || ' is not [x, y, width, height]']
            WHEN NOT list_bool_and([x IS NOT NULL AND isfinite(x) FOR x IN v]) THEN ['bbox', 'not_a_number',
                 bbox::VARCHAR || ' has a value that is not a finite number of pixels']
            WHEN v[3] <= 0 OR v[4] <= 0 THEN ['bbox', 'non_positive_size', bbox::VARCHAR || ' has a width or height that is not positive']
            WHEN v[1] < -{tol} OR v[2] < -{tol} OR v[1] + v[3] > width + {tol} OR v[2] + v[4] > height + {tol}
                 THEN ['bbox', 'box_outside_image', bbox::VARCHAR || ' spans x ' || px(v[1]) || ' to ' || px(v[1] + v[3])
                       || ', y ' || px(v[2]) || ' to ' || px(v[2] + v[4]) || ': outside image ' || image_id || ' ('
                       || to_json(file_name) || ', ' || px(width) || ' x ' || px(height) || ' px)']
          END AS verdict FROM ann)
    WHERE verdict IS NOT NULL)
SELECT * FROM (SELECT source_row, "where", field, reason, detail, raw, NULL::BIGINT AS image_pos, 0 AS part FROM img_bad
               UNION ALL SELECT source_row, "where", field, reason, detail, raw, image_pos, 1 FROM ann_bad)
ORDER BY part, source_row
"""

_ROWS = """
SELECT i.pos AS source_row, 'image id ' || i.id || ' (' || to_json(i.file_name) || ')' AS "where", i.file_name AS key,
       to_json(coalesce(list({'x': a.v[1], 'y': a.v[2], 'w': a.v[3], 'h': a.v[4], 'label': c.name} ORDER BY a.pos)
                        FILTER (WHERE a.pos IS NOT NULL), []))::VARCHAR AS answer
FROM _img i LEFT JOIN _ann a ON a.image_id = i.id LEFT JOIN _cat c ON c.id = a.category_id
WHERE i.pos NOT IN (SELECT source_row FROM _bad WHERE part = 0)
  AND i.pos NOT IN (SELECT image_pos FROM _bad WHERE image_pos IS NOT NULL)
GROUP BY i.pos, i.id, i.file_name
ORDER BY i.pos
"""


def _load(con: duckdb.DuckDBPyConnection, path: Path) -> str | None:
    """Parse `path` into `_doc`; the reason it is not a COCO instances object, or None when it is."""
    try:
        con.execute("CREATE TEMP TABLE _doc AS SELECT CASE WHEN json_valid(content) THEN content::JSON END AS j "
                    "FROM read_text(?)", [str(path)])
    except duckdb.Error as e:
        raise InputError(f"gold file {path} cannot be read: {str(e).splitlines()[0][:300]}") from None
    j_type, images, annotations, categories = con.execute(
        "SELECT json_type(j), json_type(j, '$.images'), json_type(j, '$.annotations'), json_type(j, '$.categories') FROM _doc"
    ).fetchone()
    if j_type is None:
        return "it is not valid JSON"
    missing = [k for k, t in (("images", images), ("annotations", annotations), ("categories", categories)) if t != "ARRAY"]
    if j_type != "OBJECT" or missing:
        return f"it is not an object with {', '.join(repr(k) for k in missing) or 'its'} list(s)"
    return None


def looks_like_coco(path: Path) -> bool:
    """Whether `path` is a `.json` file holding one object with `images` and `annotations` lists (how
    `gold.format = "auto"` tells a COCO file from a JSON list of rows)."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    with duckdb.connect() as con:
        try:
            return _load(con, path) is None
        except InputError:
            return False


def read_instances(path: Path, labels: Sequence[str]) -> AnswerFile:
    """A COCO instances file as one box answer per image (see the module docstring).

    Raises `InputError` when the file is not a COCO instances object; problems of single images and
    annotations come back in `AnswerFile.problems` (unknown image or category ids, a category outside
    `labels`, a bbox that is not four finite numbers, of non-positive size or outside its image).
    """
    if not path.is_file():
        raise InputError(f"gold file {path} does not exist (paths in annoflow.toml are relative to the project folder)")
    listed = json.dumps(list(labels), ensure_ascii=False).replace("'", "''")
    with duckdb.connect() as con:
        why = _load(con, path)
        if why is not None:
            raise InputError(f"gold file {path}: not a COCO instances file ({why}); one object with \"images\", "
                             '"annotations" and "categories" lists is expected, or set gold.format = "table"')
        con.execute(_TABLES.replace("{number}", JSON_NUMBER_TYPES))
        con.execute(PX_MACRO)
        con.register("_labels", pa.table({"label": pa.array(list(labels), pa.string())}))
        sql = _PROBLEMS.replace("{tol}", repr(EDGE_TOLERANCE_PX)).replace("{labels}", listed)
        con.execute(f"CREATE TEMP TABLE _bad AS {sql}")
        problems = con.sql('SELECT source_row, "where", field, reason, detail, raw FROM _bad ORDER BY part, source_row').to_arrow_table()
        rows = con.sql(_ROWS).to_arrow_table()
    return AnswerFile(rows=rows.cast(pa.schema([("source_row", pa.int64()), ("where", pa.string()), ("key", pa.string()),
                                                ("answer", pa.string())])),
                      key_field="file",
                      problems=problems.cast(pa.schema([("source_row", pa.int64()), ("where", pa.string()), ("field", pa.string()),
                                                        ("reason", pa.string()), ("detail", pa.string()), ("raw", pa.string())])))
