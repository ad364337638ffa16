"""Pairwise in Label Studio: the `Pairwise` control over two `Text` objects, and answers to and from its results.

Label Studio shows the candidates in the item's own order (`a` left, `b` right): its answers come back
with `swapped` false, and `selected` "left" / "right" reads as A / B. A tie is a `Choices` result
("tie", when the project allows ties) and the reason a `TextArea`. The task data keys are the
comparison's fields (`prompt`, `a`, `b`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..protocol import AnswerError
from .storage import options_of
from .submission import check_pairwise

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FROM_NAME", "REASON_NAME", "TIE_NAME", "from_label_studio", "label_studio_config", "to_label_studio"]

FROM_NAME = "pairwise"
TIE_NAME = "tie"
REASON_NAME = "reason"


def label_studio_config(cfg: ProjectConfig) -> str:
    """The prompt above the two candidates side by side; the Pairwise control; a tie choice and a reason box."""
    opts = options_of(cfg)
    tie = (f'<Choices name="{TIE_NAME}" toName="prompt" choice="single"><Choice value="tie"/></Choices>'
           if opts.allow_ties else "")
    required = ' required="true"' if opts.require_reason else ""
    return ('<View><Header value="Prompt"/><Text name="prompt" value="$prompt"/>'
            '<View style="display: flex;"><View style="flex: 50%"><Header value="A"/><Text name="a" value="$a"/></View>'
            '<View style="flex: 50%"><Header value="B"/><Text name="b" value="$b"/></View></View>'
            f'<Pairwise name="{FROM_NAME}" toName="a,b"/>{tie}'
            f'<TextArea name="{REASON_NAME}" toName="prompt" maxSubmissions="1"{required} placeholder="Why (optional)"/></View>')


def _preferred(answer: Mapping[str, Any]) -> str:
    """The answer in the item's terms: "a", "b" or "tie"."""
    if answer["choice"] == "tie":
        return "tie"
    return "a" if (answer["choice"] == "A") != bool(answer.get("swapped")) else "b"


def to_label_studio(answer_json: str, cfg: ProjectConfig, payload: str | None = None,
                    metadata: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One answer as LS results in the item's order (LS shows `a` left): `pairwise` left/right or the tie choice."""
    opts = options_of(cfg).model_dump()
    answer = check_pairwise(json.loads(answer_json), opts)
    side = _preferred(answer)
    if side == "tie":
        out = [{"from_name": TIE_NAME, "to_name": "prompt", "type": "choices", "value": {"choices": ["tie"]}}]
    else:
        out = [{"from_name": FROM_NAME, "to_name": "a,b", "type": "pairwise",
                "value": {"selected": "left" if side == "a" else "right"}}]
    if answer.get("reason"):
        out.append({"from_name": REASON_NAME, "to_name": "prompt", "type": "textarea", "value": {"text": [answer["reason"]]}})
    return out


def from_label_studio(results: Sequence[Mapping[str, Any]], cfg: ProjectConfig,
                      payload: str | None = None) -> dict[str, Any]:
    """The results of one LS annotation as one answer (`swapped` false: LS shows the item's order).

    Raises `AnswerError` naming the result at fault: a `selected` that is neither left nor right, no
    choice at all, or both a side and a tie."""
    choice: str | None = None
    reason = None
    for i, res in enumerate(results):
        value = res.get("value") or {}
        if res.get("type") == "pairwise" and res.get("from_name") == FROM_NAME:
            sel = value.get("selected")
            if sel not in ("left", "right"):
                raise AnswerError("invalid_answer", f"result[{i}].value.selected: {sel!r} is not 'left' or 'right'",
                                  field=f"result[{i}].value.selected")
            new = "A" if sel == "left" else "B"
        elif res.get("type") == "choices" and res.get("from_name") == TIE_NAME and value.get("choices"):
            new = "tie"
        elif res.get("type") == "textarea" and res.get("from_name") == REASON_NAME:
            text = value.get("text")
            reason = "\n".join(text) if isinstance(text, list) else text
            continue
        else:
            continue
        if choice is not None and choice != new:
            raise AnswerError("invalid_answer", f"result[{i}]: the annotation picks both {choice!r} and {new!r}",
                              field=f"result[{i}]")
        choice = new
    if choice is None:
        raise AnswerError("missing_answer", "result: no pairwise choice (left, right or tie) in the annotation",
                          field="result")
    out: dict[str, Any] = {"choice": choice, "swapped": False}
    if isinstance(reason, str) and reason.strip():
        out["reason"] = reason.strip()
    return out
