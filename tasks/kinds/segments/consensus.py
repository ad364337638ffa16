"""Time segments: the consensus facet (see tasks/kinds/protocol.py, consolidation).

A segment is a region with one axis, so segments consolidate exactly as boxes do (`tasks.kinds.regions`):
regions of one clip are clustered across sources by temporal IoU (>= `[answer] cluster_iou`, 0.3: a loose
hand's region of the same event still counts as seeing it, with little weight on its boundaries), every
clip at once; each cluster's truth is "absent" or a label in a Dawid–Skene model with each source's recall,
false-region profile and label confusion; kept clusters get boundaries averaged with each source's learned
boundary precision (the inverse of its mean squared start/end error as a share of the region's length);
the region's confidence is the posterior of its label, the clip's the probability that its whole region
set is right. Gold scoring is segment precision / recall / F1 at the same IoU per source, with Wilson
intervals (bans through the shared rule); agreement is pairwise segment F1 per pair of annotators.

A fused region's `text` (with `[answer] with_text`) is the text of the member drawn by the most reliable
source with the region's label: texts are consolidated word by word by the transcript kind, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..regions.consensus import RegionConsensus
from .flat import FlatSegments, flatten, segments_json
from .options import SegmentOptions

__all__ = ["FACET", "METHOD"]

METHOD = "segment_fusion"
"""The labels' `method` for consolidated segments (gold and adjudicated answers keep "gold" / "adjudicated")."""


class _SegmentConsensus(RegionConsensus):
    method = METHOD
    part = "segment"
    agreement_key = "segment_f1"
    relative_error = False  # boundary errors in seconds: an onset is placed about as well in a long region as a short one

    def options(self, answer: Mapping[str, Any]) -> SegmentOptions:
        return SegmentOptions.model_validate(answer)

    def cluster_iou(self, opts: SegmentOptions) -> float:
        return opts.match_iou if opts.cluster_iou is None else opts.cluster_iou

    def flatten(self, table: pa.Table) -> FlatSegments:
        return flatten(table)

    def write_answers(self, n_items: int, row: np.ndarray, corners: np.ndarray, label: pa.Array, confidence: np.ndarray,
                      expected_iou: np.ndarray, sources: pa.Array, fused_from: tuple[FlatSegments, np.ndarray],
                      accepted: tuple[FlatSegments, np.ndarray]) -> pa.Array:
        (votes, member), (ref, ref_member) = fused_from, accepted
        text = pc.if_else(pa.array(member >= 0), pc.take(votes.text, pa.array(np.maximum(member, 0))) if len(votes.text)
                          else pa.nulls(len(member), pa.string()),
                          pc.take(ref.text, pa.array(np.maximum(ref_member, 0))) if len(ref.text)
                          else pa.nulls(len(member), pa.string()))
        return segments_json(n_items, row, corners, label, text, confidence, sources, np.ones(n_items, bool))


FACET = _SegmentConsensus()
