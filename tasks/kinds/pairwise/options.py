"""The `[answer]` options of a pairwise project.

Each field says which part of the kind reads it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PairwiseOptions"]


class PairwiseOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # answers (storage.py validate, the app's check, Label Studio, consensus)
    allow_ties: bool = Field(True, description="Whether \"tie\" is a valid answer (both candidates equally good).")
    require_reason: bool = Field(False, description="Whether every answer must carry a non-empty `reason`.")
    max_reason_chars: int = Field(2_000, ge=1, description="Longer reasons are refused.")

    # consolidation (consensus.py: PreferenceModel)
    spam_threshold: float = Field(0.2, gt=0, lt=1, description="A source whose learned reliability (chance it "
                                  "read the item rather than guessed) is below this is flagged a spammer.")
    bias_threshold: float = Field(0.25, gt=0, lt=1, description="A source that moves at least this share of its "
                                  "answers to one slot (first or second shown) is flagged position-biased.")
    level: float = Field(0.95, gt=0.5, lt=1, description="Coverage of the system leaderboard's intervals.")
