"""Transcripts: the queue facet (see tasks/kinds/protocol.py): the app's transcript tool and Label Studio.

The tool (`widget.js`) shows the item (audio as a waveform with playback from the shared audio tools
`annotation_app/web/audio_tools.js`, an image, or a text) above a text box pre-filled with the
machine draft (only a recogniser good enough on gold: `draft_gate.py`); the server checks every submitted transcript again (`parse_submission`), since a
browser is not trusted. Label Studio's side (`TextArea`) lives in `labelstudio.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import draft_gate, labelstudio
from .storage import check_transcript

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET"]


class _TranscriptQueue:
    widget = Path(__file__).with_name("widget.js")

    def page_config(self, cfg: ProjectConfig) -> dict[str, Any]:
        """What the tool and the server's check obey: whether an empty transcript may be sent, the longest one."""
        opts = cfg.answer_options
        return {"allow_empty": opts.allow_empty, "max_chars": opts.max_chars}

    def parse_submission(self, body: Mapping[str, Any], labels: Sequence[str], options: Mapping[str, Any],
                         payload: str | None) -> dict[str, Any]:
        """The submitted `answer` (`{"text": ...}`, or its JSON text; a pushed draft may carry `words`)
        checked: text present and a string, no sign of a wrong encoding, not too long, not empty unless
        the project allows it. Returns the JSON form."""
        return check_transcript(body.get("answer"), {k: options[k] for k in ("allow_empty", "max_chars") if k in options})

    withheld_suggestions = staticmethod(draft_gate.withheld_drafts)
    label_studio_config = staticmethod(labelstudio.label_studio_config)
    to_label_studio = staticmethod(labelstudio.to_label_studio)
    from_label_studio = staticmethod(labelstudio.from_label_studio)


FACET = _TranscriptQueue()
