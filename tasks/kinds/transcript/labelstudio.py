"""Transcripts in Label Studio: a `<TextArea>` under the item (`<Audio>`, `<Image>` or `<Text>`), and
answers to and from LS `textarea` results.

A TextArea result keeps what was typed as a list of strings (`value.text`), one per time the person
pressed "Add"; with `maxSubmissions="1"` and `editable="true"` there is one, edited in place. A list
of several is joined with newlines, so nothing typed is dropped. The machine draft is pushed as that
one string, so the annotator edits the draft instead of typing from nothing. Word timings stay in
annoflow (Label Studio has no place for them).

The control is named "label" and the object after the data kind, the names the backend reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..protocol import AnswerError
from .storage import check_transcript

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FROM_NAME", "RESULT_TYPE", "from_label_studio", "label_studio_config", "to_label_studio"]

FROM_NAME = "label"
RESULT_TYPE = "textarea"
_OBJECTS = {"audio": '<Audio name="audio" value="$audio"/>', "image": '<Image name="image" value="$image"/>',
            "text": '<Text name="text" value="$text"/>'}


def _object(cfg: ProjectConfig) -> str:
    return str(getattr(cfg.data_kind, "value", cfg.data_kind))


def _anything(cfg: ProjectConfig) -> dict[str, Any]:
    """The project's limits, but an empty transcript passes: collect decides whether it is allowed."""
    return {"allow_empty": True, "max_chars": cfg.answer_options.max_chars}


def label_studio_config(cfg: ProjectConfig) -> str:
    """The item, then one editable text box for the whole transcript."""
    obj = _object(cfg)
    return (f'<View>{_OBJECTS[obj]}<Header value="Transcript"/>'
            f'<TextArea name="{FROM_NAME}" toName="{obj}" editable="true" maxSubmissions="1" rows="4" '
            f'transcription="true" placeholder="Type what you hear"/></View>')


def to_label_studio(answer_json: str, cfg: ProjectConfig, payload: str | None = None,
                    metadata: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One transcript (JSON form) as one `textarea` result holding its text; nothing for an empty one."""
    answer = check_transcript(json.loads(answer_json), _anything(cfg))
    if not answer["text"]:
        return []
    return [{"id": "transcript", "from_name": FROM_NAME, "to_name": _object(cfg), "type": RESULT_TYPE,
             "value": {"text": [answer["text"]]}}]


def from_label_studio(results: Sequence[Mapping[str, Any]], cfg: ProjectConfig,
                      payload: str | None = None) -> dict[str, Any]:
    """The `textarea` results of one LS annotation (other controls ignored) as one transcript
    (`{"text": ...}`); no result is the empty transcript, which collect refuses where not allowed.

    Raises `AnswerError` naming the result at fault (`result[0].value.text`) when its text is not a
    list of strings or holds control characters.
    """
    parts: list[str] = []
    for i, res in enumerate(results):
        if res.get("type") != RESULT_TYPE or res.get("from_name") != FROM_NAME:
            continue
        where = f"result[{i}].value.text"
        texts = (res.get("value") or {}).get("text")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise AnswerError("invalid_answer", f"{where}: expected a list of strings, got {texts!r}", field=where)
        parts += texts
    try:
        return check_transcript({"text": "\n".join(parts).strip()}, _anything(cfg), field="result")
    except AnswerError as e:
        raise AnswerError(e.code, str(e).replace("result.text", "result[].value.text"),
                          field="result[].value.text") from None
