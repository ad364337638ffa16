"""Spans: how an answer is stored, carried and checked (see tasks/kinds/protocol.py, storage).

In DuckDB an answer is JSON `[{"start": 0, "end": 5, "label": "person"}, ...]` sorted by
(start, end, label); in Arrow it is `SPANS_TYPE`. Offsets are Unicode code points of the item's
text (Python string indices), `end` exclusive.

What "a span that splits a character" means here: since offsets count code points, a span cannot
cut a UTF-8 byte sequence; what it can cut is a character as a reader sees it, an extended grapheme
cluster (a letter and its combining accents, an emoji with a skin-tone modifier or ZWJ joins, a
flag's two regional indicators, CR LF). A span boundary must fall between two such characters. This
is also how offsets counted by another tool in UTF-8 bytes or UTF-16 units usually give themselves
away (when they do not already land past the end of the text).

Validation runs in DuckDB over all answers at once: the JSON is unnested into one row per span and
every rule is a column expression, so a million answers cost one query, not a Python loop.
"""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa

from tasks.errors import InputError

from ..part_answers import problems_select, run_rules, whole_answer_cte
from ..protocol import AnswerStorage

__all__ = ["FACET", "SPANS_TYPE", "SPAN_TYPE", "validate"]

SPAN_TYPE = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())])
SPANS_TYPE = pa.list_(SPAN_TYPE)

_DUCK_SPANS = "STRUCT(start INTEGER, \"end\" INTEGER, label VARCHAR)[]"
_INTEGER = "('UBIGINT', 'BIGINT')"

# Whether code-point offset k falls between two user-perceived characters: the characters on either side
# of k, counted apart, add up to those counted together. Counting a window of 16 code points each side
# (longer than any grapheme met in practice) keeps the cost flat however long the text.
_MACROS = """
CREATE OR REPLACE TEMP MACRO grapheme_boundary(t, k) AS
    length_grapheme(substr(t, greatest(k - 15, 1)::INTEGER, least(k, 16)::INTEGER))
    + length_grapheme(substr(t, (k + 1)::INTEGER, 16)) = length_grapheme(substr(t, greatest(k - 15, 1)::INTEGER, (least(k, 16) + 16)::INTEGER))
"""

_ANSWERS = whole_answer_cte('spans [{"start": ..., "end": ..., "label": ...}]', "no entities")

