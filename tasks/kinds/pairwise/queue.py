"""Pairwise: the queue facet (see tasks/kinds/protocol.py): the app's side-by-side view and Label Studio.

The view (`widget.js`) shows the prompt above the two candidates side by side, rendered as Markdown by
a small renderer that escapes every character of HTML first (no markup from the candidate reaches the
page) and scroll-locked together; keys A / B / T (tie). The order is drawn per assignment from a hash
of the task's lease id and sent with the answer as `swapped`. The server checks every submitted answer
again (`parse_submission`), since a browser is not trusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import labelstudio
from .storage import options_of
from .submission import check_pairwise
from ..submitted_answer import submitted_answer

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET"]


class _PairwiseQueue:
    widget = Path(__file__).with_name("widget.js")

    def page_config(self, cfg: ProjectConfig) -> dict[str, Any]:
        """Whether ties are allowed, whether a reason is required and how long it may be."""
        o = options_of(cfg)
        return {"allow_ties": o.allow_ties, "require_reason": o.require_reason, "max_reason_chars": o.max_reason_chars}

    def parse_submission(self, body: Mapping[str, Any], labels: Sequence[str], options: Mapping[str, Any],
                         payload: str | None) -> dict[str, Any]:
        """The submitted `answer` (`{"choice", "swapped", "reason"?}` or its JSON text) checked against the
        project's options and the item (a comparison without two different candidates takes no answer)."""
        raw = submitted_answer(body, "fields choice, swapped, reason", 'send {"choice": "A"|"B"|"tie", "swapped": ...}')
        return check_pairwise(raw, options, payload)

    label_studio_data = staticmethod(labelstudio.task_data)
    label_studio_config = staticmethod(labelstudio.label_studio_config)
    to_label_studio = staticmethod(labelstudio.to_label_studio)
    from_label_studio = staticmethod(labelstudio.from_label_studio)


FACET = _PairwiseQueue()
