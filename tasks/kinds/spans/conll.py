"""CoNLL (BIO) text both ways: pre-tokenised sentences with tags in, spans' tags out.

Reading: one token per line, whitespace, then its tag (extra middle columns, as in CoNLL-2003, are
ignored: the token is the first column and the tag the last); a blank line ends a sentence;
`-DOCSTART-` lines separate documents and are skipped. A sentence becomes one text, its tokens joined
by single spaces (so the "whitespace" tokeniser gives the same tokens back), with each token's
character offsets and its B-/I- runs as spans. A sentence holding a bad line is not stored at all
(half a sentence would be a different text with wrong offsets): each bad line is reported with its
number and field, and every good sentence around it is kept.

Parsing is one DuckDB query over the file's lines (window functions carry the sentence, the
offsets and the previous tag), so a large file costs no Python loop per token.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import duckdb
import pyarrow as pa

from .tokens import bio_tags, tokenize

__all__ = ["PROBLEM_SCHEMA", "SENTENCE_SCHEMA", "conll_lines", "parse_conll", "tags_refused", "to_conll"]

SENTENCE_SCHEMA = pa.schema([
    ("source_row", pa.int64()),   # line of the sentence's first token
    ("payload", pa.string()),     # tokens joined by single spaces
    ("tokens", pa.string()),      # JSON [[start, end], ...] per token
    ("answer", pa.string()),      # JSON spans from the tags (canonical order), [] when all O
])
PROBLEM_SCHEMA = pa.schema([
    ("source_row", pa.int64()), ("field", pa.string()), ("reason", pa.string()), ("detail", pa.string()), ("raw", pa.string()),
])

_PARSE = """
WITH l0 AS (SELECT n, line, regexp_replace(line, '^\\s+|\\s+$', '', 'g') AS stripped FROM _lines),
l AS (
    SELECT n, line, stripped, stripped = '' AND n NOT IN (SELECT n FROM _unreadable) AS blank,
           starts_with(stripped, '-DOCSTART-') AS docstart, n IN (SELECT n FROM _unreadable) AS unreadable
    FROM l0),
s AS (
    SELECT *, sum(CASE WHEN blank OR docstart THEN 1 ELSE 0 END) OVER (ORDER BY n) AS sid FROM l),
t AS (
    SELECT n, sid, line, unreadable, regexp_split_to_array(stripped, '\\s+') AS f FROM s WHERE NOT blank AND NOT docstart),
tok AS (
    SELECT n, sid, line, unreadable, len(f) AS nf, nfc_normalize(f[1]) AS token, f[-1] AS tag,
           regexp_full_match(f[-1], '(O|[BI]-.+)') AS tag_ok, substr(f[-1], 3) AS typ, left(f[-1], 1) AS bio
    FROM t),
