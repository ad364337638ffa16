"""The `[answer]` options of a transcript project.

Each field says which part of the kind reads it. Parts added by different people go in their own
block below, so the model stays one place the config is checked.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TranscriptOptions"]


class TranscriptOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # comparison (normalise.py: consensus, agreement, gold WER, the release gate)
    lowercase: bool = Field(True, description="Compare transcripts without case.")
    strip_punctuation: bool = Field(True, description="Compare transcripts without punctuation (apostrophes inside words kept).")
    numbers: str = Field("digits", pattern="^(digits|words|keep)$", description="How numbers are compared: 'digits' "
                         "(\"twenty one\" and \"21\" compare equal, as 21), 'words' (as words) or 'keep' (as typed).")

    # validation (storage.py) and the release gate (export.py)
    allow_empty: bool = Field(False, description="Whether an empty transcript (\"nothing said\") is a valid answer.")
    max_chars: int = Field(20_000, ge=1, description="Longer transcripts are refused.")

    # drafts shown to people (draft_gate.py, read by dispatch through the queue facet)
    max_draft_wer: float = Field(0.3, ge=0, description="A recogniser's drafts pre-fill the transcript box only when its word "
                                 "error rate on gold clips is at most this (measured at each dispatch; unmeasured: withheld). "
                                 "People leave some wrong draft words in place, so a weak recogniser's drafts make "
                                 "transcripts worse than typing from scratch. A large value (e.g. 100) shows every draft.")

    # the release gate (export.py)
    max_audit_wer: float = Field(0.15, ge=0, description="The release gate fails when the word error rate of exported "
                                 "transcripts against gold and audited ones (by the comparison rule) is above this.")
