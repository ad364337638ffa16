"""Choices: how an answer is stored and checked (see tasks/kinds/protocol.py, storage).

Single label: one string in `label`, JSON form `"spam"`. Multi-label: a list of strings in `labels`,
JSON form `["a", "b"]` (an empty list is a valid answer: none of the labels apply).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tasks.errors import InputError

from ..protocol import PROBLEM_SCHEMA

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["MULTI", "SINGLE"]


class _ChoicesStorage:
    def __init__(self, multi: bool) -> None:
        self.multi = multi
        self.column = "labels" if multi else "label"
        self.arrow_type = pa.list_(pa.string()) if multi else pa.string()
        self.answer_file_formats: tuple[str, ...] = ()

    def read_answer_file(self, path: Path, fmt: str, cfg: ProjectConfig) -> None:
        return None  # a label fits a table's cell: gold files are tables

    def to_json(self, answers: pa.Array) -> pa.Array:
        return pa.array([None if a is None else orjson.dumps(a).decode() for a in answers.to_pylist()], pa.string())

    def from_json(self, texts: pa.Array) -> pa.Array:
        out = []
        for i, t in enumerate(texts.to_pylist()):
            if t is None:
                out.append(None)
                continue
            try:
                v = orjson.loads(t)
            except orjson.JSONDecodeError:
                raise InputError(f"answer {i} is not JSON: {t[:80]!r}") from None
            ok = (isinstance(v, list) and all(isinstance(x, str) for x in v)) if self.multi else isinstance(v, str)
            if not ok:
                want = "a list of label strings" if self.multi else "one label string"
                raise InputError(f"answer {i} is not {want}: {t[:80]!r}")
            out.append(v)
        return pa.array(out, self.arrow_type)

    def _bad_rows(self, column: pa.ChunkedArray | pa.Array, labels: list[str]) -> np.ndarray:
        """Row indices whose answer is missing or names a label outside the set (vectorised)."""
        allowed = pa.array(labels, pa.string())
        col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if not self.multi:
            ok = pc.fill_null(pc.is_in(col, value_set=allowed), False)
            return np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
        flat = pc.list_flatten(col)
        parent = pc.list_parent_indices(col)
        bad = pc.invert(pc.fill_null(pc.is_in(flat, value_set=allowed), False))
        n_bad = np.bincount(pc.filter(parent, bad).to_numpy(), minlength=len(col))
        nulls = pc.is_null(col).to_numpy(zero_copy_only=False)
        return np.flatnonzero((n_bad > 0) | nulls)

    def validate(self, answers: pa.Table, items: pa.Table, cfg: ProjectConfig) -> pa.Table:
        rows = self._bad_rows(answers[self.column], list(cfg.labels))
        if not len(rows):
            return PROBLEM_SCHEMA.empty_table()
        take = pa.array(rows, pa.int64())
        values = answers[self.column].take(take).to_pylist()
        sources = answers["source_id"].take(take).to_pylist() if "source_id" in answers.column_names else [None] * len(rows)
        known = set(cfg.labels)
        details = []
        for v in values:
            if v is None:
                details.append(f"no {self.column} given" + ("" if self.multi else " (exactly one label is expected)"))
            else:
                wrong = [x for x in (v if self.multi else [v]) if x not in known]
                details.append(f"label(s) {', '.join(repr(x) for x in wrong[:5])} not in the project's label set")
        return pa.table({
            "row": take,
            "item_id": answers["item_id"].take(take),
            "source_id": pa.array(sources, pa.string()),
            "field": pa.array([self.column] * len(rows), pa.string()),
            "reason": pa.array(["unknown_label"] * len(rows), pa.string()),
            "detail": pa.array(details, pa.string()),
        }, schema=PROBLEM_SCHEMA)


SINGLE = _ChoicesStorage(multi=False)
MULTI = _ChoicesStorage(multi=True)
