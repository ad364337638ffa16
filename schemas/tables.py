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

__all__ = ["Items", "ModelPredictions", "Prelabels", "Quarantine", "check"]



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


# Pre-labeling (tasks/prelabel): model outputs before they become votes, and the routed pre-labels.


class ModelPredictions(pa_.DataFrameModel):
    """One row per item: probability columns p0..p{C-1} in label-set order, each row summing to 1."""

    item_id: Series[str] = pa_.Field(str_length=32, unique=True)

    @pa_.dataframe_check(error="probabilities must lie in [0, 1] and sum to 1 per item")
    def probabilities(cls, df: pd.DataFrame) -> Series[bool]:
        p = df.filter(regex=r"^p\d+$")
        return p.ge(-1e-9).all(axis=1) & p.le(1 + 1e-9).all(axis=1) & (p.sum(axis=1) - 1).abs().le(1e-4)

    class Config:
        strict = False
        coerce = True


class Prelabels(pa_.DataFrameModel):
    """The combined pre-label of an item and where routing sent it (see migration 002)."""

    item_id: Series[str] = pa_.Field(str_length=32, unique=True)
    label: Series[str]
    confidence: Series[float] = pa_.Field(ge=0, le=1)
    route: Series[str] = pa_.Field(isin=["auto", "audit", "human", "gold", "held"])
    threshold: Series[float] = pa_.Field(nullable=True, ge=0, le=1)
    n_sources: Series[int] = pa_.Field(ge=0)
    priority: Series[float] = pa_.Field(ge=0, le=1)

    @pa_.dataframe_check(error="an auto-accepted item needs a threshold at or below its confidence")
    def accepted_above_threshold(cls, df: pd.DataFrame) -> Series[bool]:
        accepted = df["route"].isin(["auto", "audit"])
        return ~accepted | (df["threshold"].notna() & (df["confidence"] >= df["threshold"]))

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
