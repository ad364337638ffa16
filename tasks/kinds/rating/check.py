"""One rating answer as the app and Label Studio hand it over, checked before anything stores it.

Reason codes and fields are the storage facet's (collect, gold), so a refusal reads the same wherever
it happens: `answer.score` / `answer.scores.<criterion>` names the score at fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..protocol import AnswerError

__all__ = ["check_rating"]


def _score(v: Any, field: str, scale: Sequence[int]) -> int:
    lo, hi = int(scale[0]), int(scale[1])
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        raise AnswerError("not_an_integer", f"{field}: {v!r} is not an integer score on the scale {lo}-{hi}", field=field)
    if not lo <= v <= hi:
        raise AnswerError("score_outside_scale", f"{field}: {int(v)} is outside the scale {lo}-{hi}", field=field)
    return int(v)


def check_rating(raw: Any, scale: Sequence[int], criteria: Sequence[str], field: str = "answer") -> dict[str, Any]:
    """`raw` as the JSON form `{"score": n}` (no criteria) or `{"scores": {criterion: n}}` (every criterion,
    no other); raises `AnswerError` naming the field at fault."""
    if raw is None:
        raise AnswerError("missing_answer", f"{field}: the answer is missing", field=field)
    if not isinstance(raw, Mapping):
        raise AnswerError("not_a_rating", f"{field}: expected {{\"score\": n}} or {{\"scores\": {{criterion: n}}}}, "
                          f"got {type(raw).__name__}", field=field)
    if not criteria:
        if "score" not in raw:
            raise AnswerError("missing_field", f"{field}.score: the answer has no score", field=f"{field}.score")
        return {"score": _score(raw["score"], f"{field}.score", scale)}
    scores = raw.get("scores")
    if not isinstance(scores, Mapping):
        raise AnswerError("missing_field", f"{field}.scores: expected one score per criterion ({', '.join(criteria)})",
                          field=f"{field}.scores")
    extra = sorted(set(scores) - set(criteria))
    if extra:
        raise AnswerError("unknown_criterion", f"{field}.scores.{extra[0]}: not a criterion of this project "
                          f"({', '.join(criteria)})", field=f"{field}.scores.{extra[0]}")
    out = {}
    for c in criteria:
        if scores.get(c) is None:
            raise AnswerError("missing_criterion", f"{field}.scores.{c}: no score for this criterion", field=f"{field}.scores.{c}")
        out[c] = _score(scores[c], f"{field}.scores.{c}", scale)
    return {"scores": out}
