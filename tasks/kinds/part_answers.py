"""Pieces the storage facets of kinds whose answer is a JSON list of parts (boxes on an image, time segments of
a clip, spans of a text) share: the refusal of one answer naming its field, the checks every such answer starts
and ends with (missing, not a list; an optional machine `score`), a finite number, the JSON-to-Arrow loop of
`from_json`, and the DuckDB session `validate` runs its rules in with the SQL those rules share (the whole-answer
faults, the names of JSON number types, the closing select that names item and source). Each kind keeps its own
rules and wording.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from tasks.errors import InputError

from .protocol import PROBLEM_SCHEMA, AnswerError

__all__ = ["JSON_NUMBER_TYPES", "check_list", "check_score", "fail", "finite", "number", "parts_from_json",
           "positive_facts", "problems_select", "run_rules", "whole_answer_cte"]

JSON_NUMBER_TYPES = "'UBIGINT', 'BIGINT', 'HUGEINT', 'DOUBLE'"
"""What DuckDB's `json_type` calls a JSON number, for `json_type(...) IN (...)` in a kind's rules."""


def fail(code: str, field: str, message: str) -> AnswerError:
    """A refusal whose message starts with the field at fault (`answer[2].end_s: ...`)."""
    return AnswerError(code, f"{field}: {message}", field=field)


def finite(value: Any) -> bool:
    """Whether `value` is a finite JSON number (a bool is not)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def number(part: Mapping[str, Any], key: str, where: str, unit: str) -> float:
    """`part[key]` as a float; refused (`<where>.<key>`) unless a finite number of `unit`."""
    value = part[key]
    if not finite(value):
        raise fail("not_a_number", f"{where}.{key}", f"{value!r} is not a finite number of {unit}")
    return float(value)


def positive_facts(metadata: Any, keys: Sequence[str]) -> tuple[float, ...] | None:
    """The values of `keys` in an item's metadata (a dict or JSON text) as ingest recorded them (an image's
    width and height, a clip's duration); None when one is missing or not a positive finite number."""
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return None
    if not isinstance(metadata, dict):
        return None
    values = [metadata.get(k) for k in keys]
    return tuple(float(v) for v in values) if all(finite(v) and v > 0 for v in values) else None


def check_list(raw: object, field: str, parts: str, none_means: str) -> list:
    """`raw` when it is a list; else the refusal every kind gives (missing, not a list). `parts` describes an
    element ("boxes {x, y, w, h, label}"), `none_means` what an empty list says ("no objects")."""
    if raw is None:
        raise fail("missing_answer", field, f'the answer is missing (an empty list [] means "{none_means}")')
    if not isinstance(raw, list):
        raise fail("not_a_list", field, f"expected a list of {parts} (an empty list means {none_means}), "
                   f"got {type(raw).__name__}")
    return raw


def check_score(part: Mapping[str, Any], where: str) -> float | None:
    """A machine part's optional `score`, rounded; refused unless a finite probability."""
    score = part.get("score")
    if score is None:
        return None
    if not finite(score):
        raise fail("not_a_number", f"{where}.score", f"{score!r} is not a finite number")
    if not 0 <= score <= 1:
        raise fail("score_out_of_range", f"{where}.score", f"score {score:g} is not a probability in [0, 1]")
    return round(float(score), 4)


def parts_from_json(texts: pa.Array, readable: Callable[[Any], bool], canonical: Callable[[Iterable], str],
                    keep: Callable[[dict], dict], arrow_type: pa.DataType, shape: str) -> pa.Array:
    """JSON answers to `arrow_type`: each parsed, checked by `readable`, put in canonical order and reduced by
    `keep` to the type's fields; raises `InputError` naming the first value that is not `shape`."""
    out: list[list[dict[str, Any]] | None] = []
    for i, text in enumerate(texts.cast(pa.string()).to_pylist()):
        if text is None:
            out.append(None)
            continue
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not readable(value):
            raise InputError(f"answer {i}: {text[:120]!r} is not {shape}")
        out.append([keep(p) for p in json.loads(canonical(value))])
    return pa.array(out, arrow_type)


