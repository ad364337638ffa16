"""Time regions as the app and Label Studio hand them over, checked before anything stores them.

The queue's gate, with the reason codes and fields of the storage facet's checks (collect, gold), so a
refusal reads the same wherever it happens. The app does not know a clip's duration, so "inside the
clip" is checked here only where the duration is given (pushing a pre-label to Label Studio).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..protocol import AnswerError

__all__ = ["EDGE_TOLERANCE_S", "OVERLAP_TOLERANCE_S", "check_segments"]

EDGE_TOLERANCE_S = 0.05
"""How far past the clip's ends a region may reach: decoders and Label Studio round a clip's length differently."""
OVERLAP_TOLERANCE_S = 0.001
"""Regions that touch after rounding to milliseconds do not overlap."""


def _fail(code: str, field: str, message: str) -> AnswerError:
    return AnswerError(code, f"{field}: {message}", field=field)


def _secs(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".")


def _finite(region: dict[str, Any], key: str, where: str) -> float:
    v = region[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _fail("not_a_number", f"{where}.{key}", f"{v!r} is not a finite number of seconds")
    return float(v)


def _region(r: object, where: str, known: set[str] | None, duration: float | None, with_text: bool) -> dict[str, Any]:
    if not isinstance(r, dict):
        raise _fail("not_a_segment", where, f"expected an object {{start_s, end_s, label}}, got {type(r).__name__}")
    missing = next((k for k in ("start_s", "end_s", "label") if r.get(k) is None), None)
    if missing:
        raise _fail("missing_field", f"{where}.{missing}", f"the region has no {missing} (a region is {{start_s, end_s, "
                    "label}} in seconds)")
    start, end = _finite(r, "start_s", where), _finite(r, "end_s", where)
    if not isinstance(r["label"], str):
        raise _fail("label_not_text", f"{where}.label", f"{r['label']!r} is not a text label")
    if end <= start:
        raise _fail("empty_or_reversed", f"{where}.end_s", f"the region ends at {_secs(end)} s, not after its start {_secs(start)} s")
    if start < -EDGE_TOLERANCE_S:
        raise _fail("segment_outside_clip", f"{where}.start_s", f"the region starts at {_secs(start)} s, before the clip")
    if duration is not None and end > duration + EDGE_TOLERANCE_S:
        raise _fail("segment_outside_clip", f"{where}.end_s",
                    f"the region ends at {_secs(end)} s, past the clip's end at {_secs(duration)} s")
    if known is not None and r["label"] not in known:
        raise _fail("unknown_label", f"{where}.label", f"{r['label']!r} is not one of this project's labels ({', '.join(sorted(known))})")
    out: dict[str, Any] = {"start_s": round(start, 3), "end_s": round(end, 3), "label": r["label"]}
    text = r.get("text")
    if text is not None and not isinstance(text, str):
        raise _fail("text_not_text", f"{where}.text", f"{text!r} is not text")
    if with_text and not (text or "").strip():
        raise _fail("missing_text", f"{where}.text", "the region has no text (this project asks what was said in each region)")
    if text is not None:
        out["text"] = text
    score = r.get("score")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise _fail("not_a_number", f"{where}.score", f"{score!r} is not a finite number")
        if not 0 <= score <= 1:
            raise _fail("score_out_of_range", f"{where}.score", f"score {score:g} is not a probability in [0, 1]")
        out["score"] = round(float(score), 4)
    return out


def check_segments(raw: object, labels: Sequence[str] | None, duration: float | None, *,
                   allow_overlap: bool = False, with_text: bool = False, field: str = "answer") -> list[dict[str, Any]]:
    """`raw` (a list of `{start_s, end_s, label[, text][, score]}`) as the JSON form: seconds rounded to
    milliseconds, sorted by (start_s, end_s, label); other keys are dropped.

    `labels`: the project's (None: not checked); `duration`: the clip's length (None: the end is not
    checked). Raises `AnswerError` naming the region and field (`answer[1].end_s`).
    """
    if raw is None:
        raise _fail("missing_answer", field, 'the answer is missing (an empty list [] means "no regions")')
    if not isinstance(raw, list):
        raise _fail("not_a_list", field, "expected a list of regions {start_s, end_s, label} (an empty list means "
                    f"no regions), got {type(raw).__name__}")
    known = None if labels is None else set(labels)
    regions = [(i, _region(r, f"{field}[{i}]", known, duration, with_text)) for i, r in enumerate(raw)]
    regions.sort(key=lambda ir: (ir[1]["start_s"], ir[1]["end_s"], ir[1]["label"], ir[0]))
    if not allow_overlap:  # the region that starts before an earlier one has ended is the one at fault
        end, end_at = -math.inf, -1
        for i, r in regions:
            if r["start_s"] < end - OVERLAP_TOLERANCE_S:
                raise _fail("overlap_not_allowed", f"{field}[{i}].start_s",
                            f"the region starts at {_secs(r['start_s'])} s, inside {field}[{end_at}] (which ends at "
                            f"{_secs(end)} s); this project does not allow overlapping regions")
            if r["end_s"] > end:
                end, end_at = r["end_s"], i
    return [r for _, r in regions]
