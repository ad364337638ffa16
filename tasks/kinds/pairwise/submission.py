"""The check of one pairwise answer as it arrives (the app's submit, a pushed pre-label, a Label Studio result)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..protocol import AnswerError
from .comparison import comparison_problem

__all__ = ["check_pairwise"]


def check_pairwise(raw: Any, options: Mapping[str, Any], payload: str | None = None) -> dict[str, Any]:
    """`raw` as the answer's JSON form (`{"choice", "swapped"[, "reason"]}`), or `AnswerError` naming the field.

    `options` is the queue's page config (`allow_ties`, `require_reason`, `max_reason_chars`); a `payload`
    whose candidates are missing or identical is refused, since no answer to it means anything."""
    if payload is not None and (problem := comparison_problem(payload)) is not None:
        raise AnswerError(problem[0], f"item: {problem[1]}", field="item")
    if not isinstance(raw, dict):
        raise AnswerError("invalid_answer", 'answer: expected {"choice": "A"|"B"|"tie", "swapped": true|false}',
                          field="answer")
    choice = raw.get("choice")
    if choice not in ("A", "B", "tie"):
        raise AnswerError("unknown_choice", f'answer.choice: {choice!r} is not one of "A", "B", "tie"', field="answer.choice")
    if choice == "tie" and not options.get("allow_ties", True):
        raise AnswerError("tie_not_allowed", "answer.choice: this project does not allow ties", field="answer.choice")
    swapped = raw.get("swapped", False)
    if not isinstance(swapped, bool):
        raise AnswerError("not_a_boolean", f"answer.swapped: {swapped!r} is not true or false", field="answer.swapped")
    reason = raw.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise AnswerError("reason_not_text", "answer.reason: not text", field="answer.reason")
    reason = (reason or "").strip()
    if options.get("require_reason") and not reason:
        raise AnswerError("missing_reason", "answer.reason: this project asks for a reason with every answer",
                          field="answer.reason")
    if len(reason) > int(options.get("max_reason_chars", 2_000)):
        raise AnswerError("reason_too_long", f"answer.reason: {len(reason)} characters, more than "
                          f"{options.get('max_reason_chars', 2_000)}", field="answer.reason")
    out: dict[str, Any] = {"choice": choice, "swapped": swapped}
    if reason:
        out["reason"] = reason
    return out
