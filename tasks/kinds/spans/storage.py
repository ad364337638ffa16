"""Spans: how an answer is stored, carried and checked (see tasks/kinds/protocol.py, storage).

In DuckDB an answer is JSON `[{"start": 0, "end": 5, "label": "person"}, ...]` sorted by
(start, end, label); in Arrow it is `SPANS_TYPE`.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["FACET", "SPAN_TYPE", "SPANS_TYPE"]

SPAN_TYPE = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())])
SPANS_TYPE = pa.list_(SPAN_TYPE)


class _SpanStorage:
    column = "answer"
    arrow_type = SPANS_TYPE


FACET = _SpanStorage()
