"""Spans: the queue facet (see tasks/kinds/protocol.py): the app's span tool and Label Studio.

The widget (`widget.js`) is plain JavaScript the app serves for spans projects; it reads the options
`page_config` returns and hands back answers that `parse_submission` checks again on the server, since
a browser is not trusted. Label Studio's side lives in `labelstudio.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..submitted_answer import submitted_answer
from . import labelstudio
from .palette import type_colours
from .validate import check_spans

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET"]


class _SpanQueue:
    widget = Path(__file__).with_name("widget.js")

    def page_config(self, cfg: ProjectConfig) -> dict[str, Any]:
        """The `[answer]` options the span tool obeys, plus each type's colour (the same as in Label Studio)."""
        opts = cfg.answer_options
        return {"allow_overlap": opts.allow_overlap, "snap_to_tokens": opts.snap_to_tokens,
                "tokenizer": opts.tokenizer, "colors": type_colours(cfg.labels)}

    def parse_submission(self, body: Mapping[str, Any], labels: Sequence[str], options: Mapping[str, Any],
                         payload: str | None) -> list[dict[str, Any]]:
        """The submitted `answer` (a list of `{start, end, label}`, or its JSON text) checked against the
        item's text and the project; `[]` is the explicit "no entities". Returns the JSON form (a list,
        sorted by (start, end, label)), which the app stores and shows as a suggestion."""
        raw = submitted_answer(body, "{start, end, label}", "spans projects submit 'answer': a list of "
                                                            "{start, end, label} ([] for no entities)")
        spans = check_spans(raw, labels, bool(options.get("allow_overlap", False)), payload)
        return [{"start": s, "end": e, "label": label} for s, e, label in spans]

    # Label Studio results carry each region's text, written and checked against `payload`.
    label_studio_config = staticmethod(labelstudio.label_studio_config)
    to_label_studio = staticmethod(labelstudio.to_label_studio)
    from_label_studio = staticmethod(labelstudio.from_label_studio)


FACET = _SpanQueue()
