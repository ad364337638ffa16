"""A transcript as the app and Label Studio hand it over, checked before anything stores it.

The queue's gate only: the storage facet checks stored answers against their items again (collect,
gold). Text is kept as typed apart from surrounding whitespace and Unicode NFC (the same letters typed
on two keyboards are one transcript); comparison rules (case, punctuation, numbers) are applied later,
never here, so the stored answer is what the person wrote.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from ..protocol import AnswerError

__all__ = ["check_transcript"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # tab and newlines are text


def _check_words(words: Any, field: str) -> list[dict[str, Any]]:
    """A machine draft's word timings: each `{word, start_s, end_s[, score]}` with 0 <= start_s <= end_s."""
    if not isinstance(words, list):
        raise AnswerError("invalid_answer", f"{field}: expected a list of {{word, start_s, end_s}}, got "
                          f"{type(words).__name__}", field=field)
    out = []
    for i, w in enumerate(words):
        where = f"{field}[{i}]"
        if not isinstance(w, Mapping) or not isinstance(w.get("word"), str):
            raise AnswerError("invalid_answer", f"{where}.word: expected text", field=f"{where}.word")
        word = {"word": w["word"]}
        for key in ("start_s", "end_s") + (("score",) if "score" in w else ()):
            v = w.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise AnswerError("invalid_answer", f"{where}.{key}: expected a number >= 0, got {v!r}",
                                  field=f"{where}.{key}")
            word[key] = round(float(v), 3)
        if word["start_s"] > word["end_s"]:
            raise AnswerError("reversed_word", f"{where}.end_s: {word['end_s']} is before start_s "
                              f"{word['start_s']}", field=f"{where}.end_s")
        out.append(word)
    return out


def check_transcript(raw: Any, allow_empty: bool, max_chars: int, field: str = "answer") -> dict[str, Any]:
    """`raw` (`{"text": ...}`, optionally with a machine draft's `words`) as the JSON form the app stores.

    Raises `AnswerError` naming the field: not an object, text missing or not a string, control
    characters (text in a wrong encoding shows up as these), too long, empty where not allowed.
    """
    if not isinstance(raw, Mapping):
        raise AnswerError("invalid_answer", f"{field}: expected an object {{\"text\": ...}}, got "
                          f"{type(raw).__name__}", field=field)
    unknown = sorted(set(raw) - {"text", "words"})
    if unknown:
        raise AnswerError("invalid_answer", f"{field}.{unknown[0]}: not part of a transcript (text, words)",
                          field=f"{field}.{unknown[0]}")
    text = raw.get("text")
    if not isinstance(text, str):
        raise AnswerError("missing_text" if text is None else "invalid_answer",
                          f"{field}.text: expected the transcript as text, got {type(text).__name__}", field=f"{field}.text")
    bad = _CONTROL.search(text)
    if bad:
        raise AnswerError("invalid_text", f"{field}.text: control character U+{ord(bad[0]):04X} at {bad.start()}; "
                          "is the text in the wrong encoding?", field=f"{field}.text")
    text = unicodedata.normalize("NFC", text.strip())
    if len(text) > max_chars:
        raise AnswerError("text_too_long", f"{field}.text: {len(text)} characters, more than the project's "
                          f"max_chars={max_chars}", field=f"{field}.text")
    if not text and not allow_empty:
        raise AnswerError("empty_transcript", f"{field}.text: empty; this project needs a transcript "
                          "([answer] allow_empty = false)", field=f"{field}.text")
    out: dict[str, Any] = {"text": text}
    if raw.get("words") is not None:
        out["words"] = _check_words(raw["words"], f"{field}.words")
    return out
