"""Boxes: the export facet (see tasks/kinds/protocol.py, export).

The snapshot's answer column is `boxes` (columns.py: each box in pixels with its lineage, sorted),
beside the image's `width` and `height` read from `items.metadata`, so every format and check reads
typed numbers and the image size without the state database. Formats: COCO instances JSON (coco_export.py),
YOLO label files with `data.yaml` (yolo_export.py); the Parquet of record is the snapshot itself. Answers
compare (gold, diff) on (x, y, w, h, label) only: a moved confidence is no relabel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..part_checks import part_counts
from ..protocol import ExportWriter, FactCheck, GoldMatch, RowCheck
from . import gate, labelstudio
from .coco_export import categories, write_coco
from .columns import EXPORT_BOXES_TYPE, bare_sql, boxes_sql, size_sql
from .evaluate import resolved_scores
from .yolo_export import write_yolo

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET"]


class _BoxExport:
    column = "boxes"

    def select_sql(self, cfg: ProjectConfig, alias: str) -> str:
        return (f"{boxes_sql(f'{alias}.answer::VARCHAR')} AS boxes, {size_sql('i.metadata', 'width')} AS width,"
                f" {size_sql('i.metadata', 'height')} AS height")

    def arrow_type(self, cfg: ProjectConfig) -> pa.DataType:
        return EXPORT_BOXES_TYPE

    def formats(self, cfg: ProjectConfig) -> Mapping[str, ExportWriter]:
        return {"coco": write_coco, "yolo": write_yolo}

    def manifest_section(self, cfg: ProjectConfig) -> dict[str, Any]:
        return {"coordinates": "pixels of the stored image; (x, y) the top-left corner, w and h the size;"
                               " the image's size in the width and height columns",
                "categories": {c["name"]: c["id"] for c in categories(cfg.labels)},
                "yolo_classes": {label: i for i, label in enumerate(cfg.labels)},
                "match_iou": cfg.answer_options.match_iou,
                "gold_match": "every gold box has an exported box of its label at IoU >= match_iou, and no extra box"}

    def label_studio_config(self, cfg: ProjectConfig) -> str:
        return labelstudio.label_studio_config(cfg)  # the config the queue pushes tasks into

    def label_studio_result_sql(self, cfg: ProjectConfig, data_key: str) -> str:
        # Label Studio places a rectangle in percent of the image's size, top-left corner first.
        return (f"list_transform(boxes, lambda b: {{'from_name': '{labelstudio.FROM_NAME}', 'to_name': '{data_key}',"
                " 'type': 'rectanglelabels', 'original_width': width, 'original_height': height, 'image_rotation': 0,"
                " 'value': {'x': 100.0 * b.x / width, 'y': 100.0 * b.y / height, 'width': 100.0 * b.w / width,"
                " 'height': 100.0 * b.h / height, 'rotation': 0, 'rectanglelabels': [b.label]}})")

    def row_checks(self, cfg: ProjectConfig) -> list[RowCheck]:
        return gate.row_checks(list(cfg.labels))

    def fact_checks(self, con: Any, src: str, cfg: ProjectConfig, reference: Mapping[str, Any] | None) -> list[FactCheck]:
        now, n_now = part_counts(con, src, self.distribution_sql(cfg, src))
        return [gate.rate_change(now, n_now, reference, cfg.answer_options.max_box_rate_change)]

    def distribution_sql(self, cfg: ProjectConfig, src: str) -> str:
        return f"SELECT b.label AS l FROM (SELECT unnest(boxes) AS b FROM {src})"

    def gold_match(self, cfg: ProjectConfig) -> GoldMatch:
        exported, gold = bare_sql("c.boxes"), bare_sql(boxes_sql("g.answer::VARCHAR"))
        return GoldMatch(present="g.answer IS NOT NULL",
                         correct=gate.gold_correct_sql(exported, gold, cfg.answer_options.match_iou),
                         exported=f"to_json({exported})::VARCHAR", gold="g.answer::VARCHAR")

    def diff_key_sql(self) -> str:
        return f"to_json({bare_sql('boxes')})::VARCHAR"

    def diff_units_sql(self) -> str | None:
        return ("list_transform(boxes, lambda b: {'unit': printf('%s %.2f,%.2f %.2fx%.2f', b.label, b.x, b.y, b.w, b.h),"
                " 'label': b.label})")

    def evaluate(self, con: Any, cfg: ProjectConfig, truth: pa.Table) -> dict[str, Any]:
        return resolved_scores(con, truth, cfg.labels)


FACET = _BoxExport()
