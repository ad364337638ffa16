"""Tokens of a text and BIO tags: what snapping, token-level baselines, agreement and CoNLL export share.

A span is stored in characters; token views are derived, never stored, so the tokeniser can change
without touching answers. Two tokenisers: "words" (runs of letters and digits; every other visible
character alone — what NER corpora such as WNUT17 use) and "whitespace".
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

__all__ = ["TOKENIZERS", "bio_tags", "spans_from_bio", "tokenize"]

TOKENIZERS = {
    "words": re.compile(r"[^\W_]+|[^\w\s]|_", re.UNICODE),
    "whitespace": re.compile(r"\S+"),
}


def tokenize(text: str, mode: str = "words") -> list[tuple[int, int]]:
    """Character offsets `(start, end)` of the tokens of `text`."""
    return [m.span() for m in TOKENIZERS[mode].finditer(text)]


def bio_tags(spans: Sequence[tuple[int, int, str]], tokens: Sequence[tuple[int, int]]) -> list[str]:
    """BIO tags of `tokens` for non-overlapping `spans`: a token belongs to a span it overlaps.

    Where spans overlap (allowed by some projects) the earlier-starting span wins, since BIO can hold
    only one entity per token.
    """
    tags = ["O"] * len(tokens)
    starts = [t[0] for t in tokens]
    for start, end, label in sorted(spans):
        i = max(0, bisect.bisect_right(starts, start) - 1)
        first = True
        while i < len(tokens) and tokens[i][0] < end:
            if tokens[i][1] > start and tags[i] == "O":
                tags[i] = ("B-" if first else "I-") + label
                first = False
            i += 1
    return tags


def spans_from_bio(tags: Sequence[str], tokens: Sequence[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Spans of BIO `tags` over `tokens`; an I- tag that does not continue its type starts a span (lenient,
    as seqeval's default mode reads it); callers that must reject such tags check them first."""
    out: list[tuple[int, int, str]] = []
    cur: list | None = None
    for (start, end), tag in zip(tokens, tags):
        kind, _, label = tag.partition("-")
        if kind == "I" and cur is not None and cur[2] == label:
            cur[1] = end
            continue
        if cur is not None:
            out.append(tuple(cur))
            cur = None
        if kind in ("B", "I"):
            cur = [start, end, label]
    if cur is not None:
        out.append(tuple(cur))
    return out