# One row per problem; every rule is one CASE arm so the first failing rule names the fault.
_SPAN_RULES = """
WITH {answers},
whole AS (
    SELECT a.row, a.item_id, a.source_id,
           CASE WHEN a.fault IS NOT NULL THEN 'answer' ELSE 'item_id' END AS field,
           coalesce(a.fault, 'unknown_item') AS reason,
           coalesce(a.fault_detail, 'no ingested item has this id') AS detail
    FROM a LEFT JOIN _items i USING (item_id)
    WHERE a.fault IS NOT NULL OR i.item_id IS NULL),
spans AS (
    SELECT a.row, a.item_id, a.source_id, i.payload, s.k, s.e
    FROM a JOIN _items i USING (item_id),
         LATERAL (SELECT unnest(range(json_array_length(a.answer)::BIGINT)) AS k, unnest(a.answer::JSON[]) AS e) s
    WHERE a.fault IS NULL),
typed AS (
    SELECT *, json_type(e) AS e_type, json_type(e, '$.start') AS s_type, json_type(e, '$.end') AS e_end_type,
           json_type(e, '$.label') AS l_type FROM spans),
parsed AS (
    SELECT *,
           CASE WHEN s_type IN {integer} THEN TRY_CAST(e ->> '$.start' AS BIGINT) END AS s,
           CASE WHEN e_end_type IN {integer} THEN TRY_CAST(e ->> '$.end' AS BIGINT) END AS en,
           e ->> '$.label' AS lab,
           length(payload) AS n,
           strlen(payload) = length(payload) AND NOT contains(payload, chr(13)) AS simple
    FROM typed),
judged AS MATERIALIZED (
    SELECT *,
      CASE
        WHEN e_type <> 'OBJECT' THEN ['', 'not_a_span']
        WHEN s_type IS NULL OR s_type = 'NULL' THEN ['.start', 'missing_field']
        WHEN e_end_type IS NULL OR e_end_type = 'NULL' THEN ['.end', 'missing_field']
        WHEN l_type IS NULL OR l_type = 'NULL' THEN ['.label', 'missing_field']
        WHEN s IS NULL THEN ['.start', 'non_integer_offset']
        WHEN en IS NULL THEN ['.end', 'non_integer_offset']
        WHEN l_type <> 'VARCHAR' THEN ['.label', 'label_not_text']
        WHEN s < 0 THEN ['.start', 'negative_offset']
        WHEN en < 0 THEN ['.end', 'negative_offset']
        WHEN s >= en THEN ['.end', 'empty_or_reversed_span']
        WHEN en > n THEN ['.end', 'span_outside_text']
        WHEN NOT list_contains(getvariable('labels'), lab) THEN ['.label', 'unknown_label']
        WHEN NOT simple AND NOT grapheme_boundary(payload, s) THEN ['.start', 'splits_character']
        WHEN NOT simple AND NOT grapheme_boundary(payload, en) THEN ['.end', 'splits_character']
      END AS verdict
    FROM parsed),
good AS (
    -- One sort over (row, start, ...) for all answers at once: the running maximum of (row, end) is the
    -- furthest an earlier span of the same answer reaches (rows of earlier answers compare lower).
    SELECT *, lag(upto) OVER w AS before, lag({'row': row, 's': s, 'en': en, 'lab': lab, 'k': k}) OVER w AS prev
    FROM (SELECT *, max({'row': row, 'en': en, 'k': k}) OVER (ORDER BY row, s, en, lab, k ROWS UNBOUNDED PRECEDING) AS upto
          FROM judged WHERE verdict IS NULL)
    WINDOW w AS (ORDER BY row, s, en, lab, k)),
per_span AS (
    SELECT row, item_id, source_id, 'spans[' || k || ']' || verdict[1] AS field, verdict[2] AS reason,
      'spans[' || k || ']' || verdict[1] || ' = ' || CASE verdict[1]
          WHEN '' THEN left(e::VARCHAR, 80) WHEN '.start' THEN coalesce(e ->> '$.start', 'null')
          WHEN '.end' THEN coalesce(e ->> '$.end', 'null') ELSE coalesce((e -> '$.label')::VARCHAR, 'null') END
      || CASE verdict[2]
          WHEN 'not_a_span' THEN ' is not a span object {"start": ..., "end": ..., "label": ...}'
          WHEN 'missing_field' THEN ': the span has no ' || ltrim(verdict[1], '.')
          WHEN 'non_integer_offset' THEN ' is not a whole number (offsets count characters)'
          WHEN 'label_not_text' THEN ' is not a text label'
          WHEN 'negative_offset' THEN ' is negative'
          WHEN 'empty_or_reversed_span' THEN ' is not after start ' || s || ' (end is exclusive; start < end)'
          WHEN 'span_outside_text' THEN ' is past the end of the text (' || n || ' characters)'
          WHEN 'unknown_label' THEN ' is not in the label set {labels}'
          WHEN 'splits_character' THEN ' falls inside the character '
              || to_json(substr(payload, greatest(1, (CASE verdict[1] WHEN '.start' THEN s ELSE en END)::INTEGER), 2))
              || ' (offsets count Unicode code points; a combining mark, emoji modifier, or offsets counted in'
              || ' UTF-8 bytes or UTF-16 units by another tool land here)'
        END AS detail
    FROM judged WHERE verdict IS NOT NULL
    UNION ALL
    SELECT row, item_id, source_id, 'spans[' || k || ']' AS field,
           CASE WHEN prev.row = row AND prev.s = s AND prev.en = en AND prev.lab = lab THEN 'duplicate_span' ELSE 'overlapping_spans' END,
           'spans[' || k || '] ' || s || '-' || en || ' ' || to_json(lab)
           || CASE WHEN prev.row = row AND prev.s = s AND prev.en = en AND prev.lab = lab THEN ' repeats spans[' || prev.k || ']'
                   ELSE ' overlaps spans[' || before.k || '] (ending at ' || before.en || '); overlapping spans are off'
                        || ' for this project ([answer] allow_overlap = true allows them)' END
    FROM good
    WHERE (prev.row = row AND prev.s = s AND prev.en = en AND prev.lab = lab) OR (NOT {allow_overlap} AND before.row = row AND before.en > s))
""" + problems_select("SELECT * FROM whole UNION ALL SELECT * FROM per_span")


