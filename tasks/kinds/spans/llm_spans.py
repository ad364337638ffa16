"""Spans from a language model's reply: entity strings mapped to offsets in the item's text, deterministically.

Models are poor at counting characters and good at copying words, so they are asked for the entities as
strings (`{"entities": [{"text": "Ada Lovelace", "label": "person"}, ...]}`); offsets are found here:

- the k-th listing of the same string (with any label) takes its k-th occurrence in the text, left to
  right; an occurrence at word boundaries (no letter or digit just before or after) is preferred over
  one inside a longer word, an exact-case match over a case-insensitive one;
- an entity may carry `"start"`: when the text there equals its string that occurrence is taken (models
  that do count are believed only when they count right);
- a string that is not in the text (or listed more often than it occurs) is refused, naming
  `entities[i].text`; a label outside the set, `entities[i].label`; overlapping spans where the project
  does not allow them, `entities[i]`. Identical spans listed twice count once.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from ..llm_json import answer_object, label_named
from ..protocol import AnswerError

__all__ = ["INSTRUCTIONS", "parse_entities"]

INSTRUCTIONS = ("Find the entities in the text. Copy each entity exactly as it is written in the text and give its label. "
                'Answer with a JSON object and nothing else: {"entities": [{"text": "<entity as written>", "label": "<label>"}, ...]} '
                '({"entities": []} when there is none). List an entity once per time it occurs.')


def _occurrences(text: str, s: str) -> list[int]:
    """Starts of `s` in `text`: exact-case first, then case-insensitive ones; within each, whole words first."""
    exact = [m.start() for m in re.finditer(re.escape(s), text)]
    folded = [m.start() for m in re.finditer(re.escape(s), text, re.IGNORECASE) if m.start() not in exact]

    def whole(k: int) -> bool:
        before = text[k - 1] if k > 0 else " "
        after = text[k + len(s)] if k + len(s) < len(text) else " "
        return not (before.isalnum() or after.isalnum())

    return [k for group in (exact, folded) for k in sorted(group, key=lambda k: (not whole(k), k))]


def parse_entities(reply: str, text: str, labels: list[str], allow_overlap: bool) -> str:
    """The canonical span JSON (`[{"start", "end", "label"}]` sorted) for `reply` on `text`; `AnswerError` otherwise."""
    obj = answer_object(reply, "entities")
    ents = obj.get("entities")
    if not isinstance(ents, list):
        raise AnswerError("missing_field" if ents is None else "invalid_answer",
                          f"the answer's JSON has no list 'entities' (got {ents!r})", "entities")
    taken: dict[str, int] = {}
    spans: set[tuple[int, int, str]] = set()
    order: list[tuple[int, int, str, int]] = []
    for i, e in enumerate(ents):
        where = f"entities[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("text"), str) or not e["text"].strip():
            raise AnswerError("invalid_answer", f"{where} is {e!r}, expected {{\"text\": str, \"label\": str}}", where)
        label = label_named(e.get("label"), labels, f"{where}.label")
        s = e["text"]
        start = e.get("start")
        if isinstance(start, int) and not isinstance(start, bool) and text[start : start + len(s)] == s:
            k = start
        else:
            found = _occurrences(text, s)
            n = taken.get(s.casefold(), 0)
            if n >= len(found):
                more = f" {n + 1} times; it occurs {len(found)} time(s)" if found else ""
                raise AnswerError("entity_not_in_text", f"{where}.text {s!r} is not in the item's text{more}", f"{where}.text")
            taken[s.casefold()] = n + 1
            k = found[n]
        span = (k, k + len(s), label)
        if span not in spans:
            spans.add(span)
            order.append((*span, i))
    if not allow_overlap:
        by_start = sorted(order)
        for (s0, e0, _, i0), (s1, e1, _, i1) in itertools.pairwise(by_start):
            if s1 < e0:
                raise AnswerError("overlapping_spans", f"entities[{max(i0, i1)}] overlaps entities[{min(i0, i1)}] "
                                  f"({text[s1:e1]!r} inside {text[s0:e0]!r}); this project does not allow overlaps",
                                  f"entities[{max(i0, i1)}]")
    out: list[dict[str, Any]] = [{"start": a, "end": b, "label": lab} for a, b, lab in sorted(spans)]
    return json.dumps(out, separators=(",", ":"))