ctx AS (
    SELECT *, lag(CASE WHEN tag_ok THEN tag END) OVER (PARTITION BY sid ORDER BY n) AS prev,
           coalesce(sum(length(token) + 1) OVER (PARTITION BY sid ORDER BY n ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
             AS start
    FROM tok),
judged AS (
    SELECT *,
      CASE WHEN unreadable THEN ['line', 'invalid_encoding']
           WHEN nf < 2 THEN ['line', 'malformed_line']
           WHEN NOT tag_ok THEN ['tag', 'malformed_tag']
           WHEN typ NOT IN (SELECT label FROM _labels) AND bio IN ('B', 'I') THEN ['tag', 'unknown_label']
           WHEN bio = 'I' AND (prev IS NULL OR prev = 'O' OR substr(prev, 3) <> typ) THEN ['tag', 'bio_i_without_b']
      END AS verdict
    FROM ctx)
SELECT n, sid, token, start, start + length(token) AS "end", bio, typ, verdict, line,
       CASE verdict[2]
         WHEN 'invalid_encoding' THEN 'the line is not UTF-8 text; the sentence is not stored'
         WHEN 'malformed_line' THEN 'expected a token and a BIO tag separated by a tab or space, found '
              || to_json(line) || '; the sentence is not stored'
         WHEN 'malformed_tag' THEN 'tag ' || to_json(tag) || ' is not O, B-<type> or I-<type>; the sentence is not stored'
         WHEN 'unknown_label' THEN 'type ' || to_json(typ) || ' (tag ' || to_json(tag) || ') is not in the label set {labels}'
              || '; the sentence is not stored'
         WHEN 'bio_i_without_b' THEN 'tag ' || to_json(tag) || CASE WHEN prev IS NULL OR prev = 'O'
              THEN ' starts an entity (an entity starts with B-' || typ || ')'
              ELSE ' follows ' || to_json(prev) || ' (an I- tag continues an entity of its own type)' END
              || '; the sentence is not stored'
       END AS detail
FROM judged ORDER BY n
"""


def tags_refused(cfg, source: str) -> str | None:
    """Why a project cannot store a CoNLL file's tags (they are entity spans), or None when it can."""
    from tasks.kinds import kind_of

    from . import SPANS

    kind = kind_of(cfg)
    if kind is SPANS:
        return None
    return (f"source {source}: a CoNLL file's tags are entity spans, but this project's task_kind is {kind.name!r}; "
            f"use task_kind = {SPANS.name!r} or set annotations = 'none' on this source")


def conll_lines(block: bytes | str, first_line: int) -> pa.Table:
    """The lines of a block of whole lines, numbered from `first_line`: the input `parse_conll` takes."""
    text = block.decode("utf-8") if isinstance(block, bytes) else block
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return pa.table({"n": pa.array(range(first_line, first_line + len(lines)), pa.int64()),
                     "line": pa.array([x.rstrip("\r") for x in lines], pa.string())})


def parse_conll(lines: pa.Table, labels: Sequence[str], unreadable: Sequence[int] = ()) -> tuple[pa.Table, pa.Table]:
    """(sentences of `SENTENCE_SCHEMA`, problems of `PROBLEM_SCHEMA`) from numbered lines (`n`, `line`).

    `unreadable` lists line numbers a reader already reported (e.g. bytes that are not UTF-8): their
    sentence is dropped without a second report.
    """
    sql = _PARSE.replace("{labels}", json.dumps(list(labels), ensure_ascii=False).replace("'", "''"))
    with duckdb.connect() as con:
        con.register("_lines", lines)
        con.register("_labels", pa.table({"label": pa.array(list(labels), pa.string())}))
        con.register("_unreadable", pa.table({"n": pa.array(list(unreadable), pa.int64())}))
        con.execute(f"CREATE TEMP TABLE tok AS {sql}")
        problems = con.sql(
            "SELECT n AS source_row, verdict[1] AS field, verdict[2] AS reason, detail, left(line, 500) AS raw FROM tok"
            " WHERE verdict IS NOT NULL AND verdict[2] <> 'invalid_encoding' ORDER BY n").to_arrow_table()
        sentences = con.sql("""
            WITH good AS (SELECT * FROM tok WHERE sid NOT IN (SELECT sid FROM tok WHERE verdict IS NOT NULL)),
            runs AS (SELECT *, sum(CASE WHEN bio = 'B' THEN 1 ELSE 0 END) OVER (PARTITION BY sid ORDER BY n) AS rid FROM good),
            spans AS (SELECT sid, min(start) AS start, max("end") AS "end", any_value(typ) AS label FROM runs
                      WHERE bio IN ('B', 'I') GROUP BY sid, rid),
            per AS (SELECT sid, list_sort(list({'start': start::INTEGER, 'end': "end"::INTEGER, 'label': label})) AS spans
                    FROM spans GROUP BY sid)
            SELECT min(g.n) AS source_row, string_agg(g.token, ' ' ORDER BY g.n) AS payload,
                   to_json(list([g.start, g."end"] ORDER BY g.n))::VARCHAR AS tokens,
                   to_json(coalesce(any_value(p.spans), []))::VARCHAR AS answer
            FROM good g LEFT JOIN per p USING (sid) GROUP BY g.sid ORDER BY source_row""").to_arrow_table()
    return sentences.cast(SENTENCE_SCHEMA), problems.cast(PROBLEM_SCHEMA)


def to_conll(text: str, spans: Sequence[tuple[int, int, str]], tokenizer: str) -> str:
    """One text and its spans as CoNLL lines (token TAB tag), ending with the blank line between sentences."""
    tokens = tokenize(text, tokenizer)
    tags = bio_tags(spans, tokens)
    return "".join(f"{text[s:e]}\t{tag}\n" for (s, e), tag in zip(tokens, tags)) + "\n"
