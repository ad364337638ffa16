"""Pandera contracts for the tables that cross stage boundaries; `check` validates an Arrow batch.

Validation is lazy so one run reports every failing row and check at once; a failure stops the
batch before it is written, never after.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa_
import pyarrow as pa
from pandera.typing import Series

from tasks.errors import ContractError

__all__ = ["Items", "Quarantine", "ConsensusLabels", "ConsensusSourceStats", "check"]



class Items(pa_.DataFrameModel):
    """An ingested item: text inline, media by URI plus SHA-256."""

    item_id: Series[str] = pa_.Field(str_length=32)
    kind: Series[str] = pa_.Field(isin=["text", "image", "audio"])
    payload: Series[str] = pa_.Field(nullable=True)
    uri: Series[str] = pa_.Field(nullable=True)
    checksum: Series[str] = pa_.Field(nullable=True, str_matches=r"^[0-9a-f]{64}$")
    metadata: Series[str] = pa_.Field(nullable=True)
    source: Series[str] = pa_.Field(str_length={"min_value": 1})
    source_row: Series[pd.Int64Dtype] = pa_.Field(nullable=True, ge=1)

    @pa_.dataframe_check(error="an item needs a non-empty payload or a URI")
    def payload_or_uri(cls, df: pd.DataFrame) -> Series[bool]:
        return df["payload"].fillna("").str.len().gt(0) | df["uri"].notna()

    class Config:
        strict = True
        coerce = True


class Quarantine(pa_.DataFrameModel):
    source: Series[str]
    source_row: Series[pd.Int64Dtype] = pa_.Field(nullable=True, ge=1)
    field: Series[str] = pa_.Field(nullable=True)
    reason: Series[str] = pa_.Field(str_matches=r"^[a-z_]+$")
    detail: Series[str] = pa_.Field(nullable=True)
    raw: Series[str] = pa_.Field(nullable=True)

    class Config:
        strict = True
        coerce = True


def check(table: pa.Table, model: type[pa_.DataFrameModel], where: str) -> None:
    """Raise ContractError listing every failing row/check of `table` against `model`."""
    if table.num_rows == 0:
        return
    df = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    try:
        model.validate(df, lazy=True)
    except pa_.errors.SchemaErrors as e:
        cases = e.failure_cases
        head = cases.head(10).to_string(index=False)
        raise ContractError(
            f"{where}: {len(cases)} failure(s) against the {model.__name__} contract; nothing from this batch "
            f"was written. First failures:\n{head}",
            failures=cases,
        ) from None


# -- consensus stage ----------------------------------------------------------------------------
class ConsensusLabels(pa_.DataFrameModel):
    """A consensus label row as the consensus stage writes it (single-label: `label`; multi-label: `labels`)."""

    item_id: Series[str] = pa_.Field(str_length={"min_value": 1})
    label: Series[str] = pa_.Field(nullable=True)
    labels: Series[object] = pa_.Field(nullable=True)
    confidence: Series[float] = pa_.Field(ge=0, le=1)
    method: Series[str] = pa_.Field(isin=["auto", "gold", "adjudicated", "majority_vote", "weighted_majority_vote",
                                          "dawid_skene", "one_coin_dawid_skene", "glad", "label_model"])
    decision: Series[str] = pa_.Field(isin=["resolved", "needs_more", "adjudicate"])
    n_votes: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    n_human: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    agreement: Series[float] = pa_.Field(nullable=True, ge=0, le=1)
    sources: Series[object]

    @pa_.dataframe_check(error="n_human cannot exceed n_votes")
    def humans_within_votes(cls, df: pd.DataFrame) -> Series[bool]:
        return df["n_human"] <= df["n_votes"]

    @pa_.dataframe_check(error="a resolved row needs a label (single-label) or a label set (multi-label)")
    def resolved_has_label(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["decision"] != "resolved") | df["label"].notna() | df["labels"].notna()

    class Config:
        strict = True
        coerce = True


class ConsensusSourceStats(pa_.DataFrameModel):
    """One source's scores: gold accuracy with its Wilson interval, learned accuracy, agreement."""

    source_id: Series[str] = pa_.Field(str_length={"min_value": 1}, unique=True)
    kind: Series[str] = pa_.Field(isin=["human", "model", "lf", "adjudicator"])
    n_votes: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    n_gold: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    gold_correct: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    gold_accuracy: Series[float] = pa_.Field(nullable=True, ge=0, le=1)
    gold_low: Series[float] = pa_.Field(nullable=True, ge=0, le=1)
    gold_high: Series[float] = pa_.Field(nullable=True, ge=0, le=1)
    learned_accuracy: Series[float] = pa_.Field(nullable=True)
    agreement_with_consensus: Series[float] = pa_.Field(nullable=True, ge=0, le=1)
    confusion: Series[str] = pa_.Field(nullable=True)

    @pa_.dataframe_check(error="gold_correct cannot exceed n_gold")
    def correct_within_gold(cls, df: pd.DataFrame) -> Series[bool]:
        return df["gold_correct"] <= df["n_gold"]

    class Config:
        strict = True
        coerce = True
