"""The files a spans release holds: CoNLL (BIO), spaCy-style JSONL, and token Parquet with tag ids.

Every writer reads the export snapshot's rows: an Arrow table with `item_id`, `payload` (the text),
`answer` (JSON spans), and optionally `confidence`, `sources` (the item's lineage), `split`; and,
for span lineage, `span_sources` (see `span_lineage`). Tokens come from the project's tokeniser
(`[answer] tokenizer`, tasks/kinds/spans/tokens.py): the CoNLL and Parquet files say which one, and
the tag map (tag → id, "O" = 0, then B-/I- per type in label order) goes to the manifest so a
token-classification loader can read the ids back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .tokens import bio_tags, tokenize

__all__ = ["TOKEN_SCHEMA", "span_lineage", "spans_of", "tag_map", "token_table", "write_conll", "write_jsonl", "write_token_parquet"]

TOKEN_SCHEMA = pa.schema([
    ("item_id", pa.string()),
    ("text", pa.string()),
    ("tokens", pa.list_(pa.string())),
    ("token_start", pa.list_(pa.int32())),
    ("token_end", pa.list_(pa.int32())),
    ("tags", pa.list_(pa.string())),
    ("tag_ids", pa.list_(pa.int16())),
])


def tag_map(labels: Sequence[str]) -> dict[str, int]:
    """BIO tag → id: "O" is 0, then B-<type>, I-<type> for each type in the project's label order."""
    tags = ["O"] + [f"{p}-{label}" for label in labels for p in ("B", "I")]
    return {t: i for i, t in enumerate(tags)}


def spans_of(answer: str | None) -> list[tuple[int, int, str]]:
    """One answer's JSON as (start, end, label) tuples, the form the token helpers take."""
    return [(s["start"], s["end"], s["label"]) for s in json.loads(answer or "[]")]


def token_table(rows: pa.Table, labels: Sequence[str], tokenizer: str) -> pa.Table:
    """One row per item: its tokens, their offsets, BIO tags and tag ids (`TOKEN_SCHEMA`, plus `split` if given).

    Tokenising is a regular expression per text; the rest is list building, so this runs at the
    speed of the regex engine (about a million short sentences a minute on one core).
    """
    ids = tag_map(labels)
    out: dict[str, list] = {k: [] for k in TOKEN_SCHEMA.names}
    for item_id, text, answer in zip(rows.column("item_id").to_pylist(), rows.column("payload").to_pylist(),
                                     rows.column("answer").to_pylist()):
        text = text or ""
        toks = tokenize(text, tokenizer)
        tags = bio_tags(spans_of(answer), toks)
        out["item_id"].append(item_id)
        out["text"].append(text)
        out["tokens"].append([text[s:e] for s, e in toks])
        out["token_start"].append([s for s, _ in toks])
        out["token_end"].append([e for _, e in toks])
        out["tags"].append(tags)
        out["tag_ids"].append([ids[t] for t in tags])
    table = pa.table(out, schema=TOKEN_SCHEMA)
    if "split" in rows.column_names:
        table = table.append_column("split", rows.column("split"))
    return table


def write_conll(tokens: pa.Table, out_dir: Path, stem: str = "spans") -> list[Path]:
    """`<stem>.conll` (or one `<stem>-<split>.conll` per split) from `token_table`: token TAB tag, a blank
    line after each text."""
    groups = sorted(set(tokens.column("split").to_pylist())) if "split" in tokens.column_names else [None]
    paths = []
    for split in groups:
        part = tokens if split is None else tokens.filter(pc.equal(tokens.column("split"), split))
        path = out_dir / (f"{stem}.conll" if split is None else f"{stem}-{split}.conll")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for toks, tags in zip(part.column("tokens").to_pylist(), part.column("tags").to_pylist()):
                f.writelines(f"{t}\t{g}\n" for t, g in zip(toks, tags))
                f.write("\n")
        paths.append(path)
    return paths


