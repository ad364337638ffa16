"""Spans in Label Studio: the `<Labels>` + `<Text>` config, and answers to and from LS `result` entries.

Offsets: Label Studio 1.23.2 reads and writes `value.start` / `value.end` in Unicode code points, as
annoflow does, not in the browser's UTF-16 code units (older versions did, and were off by one after
every emoji). tests/kinds/spans/test_queue_labelstudio.py checks this in Chromium on Label Studio's own
page: regions drawn from our offsets and a region an annotator marks after three emoji. Both directions
still carry the item's text: each region's `value.text` is written, and checked on the way back, so
offsets counted any other way are refused rather than stored shifted.

Label Studio lets regions overlap whatever the config says, so results get the same checks as a submit
from the app (types, offsets, overlaps). The control is named "label" and the text "text", the names
the Label Studio backend reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

from ..protocol import AnswerError
from .palette import type_colours
from .validate import check_spans

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


def to_label_studio(answer_json: str, cfg: ProjectConfig, payload: str | None = None,
                    metadata: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One answer (JSON form) as LS `labels` results, one region per span, with the text it covers."""
    spans = check_spans(json.loads(answer_json), cfg.labels, _options(cfg).allow_overlap, payload)
    return [{"id": f"span{i}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
             "value": {"start": s, "end": e, "text": payload[s:e], "labels": [label]}}
            for i, (s, e, label) in enumerate(spans)]


def from_label_studio(results: Sequence[Mapping[str, Any]], cfg: ProjectConfig,
                      payload: str | None = None) -> list[dict[str, Any]]:
    """The `labels` results of one LS annotation (other controls ignored) as one answer (JSON form: a
    sorted list of `{start, end, label}`).

    Raises `AnswerError` with the reason code and the result at fault (`result[3].value.end`): region
    text that is not the item's text at the region's offsets, an empty type list, and every check of a
    submitted answer (integer offsets inside the text, start < end, known types, overlaps only where
    allowed).
    """
    if payload is None:
        raise AnswerError("missing_text", "result: spans need the item's text, and this item has none", field="result")
    spans: list[Any] = []
    origin: list[str] = []  # the result each span came from, to name it in errors
    for i, res in enumerate(results):
        if res.get("type") != "labels" or res.get("from_name") != FROM_NAME:
            continue
        value = res.get("value") or {}
        start, end, shown = value.get("start"), value.get("end"), value.get("text")
        if shown is not None and isinstance(start, int) and isinstance(end, int) and shown != payload[start:end]:
            raise AnswerError("region_text_mismatch", f"result[{i}].value.text: {shown!r} is not the item's text at "
                              f"{start}-{end} ({payload[start:end]!r}); the offsets were not counted in characters "
                              "of this text", field=f"result[{i}].value.text")
        labels = value.get("labels")
        if not isinstance(labels, list) or not labels:
            raise AnswerError("missing_field", f"result[{i}].value.labels: expected a list of entity types, "
                              f"got {labels!r}", field=f"result[{i}].value.labels")
        spans.extend({"start": start, "end": end, "label": label} for label in labels)
        origin.extend([f"result[{i}]"] * len(labels))
    try:
        checked = check_spans(spans, cfg.labels, _options(cfg).allow_overlap, payload, field="spans")
        return [{"start": s, "end": e, "label": label} for s, e, label in checked]
    except AnswerError as e:
        def named(text: str) -> str:  # spans[k].end -> the LS result it came from, result[i].value.end
            return re.sub(r"spans\[(\d+)\](\.?)", lambda m: origin[int(m[1])] + (".value." if m[2] else ""), text)
        raise AnswerError(e.code, named(str(e)), field=named(e.field or "spans")) from None
