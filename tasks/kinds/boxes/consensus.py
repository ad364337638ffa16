"""Boxes: the consensus facet (see tasks/kinds/protocol.py, consolidation).

The shared region consensus (`tasks.kinds.regions.consensus`) with boxes' JSON form: answers are flattened
by `flat.flatten` into corners (x1, y1, x2, y2) and written back by `flat.boxes_json`, each box with its
confidence, its expected IoU with the object and the sources that drew it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ..regions.consensus import RegionConsensus
from .flat import FlatBoxes, boxes_json, flatten
from .geometry import to_xywh, to_xyxy
from .options import BoxOptions

__all__ = ["FACET", "METHOD"]

METHOD = "box_dawid_skene"
"""The labels' `method` for consolidated boxes (gold and adjudicated answers keep "gold" / "adjudicated")."""


@dataclass
class _Cornered:
    """Flat boxes with their corners, as the shared region code reads them."""

    answers: pa.Table
    row: np.ndarray
    corners: np.ndarray
    label: pa.Array


class _BoxConsensus(RegionConsensus):
    method = METHOD
    part = "box"
    agreement_key = "box_f1"

    def options(self, answer: Mapping[str, Any]) -> BoxOptions:
        return BoxOptions.model_validate(answer)

    def flatten(self, table: pa.Table) -> _Cornered:
        f: FlatBoxes = flatten(table)
        return _Cornered(f.answers, f.row, to_xyxy(f.xywh), f.label)

    def write_answers(self, n_items, row, corners, label, confidence, expected_iou, sources, fused_from, accepted) -> pa.Array:
        return boxes_json(n_items, row, to_xywh(corners), label, confidence, expected_iou, sources, np.ones(n_items, bool))


FACET = _BoxConsensus()
