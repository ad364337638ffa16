"""Time segments in Label Studio: `<Labels>` on an `<Audio>` (plus a per-region `<TextArea>` when regions
carry text), and answers to and from LS results.

Label Studio keeps an audio region in seconds from the clip's start (`value.start`, `value.end`) with
its labels (`value.labels`), as annoflow does; a region's text is a separate `textarea` result that
shares the region's `id`. Label Studio lets regions overlap and may stretch one to the clip's end
whatever the config says, so results get the same checks as a submit from the app, and pushing a
pre-label checks it against the clip's duration (the item's metadata) where recorded.

The control is named "label", the region text "text" and the object "audio", the names the backend reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

from ..protocol import AnswerError
from ..spans.palette import type_colours
from .submission import check_segments

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FROM_NAME", "TEXT_NAME", "TO_NAME", "from_label_studio", "label_studio_config", "to_label_studio"]

FROM_NAME = "label"
TEXT_NAME = "text"
TO_NAME = "audio"


def label_studio_config(cfg: ProjectConfig) -> str:
    """The labels (with the app's colours) over the clip's waveform; a text box per region when asked."""
    labels = "".join(f"<Label value={quoteattr(label)} background={quoteattr(colour)}/>"
                     for label, colour in zip(cfg.labels, type_colours(cfg.labels)))
    text = (f'<TextArea name="{TEXT_NAME}" toName="{TO_NAME}" perRegion="true" editable="true" maxSubmissions="1" '
            'placeholder="What is said in the region"/>' if cfg.answer_options.with_text else "")
    return (f'<View><Labels name="{FROM_NAME}" toName="{TO_NAME}">{labels}</Labels>'
            f'<Audio name="{TO_NAME}" value="${TO_NAME}"/>{text}</View>')


def _duration(metadata: Mapping[str, Any] | None) -> float | None:
    v = (metadata or {}).get("duration_s")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else None


def to_label_studio(answer_json: str, cfg: ProjectConfig, payload: str | None = None,
                    metadata: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One answer (JSON form) as LS `labels` results in seconds, each region's text as a `textarea`
    result with the region's id."""
    opts = cfg.answer_options
    regions = check_segments(json.loads(answer_json), cfg.labels, _duration(metadata), allow_overlap=opts.allow_overlap,
                             with_text=opts.with_text)
    out: list[dict[str, Any]] = []
    for i, r in enumerate(regions):
        where = {"start": r["start_s"], "end": r["end_s"], "channel": 0}
        out.append({"id": f"seg{i}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
                    "value": {**where, "labels": [r["label"]]}})
        if "text" in r:
            out.append({"id": f"seg{i}", "from_name": TEXT_NAME, "to_name": TO_NAME, "type": "textarea",
                        "value": {**where, "text": [r["text"]]}})
    return out


def from_label_studio(results: Sequence[Mapping[str, Any]], cfg: ProjectConfig,
                      payload: str | None = None) -> list[dict[str, Any]]:
    """The `labels` results of one LS annotation (with their regions' `textarea` text; other controls
    ignored) as one answer (JSON form). A region with several labels is one region per label. A label
    outside the set is returned as annotated (collect quarantines it).

    Raises `AnswerError` naming the result at fault (`result[1].value.end`): no labels, times that
    are not numbers, a reversed region, overlaps the project does not allow, a text that is not text.
    """
    opts = cfg.answer_options
    texts: dict[Any, str] = {}
    for i, res in enumerate(results):
        if res.get("type") == "textarea" and res.get("from_name") == TEXT_NAME:
            t = (res.get("value") or {}).get("text")
            t = [t] if isinstance(t, str) else t
            if not isinstance(t, list) or not all(isinstance(x, str) for x in t):
                raise AnswerError("invalid_region", f"result[{i}].value.text: expected a list of strings, got {t!r}",
                                  field=f"result[{i}].value.text")
            texts[res.get("id")] = "\n".join(t)
    regions: list[dict[str, Any]] = []
    where_of: list[str] = []
    for i, res in enumerate(results):
        if res.get("type") != "labels" or res.get("from_name") != FROM_NAME:
            continue
        value = res.get("value") or {}
        labels = value.get("labels")
        if not isinstance(labels, list) or not labels:
            raise AnswerError("missing_field", f"result[{i}].value.labels: expected a list of labels, got {labels!r}",
                              field=f"result[{i}].value.labels")
        for label in labels:
            region = {"start_s": value.get("start"), "end_s": value.get("end"), "label": label}
            if opts.with_text and res.get("id") in texts:  # a text the project does not ask for is not kept
                region["text"] = texts[res.get("id")]
            regions.append(region)
            where_of.append(f"result[{i}]")
    try:
        return check_segments(regions, None, None, allow_overlap=opts.allow_overlap, with_text=opts.with_text,
                              field="region")
    except AnswerError as e:  # region[k].end_s -> result[i].value.end
        k = int(e.field.split("[")[1].split("]")[0]) if e.field and e.field.startswith("region[") else None
        if k is None:
            raise
        name = e.field.split(".", 1)[1] if "." in e.field else ""
        field = f"{where_of[k]}.value.{ {'start_s': 'start', 'end_s': 'end', 'label': 'labels'}.get(name, name)}"
        raise AnswerError(e.code, f"{field}: {str(e).split(': ', 1)[1]}", field=field) from None
