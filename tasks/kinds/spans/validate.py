"""One span answer checked against its item: the app's submit and Label Studio's results share this check.

Offsets are Unicode code points of the text (Python string indices), `end` exclusive. The check
names the field at fault (`answer[2].end`) so the app can answer 422 and Label Studio results can be
rejected with the same sentence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

__all__ = ["check_spans", "spans_json"]

Span = tuple[int, int, str]


def _offset(span: dict[str, Any], key: str, where: str) -> int:
    value = span.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{where}.{key}: expected an integer offset, got {value!r}")
    if value < 0:
        raise ValueError(f"{where}.{key}: offset {value} is negative")
    return value


def check_spans(raw: object, labels: Sequence[str], allow_overlap: bool, text: str | None,
                field: str = "answer") -> list[Span]:
    """The spans of `raw` (a list of `{start, end, label}`) sorted by (start, end, label).

    Raises `ValueError` naming the first field at fault: a non-list, a missing or extra key, a
    non-integer, negative or reversed offset, a span past the end of `text`, one covering only
    whitespace, an unknown type, a duplicate, or an overlap when `allow_overlap` is off.
    """
    if text is None:
        raise ValueError(f"{field}: spans need the item's text, and this item has none")
    if not isinstance(raw, list):
        raise ValueError(f"{field}: expected a list of {{start, end, label}} (an empty list means no entities), "
                         f"got {type(raw).__name__}")
    known = set(labels)
    spans: list[tuple[Span, int]] = []
    for i, span in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(span, dict):
            raise ValueError(f"{where}: expected an object {{start, end, label}}, got {type(span).__name__}")
        extra = sorted(set(span) - {"start", "end", "label"})
        if extra:
            raise ValueError(f"{where}: unexpected field {extra[0]!r} (a span has start, end, label)")
        start, end = _offset(span, "start", where), _offset(span, "end", where)
        if start >= end:
            raise ValueError(f"{where}.end: a span must end after it starts, got start {start}, end {end}")
        if end > len(text):
            raise ValueError(f"{where}.end: offset {end} is past the end of the text ({len(text)} characters)")
        if not text[start:end].strip():
            raise ValueError(f"{where}: span {start}-{end} covers only whitespace")
        label = span.get("label")
        if not isinstance(label, str) or label not in known:
            raise ValueError(f"{where}.label: {label!r} is not one of this project's entity types "
                             f"({', '.join(labels)})")
        spans.append(((start, end, label), i))
    spans.sort()
    for (prev, i), (cur, j) in pairwise(spans):
        if prev == cur:
            raise ValueError(f"{field}[{max(i, j)}]: duplicates {field}[{min(i, j)}] ({cur[0]}-{cur[1]} {cur[2]})")
    if not allow_overlap:
        reach, owner = -1, -1
        for (start, end, label), i in spans:
            if start < reach:
                raise ValueError(f"{field}[{i}]: span {start}-{end} {label} overlaps {field}[{owner}], and this "
                                 "project does not allow overlapping spans ([answer] allow_overlap)")
            if end > reach:
                reach, owner = end, i
    return [s for s, _ in spans]


def spans_json(spans: Sequence[Span]) -> str:
    """The JSON form of sorted spans, as answers are stored and travel: `[{"start", "end", "label"}, ...]`."""
    return json.dumps([{"start": s, "end": e, "label": label} for s, e, label in spans], ensure_ascii=False)
