"""The `answer` field of a submission to a structured kind (a list of parts, sent as JSON or as its
text), read the same way by every such kind's queue facet before it checks the parts themselves."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .protocol import AnswerError

__all__ = ["submitted_answer"]


def submitted_answer(body: Mapping[str, Any], parts: str, missing: str) -> Any:
    """`body["answer"]`, decoded if it came as JSON text. `parts` says what the list holds (for the
    "not valid JSON" message), `missing` what the project expects instead of nothing."""
    raw = body.get("answer")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise AnswerError("malformed_json", f"answer: not valid JSON; expected a list of {parts}",
                              field="answer") from None
    if raw is None:
        raise AnswerError("missing_answer", f"answer: missing; {missing}", field="answer")
    return raw
