"""Pairwise in Label Studio: the `Pairwise` control over two panes, and answers to and from its results.

Each task shows the candidates in an order drawn from its assignment id (a hash: the same task shows the
same order whenever it is pushed), as the app's view does, so position bias can be measured in Label
Studio too. The task data holds the comparison's fields (`prompt`, `a`, `b`, `system_a`, `system_b`, in
the item's order), the panes as shown (`left`, `right`: HTML, a text candidate escaped, a media candidate
an `<img>` or `<audio>` served by Label Studio's local-files storage or a web address) and `swapped` (true: `b` is on the left).
At the pull `selected` "left" / "right" reads as A / B with the task's `swapped`, so the answer says which
candidate was preferred and where it sat. A tie is a `Choices` result ("tie", when the project allows
ties) and the reason a `TextArea`.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tasks.errors import ConfigError

from ..protocol import AnswerError
from .candidates import media_kind
from .comparison import FIELDS, parse_comparison
from .storage import options_of
from .submission import check_pairwise

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FROM_NAME", "REASON_NAME", "TIE_NAME", "from_label_studio", "label_studio_config", "shown_swapped", "task_data",
           "to_label_studio"]

FROM_NAME = "pairwise"
TIE_NAME = "tie"
REASON_NAME = "reason"


def label_studio_config(cfg: ProjectConfig) -> str:
    """The prompt above the two panes side by side (HTML the task data holds: text or media); the Pairwise
    control; a tie choice and a reason box."""
    opts = options_of(cfg)
    tie = (f'<Choices name="{TIE_NAME}" toName="prompt" choice="single"><Choice value="tie"/></Choices>'
           if opts.allow_ties else "")
    required = ' required="true"' if opts.require_reason else ""
    return ('<View><Header value="Prompt"/><Text name="prompt" value="$prompt"/>'
            '<View style="display: flex; gap: 1em;"><View style="flex: 50%"><Header value="A"/>'
            '<HyperText name="left" value="$left" inline="true"/></View>'
            '<View style="flex: 50%"><Header value="B"/><HyperText name="right" value="$right" inline="true"/></View></View>'
            f'<Pairwise name="{FROM_NAME}" toName="left,right"/>{tie}'
            f'<TextArea name="{REASON_NAME}" toName="prompt" maxSubmissions="1"{required} placeholder="Why (optional)"/></View>')


def shown_swapped(assignment_id: str) -> bool:
    """Whether the task of this assignment shows candidate `b` on the left: one bit of a hash of the id."""
    return hashlib.sha256(assignment_id.encode()).digest()[0] & 1 == 1


def _pane(candidate: Any, media: Callable[[str], str], assignment_id: str) -> str:
    """A candidate as the HTML of its pane (class `af-pane`): escaped text (line breaks kept), or the image /
    audio player. Label Studio's HTML sanitizer drops `data:` sources, so a local media file must be served
    by Label Studio's local-files storage (`queue.local_files_root`); inline data is refused, naming it."""
    text = candidate if isinstance(candidate, str) else ""
    kind = media_kind(text)
    if kind is None:
        return f'<div class="af-pane" style="white-space: pre-wrap">{html.escape(text)}</div>'
    loadable = media(text.strip())
    if loadable.startswith("data:"):
        raise ConfigError(f"assignment {assignment_id!r}: the media candidate {text.strip()!r} is outside "
                          "queue.local_files_root: Label Studio shows a comparison's media only from its local-files "
                          "storage or a web address; put the files under Label Studio's LOCAL_FILES_DOCUMENT_ROOT and "
                          "set queue.local_files_root to it")
    src = html.escape(loadable, quote=True)
    if kind == "image":
        return f'<div class="af-pane"><img src="{src}" alt="candidate" style="max-width: 100%; max-height: 60vh"/></div>'
    return f'<div class="af-pane"><audio controls="controls" preload="metadata" src="{src}" style="width: 100%"></audio></div>'


def task_data(payload: str | None, assignment_id: str, media: Callable[[str], str]) -> dict[str, Any]:
    """LABEL STUDIO push: the comparison's fields, the two panes in this task's order and `swapped`.

    `media` turns a media candidate's URI into one Label Studio can load (the backend's: a web address as it is,
    a file under its local-files storage as that storage's URL, another file as inline data, which is refused)."""
    c = parse_comparison(payload) or {}
    swapped = shown_swapped(assignment_id)
    left, right = (c.get("b"), c.get("a")) if swapped else (c.get("a"), c.get("b"))
    return {**{k: c.get(k) for k in FIELDS}, "left": _pane(left, media, assignment_id),
            "right": _pane(right, media, assignment_id), "swapped": swapped}


def _preferred(answer: Mapping[str, Any]) -> str:
    """The answer in the item's terms: "a", "b" or "tie"."""
    if answer["choice"] == "tie":
        return "tie"
    return "a" if (answer["choice"] == "A") != bool(answer.get("swapped")) else "b"


def to_label_studio(answer_json: str, cfg: ProjectConfig, payload: str | None = None,
                    metadata: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One answer as LS results in the task's order (`data["swapped"]`; without data the item's order, `a`
    left): `pairwise` left/right or the tie choice."""
    opts = options_of(cfg).model_dump()
    answer = check_pairwise(json.loads(answer_json), opts)
    side = _preferred(answer)
    if side == "tie":
        out = [{"from_name": TIE_NAME, "to_name": "prompt", "type": "choices", "value": {"choices": ["tie"]}}]
    else:
        on_left = (side == "a") != bool((data or {}).get("swapped"))
        out = [{"from_name": FROM_NAME, "to_name": "left,right", "type": "pairwise",
                "value": {"selected": "left" if on_left else "right"}}]
    if answer.get("reason"):
        out.append({"from_name": REASON_NAME, "to_name": "prompt", "type": "textarea", "value": {"text": [answer["reason"]]}})
    return out


def from_label_studio(results: Sequence[Mapping[str, Any]], cfg: ProjectConfig,
                      payload: str | None = None, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The results of one LS annotation as one answer: left is A, right B, `swapped` the task's (`data`; false
    without it, the item's order).

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
    out: dict[str, Any] = {"choice": choice, "swapped": (data or {}).get("swapped") is True}
    if isinstance(reason, str) and reason.strip():
        out["reason"] = reason.strip()
    return out
