"""The files a spans release holds: CoNLL (BIO), spaCy-style JSONL, and token Parquet with tag ids.

Every writer streams the export snapshot's Parquet files (`item_id`, `payload`, `spans` as a sorted
list of `{start, end, label, confidence, sources}` (each span's lineage), `confidence`, `sources`, optionally `split`) batch by batch, so memory
stays bounded whatever the size, and writes the rows in snapshot order (item_id order), so the same
snapshot gives the same bytes. Tokens come from the project's tokeniser (`[answer] tokenizer`,
tasks/kinds/spans/tokens.py); the manifest records which one, and the tag map (tag -> id, "O" = 0,
then B-/I- per type in label order), which also rides in the token Parquet's schema metadata so the
file alone loads as a token-classification set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .tokens import bio_tags, tokenize

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["TOKEN_SCHEMA", "tag_map", "token_table", "write_conll", "write_jsonl", "write_token_parquet"]

FORMATS_DIR = "formats"
_COLUMNS = ("item_id", "payload", "spans", "confidence", "sources", "split")
_BATCH = 16_384

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
    """BIO tag -> id: "O" is 0, then B-<type>, I-<type> for each type in the project's label order."""
    tags = ["O"] + [f"{p}-{label}" for label in labels for p in ("B", "I")]
    return {t: i for i, t in enumerate(tags)}


def _batches(src: Sequence[Path]) -> Iterator[pa.RecordBatch]:
    """The snapshot's rows in file order, a batch at a time (only the columns the span formats read)."""
    for f in src:
        pf = pq.ParquetFile(f)
        cols = [c for c in _COLUMNS if c in pf.schema_arrow.names]
        yield from pf.iter_batches(batch_size=_BATCH, columns=cols)


def _spans(rows: pa.RecordBatch | pa.Table) -> list[list[tuple[int, int, str]]]:
    """Each row's spans as tuples; a malformed span (a null field) is left out here: the gate refuses it."""
    return [[(s["start"], s["end"], s["label"]) for s in a or () if None not in (s["start"], s["end"], s["label"])]
            for a in rows.column("spans").to_pylist()]


def token_table(rows: pa.RecordBatch | pa.Table, labels: Sequence[str], tokenizer: str) -> pa.Table:
    """One row per item: its tokens, their offsets, BIO tags and tag ids (`TOKEN_SCHEMA`, plus `split` if given).

    Tokenising is a regular expression per text; the rest is list building, so this runs at the
    speed of the regex engine (about a million short sentences a minute on one core).
    """
    ids = tag_map(labels)
    out: dict[str, list] = {k: [] for k in TOKEN_SCHEMA.names}
    for item_id, text, spans in zip(rows.column("item_id").to_pylist(), rows.column("payload").to_pylist(), _spans(rows)):
        text = text or ""
        toks = tokenize(text, tokenizer)
        tags = bio_tags(spans, toks)
        out["item_id"].append(item_id)
        out["text"].append(text)
        out["tokens"].append([text[s:e] for s, e in toks])
        out["token_start"].append([s for s, _ in toks])
        out["token_end"].append([e for _, e in toks])
        out["tags"].append(tags)
        out["tag_ids"].append([ids[t] for t in tags])
    table = pa.table(out, schema=TOKEN_SCHEMA)
    if "split" in rows.schema.names:
        table = table.append_column("split", rows.column("split"))
    return table


def _target(out_dir: Path, name: str) -> Path:
    path = out_dir / FORMATS_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_conll(src: Sequence[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """`formats/spans.conll` (or one `spans-<split>.conll` per split): token TAB BIO tag, a blank line after
    each text. Tokens are the project's tokeniser's, the one named in the manifest."""
    paths: dict[str | None, Path] = {}
    with ExitStack() as stack:
        files = {}
        for batch in _batches(src):
            tokens = token_table(batch, cfg.labels, cfg.answer_options.tokenizer)
            splits = tokens.column("split").to_pylist() if "split" in tokens.column_names else [None] * tokens.num_rows
            for split, toks, tags in zip(splits, tokens.column("tokens").to_pylist(), tokens.column("tags").to_pylist()):
                if split not in files:
                    paths[split] = _target(out_dir, "spans.conll" if split is None else f"spans-{split}.conll")
                    files[split] = stack.enter_context(open(paths[split], "w", encoding="utf-8", newline="\n"))
                f = files[split]
                f.writelines(f"{t}\t{g}\n" for t, g in zip(toks, tags))
                f.write("\n")
    if not paths:  # an empty release still has its (empty) file, so the manifest lists the same files
        paths[None] = _target(out_dir, "spans.conll")
        paths[None].write_text("", encoding="utf-8")
    return [paths[k] for k in sorted(paths, key=lambda k: k or "")]


def write_token_parquet(src: Sequence[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """`formats/spans-tokens.parquet`: tokens, offsets, tags and tag ids per item (a token-classification
    set; `tag_ids` read through the manifest's `answer.tag_map`, also in the schema metadata)."""
    path = _target(out_dir, "spans-tokens.parquet")
    schema = TOKEN_SCHEMA
    with_split = any("split" in pq.read_schema(f).names for f in src)
    if with_split:
        schema = schema.append(pa.field("split", pa.string()))
    schema = schema.with_metadata({b"annoflow.tag_map": json.dumps(tag_map(cfg.labels)).encode(),
                                   b"annoflow.tokenizer": cfg.answer_options.tokenizer.encode()})
    with pq.ParquetWriter(path, schema, compression="zstd") as w:
        for batch in _batches(src):
            w.write_table(token_table(batch, cfg.labels, cfg.answer_options.tokenizer).cast(schema))
    return [path]


def write_jsonl(src: Sequence[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """`formats/spans.jsonl`, spaCy-style: `{"id", "text", "spans": [{"start", "end", "label", "confidence",
    "sources"}], "confidence", "sources"}` per item (a span's own confidence and the sources that proposed it;
    the item's beside them) (plus `"split"` when the project has splits); offsets in code points, end exclusive.
    One DuckDB COPY from the snapshot: streamed, in file order."""
    path = _target(out_dir, "spans.jsonl")
    files = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in src) + "]"
    with duckdb.connect(config={"preserve_insertion_order": "true", "memory_limit": cfg.export.memory_limit}) as con:
        split = ", split" if "split" in con.sql(f"SELECT * FROM read_parquet({files}) LIMIT 0").columns else ""
        con.execute(f"COPY (SELECT item_id AS id, payload AS text, spans, confidence, sources{split} FROM read_parquet({files}))"
                    f" TO '{str(path).replace(chr(39), chr(39) * 2)}' (FORMAT json)").fetchall()
    return [path]
