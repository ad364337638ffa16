"""What one segments answer is, and the check every place that accepts one applies.

JSON form (what travels between processes and sits in the `answer` column):
`[{"start_s": 0.52, "end_s": 1.9, "label": "speaker_a"}, {"start_s": 2.0, "end_s": 3.1, "label": "dog", "text": "..."}]`,
seconds from the clip's start rounded to milliseconds (`DECIMALS`), sorted by (start_s, end_s, label), so
equal answers have equal JSON text (diffs, hashes); `[]` means "no regions". A region may carry `text`
(what was said in it) and a machine region `score` (its confidence); people never send scores.

The app's submit, Label Studio's pulled results and gold import check one answer with `check_segments`;
collect and gold ingest check many at once in DuckDB (`storage.validate`), with the same reason codes and
the same tolerance at the clip's ends, so a region the app refuses is quarantined under the same name
when it arrives another way.

Rules, in the order they are tried for each region (the first failure is reported): an object with
`start_s`, `end_s` (finite numbers) and `label` (text) -> `start_s < end_s` -> inside the clip (up to
`EDGE_TOLERANCE_S`) -> label in the project's set -> `text` a string (required and non-blank when the
project asks for text) -> an optional `score` in [0, 1]; then, across the answer, no two regions overlap
by more than `OVERLAP_TOLERANCE_S` unless overlaps are allowed. An empty list is a valid answer and
needs no duration.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from ..part_answers import check_list, check_score, fail, number, positive_facts

__all__ = ["DECIMALS", "EDGE_TOLERANCE_S", "OVERLAP_TOLERANCE_S", "SEGMENTS_TYPE", "SEGMENT_TYPE", "canonical",
           "check_segments", "clip_duration", "seconds"]

DECIMALS = 3
"""Times are kept to the millisecond: finer than any tool draws and than a 16 kHz frame (62.5 µs) matters."""

EDGE_TOLERANCE_S = 0.05
"""How far a region may reach past the clip's ends and still count as inside: a waveform drawn at a
few hundred pixels per clip puts one pixel at tens of milliseconds, and Label Studio and decoders round
durations differently (a WAV header's frames vs a resampled length)."""

OVERLAP_TOLERANCE_S = 0.001
"""Two regions that touch (one ends where the next starts) do not overlap; rounding to the millisecond
can make them cross by one."""

SEGMENT_TYPE = pa.struct([("start_s", pa.float64()), ("end_s", pa.float64()), ("label", pa.string()),
                          ("text", pa.string())])
SEGMENTS_TYPE = pa.list_(SEGMENT_TYPE)
"""A segments answer in Arrow (`text` null where the region has none)."""

_KEYS = ("start_s", "end_s", "label")


def seconds(value: float) -> str:
    """A time as a message shows it: at most three decimals, no trailing zeros ("1.5", "12")."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def canonical(regions: Iterable[Mapping[str, Any]]) -> str:
    """The JSON text of a region set: rounded, sorted, only the known keys (`text`, `score` where given)."""
    out = []
    for r in regions:
        region: dict[str, Any] = {"start_s": round(float(r["start_s"]), DECIMALS),
                                  "end_s": round(float(r["end_s"]), DECIMALS), "label": str(r["label"])}
        if r.get("text") is not None:
            region["text"] = str(r["text"])
        if r.get("score") is not None:
            region["score"] = round(float(r["score"]), 4)
        out.append(region)
    out.sort(key=lambda r: (r["start_s"], r["end_s"], r["label"]))
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


def clip_duration(metadata: Any) -> float | None:
    """The clip's duration in seconds from its metadata (a dict or JSON text) as ingest recorded it
    (`duration_s`); None when missing or not a positive finite number."""
    facts = positive_facts(metadata, ("duration_s",))
    return None if facts is None else facts[0]


def check_segments(raw: object, labels: Sequence[str] | None, duration: float | None, *,
                   allow_overlap: bool = False, with_text: bool = False, field: str = "answer",
                   duration_required: bool = False) -> list[dict[str, Any]]:
    """The regions of `raw` (a list of `{start_s, end_s, label[, text][, score]}`) in canonical form.

    `labels`: the project's labels (None: not checked). `duration`: the clip's length in seconds,
    `clip_duration(item metadata)`; None skips the end check (the app's submit may not know it), unless
    `duration_required`, which refuses any region of a clip of unknown duration as `storage.validate`
    does. Raises `AnswerError` (a `ValueError`) with the reason code of `storage.validate` and the first
    field at fault, e.g. `answer[2].end_s`. Keys other than the five are ignored.
    """
    raw = check_list(raw, field, "regions {start_s, end_s, label}", "no regions")
    if raw and duration is None and duration_required:
        raise fail("duration_unknown", field, "the clip's duration is unknown (ingest records duration_s from the "
                    "file), so its regions cannot be checked")
    known = None if labels is None else set(labels)
    out = []
    for i, region in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(region, dict):
            raise fail("not_a_segment", where, f"expected an object {{start_s, end_s, label}}, got {type(region).__name__}")
        for key in _KEYS:
            if region.get(key) is None:
                raise fail("missing_field", f"{where}.{key}", f"the region has no {key} (a region is {{start_s, end_s, label}} in seconds)")
        start, end = number(region, "start_s", where, "seconds"), number(region, "end_s", where, "seconds")
        label = region["label"]
        if not isinstance(label, str):
            raise fail("label_not_text", f"{where}.label", f"{label!r} is not a text label")
        if end <= start:
            raise fail("empty_or_reversed", f"{where}.end_s",
                        f"the region ends at {seconds(end)} s, not after its start {seconds(start)} s")
        tol = EDGE_TOLERANCE_S
        if start < -tol:
            raise fail("segment_outside_clip", f"{where}.start_s", f"the region starts at {seconds(start)} s, before the clip")
        if duration is not None and end > duration + tol:
            raise fail("segment_outside_clip", f"{where}.end_s",
                        f"the region ends at {seconds(end)} s, past the clip's end at {seconds(duration)} s")
        if known is not None and label not in known:
            raise fail("unknown_label", f"{where}.label", f"{label!r} is not one of this project's labels ({', '.join(labels or ())})")
        text = region.get("text")
        if text is not None and not isinstance(text, str):
            raise fail("text_not_text", f"{where}.text", f"{text!r} is not text")
        if with_text and (text is None or not text.strip()):
            raise fail("missing_text", f"{where}.text", "the region has no text (this project asks what was said in each region)")
        clean: dict[str, Any] = {"start_s": round(start, DECIMALS), "end_s": round(end, DECIMALS), "label": label}
        if text is not None:
            clean["text"] = text
        score = check_score(region, where)
        if score is not None:
            clean["score"] = score
        out.append((i, clean))
    if not allow_overlap:
        # The region that starts before an earlier-starting one has ended is the one at fault.
        reach, reach_at = -math.inf, -1
        for i, r in sorted(out, key=lambda p: (p[1]["start_s"], p[1]["end_s"], p[1]["label"], p[0])):
            if r["start_s"] < reach - OVERLAP_TOLERANCE_S:
                raise fail("overlap_not_allowed", f"{field}[{i}].start_s",
                            f"the region starts at {seconds(r['start_s'])} s, inside {field}[{reach_at}] (which ends at "
                            f"{seconds(reach)} s); this project does not allow overlapping regions")
            if r["end_s"] > reach:
                reach, reach_at = r["end_s"], i
    regions = [r for _, r in out]
    regions.sort(key=lambda r: (r["start_s"], r["end_s"], r["label"]))
    return regions