def run_rules(answers: pa.Table, items: pa.Table, sql: str, labels: Sequence[str],
              setup: Sequence[tuple[str, list]] = ()) -> pa.Table:
    """Run a kind's validation query over `answers` and `items` (see `StorageFacet.validate`) in a fresh DuckDB.

    The query reads `_answers` (`row`, `item_id`, `source_id`, `answer` as text), `_items` (`item_id`, `payload`
    as text, `meta`: the metadata as JSON, NULL when it is not; either NULL when `items` lacks the column) and
    the variable `labels`; `setup` statements (macros, more variables) run first. Returns its rows as
    `PROBLEM_SCHEMA`."""
    n = answers.num_rows
    source = answers.column("source_id") if "source_id" in answers.column_names else pa.nulls(n, pa.string())
    table = pa.table({"row": pa.array(range(n), pa.int64()), "item_id": answers.column("item_id").cast(pa.string()),
                      "source_id": source.cast(pa.string()), "answer": answers.column("answer").cast(pa.string())})

    def text(name: str) -> pa.Array:
        return items.column(name).cast(pa.string()) if name in items.column_names else pa.nulls(items.num_rows, pa.string())

    with duckdb.connect() as con:
        con.register("_answers", table)
        con.register("_given_items", pa.table({"item_id": items.column("item_id").cast(pa.string()),
                                               "payload": text("payload"), "metadata": text("metadata")}))
        con.execute("CREATE TEMP VIEW _items AS SELECT DISTINCT ON (item_id) item_id, payload,"
                    " CASE WHEN json_valid(metadata) THEN metadata::JSON END AS meta FROM _given_items")
        con.execute("SET VARIABLE labels = ?::VARCHAR[]", [list(labels)])
        for statement, params in setup:
            con.execute(statement, params)
        out = con.sql(sql).to_arrow_table()
    return out.cast(PROBLEM_SCHEMA)


def whole_answer_cte(parts: str, none_means: str) -> str:
    """The CTE `a` a list kind's rules start with: each row of `_answers` with its `answer` as text, the
    whole-answer `fault` (`missing_answer`, `malformed_json`, `not_a_list`; NULL when the answer is a list) and
    its `fault_detail` in `check_list`'s words. `parts` names an element with its shape (`spans [{"start": ...}]`),
    `none_means` what an empty list says."""
    parts, none_means = parts.replace("'", "''"), none_means.replace("'", "''")
    return f"""a AS (
    SELECT *, CASE fault
             WHEN 'missing_answer' THEN 'the answer is missing (an empty list [] means "{none_means}")'
             WHEN 'malformed_json' THEN 'the answer ' || left(answer, 80) || ' is not valid JSON'
             WHEN 'not_a_list' THEN 'the answer ' || left(answer, 80) || ' is not a list of {parts}' END AS fault_detail
    FROM (SELECT row, item_id, source_id, answer::VARCHAR AS answer,
                 CASE WHEN answer IS NULL THEN 'missing_answer'
                      WHEN NOT json_valid(answer) THEN 'malformed_json'
                      WHEN json_type(answer::JSON) <> 'ARRAY' THEN 'not_a_list' END AS fault
          FROM _answers))"""


def problems_select(problems: str) -> str:
    """The statement that ends a kind's rules: the rows of `problems` (`row, item_id, source_id, field, reason,
    detail`) as `PROBLEM_SCHEMA` wants them, each detail led by the item and who answered (a source, or gold),
    in the order of the answers."""
    return f"""SELECT row, item_id, source_id, field, reason,
       'item ' || to_json(item_id) || ', ' || CASE WHEN source_id IS NULL THEN 'gold' ELSE 'source ' || to_json(source_id) END
       || ': ' || detail AS detail
FROM ({problems})
ORDER BY row, field
"""
