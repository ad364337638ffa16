"""One colour per entity type, shared by the app's span tool and the Label Studio config.

Light tints, so the dark text on them keeps a contrast ratio above 7:1; the type's name is also
printed on each span, so colour is never the only cue.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["COLOURS", "type_colours"]

COLOURS = ("#ffd6a5", "#a8dadc", "#cdb4db", "#caffbf", "#ffadad", "#bde0fe", "#fdffb6", "#ffc6ff",
           "#d4c4a8", "#b9fbc0")


def type_colours(labels: Sequence[str]) -> list[str]:
    """The colour of each entity type, in the order of `labels` (the palette repeats past ten types)."""
    return [COLOURS[i % len(COLOURS)] for i in range(len(labels))]