def write_token_parquet(tokens: pa.Table, out_dir: Path, labels: Sequence[str], stem: str = "spans-tokens") -> list[Path]:
    """`<stem>.parquet` from `token_table`: tokens, offsets, tags and tag ids per item (a token-classification set).
    The tag map also rides in the file's schema metadata (`annoflow.tag_map`), so the file alone is enough."""
    path = out_dir / f"{stem}.parquet"
    meta = {b"annoflow.tag_map": json.dumps(tag_map(labels)).encode()}
    pq.write_table(tokens.replace_schema_metadata({**(tokens.schema.metadata or {}), **meta}), path, compression="zstd")
    return [path]


def span_lineage(answers: pa.Table, votes: pa.Table) -> pa.Table:
    """Which sources proposed each exported span: `item_id`, `span_sources` (JSON `[[source_id, ...], ...]`
    in the order of the item's spans). A span counts as proposed by a source whose answer holds the same
    (start, end, label); a span no source proposed exactly (a consolidated boundary) gets []."""
    with duckdb.connect() as con:
        con.register("_a", answers.select(["item_id", "answer"]))
        con.register("_v", votes.select(["item_id", "source_id", "answer"]))
        return con.sql("""
            WITH a AS (SELECT item_id, s.k, s.e FROM _a,
                       LATERAL (SELECT unnest(range(json_array_length(answer)::BIGINT)) AS k,
                                       unnest(answer::JSON[]) AS e) s),
            v AS (SELECT DISTINCT item_id, source_id, e ->> '$.label' AS label,
                         (e ->> '$.start')::BIGINT AS start, (e ->> '$.end')::BIGINT AS "end"
                  FROM (SELECT item_id, source_id, unnest(answer::JSON[]) AS e FROM _v WHERE answer IS NOT NULL)),
            per AS (SELECT a.item_id, a.k, list(v.source_id ORDER BY v.source_id) FILTER (WHERE v.source_id IS NOT NULL) AS src
                    FROM a LEFT JOIN v ON v.item_id = a.item_id AND v.start = (a.e ->> '$.start')::BIGINT
                         AND v."end" = (a.e ->> '$.end')::BIGINT AND v.label = a.e ->> '$.label'
                    GROUP BY a.item_id, a.k)
            SELECT _a.item_id, to_json(coalesce((SELECT list(coalesce(src, []) ORDER BY k) FROM per WHERE per.item_id = _a.item_id),
                                                []))::VARCHAR AS span_sources
            FROM _a ORDER BY _a.item_id""").to_arrow_table()


def write_jsonl(rows: pa.Table, out_dir: Path, stem: str = "spans") -> list[Path]:
    """`<stem>.jsonl`, spaCy-style: `{"id", "text", "spans": [{"start", "end", "label", "sources"}], "confidence",
    "sources"}` per item (`sources` per span only when the rows carry `span_sources`)."""
    path = out_dir / f"{stem}.jsonl"
    cols = rows.column_names
    n = rows.num_rows
    conf = rows.column("confidence").to_pylist() if "confidence" in cols else [None] * n
    item_sources = rows.column("sources").to_pylist() if "sources" in cols else [None] * n
    span_sources = rows.column("span_sources").to_pylist() if "span_sources" in cols else [None] * n
    split = rows.column("split").to_pylist() if "split" in cols else [None] * n
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for i, (item_id, text, answer) in enumerate(zip(rows.column("item_id").to_pylist(), rows.column("payload").to_pylist(),
                                                        rows.column("answer").to_pylist())):
            spans = json.loads(answer or "[]")
            lineage = json.loads(span_sources[i]) if span_sources[i] else None
            if lineage is not None:
                spans = [{**s, "sources": src} for s, src in zip(spans, lineage)]
            rec = {"id": item_id, "text": text, "spans": spans, "confidence": conf[i], "sources": item_sources[i]}
            if split[i] is not None:
                rec["split"] = split[i]
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return [path]
