"""Boxes: the queue facet (see tasks/kinds/protocol.py): the app's box tool and Label Studio.

The box tool (`widget.js`) draws on a canvas and reads what `page_config` returns; the server checks
every submitted answer again (`parse_submission`), since a browser is not trusted. Label Studio's
side (`RectangleLabels`, percentages of the image) lives in `labelstudio.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..spans.palette import type_colours
from ..submitted_answer import submitted_answer
from . import labelstudio
from .validate import check_boxes

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "NO_OBJECTS_KEY", "label_keys"]

NO_OBJECTS_KEY = "0"
_LETTERS = "bcdefghijklmopqrtuvwxyz"  # a (accept), n (next box) and s (the shell's skip) are taken


def label_keys(labels: Sequence[str]) -> list[str]:
    """The key that gives the selected box each label: 1–9, then letters the tool does not use."""
    keys = [str(i + 1) for i in range(min(9, len(labels)))]
    keys += list(_LETTERS[:max(0, len(labels) - 9)])
    return keys + [""] * (len(labels) - len(keys))


class _BoxQueue:
    widget = Path(__file__).with_name("widget.js")

    def page_config(self, cfg: ProjectConfig) -> dict[str, Any]:
        """What the box tool obeys: each label's colour (as in Label Studio) and key, the smallest box
        it lets a person draw, and the key of "no objects"."""
        return {"colors": type_colours(cfg.labels), "keys": label_keys(cfg.labels),
                "min_size_px": cfg.answer_options.min_size_px, "no_objects_key": NO_OBJECTS_KEY}

    def parse_submission(self, body: Mapping[str, Any], labels: Sequence[str], options: Mapping[str, Any],
                         payload: str | None) -> list[dict[str, Any]]:
        """The submitted `answer` (a list of `{x, y, w, h, label}` in pixels of the image, or its JSON
        text) checked: numbers, positive sizes, labels in the set; `[]` is the explicit "no objects".
        The app does not know the image's size, so "inside the image" is checked where it is known:
        at collect (items.metadata) and in Label Studio's results. Returns the JSON form (rounded, sorted)."""
        raw = submitted_answer(body, "{x, y, w, h, label}", "boxes projects submit 'answer': a list of "
                                                            "{x, y, w, h, label} in pixels ([] for no objects)")
        return check_boxes(raw, labels, None)

    label_studio_config = staticmethod(labelstudio.label_studio_config)
    to_label_studio = staticmethod(labelstudio.to_label_studio)
    from_label_studio = staticmethod(labelstudio.from_label_studio)


FACET = _BoxQueue()