def _sql_text(value: str) -> str:
    return value.replace("'", "''")


def validate(answers: pa.Table, items: pa.Table, cfg) -> pa.Table:
    """Problems of span answers against their items' texts and the project (see `PROBLEM_SCHEMA`).

    `answers`: `item_id`, optional `source_id`, `answer` (JSON text). `items`: `item_id`, `payload`.
    `row` in the result is the answer's index in `answers`. Overlapping spans are reported only when
    `[answer] allow_overlap` is false; an exact duplicate span is always reported.
    """
    opts = cfg.answer_options
    labels = json.dumps(list(cfg.labels), ensure_ascii=False)
    sql = (_SPAN_RULES.replace("{answers}", _ANSWERS).replace("{integer}", _INTEGER).replace("{labels}", _sql_text(labels))
           .replace("{allow_overlap}", "true" if opts is not None and opts.allow_overlap else "false"))
    return run_rules(answers, items.select(["item_id", "payload"]), sql, cfg.labels, [(_MACROS, [])])


def to_json(answers: pa.Array) -> pa.Array:
    """Answers of `SPANS_TYPE` as canonical JSON text: spans sorted by (start, end, label), nulls kept."""
    with duckdb.connect() as con:
        con.register("_a", pa.table({"a": answers.cast(SPANS_TYPE)}))
        return con.sql("SELECT to_json(list_sort(a))::VARCHAR AS j FROM _a").to_arrow_table().column("j").combine_chunks()


def from_json(texts: pa.Array) -> pa.Array:
    """JSON span lists back to `SPANS_TYPE` (sorted); raises `InputError` naming the first bad value."""
    with duckdb.connect() as con:
        con.register("_t", pa.table({"t": texts.cast(pa.string())}))
        bad = con.execute(f"""
            WITH t AS (SELECT row_number() OVER () - 1 AS i, t, CASE WHEN json_valid(t) THEN t::JSON END AS j FROM _t),
            a AS (SELECT *, CASE WHEN json_type(j) = 'ARRAY' THEN j::JSON[] END AS elems FROM t)
            SELECT i, t FROM a WHERE t IS NOT NULL AND (elems IS NULL OR len(list_filter(elems, lambda e:
                coalesce(json_type(e) <> 'OBJECT' OR json_type(e, '$.start') NOT IN {_INTEGER}
                         OR json_type(e, '$.end') NOT IN {_INTEGER} OR json_type(e, '$.label') <> 'VARCHAR', true))) > 0)
            ORDER BY i LIMIT 1""").fetchone()
        if bad is not None:
            raise InputError(f"answer {bad[0]}: {bad[1][:120]!r} is not a list of spans "
                             '[{"start": <int>, "end": <int>, "label": "<type>"}, ...]')
        out = con.sql(f"SELECT list_sort(from_json(t, '[{{\"start\": \"INTEGER\", \"end\": \"INTEGER\", \"label\": \"VARCHAR\"}}]')"
                      f"::{_DUCK_SPANS}) AS a FROM _t").to_arrow_table()
    return out.column("a").combine_chunks().cast(SPANS_TYPE)


FACET = AnswerStorage(SPANS_TYPE, to_json, from_json, validate)
"""Span gold files are tables."""
