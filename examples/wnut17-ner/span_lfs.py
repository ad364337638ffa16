"""Python span labeling function of the wnut17-ner example (declared in annoflow.toml under [[answer.lfs]])."""

from __future__ import annotations

import re

from tasks.kinds.spans.lfs import span_labeling_function

# a run of capitalised words (the posts are tokenised: words are separated by single spaces)
_TITLE = re.compile(r"\b(?:watch(?:ing|ed)?|play(?:ing|ed)?|listen(?:ing|ed)? to|read(?:ing)?) ((?:[A-Z][\w']*)(?: (?:of|the|and|[A-Z][\w']*))*)")


@span_labeling_function(labels=["creative-work"])
def titles_after_verbs(text: str) -> list[tuple[int, int, str]]:
    """What follows "watching", "playing", "listening to" or "reading" in capitals is a title."""
    out = []
    for m in _TITLE.finditer(text):
        title = re.sub(r"(?: (?:of|the|and))+$", "", m.group(1))
        out.append((m.start(1), m.start(1) + len(title), "creative-work"))
    return out
