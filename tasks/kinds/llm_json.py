"""Finding the JSON object in a language model's answer: lenient about the wrapping, never about the content.

Models wrap answers in code fences and polite prose ("Sure! Here is the JSON: ..."). The kinds' parsers
(`PrelabelFacet.parse_llm_answer`) get the first JSON object that decodes, looked for in this order: the
whole text, the inside of each fenced block, then each `{` of the text scanned to its matching `}`. What the
object says is then checked strictly by the kind: an unknown label is an error, never a guess.
"""

from __future__ import annotations

import json
import re

from .protocol import AnswerError

__all__ = ["answer_object", "label_named"]

_FENCE = re.compile(r"```[A-Za-z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


def _object_in(text: str) -> dict | None:
    text = text.strip()
    try:
        got = json.loads(text)
    except ValueError:
        got = None
    if isinstance(got, dict):
        return got
    for k in [m.start() for m in re.finditer(r"\{", text)]:
        try:
            got, _ = _DECODER.raw_decode(text, k)
        except ValueError:
            continue
        if isinstance(got, dict):
            return got
    return None


def answer_object(text: str, key: str) -> dict:
    """The first JSON object of `text` holding `key` (or, failing that, the first object at all).

    Raises `AnswerError("unparseable_answer")` quoting the start of the text when it holds no JSON object.
    """
    candidates = [text, *(m.group(1) for m in _FENCE.finditer(text))]
    first = None
    for c in candidates:
        got = _object_in(c)
        if got is not None and key in got:
            return got
        first = first if first is not None else got
    if first is not None:
        return first
    shown = " ".join(text.split())[:120]
    raise AnswerError("unparseable_answer", f"the answer holds no JSON object: {shown!r}", key)


def label_named(value: object, labels: list[str], field: str) -> str:
    """`value` as one of `labels`: exact, else the one label equal to it ignoring case and outer spaces."""
    if not isinstance(value, str):
        raise AnswerError("invalid_answer", f"{field} is {value!r}, expected a label (a string)", field)
    if value in labels:
        return value
    folded = [lab for lab in labels if lab.casefold() == value.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    raise AnswerError("unknown_label", f"{field} {value!r} is not one of {labels}", field)
