"""The `[answer]` options of a spans project."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SpanLF", "SpanModelOptions", "SpanOptions"]


class SpanOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow_overlap: bool = Field(False, description="Whether one answer may hold overlapping spans (nested entities).")
    snap_to_tokens: bool = Field(True, description="The span tool widens a selection to whole tokens.")
    tokenizer: str = Field(
        "words", description="How text is split into tokens for snapping, BIO tags and CoNLL export: 'words' "
        "(runs of letters/digits, each other non-space character alone) or 'whitespace'.")
    max_span_rate_change: float = Field(
        0.5, ge=0, description="Release gate: how far the spans per exported item of any type may move (relative "
        "change) from the reference version before the export is held; a wanted change is accepted with "
        "`annoflow export --accept-shift REASON`.")
    lfs: list[SpanLF] = Field(default_factory=list, description="Span labeling functions (`[[answer.lfs]]`).")
    model: SpanModelOptions = Field(default_factory=lambda: SpanModelOptions(),
                                      description="The local span model (`[answer.model]`): spaCy NER from a blank pipeline.")

    @model_validator(mode="after")
    def _unique_lf_names(self) -> SpanOptions:
        names = [lf.name for lf in self.lfs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"span labeling function names must be unique, repeated: {dupes}")
        return self


class SpanLF(BaseModel):
    """One span labeling function (`[[answer.lfs]]`): a phrase list or a regular expression marking one entity
    type, evaluated inside DuckDB; or a Python function `text -> [(start, end, label)]`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Unique name; becomes the source id `lf:<name>`.")
    label: str | None = Field(None, description="The entity type its matches get (phrase and regex LFs).")
    phrases: list[str] | None = Field(None, description="Literal phrases to mark (longest wins where two start together).")
    regex: str | None = Field(None, description="An RE2 regular expression (DuckDB's dialect) to mark; groups are ignored.")
    python: str | None = Field(None, description="'module:function' importable from the project folder.")
    case_sensitive: bool = Field(False, description="Match phrases / the regex with case as written.")
    whole_word: bool = Field(
        True, description="Keep a match only when it is not glued to a letter, digit or '_' on either side.")
    description: str = ""

    @model_validator(mode="after")
    def _one_rule(self) -> SpanLF:
        given = [k for k in ("phrases", "regex", "python") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"span labeling function {self.name!r}: give exactly one of phrases, regex, python (got {given or 'none'})")
        if given[0] != "python" and not self.label:
            raise ValueError(f"span labeling function {self.name!r}: a {given[0]} rule needs `label` (the entity type it marks)")
        if self.phrases is not None and not [p for p in self.phrases if p.strip()]:
            raise ValueError(f"span labeling function {self.name!r}: phrases is empty")
        return self


class SpanModelOptions(BaseModel):
    """The local span model, trained on the project's gold and resolved spans (no download)."""

    model_config = ConfigDict(extra="forbid")

    lang: str = Field("en", description="spaCy language code of the blank pipeline (its tokenizer rules).")
    members: int = Field(3, ge=1, le=9, description="NERs trained with different seeds; a span's confidence comes from their agreement.")
    epochs: int = Field(20, ge=1, le=100)
    seed: int = 0
    calibration_share: float = Field(0.2, ge=0, lt=1, description="Share of the training answers held out to calibrate confidences.")
