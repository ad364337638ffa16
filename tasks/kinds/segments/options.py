"""The `[answer]` options of a segments project.

Each field says which part of the kind reads it. Parts added by different people go in their own
block below, so the model stays one place the config is checked.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SegmentOptions"]


class SegmentOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # validation (storage.py)
    allow_overlap: bool = Field(False, description="Whether one answer may hold overlapping regions (two speakers at once).")
    with_text: bool = Field(False, description="Whether each region carries a text (what was said in it).")

    # matching and consolidation (consensus.py, agreement, gold scoring)
    match_iou: float = Field(0.5, gt=0, lt=1, description="Two regions from different sources are the same event "
                             "when their temporal IoU reaches this (also the IoU of gold precision/recall).")
    cluster_iou: float | None = Field(
        0.3, gt=0, lt=1, description="Consolidation: a region joins another source's region as the same event when "
        "their temporal IoU reaches this (None: match_iou). Lower than match_iou because a loose hand's region of an "
        "event is still evidence that the event is there; its boundaries weigh little once its precision is learned.")

    # release gate (export.py, gate.py)
    max_segment_rate_change: float = Field(
        0.5, ge=0, description="Release gate: how far the regions per exported clip of any label may move "
        "(relative change) from the reference version before the export is held; a wanted change is "
        "accepted with `annoflow export --accept-shift REASON`.")
