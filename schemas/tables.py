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

__all__ = ["Items", "Quarantine", "Assignments", "Judgments", "ASSIGNMENT_KINDS", "check"]



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


# --- Dispatch and collect: assignments created by dispatch, judgments pulled by collect. ---

ASSIGNMENT_KINDS = ["label", "gold", "audit", "adjudication"]


class Assignments(pa_.DataFrameModel):
    """New micro-tasks written by dispatch (one item for one human slot)."""

    assignment_id: Series[str] = pa_.Field(str_length=32, unique=True)
    item_id: Series[str] = pa_.Field(str_length={"min_value": 1})
    queue: Series[str] = pa_.Field(str_length={"min_value": 1})
    kind: Series[str] = pa_.Field(isin=ASSIGNMENT_KINDS)
    round: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    slot: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    priority: Series[float]
    state: Series[str] = pa_.Field(isin=["pending"])
    annotator_id: Series[str] = pa_.Field(nullable=True)

    @pa_.dataframe_check(error="only gold assignments may target an annotator")
    def target_only_on_gold(cls, df: pd.DataFrame) -> Series[bool]:
        return df["annotator_id"].isna() | df["kind"].eq("gold")

    class Config:
        strict = True
        coerce = True


class Judgments(pa_.DataFrameModel):
    """The scalar columns of a pulled page of judgments (`tasks.queues.base.JUDGMENT_SCHEMA`).

    Structural only: a judgment that is well-formed but wrong (unknown label, item, assignment or
    annotator) is quarantined by collect, not rejected here.
    """

    judgment_id: Series[str] = pa_.Field(str_length={"min_value": 1}, unique=True)
    assignment_id: Series[str] = pa_.Field(str_length={"min_value": 1})
    item_id: Series[str] = pa_.Field(str_length={"min_value": 1})
    annotator_id: Series[str] = pa_.Field(str_length={"min_value": 1})
    label: Series[str] = pa_.Field(nullable=True)
    duration_ms: Series[pd.Int64Dtype] = pa_.Field(nullable=True, ge=0)

    class Config:
        strict = True
        coerce = True
