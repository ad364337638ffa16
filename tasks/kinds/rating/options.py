"""The `[answer]` options of a rating project: the scale, what each score means, what is rated.

The project's `labels` (required by every config) are not scores: the scale is `[answer] scale`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["RatingOptions"]


class RatingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # the answer (storage.py, check.py, the widget, Label Studio)
    scale: tuple[int, int] = Field((1, 5), description="The lowest and highest score, both allowed (integers).")
    anchors: dict[str, str] = Field(default_factory=dict, description="What a score means, keyed by the score "
                                    "(\"1\" = \"unusable\", \"5\" = \"perfect\"): shown beside the score in the app and Label Studio.")
    criteria: list[str] = Field(default_factory=list, description="Rate each item once per criterion (e.g. fluency, "
                                "accuracy); empty: one score per item.")

    # consolidation (consolidate.py) and the release gate (export.py)
    level: Literal["ordinal", "interval"] = Field("ordinal", description="The level Krippendorff's alpha is "
                                                  "headlined at (both are reported).")
    kappa_weights: Literal["linear", "quadratic"] = Field("quadratic", description="Cohen's weighted kappa between pairs of annotators.")
    interval: float = Field(0.95, gt=0, lt=1, description="Coverage of each consensus score's interval.")
    gold_tolerance: int = Field(1, ge=0, description="A source's score counts as right on gold when it is within "
                                "this many points of the gold score (0: exact; the exact rate is reported beside it): the ban rule and the gate's gold match read it.")

    @field_validator("scale")
    @classmethod
    def _ordered(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[1] <= v[0]:
            raise ValueError(f"scale must be [low, high] with low < high, got {list(v)}")
        if v[1] - v[0] > 100:
            raise ValueError(f"scale {list(v)} has more than 101 points; a rating scale is short")
        return v

    @field_validator("criteria")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v) or any(not c.strip() for c in v):
            raise ValueError(f"criteria must be distinct non-empty names, got {v}")
        return v

    @model_validator(mode="after")
    def _anchors_on_scale(self) -> RatingOptions:
        lo, hi = self.scale
        off = [k for k in self.anchors if not (k.lstrip("-").isdigit() and lo <= int(k) <= hi)]
        if off:
            raise ValueError(f"anchors {off} are not scores on the scale {lo}-{hi}")
        return self

    def points(self) -> list[int]:
        return list(range(self.scale[0], self.scale[1] + 1))
