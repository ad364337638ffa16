"""Ratings: the queue facet (see tasks/kinds/protocol.py): the app's rating scale and Label Studio.

The scale widget (`widget.js`) shows one row of score buttons per criterion with each score's anchor;
number keys pick a score in the focused row (↑/↓ or Tab move between rows), Enter submits once every
row has a score. The server checks every submitted answer again (`check.check_rating`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..submitted_answer import submitted_answer
from . import labelstudio
from .check import check_rating
from .storage import options_of

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "score_keys"]


def score_keys(lo: int, hi: int) -> list[str]:
    """The key of each score: the score's own digit when the scale fits in 0–9, else 1, 2, ... by position
    (0 for the tenth); a scale longer than ten points is picked with ←/→ past the tenth."""
    if 0 <= lo and hi <= 9:
        return [str(s) for s in range(lo, hi + 1)]
    return [str((k + 1) % 10) if k < 10 else "" for k in range(hi - lo + 1)]


class _RatingQueue:
    widget = Path(__file__).with_name("widget.js")

    def page_config(self, cfg: ProjectConfig) -> dict[str, Any]:
        opts = options_of(cfg)
        lo, hi = opts.scale
        return {"scale": [lo, hi], "anchors": {str(k): v for k, v in opts.anchors.items()},
                "criteria": list(opts.criteria), "keys": score_keys(lo, hi)}

    def parse_submission(self, body: Mapping[str, Any], labels: Sequence[str], options: Mapping[str, Any],
                         payload: str | None) -> dict[str, Any]:
        raw = submitted_answer(body, "scores", 'rating projects submit \'answer\': {"score": n} or {"scores": {criterion: n}}')
        scale = options.get("scale") or (1, 5)
        return check_rating(raw, scale, list(options.get("criteria") or []))

    label_studio_config = staticmethod(labelstudio.label_studio_config)
    to_label_studio = staticmethod(labelstudio.to_label_studio)
    from_label_studio = staticmethod(labelstudio.from_label_studio)


FACET = _RatingQueue()
