"""The `[answer]` options of a boxes project.

Each field says which part of the kind reads it. Parts added by different people go in their own
block below, so the model stays one place the config is checked.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BoxOptions"]


class BoxOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # matching and consolidation (consensus.py, agreement, gold scoring)
    match_iou: float = Field(0.5, gt=0, lt=1, description="Two boxes from different sources are the same object "
                             "when their IoU reaches this (also the IoU of gold precision/recall).")

    # pre-labeling (prelabel.py, machine_fusion.py)
    prelabel_min_score: float = Field(0.05, ge=0, le=1, description="Pre-labeling: detector boxes scored below this are "
                                      "ignored (not fused, not counted against the image's confidence).")

    # the box tool (queue.py, widget.js)
    min_size_px: float = Field(2.0, gt=0, description="The box tool refuses boxes narrower or lower than this.")

    # release gate (export.py)
    max_box_rate_change: float = Field(
        0.5, ge=0, description="Release gate: how far the boxes per exported image of any label may move "
        "(relative change) from the reference version before the export is held; a wanted change is "
        "accepted with `annoflow export --accept-shift REASON`.")
