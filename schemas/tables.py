"""Pandera contracts for the tables that cross stage boundaries; `check` validates an Arrow batch.

Validation is lazy so one run reports every failing row and check at once; a failure stops the
batch before it is written, never after.
"""

from __future__ import annotations

import json

import pandas as pd
import pandera.pandas as pa_
import pyarrow as pa
import pyarrow.compute as pc
from pandera.typing import Series

from tasks.errors import ContractError
from tasks.kinds import get as get_kind
from tasks.kinds import names as kind_names

__all__ = [
    "ASSIGNMENT_KINDS",
    "LABEL_METHODS",
    "SOURCE_KINDS",
    "Assignments",
    "ExportRows",
    "Gold",
    "Items",
    "Judgments",
    "Labels",
    "ModelPredictions",
    "Prelabels",
    "Quarantine",
    "SourceStats",
    "Votes",
    "check",
    "export_rows_contract",
]


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


# --- State tables between pre-label, queues, consensus and export -------------------------------------
# List columns (labels, sources) arrive from Arrow as Python lists (object dtype); Pandera checks them
# with element-wise checks. Each model allows exactly the columns a producer writes (strict), so a
# renamed or extra column fails at the boundary instead of silently landing in the database.

SOURCE_KINDS = ["human", "model", "lf", "adjudicator"]
STAGE_METHODS = ["auto", "adjudicated", "gold"]
"""The `method` names the stages write whatever the kind: pre-label auto-accept, adjudication, gold."""


def _label_methods() -> list[str]:
    """The stage's methods and every registered kind's consolidation methods (its consensus facet's
    `methods`), in registration order: a new kind's method is known without an edit here."""
    out = list(STAGE_METHODS)
    for name in kind_names():
        out += [m for m in get_kind(name).consensus.methods if m not in out]
    return out


LABEL_METHODS = _label_methods()


def _is_str_list(v: object) -> bool:
    return v is None or (hasattr(v, "__iter__") and not isinstance(v, str) and all(isinstance(x, str) for x in v))


def _list_or_null(s: pd.Series) -> pd.Series:
    return s.map(_is_str_list)


def _is_json(v: object) -> bool:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return True
    try:
        json.loads(v)
    except (TypeError, ValueError):
        return False
    return True


def _json_or_null(s: pd.Series) -> pd.Series:
    """A structured kind's answer (migration 005): JSON text (the kind's own form) or null."""
    return s.map(_is_json)


_ANSWER_COLUMNS = ("label", "labels", "answer")


def _has_answer(df: pd.DataFrame) -> pd.Series:
    """Per row: some answer column holds a value (the kind's column: label, labels or answer)."""
    present = [df[c].notna() for c in _ANSWER_COLUMNS if c in df.columns]
    if not present:
        return pd.Series(False, index=df.index)
    out = present[0]
    for p in present[1:]:
        out = out | p
    return out


class Votes(pa_.DataFrameModel):
    """One vote of one source on one item; every answer column NULL is an explicit abstain.

    The answer sits in the kind's column (tasks/kinds, `storage.column`): `label`, `labels`, or
    `answer` (JSON) for structured kinds.
    """

    vote_id: Series[str] = pa_.Field(str_length={"min_value": 1})
    item_id: Series[str] = pa_.Field(str_length={"min_value": 1})
    source_id: Series[str] = pa_.Field(str_matches=r"^(human|model|lf|adjudicator):.+")
    source_kind: Series[str] = pa_.Field(isin=SOURCE_KINDS)
    label: Series[str] = pa_.Field(nullable=True)
    labels: Series[object] = pa_.Field(nullable=True)
    answer: Series[str] | None = pa_.Field(nullable=True)
    confidence: Series[float] = pa_.Field(nullable=True, ge=0, le=1)
    probs: Series[str] = pa_.Field(nullable=True)
    assignment_id: Series[str] = pa_.Field(nullable=True)
    duration_ms: Series[pd.Int64Dtype] = pa_.Field(nullable=True, ge=0)
    run_id: Series[str] = pa_.Field(nullable=True)

    @pa_.check("labels", element_wise=False, error="labels must be a list of strings or null")
    def _labels_list(cls, s: pd.Series) -> pd.Series:
        return _list_or_null(s)

    @pa_.check("answer", element_wise=False, error="answer must be JSON text or null")
    def _answer_json(cls, s: pd.Series) -> pd.Series:
        return _json_or_null(s)

    @pa_.dataframe_check(error="source_kind must match the source_id prefix")
    def _kind_matches_id(cls, df: pd.DataFrame) -> Series[bool]:
        return df["source_id"].str.split(":", n=1).str[0] == df["source_kind"]

    class Config:
        strict = "filter"
        coerce = True


