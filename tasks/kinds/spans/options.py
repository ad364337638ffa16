"""The `[answer]` options of a spans project."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SpanOptions"]


class SpanOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow_overlap: bool = Field(False, description="Whether one answer may hold overlapping spans (nested entities).")
    snap_to_tokens: bool = Field(True, description="The span tool widens a selection to whole tokens.")
    tokenizer: str = Field(
        "words", description="How text is split into tokens for snapping, BIO tags and CoNLL export: 'words' "
        "(runs of letters/digits, each other non-space character alone) or 'whitespace'.")
