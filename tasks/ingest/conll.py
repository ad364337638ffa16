"""CoNLL sources: pre-tokenised sentences with BIO tags become text items, their tags gold or votes.

The file streams in blocks cut after a blank line (a sentence never straddles two batches); each
block is parsed by `tasks.kinds.spans.conll.parse_conll`. The tags are stored according to the
source's `annotations`: ignored ('none'), as gold answers ('gold') or as the votes of one source
('votes', `annotations_source`, default `human:<source name>`). Stored gold never changes here: a
sentence whose stored gold differs is quarantined (`gold_changed`), and a sentence that appears
twice in the file with different tags stores neither answer (`gold_conflict` / `vote_conflict`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from schemas.config import ConllAnnotations, ProjectConfig, SourceConfig
from tasks.errors import InputError
from tasks.ingest.readers import RAW_SCHEMA, RawBatch
from tasks.ingest.rows import BadRow
from tasks.ingest.textfile import text_blocks
from tasks.kinds import kind_of
from tasks.kinds.spans.conll import conll_lines, parse_conll, tags_refused

__all__ = ["ConllBatch", "check_conll_source", "read_conll", "store_annotations"]

@dataclass
class ConllBatch:
    raw: RawBatch
    answers: pa.Table  # source_row (the sentence's first line), answer (JSON spans)


def check_conll_source(cfg: ProjectConfig, src: SourceConfig, name: str) -> None:
    """Refuse, before reading, tags the project's kind cannot store."""
    why = tags_refused(cfg, name) if src.annotations != ConllAnnotations.none else None
    if why:
        raise InputError(why)


def _last_sentence_end(data: bytes) -> int:
    """Where the last complete sentence of a block ends (0: none yet)."""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 3 if crlf >= 0 else 0)


def read_conll(path: Path, labels: list[str], *, encoding: str = "utf-8", block_bytes: int = 4 << 20) -> Iterator[ConllBatch]:
    """Stream a CoNLL file as item batches plus each sentence's spans; memory is one block plus one sentence."""
    carry, carry_first, carry_bad = b"", None, []
    for tb in text_blocks(path, encoding, block_bytes):
        data = carry + tb.data
        first = carry_first if carry_first is not None else tb.first_line
        bad = carry_bad + list(tb.bad)
        cut = len(data) if tb.final else _last_sentence_end(data)
        block, carry = data[:cut], data[cut:]
        carry_first = first + block.count(b"\n") if carry else None
        carry_bad = [b for b in bad if carry_first is not None and (b.source_row or 0) >= carry_first]
        bad = [b for b in bad if b not in carry_bad]
        if not block:
            continue
        sentences, problems = parse_conll(conll_lines(block, first), labels, [b.source_row for b in bad if b.source_row])
        bad += [BadRow(r["source_row"], r["reason"], r["detail"], r["raw"], r["field"]) for r in problems.to_pylist()]
        bad.sort(key=lambda b: b.source_row or 0)
        metadata = pa.array([f'{{"tokens":{t}}}' for t in sentences.column("tokens").to_pylist()], pa.string())
        table = pa.table([sentences.column("source_row"), sentences.column("payload"), pa.nulls(sentences.num_rows, pa.string()),
                          metadata], schema=RAW_SCHEMA)
        yield ConllBatch(RawBatch(table, bad, tb.bytes_read), sentences.select(["source_row", "answer"]))


