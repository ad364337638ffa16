"""Choices: the queue facet (see tasks/kinds/protocol.py): the page's buttons, submits, Label Studio `<Choices>`."""

from __future__ import annotations

import reprlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

from ..protocol import AnswerError

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["MULTI", "SINGLE"]

_SHOWN = reprlib.Repr()  # a 60 kB label must not come back whole in the error message
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlist = 8
_TAGS = {"text": "Text", "image": "Image", "audio": "Audio"}
FROM_NAME = "label"


class _ChoicesQueue:
    widget = Path(__file__).with_name("widget.js")

    def __init__(self, multi: bool) -> None:
        self.multi = multi

    def page_config(self, cfg: ProjectConfig) -> dict[str, Any]:
        return {}  # the widget registers one factory per kind: nothing beyond the labels to say

    def _labels_of(self, body: Mapping[str, Any]) -> list[str]:
        """The chosen labels from `answer` or the older `label` / `labels` fields, as a list."""
        value = body.get("answer")
        if value is None:
            value = body.get("labels") if self.multi else body.get("label")
        if value is None:  # each kind also takes the other's field when it says the same thing
            value = body.get("label") if self.multi else body.get("labels")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value) \
                or (not self.multi and len(value) != 1):
            raise AnswerError("invalid_labels", "multi-label projects take 'labels' (or 'answer'): a list of label strings"
                              if self.multi else "single-label projects take 'label' (or 'answer'): one label string")
        return list(dict.fromkeys(value))

    def parse_submission(self, body: Mapping[str, Any], labels: Sequence[str], options: Mapping[str, Any],
                         payload: str | None) -> Any:
        chosen = self._labels_of(body)
        for x in chosen:
            if x not in labels:  # a handful of labels: a scan is as fast as building a set
                raise AnswerError("unknown_label", f"label {_SHOWN.repr(x)} is not in the project's labels "
                                                   f"{_SHOWN.repr(list(labels))}")
        return chosen if self.multi else chosen[0]

    def label_studio_config(self, cfg: ProjectConfig) -> str:
        field = cfg.data_kind.value
        choices = "".join(f"<Choice value={quoteattr(label)}/>" for label in cfg.labels)
        return (f'<View><{_TAGS[field]} name="{field}" value="${field}"/>'
                f'<Choices name="{FROM_NAME}" toName="{field}" choice="{"multiple" if self.multi else "single"}"'
                f' showInline="true">{choices}</Choices></View>')

    def to_label_studio(self, answer_json: str, cfg: ProjectConfig, payload: str | None = None,
                        metadata: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        import orjson

        value = orjson.loads(answer_json)
        chosen = [value] if isinstance(value, str) else list(value or [])
        if not chosen:
            return []
        return [{"from_name": FROM_NAME, "to_name": cfg.data_kind.value, "type": "choices",
                 "value": {"choices": chosen}}]

    def from_label_studio(self, results: Sequence[Mapping[str, Any]], cfg: ProjectConfig,
                          payload: str | None = None) -> Any:
        chosen: list[str] = []
        for res in results:
            if res.get("type") == "choices" and res.get("from_name") == FROM_NAME:
                chosen.extend((res.get("value") or {}).get("choices") or [])
        if self.multi:
            return chosen
        return chosen[0] if len(chosen) == 1 else None


SINGLE = _ChoicesQueue(multi=False)
MULTI = _ChoicesQueue(multi=True)
