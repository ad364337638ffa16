"""Time segments: the export facet (see tasks/kinds/protocol.py, export).

The snapshot's answer column is `segments` (columns.py: each region in seconds with its text and lineage,
sorted), beside the clip's `duration_s` and `file` read from `items.metadata`, so every format and check
reads typed numbers and the clip's facts without the state database. Formats: RTTM speaker turns
(`formats/segments.rttm`, rttm.py) and a Parquet of regions (format `regions`, `formats/segments.parquet`: one row per region
with its confidence and sources beside the clip's); the Parquet of record (one row per clip, with its
lineage: method, votes, agreement, sources) is the snapshot itself. Answers compare (gold, diff) on
(start_s, end_s, label) only: a moved confidence is no relabel.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tasks.export.writers import FORMATS_DIR, parquet_list_sql, reader_connection

from ..part_checks import part_counts
from ..protocol import ExportWriter, FactCheck, GoldMatch, RowCheck
from . import gate
from .columns import (
    EXPORT_SEGMENTS_TYPE,
    bare_sql,
    duration_sql,
    file_sql,
    segments_sql,
)
from .evaluate import resolved_scores
from .rttm import rttm_lines_sql

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "FROM_NAME", "write_region_parquet", "write_rttm"]

FROM_NAME = "label"
"""The Label Studio control tag of the labels (`Labels` on `Audio`), as the queue's labeling config names it."""


def _lit(p: Path) -> str:
    return "'" + str(p).replace("'", "''") + "'"


def write_rttm(src: list[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """`formats/segments.rttm`: one SPEAKER line per region (see rttm.py), clips in item order."""
    target = out_dir / FORMATS_DIR / "segments.rttm"
    target.parent.mkdir(parents=True, exist_ok=True)
    with reader_connection(cfg.export.memory_limit) as rc:
        rc.execute(f"COPY ({rttm_lines_sql(parquet_list_sql(src))}) TO {_lit(target)}"
                   " (FORMAT csv, HEADER false, DELIMITER '\t', QUOTE '', ESCAPE '')").fetchall()
    return [target]


def write_region_parquet(src: list[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """`formats/segments.parquet`: one row per region (item_id, split where configured, file, duration_s,
    start_s, end_s, label, text, confidence, sources) plus the clip's `clip_confidence` and `method`; a
    region without its own confidence or sources (an auto-accepted pre-label) carries the clip's."""
    target = out_dir / FORMATS_DIR / "segments.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    files = parquet_list_sql(src)
    with reader_connection(cfg.export.memory_limit) as rc:
        split = ", split" if "split" in rc.sql(f"SELECT * FROM {files} LIMIT 0").columns else ""
        rc.execute(
            f"COPY (SELECT item_id{split}, file, duration_s, r.start_s, r.end_s, r.label, r.text,"
            " coalesce(r.confidence, confidence) AS confidence, coalesce(r.sources, sources) AS sources,"
            " confidence AS clip_confidence, method"
            f" FROM (SELECT *, unnest(segments) AS r FROM {files}) ORDER BY item_id, r.start_s, r.end_s, r.label)"
            f" TO {_lit(target)} (FORMAT parquet, COMPRESSION zstd)").fetchall()
    return [target]


class _SegmentExport:
    column = "segments"

    def select_sql(self, cfg: ProjectConfig, alias: str) -> str:
        return (f"{segments_sql(f'{alias}.answer::VARCHAR')} AS segments, {duration_sql('i.metadata')} AS duration_s,"
                f" {file_sql('i.metadata')} AS file")

    def arrow_type(self, cfg: ProjectConfig) -> pa.DataType:
        return EXPORT_SEGMENTS_TYPE

    def formats(self, cfg: ProjectConfig) -> Mapping[str, ExportWriter]:
        return {"rttm": write_rttm, "regions": write_region_parquet}

    def manifest_section(self, cfg: ProjectConfig) -> dict[str, Any]:
        return {"times": "seconds from the clip's start, rounded to milliseconds; start_s < end_s; the clip's "
                         "length in duration_s",
                "allow_overlap": cfg.answer_options.allow_overlap, "with_text": cfg.answer_options.with_text,
                "match_iou": cfg.answer_options.match_iou,
                "rttm_file_id": "the clip's path inside its source folder (items.metadata file), spaces as _",
                "gold_match": "every gold region has an exported region of its label at temporal IoU >= match_iou,"
                              " and no extra region"}

    def label_studio_config(self, cfg: ProjectConfig) -> str:
        from .queue import FACET as QUEUE  # the config the queue pushes tasks into

        return QUEUE.label_studio_config(cfg)

    def label_studio_result_sql(self, cfg: ProjectConfig, data_key: str) -> str:
        # Label Studio places an audio region in seconds: `labels` results on the `Audio` tag.
        return (f"list_transform(segments, lambda r: {{'from_name': '{FROM_NAME}', 'to_name': '{data_key}',"
                " 'type': 'labels', 'value': {'start': r.start_s, 'end': r.end_s, 'channel': 0, 'labels': [r.label]}})")

    def row_checks(self, cfg: ProjectConfig) -> list[RowCheck]:
        return gate.row_checks(list(cfg.labels))

    def fact_checks(self, con: Any, src: str, cfg: ProjectConfig, reference: Mapping[str, Any] | None) -> list[FactCheck]:
        now, n_now = part_counts(con, src, self.distribution_sql(cfg, src))
        return [gate.rate_change(now, n_now, reference, cfg.answer_options.max_segment_rate_change)]

    def distribution_sql(self, cfg: ProjectConfig, src: str) -> str:
        return f"SELECT r.label AS l FROM (SELECT unnest(segments) AS r FROM {src})"

    def gold_match(self, cfg: ProjectConfig) -> GoldMatch:
        exported, gold = bare_sql("c.segments"), bare_sql(segments_sql("g.answer::VARCHAR"))
        return GoldMatch(present="g.answer IS NOT NULL",
                         correct=gate.gold_correct_sql(exported, gold, cfg.answer_options.match_iou),
                         exported=f"to_json({exported})::VARCHAR", gold="g.answer::VARCHAR")

    def diff_key_sql(self) -> str:
        return f"to_json({bare_sql('segments')})::VARCHAR"

    def diff_units_sql(self) -> str | None:
        return "list_transform(segments, lambda r: {'unit': printf('%s %.3f-%.3f', r.label, r.start_s, r.end_s), 'label': r.label})"

    def evaluate(self, con: Any, cfg: ProjectConfig, truth: pa.Table) -> dict[str, Any]:
        return resolved_scores(con, truth, cfg.labels, cfg.answer_options.match_iou)


FACET = _SegmentExport()
