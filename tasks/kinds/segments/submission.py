"""Time regions as the app and Label Studio hand them over, checked before anything stores them.

The queue's gate only: the storage facet checks stored answers against their items again (collect,
gold: e.g. regions inside the clip, whose duration only the pipeline knows for the app's answers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from ..protocol import AnswerError

__all__ = ["check_segments"]

_KEYS = {"start_s", "end_s", "label", "text"}


def _seconds(region: Mapping[str, Any], key: str, where: str) -> float:
    v = region.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise AnswerError("missing_field" if v is None else "invalid_region",
                          f"{where}.{key}: expected seconds (a number), got {v!r}", field=f"{where}.{key}")
    if v < 0:
        raise AnswerError("region_outside_clip", f"{where}.{key}: {v} is before the clip's start", field=f"{where}.{key}")
    return round(float(v), 3)


def check_segments(raw: Any, labels: Sequence[str] | None, allow_overlap: bool, with_text: bool,
                   duration_s: float | None = None, field: str = "answer") -> list[dict[str, Any]]:
    """`raw` (a list of `{start_s, end_s, label[, text]}`) as the JSON form: seconds rounded to
    milliseconds, sorted by (start_s, end_s, label), `text` kept only where the project asks for it.

    Raises `AnswerError` naming the region and field (`answer[1].end_s`): not a list, a missing or
    non-numeric time, a reversed or empty region, one past `duration_s` (when known), a label
    outside `labels` (None: not checked), a text that is not a string, overlapping regions when
    the project does not allow them.
    """
    if not isinstance(raw, list):
        raise AnswerError("invalid_answer", f"{field}: expected a list of {{start_s, end_s, label}} ([] for no "
                          f"regions), got {type(raw).__name__}", field=field)
    out = []
    for i, r in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(r, Mapping):
            raise AnswerError("invalid_region", f"{where}: expected {{start_s, end_s, label}}, got "
                              f"{type(r).__name__}", field=where)
        extra = sorted(set(r) - _KEYS)
        if extra:
            raise AnswerError("invalid_region", f"{where}.{extra[0]}: not part of a region (start_s, end_s, label, "
                              "text)", field=f"{where}.{extra[0]}")
        start, end = _seconds(r, "start_s", where), _seconds(r, "end_s", where)
        if end <= start:
            raise AnswerError("reversed_region", f"{where}.end_s: {end} s is not after start_s {start} s",
                              field=f"{where}.end_s")
        if duration_s is not None and end > round(duration_s, 3) + 1e-9:
            raise AnswerError("region_outside_clip", f"{where}.end_s: {end} s is past the clip's end "
                              f"({duration_s} s)", field=f"{where}.end_s")
        label = r.get("label")
        if not isinstance(label, str) or not label:
            raise AnswerError("missing_field", f"{where}.label: expected a label, got {label!r}", field=f"{where}.label")
        if labels is not None and label not in labels:
            raise AnswerError("unknown_label", f"{where}.label: {label!r} is not one of the project's labels "
                              f"{list(labels)}", field=f"{where}.label")
        region: dict[str, Any] = {"start_s": start, "end_s": end, "label": label}
        text = r.get("text")
        if text is not None and not isinstance(text, str):
            raise AnswerError("invalid_region", f"{where}.text: expected text, got {type(text).__name__}",
                              field=f"{where}.text")
        if with_text and text and text.strip():
            region["text"] = text.strip()
        out.append((region, i))
    out.sort(key=lambda ri: (ri[0]["start_s"], ri[0]["end_s"], ri[0]["label"]))
    if not allow_overlap:
        for (a, _), (b, i) in pairwise(out):
            if b["start_s"] < a["end_s"]:
                raise AnswerError("overlapping_regions", f"{field}[{i}].start_s: {b['start_s']}–{b['end_s']} s "
                                  f"({b['label']}) overlaps {a['start_s']}–{a['end_s']} s ({a['label']}); this "
                                  "project does not allow overlaps ([answer] allow_overlap = false)",
                                  field=f"{field}[{i}].start_s")
    return [region for region, _ in out]
