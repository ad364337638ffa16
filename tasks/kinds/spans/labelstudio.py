"""Spans in Label Studio: the `<Labels>` + `<Text>` config, and answers to and from LS `result` entries.

Label Studio counts `value.start` / `value.end` in UTF-16 code units (JavaScript string indices), not
code points as annoflow does: the two differ after every character outside the Basic Multilingual Plane
(most emoji). Both directions therefore need the item's text. Label Studio lets regions overlap
whatever the config says, so results are checked like a submit from the app (types, offsets, overlaps).
The control is named "label" and the text "text", the names the Label Studio backend reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

from .palette import type_colours
from .utf16 import from_utf16, to_utf16
from .validate import check_spans, spans_json

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FROM_NAME", "TO_NAME", "from_label_studio", "label_studio_config", "to_label_studio"]

FROM_NAME = "label"
TO_NAME = "text"


def _options(cfg: ProjectConfig) -> Any:
    return cfg.answer_options


def label_studio_config(cfg: ProjectConfig) -> str:
    """A `<Labels>` control over a `<Text>` object; selections snap to words when the project snaps to tokens."""
    labels = "".join(f"<Label value={quoteattr(label)} background={quoteattr(colour)}/>"
                     for label, colour in zip(cfg.labels, type_colours(cfg.labels)))
    granularity = ' granularity="word"' if _options(cfg).snap_to_tokens else ""
    return (f'<View><Labels name="{FROM_NAME}" toName="{TO_NAME}">{labels}</Labels>'
            f'<Text name="{TO_NAME}" value="${TO_NAME}"{granularity}/></View>')


def to_label_studio(answer_json: str, cfg: ProjectConfig, payload: str | None) -> list[dict[str, Any]]:
    """One answer (JSON form) as LS `labels` results, one region per span, offsets in UTF-16 code units."""
    spans = check_spans(json.loads(answer_json), cfg.labels, _options(cfg).allow_overlap, payload)
    units = to_utf16(payload or "")
    return [{"id": f"span{i}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
             "value": {"start": units[s], "end": units[e], "text": payload[s:e], "labels": [label]}}
            for i, (s, e, label) in enumerate(spans)]


def _unit(value: Mapping[str, Any], key: str, where: str, points: list[int], text: str) -> int:
    unit = value.get(key)
    if not isinstance(unit, int) or isinstance(unit, bool):
        raise ValueError(f"{where}.{key}: expected an integer offset, got {unit!r}")
    if not 0 <= unit < len(points):
        raise ValueError(f"{where}.{key}: offset {unit} is outside the text ({len(points) - 1} UTF-16 code units)")
    point = points[unit]
    if point < 0:
        raise ValueError(f"{where}.{key}: UTF-16 offset {unit} falls inside the surrogate pair of "
                         f"{text[points[unit - 1]]!r}, splitting the character")
    return point


def from_label_studio(results: Sequence[Mapping[str, Any]], cfg: ProjectConfig, payload: str | None) -> str:
    """The `labels` results of one LS annotation (other controls ignored) as one answer (JSON form).

    Raises `ValueError` naming the result at fault (`result[3].value.end`): an offset that is not an
    integer, lies outside the text or inside a surrogate pair, region text that is not the item's text
    at those offsets, and every check of a submitted answer (types, order, overlaps).
    """
    if payload is None:
        raise ValueError("result: spans need the item's text, and this item has none")
    points = from_utf16(payload)
    spans: list[dict[str, Any]] = []
    origin: list[str] = []  # the result each span came from, to name it in errors
    for i, res in enumerate(results):
        if res.get("type") != "labels" or res.get("from_name") != FROM_NAME:
            continue
        where = f"result[{i}].value"
        value = res.get("value") or {}
        start, end = (_unit(value, k, where, points, payload) for k in ("start", "end"))
        shown = value.get("text")
        if shown is not None and shown != payload[start:end]:
            raise ValueError(f"{where}.text: {shown!r} is not the item's text at {start}-{end} "
                             f"({payload[start:end]!r}); the offsets do not fit this text")
        labels = value.get("labels")
        if not isinstance(labels, list) or not labels:
            raise ValueError(f"{where}.labels: expected a list of entity types, got {labels!r}")
        spans.extend({"start": start, "end": end, "label": label} for label in labels)
        origin.extend([f"result[{i}]"] * len(labels))
    try:
        return spans_json(check_spans(spans, cfg.labels, _options(cfg).allow_overlap, payload, field="spans"))
    except ValueError as e:
        raise ValueError(re.sub(r"spans\[(\d+)\](\.?)", lambda m: origin[int(m[1])] + (".value." if m[2] else ""),
                                str(e))) from None
