"""Code points (how annoflow counts span offsets) to UTF-16 code units (how a browser counts them) and back.

A character outside the Basic Multilingual Plane (most emoji) is one code point but two UTF-16 code
units, a surrogate pair; every offset after one differs by one per such character. Label Studio keeps
the browser's count, so results cross this bridge both ways.
"""

from __future__ import annotations

from itertools import accumulate

__all__ = ["from_utf16", "to_utf16"]


def to_utf16(text: str) -> list[int]:
    """UTF-16 offset of every code-point offset 0..len(text)."""
    return [0, *accumulate(2 if ord(c) > 0xFFFF else 1 for c in text)]


def from_utf16(text: str) -> list[int]:
    """Code-point offset of every UTF-16 offset 0..(UTF-16 length); -1 where the offset falls between the
    two halves of a surrogate pair (it splits a character and names no position in the text)."""
    out: list[int] = []
    for i, c in enumerate(text):
        out.append(i)
        if ord(c) > 0xFFFF:
            out.append(-1)
    out.append(len(text))
    return out