class Labels(pa_.DataFrameModel):
    """One resolved (or pending) decision per item, as consensus writes it and export reads it.

    Consensus writes only the kind's answer column (`label`, `labels` or `answer` JSON); at least
    one of them must be there.
    """

    item_id: Series[str] = pa_.Field(str_length={"min_value": 1}, unique=True)
    label: Series[str] | None = pa_.Field(nullable=True)
    labels: Series[object] | None = pa_.Field(nullable=True)
    answer: Series[str] | None = pa_.Field(nullable=True)
    confidence: Series[float] = pa_.Field(ge=0, le=1)
    method: Series[str] = pa_.Field(isin=LABEL_METHODS)
    decision: Series[str] = pa_.Field(isin=["resolved", "needs_more", "adjudicate"])
    n_votes: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    n_human: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    agreement: Series[float] = pa_.Field(nullable=True, ge=-1, le=1)
    sources: Series[object] = pa_.Field(nullable=True)
    run_id: Series[str] | None = pa_.Field(nullable=True)

    @pa_.check("labels", "sources", element_wise=False, error="must be a list of strings or null")
    def _lists(cls, s: pd.Series) -> pd.Series:
        return _list_or_null(s)

    @pa_.check("answer", element_wise=False, error="answer must be JSON text or null")
    def _answer_json(cls, s: pd.Series) -> pd.Series:
        return _json_or_null(s)

    @pa_.dataframe_check(error="labels need an answer column: label, labels or answer")
    def _has_answer_column(cls, df: pd.DataFrame) -> bool:
        return any(c in df.columns for c in _ANSWER_COLUMNS)

    @pa_.dataframe_check(error="a resolved item needs a label, labels or an answer (the kind's answer column)")
    def _resolved_has_label(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["decision"] != "resolved") | _has_answer(df)

    @pa_.dataframe_check(error="n_human cannot exceed n_votes")
    def _humans_within_votes(cls, df: pd.DataFrame) -> Series[bool]:
        return df["n_human"] <= df["n_votes"]

    class Config:
        strict = "filter"
        coerce = True


class Gold(pa_.DataFrameModel):
    """An accepted answer per item (the gold file, or an adjudication promoted to gold).

    The answer sits in the kind's column like a vote's; a null everywhere means "no label applies"
    only where the kind says so (a set), which is why no row-level answer check is made here.
    """

    item_id: Series[str] = pa_.Field(str_length={"min_value": 1}, unique=True)
    label: Series[str] | None = pa_.Field(nullable=True)
    labels: Series[object] | None = pa_.Field(nullable=True)
    answer: Series[str] | None = pa_.Field(nullable=True)
    origin: Series[str] = pa_.Field(isin=["file", "adjudication"])

    @pa_.check("labels", element_wise=False, error="labels must be a list of strings or null")
    def _labels_list(cls, s: pd.Series) -> pd.Series:
        return _list_or_null(s)

    @pa_.check("answer", element_wise=False, error="answer must be JSON text or null")
    def _answer_json(cls, s: pd.Series) -> pd.Series:
        return _json_or_null(s)

    class Config:
        strict = "filter"
        coerce = True


class SourceStats(pa_.DataFrameModel):
    """How far each source is trusted: gold accuracy with its interval, learned accuracy, agreement."""

    source_id: Series[str] = pa_.Field(unique=True, str_length={"min_value": 1})
    kind: Series[str] = pa_.Field(isin=SOURCE_KINDS)
    n_votes: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    n_gold: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    gold_correct: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    gold_accuracy: Series[float] = pa_.Field(nullable=True, ge=0, le=1)
    gold_low: Series[float] = pa_.Field(nullable=True, ge=0, le=1)
    gold_high: Series[float] = pa_.Field(nullable=True, ge=0, le=1)
    learned_accuracy: Series[float] = pa_.Field(nullable=True, ge=0, le=1)
    agreement_with_consensus: Series[float] = pa_.Field(nullable=True, ge=0, le=1)
    confusion: Series[str] = pa_.Field(nullable=True)

    @pa_.dataframe_check(error="gold_correct cannot exceed n_gold")
    def _correct_le_gold(cls, df: pd.DataFrame) -> Series[bool]:
        return df["gold_correct"] <= df["n_gold"]

    class Config:
        strict = "filter"
        coerce = True


