"""Pairwise: how an answer is stored, carried and checked (see tasks/kinds/protocol.py, storage).

In DuckDB an answer is the JSON text `canonical` writes, `{"choice": "A"|"B"|"tie", "swapped": bool}` plus
`"reason"` when one was given; in Arrow it is `PAIRWISE_TYPE`. `choice` names the slot as shown (A = the
candidate shown first); `swapped` says whether that assignment showed candidate `b` first, so the stored
answer says which candidate was preferred and where it sat. A gold answer may leave `swapped` out (it then
speaks in the item's own order: A = `a`).

Validation is one DuckDB query over all answers and their items' payloads: the answer's shape, ties only
where the project allows them, the reason where required, and the item itself (an answer to a comparison
whose candidates are missing or identical is refused too, naming the item).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from tasks.errors import InputError

from ..part_answers import problems_select, run_rules
from ..protocol import AnswerFile
from .candidates import resolve_media
from .comparison import PROBLEMS_SQL
from .options import PairwiseOptions

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "PAIRWISE_TYPE", "canonical", "from_json", "options_of", "preference_sql", "to_json", "validate"]

def preference_sql(answer: str) -> str:
    """A DuckDB expression over the answer JSON `answer`: the candidate it prefers in the item's own order (`a`, `b`
    or `tie`), `swapped` undone (absent: false, as gold writes it); NULL unless it is a valid choice."""
    choice, swapped = f"({answer})::JSON ->> '$.choice'", f"coalesce(TRY_CAST(({answer})::JSON ->> '$.swapped' AS BOOLEAN), false)"
    return (f"CASE WHEN {choice} = 'tie' THEN 'tie' WHEN {choice} NOT IN ('A', 'B') THEN NULL "
            f"WHEN ({choice} = 'A') <> {swapped} THEN 'a' ELSE 'b' END")


PAIRWISE_TYPE = pa.struct([("choice", pa.string()), ("swapped", pa.bool_()), ("reason", pa.string())])
CHOICES = ("A", "B", "tie")


def options_of(cfg: Any) -> PairwiseOptions:
    opts = getattr(cfg, "answer_options", None)
    return opts if isinstance(opts, PairwiseOptions) else PairwiseOptions()


def canonical(answer: dict[str, Any]) -> str:
    """The one JSON text of an answer: keys in a fixed order, `swapped` false when absent, an empty reason dropped."""
    out: dict[str, Any] = {"choice": answer["choice"], "swapped": bool(answer.get("swapped") or False)}
    if isinstance(answer.get("reason"), str) and answer["reason"].strip():
        out["reason"] = answer["reason"].strip()
    return json.dumps(out, ensure_ascii=False, separators=(", ", ": "))


_RULES = """
WITH a AS (
    SELECT row, item_id, source_id, answer, json_valid(answer) AS ok FROM _answers),
j AS (
    SELECT a.*, i.item_id IS NOT NULL AS known, i.payload,
           CASE WHEN ok THEN json_type(answer::JSON) END AS t,
           CASE WHEN ok THEN json_type(answer::JSON, '$.choice') END AS ct,
           CASE WHEN ok THEN answer::JSON ->> '$.choice' END AS choice,
           CASE WHEN ok THEN json_type(answer::JSON, '$.swapped') END AS st,
           CASE WHEN ok THEN json_type(answer::JSON, '$.reason') END AS rt,
           CASE WHEN ok THEN answer::JSON ->> '$.reason' END AS reason
    FROM a LEFT JOIN (SELECT DISTINCT ON (item_id) item_id, payload FROM _items) i USING (item_id)),
