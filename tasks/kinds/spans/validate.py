"""One span answer checked against its item: the app's submit and Label Studio's results share this check.

Offsets are Unicode code points of the text (Python string indices), `end` exclusive. The check
names the field at fault (`answer[2].end`) so the app can answer 422 and Label Studio results can be
rejected with the same sentence.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from ..protocol import AnswerError

__all__ = ["check_spans"]

Span = tuple[int, int, str]
_JOINERS = {"\u200d", "\u034f"}  # zero-width joiner, combining grapheme joiner


def _fail(code: str, field: str, message: str) -> AnswerError:
    """A refusal whose message starts with the field at fault; the reason codes are collect's
    (`storage.validate`), so the app's 422 and a quarantined Label Studio result say the same."""
    return AnswerError(code, f"{field}: {message}", field=field)


def _offset(span: dict[str, Any], key: str, where: str) -> int:
    value = span.get(key)
    if value is None:
        raise _fail("missing_field", f"{where}.{key}", f"the span has no {key}")
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail("non_integer_offset", f"{where}.{key}", f"expected an integer offset, got {value!r}")
    if value < 0:
        raise _fail("negative_offset", f"{where}.{key}", f"offset {value} is negative")
    return value


def _splits_character(text: str, k: int) -> bool:
    """Whether offset `k` falls inside a character as a reader sees it: before a combining mark,
    variation selector or emoji modifier, next to a joiner, inside CR LF or a flag's pair of regional
    indicators. (Collect's `storage.validate` applies the full grapheme rule; this is the app's quick one.)"""
    if k <= 0 or k >= len(text):
        return False
    before, after = text[k - 1], text[k]
    if unicodedata.category(after) in ("Mn", "Me", "Mc") or after in _JOINERS or before in _JOINERS:
        return True
    if "\ufe00" <= after <= "\ufe0f" or "\U0001f3fb" <= after <= "\U0001f3ff" or (before, after) == ("\r", "\n"):
        return True
    if "\U0001f1e6" <= after <= "\U0001f1ff" and "\U0001f1e6" <= before <= "\U0001f1ff":
        run = 0
        while k - run - 1 >= 0 and "\U0001f1e6" <= text[k - run - 1] <= "\U0001f1ff":
            run += 1
        return run % 2 == 1
    return False


def check_spans(raw: object, labels: Sequence[str], allow_overlap: bool, text: str | None,
                field: str = "answer") -> list[Span]:
    """The spans of `raw` (a list of `{start, end, label}`) sorted by (start, end, label).

    Raises `AnswerError` (a `ValueError`) with the reason code and the first field at fault: a non-list,
    a missing or extra key, a non-integer, negative or reversed offset, a span past the end of `text`,
    one splitting a character or covering only whitespace, an unknown type, a duplicate, or an overlap
    when `allow_overlap` is off.
    """
    if text is None:
        raise _fail("missing_text", field, "spans need the item's text, and this item has none")
    if not isinstance(raw, list):
        raise _fail("not_a_list", field, "expected a list of {start, end, label} (an empty list means no "
                    f"entities), got {type(raw).__name__}")
    known = set(labels)
    spans: list[tuple[Span, int]] = []
    for i, span in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(span, dict):
            raise _fail("not_a_span", where, f"expected an object {{start, end, label}}, got {type(span).__name__}")
        extra = sorted(set(span) - {"start", "end", "label"})
        if extra:
            raise _fail("unexpected_field", where, f"unexpected field {extra[0]!r} (a span has start, end, label)")
        start, end = _offset(span, "start", where), _offset(span, "end", where)
        if start >= end:
            raise _fail("empty_or_reversed_span", f"{where}.end",
                        f"a span must end after it starts, got start {start}, end {end}")
        if end > len(text):
            raise _fail("span_outside_text", f"{where}.end",
                        f"offset {end} is past the end of the text ({len(text)} characters)")
        for key, k in (("start", start), ("end", end)):
            if _splits_character(text, k):
                raise _fail("splits_character", f"{where}.{key}",
                            f"offset {k} falls inside the character {text[k - 1:k + 1]!r} (offsets count Unicode "
                            "code points; offsets counted in UTF-8 bytes or UTF-16 units by another tool land here)")
        if not text[start:end].strip():
            raise _fail("whitespace_span", where, f"span {start}-{end} covers only whitespace")
        label = span.get("label")
        if label is None:
            raise _fail("missing_field", f"{where}.label", "the span has no label")
        if not isinstance(label, str) or label not in known:
            raise _fail("unknown_label", f"{where}.label",
                        f"{label!r} is not one of this project's entity types ({', '.join(labels)})")
        spans.append(((start, end, label), i))
    spans.sort()
    for (prev, i), (cur, j) in pairwise(spans):
        if prev == cur:
            raise _fail("duplicate_span", f"{field}[{max(i, j)}]",
                        f"duplicates {field}[{min(i, j)}] ({cur[0]}-{cur[1]} {cur[2]})")
    if not allow_overlap:
        reach, owner = -1, -1
        for (start, end, label), i in spans:
            if start < reach:
                raise _fail("overlapping_spans", f"{field}[{i}]",
                            f"span {start}-{end} {label} overlaps {field}[{owner}], and this project does not "
                            "allow overlapping spans ([answer] allow_overlap)")
            if end > reach:
                reach, owner = end, i
    return [s for s, _ in spans]