def store_annotations(con: duckdb.DuckDBPyConnection, items: pa.Table, *, cfg: ProjectConfig, src: SourceConfig, name: str,
                      answers: pa.Table) -> pa.Table:
    """Store the tags of the batch's stored items as gold or votes; returns quarantine rows (QUARANTINE_SCHEMA
    columns) for the sentences refused. Runs inside the caller's transaction."""
    empty = pa.table({"source": pa.array([], pa.string()), "source_row": pa.array([], pa.int64()),
                      "field": pa.array([], pa.string()), "reason": pa.array([], pa.string()),
                      "detail": pa.array([], pa.string()), "raw": pa.array([], pa.string())})
    if src.annotations == ConllAnnotations.none or not answers.num_rows:
        return empty
    answers, invalid = _checked_by_kind(cfg, name, items, answers)
    con.register("_conll_items", items.select(["item_id", "source_row"]))
    con.register("_conll_answers", answers)
    gold = src.annotations == ConllAnnotations.gold
    source_id = src.annotations_source or f"human:{name}"
    try:
        con.execute("""CREATE OR REPLACE TEMP TABLE _conll AS
            WITH a AS (SELECT i.item_id, a.source_row, a.answer FROM _conll_answers a JOIN _conll_items i USING (source_row)),
            per AS (SELECT item_id, count(DISTINCT answer) AS n,
                           string_agg('line ' || source_row, ', ' ORDER BY source_row) AS seen FROM a GROUP BY item_id)
            SELECT a.*, per.n, per.seen FROM a JOIN per USING (item_id)""")
        if gold:
            con.execute("""CREATE OR REPLACE TEMP TABLE _conll_verdict AS
                SELECT c.*, CASE WHEN c.n > 1 THEN 'gold_conflict'
                                 WHEN g.item_id IS NOT NULL AND g.answer::VARCHAR IS DISTINCT FROM c.answer THEN 'gold_changed' END AS reason,
                       CASE WHEN c.n > 1 THEN 'this sentence has different tags at ' || c.seen || '; no gold is stored for it'
                            ELSE 'stored gold is ' || coalesce(g.answer::VARCHAR, to_json(g.label)::VARCHAR)
                                 || ', the file says ' || c.answer || '; stored gold is kept' END AS detail
                FROM _conll c LEFT JOIN gold g USING (item_id)""")
            con.execute("INSERT INTO gold (item_id, answer, origin) SELECT DISTINCT ON (item_id) item_id, answer::JSON, 'file'"
                        " FROM _conll_verdict WHERE reason IS NULL ORDER BY item_id, source_row ON CONFLICT (item_id) DO NOTHING")
        else:
            kind = source_id.split(":", 1)[0]
            con.execute("INSERT INTO sources (source_id, kind, name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        [source_id, kind, source_id.split(":", 1)[1]])
            con.execute("""CREATE OR REPLACE TEMP TABLE _conll_verdict AS
                SELECT *, CASE WHEN n > 1 THEN 'vote_conflict' END AS reason,
                       'this sentence has different tags at ' || seen || '; no vote is stored for it' AS detail FROM _conll""")
            con.execute(
                "INSERT INTO votes (vote_id, item_id, source_id, source_kind, source_version, answer)"
                " SELECT DISTINCT ON (item_id) md5(concat_ws(chr(31), $s, 'conll', item_id)), item_id, $s, $k, 'conll', answer::JSON"
                " FROM _conll_verdict v WHERE reason IS NULL AND NOT EXISTS (SELECT 1 FROM votes w WHERE w.vote_id ="
                " md5(concat_ws(chr(31), $s, 'conll', v.item_id))) ORDER BY item_id, source_row", {"s": source_id, "k": kind})
        refused = con.sql(f"SELECT {_lit(name)} AS source, source_row, 'tag' AS field, reason, detail, left(answer, 500) AS raw"
                          " FROM _conll_verdict WHERE reason IS NOT NULL ORDER BY source_row").to_arrow_table()
        con.execute("DROP TABLE _conll_verdict")
        con.execute("DROP TABLE _conll")
    finally:
        con.unregister("_conll_items")
        con.unregister("_conll_answers")
    return pa.concat_tables([invalid.cast(empty.schema), refused.cast(empty.schema)])


def _checked_by_kind(cfg: ProjectConfig, name: str, items: pa.Table, answers: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(answers the kind accepts, quarantine rows for the others): the parser makes valid spans, so this
    guards the seam (a token starting with a combining mark would make a span cut a character)."""
    joined = items.select(["item_id", "payload", "source_row"]).join(answers, "source_row")
    problems = kind_of(cfg).storage.validate(joined.select(["item_id", "answer"]), joined, cfg)
    rows = joined.column("source_row").take(problems.column("row"))
    refused = pa.table({"source": pa.array([name] * problems.num_rows, pa.string()), "source_row": rows,
                        "field": pa.array(["tag"] * problems.num_rows, pa.string()), "reason": problems.column("reason"),
                        "detail": problems.column("detail"), "raw": pa.nulls(problems.num_rows, pa.string())})
    keep = pc.invert(pc.is_in(answers.column("source_row"), rows))
    return answers.filter(keep), refused


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