v AS (
    SELECT *, CASE
        WHEN answer IS NULL THEN ['answer', 'missing_answer', 'the answer is missing']
        WHEN NOT ok THEN ['answer', 'malformed_json', 'the answer ' || left(answer, 80) || ' is not valid JSON']
        WHEN t <> 'OBJECT' THEN ['answer', 'not_an_object', 'the answer ' || left(answer, 80)
             || ' is not an object {"choice": "A"|"B"|"tie", "swapped": true|false}']
        WHEN NOT known THEN ['answer', 'unknown_item', 'no ingested item has this id']
        WHEN ct IS NULL OR ct = 'NULL' THEN ['choice', 'missing_field', 'the answer has no choice']
        WHEN ct <> 'VARCHAR' OR choice NOT IN ('A', 'B', 'tie') THEN ['choice', 'unknown_choice',
             'choice ' || (answer::JSON -> '$.choice')::VARCHAR || ' is not one of "A", "B", "tie"']
        WHEN choice = 'tie' AND NOT getvariable('allow_ties') THEN ['choice', 'tie_not_allowed',
             'choice "tie": this project does not allow ties (answer A or B)']
        WHEN (st IS NULL OR st = 'NULL') AND source_id IS NOT NULL THEN ['swapped', 'missing_field',
             'the answer has no swapped (whether candidate b was shown first)']
        WHEN st IS NOT NULL AND st NOT IN ('BOOLEAN', 'NULL') THEN ['swapped', 'not_a_boolean',
             'swapped ' || (answer::JSON -> '$.swapped')::VARCHAR || ' is not true or false']
        WHEN rt IS NOT NULL AND rt NOT IN ('VARCHAR', 'NULL') THEN ['reason', 'reason_not_text', 'the reason is not text']
        WHEN getvariable('require_reason') AND coalesce(trim(reason), '') = '' THEN ['reason', 'missing_reason',
             'this project asks for a reason with every answer']
        WHEN length(coalesce(reason, '')) > getvariable('max_reason') THEN ['reason', 'reason_too_long',
             'the reason has ' || length(reason) || ' characters, more than ' || getvariable('max_reason')]
        WHEN {problem} IS NOT NULL THEN ['answer', {problem}, CASE {problem}
             WHEN 'not_a_comparison' THEN 'the item''s payload is not a comparison {"prompt", "a", "b", "system_a", "system_b"}'
             WHEN 'candidate_missing' THEN 'the item has a missing or empty candidate'
             WHEN 'identical_candidates' THEN 'the item''s two candidates are identical'
             ELSE 'the item does not name both systems (system_a, system_b)' END]
      END AS verdict
    FROM j)
""" + problems_select("SELECT row, item_id, source_id, verdict[1] AS field, verdict[2] AS reason, verdict[3] AS detail"
                     " FROM v WHERE verdict IS NOT NULL")


def validate(answers: pa.Table, items: pa.Table, cfg: ProjectConfig) -> pa.Table:
    """Problems of pairwise answers against their items and the project (see `PROBLEM_SCHEMA`).

    `answers`: `item_id`, optional `source_id`, `answer` (JSON text). `items`: `item_id`, `payload`."""
    opts = options_of(cfg)
    return run_rules(answers, items, _RULES.replace("{problem}", f"({PROBLEMS_SQL.replace('{p}', 'payload')})"),
                     cfg.labels, [("SET VARIABLE allow_ties = ?::BOOLEAN", [opts.allow_ties]),
                                  ("SET VARIABLE require_reason = ?::BOOLEAN", [opts.require_reason]),
                                  ("SET VARIABLE max_reason = ?::BIGINT", [opts.max_reason_chars])])


def to_json(answers: pa.Array) -> pa.Array:
    """Answers of `PAIRWISE_TYPE` as canonical JSON text, nulls kept."""
    return pa.array([None if a is None else canonical(a) for a in answers.cast(PAIRWISE_TYPE).to_pylist()], pa.string())


def from_json(texts: pa.Array) -> pa.Array:
    """JSON answers back to `PAIRWISE_TYPE`; raises `InputError` naming the first that is not an answer."""
    out = []
    for k, text in enumerate(texts.to_pylist()):
        if text is None:
            out.append(None)
            continue
        try:
            v = json.loads(text)
        except ValueError:
            v = None
        if not (isinstance(v, dict) and v.get("choice") in CHOICES and isinstance(v.get("swapped", False), bool)
                and (v.get("reason") is None or isinstance(v["reason"], str))):
            raise InputError(f"answer {k}: {str(text)[:80]!r} is not a pairwise answer "
                             '{"choice": "A"|"B"|"tie", "swapped": true|false, "reason"?: "..."}')
        out.append({"choice": v["choice"], "swapped": bool(v.get("swapped", False)), "reason": v.get("reason")})
    return pa.array(out, PAIRWISE_TYPE)


_ITEM_ROWS = """
WITH r AS (
    SELECT source_row, problem, payload AS prompt, metadata, cand_a, cand_b, missing_a, missing_b,
           CASE WHEN json_valid(metadata) THEN metadata::JSON END AS m FROM _raw),
c AS (
    SELECT *, CASE WHEN problem IS NULL AND prompt IS NOT NULL THEN
                  json_object('prompt', prompt, 'a', cand_a, 'b', cand_b,
                              'system_a', m ->> '$.system_a', 'system_b', m ->> '$.system_b')::VARCHAR END AS pair
    FROM r),
