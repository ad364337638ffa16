"""Ratings in Label Studio: one `<Rating>` per criterion (one for a single score) under the item.

Label Studio's stars run from 1 to `maxRating`; a scale that does not start at 1 is shifted (score
`lo + k - 1` is k stars), so any integer scale fits. The anchors are shown as a header above the stars.
The controls are named "label" (single score) or "label_<criterion>"; results of each go both ways.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from ..protocol import AnswerError
from .check import check_rating
from .storage import options_of

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FROM_NAME", "control_name", "from_label_studio", "label_studio_config", "to_label_studio"]

FROM_NAME = "label"
_OBJECTS = {"audio": '<Audio name="audio" value="$audio"/>', "image": '<Image name="image" value="$image"/>',
            "text": '<Text name="text" value="$text"/>'}


def control_name(criterion: str | None) -> str:
    return FROM_NAME if criterion is None else f"{FROM_NAME}_{criterion}"


def _object(cfg: ProjectConfig) -> str:
    return str(getattr(cfg.data_kind, "value", cfg.data_kind))


def label_studio_config(cfg: ProjectConfig) -> str:
    """The item, the anchors, then the stars of each criterion."""
    opts = options_of(cfg)
    lo, hi = opts.scale
    obj = _object(cfg)
    anchors = "; ".join(f"{k} = {v}" for k, v in sorted(opts.anchors.items(), key=lambda kv: int(kv[0])))
    head = f'<Header value="{escape(f"Scale {lo}-{hi}" + (f": {anchors}" if anchors else ""), quote=True)}"/>'
    rows = "".join((f'<Header value="{escape(c, quote=True)}"/>' if c else "")
                   + f'<Rating name="{escape(control_name(c), quote=True)}" toName="{obj}" maxRating="{hi - lo + 1}" required="true"/>'
                   for c in (opts.criteria or [None]))
    return f"<View>{_OBJECTS[obj]}{head}{rows}</View>"


def to_label_studio(answer_json: str, cfg: ProjectConfig, payload: str | None = None,
                    metadata: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One rating (JSON form) as one `rating` result per criterion."""
    opts = options_of(cfg)
    answer = check_rating(json.loads(answer_json), opts.scale, opts.criteria)
    lo = opts.scale[0]
    scores = answer.get("scores") or {None: answer.get("score")}
    return [{"id": f"rating_{c or 'score'}", "from_name": control_name(c), "to_name": _object(cfg), "type": "rating",
             "value": {"rating": int(v) - lo + 1}} for c, v in scores.items()]


def from_label_studio(results: Sequence[Mapping[str, Any]], cfg: ProjectConfig, payload: str | None = None) -> Any:
    """`rating` results back to the JSON form. Stars outside the scale come back as scores outside it
    (collect refuses them, naming the criterion); a result that is not a rating at all raises."""
    opts = options_of(cfg)
    lo = opts.scale[0]
    by_name = {control_name(c): c for c in (opts.criteria or [None])}
    got: dict[str | None, Any] = {}
    for i, r in enumerate(results):
        if r.get("type") != "rating":
            continue
        name = r.get("from_name")
        if name not in by_name:
            raise AnswerError("unknown_criterion", f"result[{i}].from_name: {name!r} is not a rating of this project",
                              field=f"result[{i}].from_name")
        stars = (r.get("value") or {}).get("rating")
        if isinstance(stars, bool) or not isinstance(stars, (int, float)):
            raise AnswerError("not_an_integer", f"result[{i}].value.rating: {stars!r} is not a number of stars",
                              field=f"result[{i}].value.rating")
        got[by_name[name]] = int(stars) + lo - 1
    if not opts.criteria:
        return {"score": got.get(None)}
    return {"scores": {c: got.get(c) for c in opts.criteria}}
