"""A language model as a rater: what it is asked (the scale, its anchors, the criteria) and how its answer is read.

The model rates the item's text on the project's scale, once or once per criterion, and its answer is a
rating like a person's (`{"score": n}` / `{"scores": {criterion: n}}`), so consensus (`RatingModel`)
learns its leniency, range use and noise, gold scores it and the ban rule can ban it, as for any rater.

Lenient about the wrapping (`tasks.kinds.llm_json`; a bare number counts as `{"score": n}`; a score written
as a string of digits is that integer), strict about the rating (`check.check_rating`): a score outside the
scale or not an integer, a missing or unknown criterion are refused naming the field (`score`,
`scores.<criterion>`), never clipped.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..llm_json import answer_object
from ..protocol import AnswerError
from .check import check_rating
from .storage import canonical, options_of

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["PROMPT", "instructions", "parse_answer"]

PROMPT = "{instructions}\n\nThe text to rate:\n<text>\n{text}\n</text>"
"""The default user message of a rater (an entry without `prompt`): the scale is in the instructions, no label set."""

_INT = re.compile(r"-?\d+")


def instructions(cfg: ProjectConfig) -> str:
    """The scale with what its scores mean, the criteria, and the JSON form of the answer."""
    o = options_of(cfg)
    lo, hi = o.scale
    anchors = "".join(f"\n{k}: {o.anchors[k]}" for k in sorted(o.anchors, key=int))
    lines = [f"Rate the text on a scale from {lo} to {hi} (whole numbers only; {lo} is the worst, {hi} the best)."]
    if anchors:
        lines.append("What the scores mean:" + anchors)
    if o.criteria:
        form = "{" + '"scores": {' + ", ".join(f'"{c}": <{lo}-{hi}>' for c in o.criteria) + "}}"
        lines.append(f"Rate it once for each criterion: {', '.join(o.criteria)}.")
    else:
        form = f'{{"score": <{lo}-{hi}>}}'
    lines.append(f"Answer with a JSON object and nothing else: {form}")
    return "\n".join(lines)


def _number(v: Any) -> Any:
    return int(v.strip()) if isinstance(v, str) and _INT.fullmatch(v.strip()) else v


def parse_answer(text: str, payload: str | None, cfg: ProjectConfig) -> str:
    """The rater's reply as a stored rating (`storage.canonical`); `AnswerError` naming `score` or `scores.<c>`."""
    o = options_of(cfg)
    key = "scores" if o.criteria else "score"
    try:
        obj = answer_object(text, key)
    except AnswerError:
        bare = text.strip().strip("\"'`").rstrip(".").strip()
        if o.criteria or not _INT.fullmatch(bare):
            raise
        obj = {"score": bare}
    if "score" in obj:
        obj["score"] = _number(obj["score"])
    if isinstance(obj.get("scores"), dict):
        obj["scores"] = {k: _number(v) for k, v in obj["scores"].items()}
    try:
        return canonical(check_rating(obj, o.scale, o.criteria, field="answer"))
    except AnswerError as e:  # the model's JSON has no "answer" level: name its own fields
        field = (e.field or "answer").removeprefix("answer.")
        raise AnswerError(e.code, str(e).partition(": ")[2] or str(e), field) from None  # the stage prefixes the field