j AS (SELECT *, CASE WHEN pair IS NOT NULL THEN coalesce({problem},
                     CASE WHEN missing_a IS NOT NULL OR missing_b IS NOT NULL THEN 'media_missing' END) END AS refused,
             CASE WHEN coalesce(trim(m ->> '$.a'), '') = '' THEN 'a' ELSE 'b' END AS empty_side,
             CASE WHEN coalesce(trim(m ->> '$.system_a'), '') = '' THEN 'system_a' ELSE 'system_b' END AS empty_system,
             CASE WHEN missing_a IS NOT NULL THEN 'a' ELSE 'b' END AS missing_side
      FROM c)
SELECT source_row, refused, coalesce(pair, prompt) AS payload, problem,
       CASE WHEN m IS NOT NULL THEN json_merge_patch(m, '{"a": null, "b": null, "system_a": null, "system_b": null}')::VARCHAR
            ELSE metadata END AS metadata,
       CASE refused WHEN 'candidate_missing' THEN empty_side WHEN 'system_missing' THEN empty_system
                    WHEN 'media_missing' THEN missing_side ELSE 'a,b' END AS field,
       CASE refused
            WHEN 'candidate_missing' THEN 'the comparison needs two candidates: field ' || empty_side || ' is missing or empty'
            WHEN 'identical_candidates' THEN 'candidates a and b are identical: there is nothing to compare'
            WHEN 'system_missing' THEN 'field ' || empty_system || ' (the system that wrote the candidate) is missing or empty'
            WHEN 'media_missing' THEN 'candidate ' || missing_side || ' names the media file '
                 || coalesce(missing_a, missing_b) || ', which does not exist (a relative path is read from the source file''s folder)'
            ELSE 'the row is not a comparison' END AS detail,
       left(coalesce(metadata, prompt), 500) AS raw
FROM j ORDER BY source_row
"""


def item_rows(raw: pa.Table, text_field: str, source: str, base: Path | None = None) -> tuple[pa.Table, pa.Table]:
    """INGEST: each source row (the prompt in `text_field`, the other fields in `metadata`) as a comparison payload
    `{"prompt", "a", "b", "system_a", "system_b"}` (the item's content, so two comparisons sharing a prompt are two
    items), and the rows refused because their candidates are missing or identical, or name a media file that is
    not there (quarantine rows naming the source row and field). A media candidate (`candidates.py`) is stored as
    an absolute `file://` URI, a relative path read from `base` (the source file's folder). `raw` is a reader's
    uniform batch (`source_row, payload, problem, metadata`)."""
    with duckdb.connect() as con:
        con.register("_in", raw)
        sides = con.sql("SELECT CASE WHEN json_valid(metadata) THEN metadata::JSON ->> '$.a' END AS a, "
                        "CASE WHEN json_valid(metadata) THEN metadata::JSON ->> '$.b' END AS b FROM _in").to_arrow_table()
        (cand_a, missing_a), (cand_b, missing_b) = (resolve_media(sides[k].combine_chunks(), base) for k in ("a", "b"))
        con.register("_raw", raw.append_column("cand_a", cand_a).append_column("cand_b", cand_b)
                     .append_column("missing_a", missing_a).append_column("missing_b", missing_b))
        out = con.sql(_ITEM_ROWS.replace("{problem}", f"({PROBLEMS_SQL.replace('{p}', 'pair')})")).to_arrow_table()
    bad = pc.is_valid(out["refused"])
    kept = out.filter(pc.invert(bad)).select(["source_row", "payload", "problem", "metadata"]).cast(raw.schema)
    refused = out.filter(bad)
    rejects = pa.table({"source": pa.array([source] * refused.num_rows, pa.string()), "source_row": refused["source_row"],
                        "field": refused["field"], "reason": refused["refused"], "detail": refused["detail"],
                        "raw": refused["raw"]})
    return kept, rejects


class _PairwiseStorage:
    column = "answer"
    arrow_type = PAIRWISE_TYPE
    answer_file_formats: tuple[str, ...] = ()
    to_json = staticmethod(to_json)
    from_json = staticmethod(from_json)
    validate = staticmethod(validate)
    item_rows = staticmethod(item_rows)

    def read_answer_file(self, path: Path, fmt: str, cfg: ProjectConfig) -> AnswerFile | None:
        """No format of its own: gold comes as a table with a JSON `answer` column."""
        return None


FACET = _PairwiseStorage()
