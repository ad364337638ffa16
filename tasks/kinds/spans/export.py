"""Spans: the export facet (see tasks/kinds/protocol.py, export).

Pure functions over the export snapshot's rows, grouped here for the export stage:

* `rows`: an Arrow table, or the snapshot's Parquet files, with `item_id`, `payload` (text), `answer`
  (JSON spans), optionally `confidence`, `sources`, `split`;
* `votes` (optional): `item_id`, `source_id`, `answer` of the exported items, for lineage per span.

`write` produces every span format in `out_dir` and returns the files plus the manifest's `spans`
section (tokeniser, tag map, span counts per type: the next version's shift check reads them back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import evaluate, formats, gate

__all__ = ["FACET", "read_rows"]

_COLUMNS = ("item_id", "payload", "answer", "confidence", "sources", "split")


def read_rows(src: pa.Table | Sequence[Path]) -> pa.Table:
    """The export rows as one table: given as a table, or read from the snapshot's Parquet files."""
    if isinstance(src, pa.Table):
        table = src
    else:
        tables = [pq.read_table(p) for p in src]
        table = pa.concat_tables(tables, promote_options="default") if tables else pa.table({c: [] for c in _COLUMNS[:3]})
        table = table.select([c for c in _COLUMNS if c in table.column_names])
    if "confidence" in table.column_names and table.schema.field("confidence").type != pa.float64():
        table = table.set_column(table.schema.get_field_index("confidence"), "confidence", table.column("confidence").cast(pa.float64()))
    return table


class _SpanExport:
    formats = ("conll", "jsonl", "token_parquet")

    def manifest_section(self, rows: pa.Table | Sequence[Path], cfg) -> dict[str, Any]:
        """What the manifest records for spans: tokeniser, tag map (for the Parquet's tag ids), counts per type."""
        opts = cfg.answer_options
        return {"tokenizer": opts.tokenizer, "tag_map": formats.tag_map(cfg.labels),
                "span_counts": gate.span_counts(read_rows(rows)), "allow_overlap": opts.allow_overlap}

    def write(self, rows: pa.Table | Sequence[Path], out_dir: Path, cfg, votes: pa.Table | None = None,
              stem: str = "spans") -> tuple[list[Path], dict[str, Any]]:
        """Every span format in `out_dir`; returns (files written, the manifest's `spans` section)."""
        table = read_rows(rows)
        if votes is not None:
            lineage = formats.span_lineage(table, votes)
            at = pc.index_in(table.column("item_id"), lineage.column("item_id"))
            table = table.append_column("span_sources", lineage.column("span_sources").take(at))
        tokens = formats.token_table(table, cfg.labels, cfg.answer_options.tokenizer)
        files = [*formats.write_conll(tokens, out_dir, stem), *formats.write_jsonl(table, out_dir, stem),
                 *formats.write_token_parquet(tokens, out_dir, cfg.labels, f"{stem}-tokens")]
        return files, self.manifest_section(table, cfg)

    def gate_checks(self, rows: pa.Table | Sequence[Path], cfg, previous: Mapping[str, Any] | None = None) -> list[dict]:
        """Release-gate checks; `previous` is the previous version's `spans` manifest section (or None)."""
        counts = previous.get("span_counts") if previous else None
        return gate.gate_checks(read_rows(rows), cfg, counts)

    def evaluate(self, truth: pa.Table, predicted: pa.Table, texts: pa.Table, cfg) -> dict:
        """Entity-level precision/recall/F1 (seqeval, strict) over the project's tokens."""
        return evaluate.entity_scores(truth, predicted, texts, cfg.answer_options.tokenizer)


FACET = _SpanExport()
