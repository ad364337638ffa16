"""Time segments: the queue facet (see tasks/kinds/protocol.py): the app's region tool and Label Studio.

The tool (`widget.js`) draws the clip's waveform and its regions with the shared audio tools
(`annotation_app/web/audio_tools.js`) and reads what `page_config` returns; the server checks every
submitted answer again (`parse_submission`), since a browser is not trusted. Label Studio's side
(`Labels` on `Audio`, seconds) lives in `labelstudio.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..spans.palette import type_colours
from ..submitted_answer import submitted_answer
from . import labelstudio
from .submission import check_segments

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "label_keys"]

# Space (play), r (replay), s (the shell's skip), t (text of the region) and the speed keys are the tool's.
_LETTERS = "abcdefghijklmnopquvwxyz"


def label_keys(labels: Sequence[str]) -> list[str]:
    """The key that gives the selected region each label: 1–9, then letters the tool does not use."""
    keys = [str(i + 1) for i in range(min(9, len(labels)))]
    keys += list(_LETTERS[:max(0, len(labels) - 9)])
    return keys + [""] * (len(labels) - len(keys))


class _SegmentQueue:
    widget = Path(__file__).with_name("widget.js")

    def page_config(self, cfg: ProjectConfig) -> dict[str, Any]:
        """What the region tool obeys: each label's colour (as in Label Studio) and key, whether regions
        may overlap and whether each carries a text."""
        opts = cfg.answer_options
        return {"colors": type_colours(cfg.labels), "keys": label_keys(cfg.labels),
                "allow_overlap": opts.allow_overlap, "with_text": opts.with_text}

    def parse_submission(self, body: Mapping[str, Any], labels: Sequence[str], options: Mapping[str, Any],
                         payload: str | None) -> list[dict[str, Any]]:
        """The submitted `answer` (a list of `{start_s, end_s, label[, text]}`, or its JSON text) checked:
        seconds, start before end, labels in the set, overlaps only where allowed, a text on each region
        where the project asks for one; `[]` is the explicit
        "no regions". The app does not know the clip's duration, so "inside the clip" is checked at
        collect (items.metadata) and when pushing to Label Studio. Returns the JSON form."""
        raw = submitted_answer(body, "{start_s, end_s, label}", "segments projects submit 'answer': a list of "
                                                                "{start_s, end_s, label} ([] for no regions)")
        return check_segments(raw, labels, None, allow_overlap=bool(options.get("allow_overlap", False)),
                              with_text=bool(options.get("with_text", False)))

    label_studio_config = staticmethod(labelstudio.label_studio_config)
    to_label_studio = staticmethod(labelstudio.to_label_studio)
    from_label_studio = staticmethod(labelstudio.from_label_studio)


FACET = _SegmentQueue()
