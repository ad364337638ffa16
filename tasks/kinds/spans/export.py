"""Spans: the export facet (see tasks/kinds/protocol.py, export).

The snapshot's answer column is `spans`: the resolved answer as a list of `{start, end, label,
confidence, sources}` structs sorted by (start, end, label), so every format and check reads typed
offsets instead of parsing JSON, and the same state gives the same bytes. `confidence` and `sources`
are each span's lineage as consensus stored it (tasks/kinds/spans/consensus.py); a label stored
without them (an auto-accepted pre-label) gives its spans the item's confidence and sources.
Comparisons of answers (gold, diff) read only (start, end, label). A stored answer that is not a list of spans
becomes NULL (`spans_present` fails) and a span with a non-integer field keeps a null field
(`spans_well_formed` fails): the gate names them instead of the export crashing on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..part_checks import part_counts
from ..protocol import ExportWriter, FactCheck, GoldMatch, RowCheck
from . import formats, gate, labelstudio
from .evaluate import resolved_scores
from .storage import SPAN_TYPE

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["EXPORT_SPANS_TYPE", "FACET", "lineage_sql", "spans_sql"]

_DUCK_SPANS = 'STRUCT(start INTEGER, "end" INTEGER, label VARCHAR)[]'


_DUCK_LINEAGE = 'STRUCT(start INTEGER, "end" INTEGER, label VARCHAR, confidence DOUBLE, sources VARCHAR[])[]'
EXPORT_SPANS_TYPE = pa.list_(pa.struct([*SPAN_TYPE, ("confidence", pa.float64()), ("sources", pa.list_(pa.string()))]))
"""The snapshot's `spans`: each span with its confidence and the sources that proposed exactly it."""
_BARE = "list_transform(spans, lambda s: {'start': s.start, 'end': s.\"end\", 'label': s.label})"


def spans_sql(json_text: str) -> str:
    """SQL turning stored span JSON into the sorted typed list (NULL when it is not a JSON list)."""
    return f"list_sort(TRY_CAST(CASE WHEN json_valid({json_text}) THEN {json_text} END::JSON AS {_DUCK_SPANS}))"


def lineage_sql(json_text: str, confidence: str, sources: str) -> str:
    """Like `spans_sql`, each span with its stored `confidence` and `sources`, else the item's."""
    typed = f"list_sort(TRY_CAST(CASE WHEN json_valid({json_text}) THEN {json_text} END::JSON AS {_DUCK_LINEAGE}))"
    return (f"list_transform({typed}, lambda s: {{'start': s.start, 'end': s.\"end\", 'label': s.label,"
            f" 'confidence': coalesce(s.confidence, {confidence}), 'sources': coalesce(s.sources, {sources}, [])}})")


class _SpanExport:
    column = "spans"

    def select_sql(self, cfg: ProjectConfig, alias: str) -> str:
        return f"{lineage_sql(f'{alias}.answer::VARCHAR', f'{alias}.confidence', f'list_sort({alias}.sources)')} AS spans"

    def arrow_type(self, cfg: ProjectConfig) -> pa.DataType:
        return EXPORT_SPANS_TYPE

    def formats(self, cfg: ProjectConfig) -> Mapping[str, ExportWriter]:
        # "jsonl" replaces the generic JSON lines: for spans the useful one is spaCy's shape.
        return {"conll": formats.write_conll, "jsonl": formats.write_jsonl, "token_parquet": formats.write_token_parquet}

    def manifest_section(self, cfg: ProjectConfig) -> dict[str, Any]:
        opts = cfg.answer_options
        return {"tokenizer": opts.tokenizer, "tag_map": formats.tag_map(cfg.labels), "allow_overlap": opts.allow_overlap,
                "offsets": "Unicode code points, end exclusive"}

    def label_studio_config(self, cfg: ProjectConfig) -> str:
        return labelstudio.label_studio_config(cfg)  # the config the queue pushes tasks into

    def label_studio_result_sql(self, cfg: ProjectConfig, data_key: str) -> str:
        # The region text rides along, as the queue writes it, so Label Studio's importer can check offsets.
        return (f"list_transform(spans, lambda s: {{'from_name': '{labelstudio.FROM_NAME}', 'to_name': '{data_key}',"
                " 'type': 'labels', 'value': {'start': s.start, 'end': s.\"end\","
                " 'text': substr(payload, s.start + 1, s.\"end\" - s.start), 'labels': [s.label]}})")

    def row_checks(self, cfg: ProjectConfig) -> list[RowCheck]:
        return gate.row_checks(list(cfg.labels), cfg.answer_options.allow_overlap)

    def fact_checks(self, con: Any, src: str, cfg: ProjectConfig, reference: Mapping[str, Any] | None) -> list[FactCheck]:
        now, n_now = part_counts(con, src, self.distribution_sql(cfg, src))
        return [gate.rate_change(now, n_now, reference, cfg.answer_options.max_span_rate_change)]

    def distribution_sql(self, cfg: ProjectConfig, src: str) -> str:
        return f"SELECT s.label AS l FROM (SELECT unnest(spans) AS s FROM {src})"

    def gold_match(self, cfg: ProjectConfig) -> GoldMatch:
        # Exact match of the whole set of spans, the strictest reading of "the item is right".
        gold = spans_sql("g.answer::VARCHAR")
        bare = _BARE.replace("(spans,", "(c.spans,")
        return GoldMatch(present="g.answer IS NOT NULL", correct=f"{bare} = {gold}",
                         exported=f"to_json({bare})::VARCHAR", gold="g.answer::VARCHAR")

    def diff_key_sql(self) -> str:
        return f"to_json({_BARE})::VARCHAR"  # the answer, not its lineage: a moved confidence is no relabel

    def diff_units_sql(self) -> str | None:
        return ("list_transform(spans, lambda s: {'unit': s.start || '-' || s.\"end\" || ' ' || s.label,"
                " 'label': s.label})")

    def evaluate(self, con: Any, cfg: ProjectConfig, truth: pa.Table) -> dict[str, Any]:
        return resolved_scores(con, truth, cfg.answer_options.tokenizer)


FACET = _SpanExport()