class ExportRows(pa_.DataFrameModel):
    """A row of an exported dataset version: the answer with its lineage.

    The answer sits in the kind's export column: `label` (single label) and `labels` (a list) are
    declared here; a structured kind's column (e.g. a list of spans) is added by
    `export_rows_contract`. `split` exists when the project configures splits; `width` and `height` (the
    image's pixels) when the kind's answers are drawn on the image (boxes); `duration_s` and `file` (the clip's
    length and its path inside the source folder) when they are time regions of a clip (segments). The release gate
    (Great Expectations) checks the content of the whole candidate; this contract pins its structure.
    """

    item_id: Series[str] = pa_.Field(str_length={"min_value": 1})
    split: Series[str] | None = pa_.Field(nullable=False)
    kind: Series[str] = pa_.Field(isin=["text", "image", "audio"])
    payload: Series[str] = pa_.Field(nullable=True)
    uri: Series[str] = pa_.Field(nullable=True)
    label: Series[str] | None
    labels: Series[object] | None
    confidence: Series[float] = pa_.Field(ge=0, le=1)
    method: Series[str] = pa_.Field(isin=LABEL_METHODS)
    n_votes: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    n_human: Series[pd.Int64Dtype] = pa_.Field(ge=0)
    agreement: Series[float] = pa_.Field(nullable=True, ge=-1, le=1)
    sources: Series[object]
    width: Series[pd.Int64Dtype] | None = pa_.Field(nullable=True)
    height: Series[pd.Int64Dtype] | None = pa_.Field(nullable=True)
    duration_s: Series[float] | None = pa_.Field(nullable=True)
    file: Series[str] | None = pa_.Field(nullable=True)

    @pa_.dataframe_check(error="an export row needs exactly one of label / labels (or its kind's answer column)")
    def _one_label_column(cls, df: pd.DataFrame) -> bool:
        # Strict: every column is declared, so the undeclared-by-name ones are the answer columns present.
        return len(set(df.columns) - _EXPORT_GENERIC) == 1

    @pa_.dataframe_check(error="an export row needs a payload or a URI")
    def _payload_or_uri(cls, df: pd.DataFrame) -> Series[bool]:
        return df["payload"].notna() | df["uri"].notna()

    class Config:
        strict = True
        coerce = True


_EXPORT_GENERIC = frozenset(ExportRows.to_schema().columns) - {"label", "labels"}


def export_rows_contract(column: str) -> pa_.DataFrameSchema:
    """`ExportRows` for a kind whose answer column is `column`: the declared `label` / `labels` when it is
    one of them (the choices contract unchanged), else that column in their place (any value; its type
    is checked against the kind's Arrow type and its content by the release gate)."""
    schema = ExportRows.to_schema()
    if column in schema.columns:
        return schema
    return schema.remove_columns(["label", "labels"]).add_columns({column: pa_.Column(object, nullable=True)})


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
    """The combined pre-label of an item and where routing sent it (see migration 003)."""

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


CHECK_CHUNK_ROWS = 200_000


def _duplicates(table: pa.Table, column: str) -> pd.DataFrame | None:
    """Failure cases for a `unique` column, checked over the whole table in Arrow."""
    col = table.column(column)
    if pc.count_distinct(col, mode="all").as_py() == table.num_rows:
        return None
    counts = table.select([column]).group_by(column).aggregate([([], "count_all")])
    dup = counts.filter(pc.greater(counts["count_all"], 1)).column(column).to_pylist()
    return pd.DataFrame({"schema_context": "Column", "column": column, "check": "field_uniqueness",
                         "check_number": None, "failure_case": dup, "index": None})


def check(table: pa.Table, model: type[pa_.DataFrameModel], where: str) -> None:
    """Raise ContractError listing every failing row/check of `table` against `model`.

    Validated in chunks of `CHECK_CHUNK_ROWS` (pandas copies of millions of string rows cost more
    memory than the stage itself); uniqueness is checked over the whole table in Arrow, and the
    failure cases' row index counts from the table's first row.
    """
    if table.num_rows == 0:
        return
    unique = [name for name, col in model.to_schema().columns.items() if col.unique and name in table.column_names]
    cases = [c for c in (_duplicates(table, name) for name in unique) if c is not None]
    for start in range(0, table.num_rows, CHECK_CHUNK_ROWS):
        df = table.slice(start, CHECK_CHUNK_ROWS).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
        df.index += start
        try:
            model.validate(df, lazy=True)
        except pa_.errors.SchemaErrors as e:
            chunk_cases = e.failure_cases
            if unique:  # reported once, over the whole table, above
                chunk_cases = chunk_cases[chunk_cases["check"] != "field_uniqueness"]
            cases.append(chunk_cases)
    cases = [c for c in cases if len(c)]
    if cases:
        failures = pd.concat(cases, ignore_index=True)
        head = failures.head(10).to_string(index=False)
        raise ContractError(
            f"{where}: {len(failures)} failure(s) against the {model.__name__} contract; nothing from this batch "
            f"was written. First failures:\n{head}",
            failures=failures,
        )


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
