"""Choices: how an answer is stored and checked (see tasks/kinds/protocol.py, storage)."""

from __future__ import annotations

import pyarrow as pa

__all__ = ["MULTI", "SINGLE"]


class _ChoicesStorage:
    def __init__(self, multi: bool) -> None:
        self.multi = multi
        self.column = "labels" if multi else "label"
        self.arrow_type = pa.list_(pa.string()) if multi else pa.string()


SINGLE = _ChoicesStorage(multi=False)
MULTI = _ChoicesStorage(multi=True)
