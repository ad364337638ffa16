"""A language model as a judge of comparisons: what it is shown, what it is asked, how its answer is read.

Position bias is a known trait of LLM judges (many prefer the response shown first), so a model is
treated like a person: each item is shown in an order drawn for that item and that source (`swapped`: the
item's candidate `b` shown as "Response A"), from a hash, so a re-run asks the very same question (and
pays nothing twice) and about half the items are swapped. The drawn order is stored in the vote as a
person's answer stores it, and consensus (`preference.PreferenceModel`) learns the judge's reliability and
position bias from it. The systems' names are never shown.

The answer is `{"choice": "A"|"B"|"tie", "reason": "..."}` in the shown order; ties only where the project
allows them. Lenient about the wrapping (`tasks.kinds.llm_json`) and the letter's case, strict about the
rest: an unknown choice, a tie the project does not allow, a missing reason the project requires are
refused naming the field. A reason longer than `max_reason_chars` is cut there (it explains, it is not
the answer).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from ..llm_json import answer_object
from ..protocol import AnswerError
from .comparison import comparison_problem, parse_comparison
from .storage import canonical, options_of

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["PROMPT", "VIEW_SAMPLE", "instructions", "parse_answer", "render", "shown_swapped", "view"]

PROMPT = "{instructions}\n\nThe comparison:\n<text>\n{text}\n</text>"
"""The default user message of a judge (an entry without `prompt`): no label set, which means nothing to a comparison."""

VIEW_SAMPLE = json.dumps({"prompt": "Sample question?", "a": "Sample answer one.", "b": "Sample answer two, longer.",
                          "system_a": "sample-x", "system_b": "sample-y"})
"""A fixed comparison the LLM stage renders through `view` into the judge's version (`llm_client.view_digest`)."""


def shown_swapped(item_id: str, source_id: str) -> bool:
    """Whether `source_id` is shown item `item_id` with candidate `b` first: a fixed, even draw per (item, source)."""
    return hashlib.sha256(f"{source_id}\x1f{item_id}".encode()).digest()[0] & 1 == 1


def render(prompt: str, first: str, second: str) -> str:
    """The comparison as the model reads it: the prompt, then the two responses in the shown order, each
    between tags so a response holding headings or lists cannot be mistaken for the next part."""
    return f"<prompt>\n{prompt}\n</prompt>\n\n<response_a>\n{first}\n</response_a>\n\n<response_b>\n{second}\n</response_b>"


def instructions(cfg: ProjectConfig) -> str:
    """What the judge is asked and the JSON form of its answer (ties and reasons as the project allows)."""
    o = options_of(cfg)
    form = '{"choice": "A" | "B" | "tie", "reason": "<one sentence>"}' if o.allow_ties else \
        '{"choice": "A" | "B", "reason": "<one sentence>"}'
    tie = ('Answer "tie" only when neither response is better.' if o.allow_ties
           else "Ties are not allowed: pick the better response even when they are close.")
    reason = "The reason is required." if o.require_reason else "The reason is optional."
    return ("Compare two responses to the prompt below and judge which one answers it better (correct, helpful, "
            "clear). The order in which they are shown says nothing about their quality. "
            f'"A" means Response A (<response_a>), "B" means Response B (<response_b>). {tie} {reason} '
            f"Answer with a JSON object and nothing else: {form}")


def view(item_id: str, payload: str | None, source_id: str, cfg: ProjectConfig) -> tuple[str, str]:
    """(the comparison rendered in the order drawn for this item and source, the context `parse_answer` reads:
    `{"swapped": bool}`); `AnswerError` naming the item's fault when it is no comparison."""
    problem = comparison_problem(payload)
    if problem is not None:
        raise AnswerError(problem[0], f"the item cannot be judged: {problem[1]}", "item")
    c = parse_comparison(payload) or {}
    swapped = shown_swapped(item_id, source_id)
    first, second = (c["b"], c["a"]) if swapped else (c["a"], c["b"])
    return render(str(c.get("prompt") or ""), first, second), json.dumps({"swapped": swapped})


def parse_answer(text: str, context: str | None, cfg: ProjectConfig) -> str:
    """The judge's reply as a stored pairwise answer (`storage.canonical`), with the order it was shown
    (`context` from `view`); raises `AnswerError` naming `choice` or `reason`."""
    o = options_of(cfg)
    obj = answer_object(text, "choice")
    if "choice" not in obj:
        raise AnswerError("missing_field", f"the answer's JSON has no 'choice' (keys: {sorted(obj)})", "choice")
    raw = obj["choice"]
    choice = {"a": "A", "b": "B", "tie": "tie"}.get(raw.strip().casefold()) if isinstance(raw, str) else None
    if choice is None:
        raise AnswerError("unknown_choice", f'choice {raw!r} is not one of "A", "B"' + (', "tie"' if o.allow_ties else ""), "choice")
    if choice == "tie" and not o.allow_ties:
        raise AnswerError("tie_not_allowed", 'choice "tie": this project does not allow ties (the judge must answer A or B)', "choice")
    reason = obj.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise AnswerError("reason_not_text", f"reason {reason!r:.60} is not text", "reason")
    reason = (reason or "").strip()[: o.max_reason_chars]
    if o.require_reason and not reason:
        raise AnswerError("missing_reason", "this project asks for a reason with every answer and the reply has none", "reason")
    try:
        swapped = json.loads(context or "{}")["swapped"]
    except (ValueError, KeyError, TypeError):
        raise AnswerError("no_shown_order", "the order the candidates were shown in is unknown", "swapped") from None
    return canonical({"choice": choice, "swapped": bool(swapped), "reason": reason})
