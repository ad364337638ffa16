"""A transcript as the app and Label Studio hand it over, checked before anything stores it.

The queue's gate, with the reason codes and fields of the storage facet's checks (collect, gold), so a
refusal reads the same wherever it happens. The text is kept as sent (the tool trims it); comparison
rules (case, punctuation, numbers) are applied later, never here, so the stored answer is what the
person wrote. Control characters, lone surrogates and U+FFFD are refused: they are what text decoded in
the wrong encoding looks like.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ..protocol import AnswerError
from .options import TranscriptOptions

__all__ = ["check_transcript"]

_WORD_KEYS = ("word", "start_s", "end_s", "score", "confidence")


def _fail(code: str, field: str, message: str) -> AnswerError:
    return AnswerError(code, f"{field}: {message}", field=field)


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _check_word(w: object, where: str) -> dict[str, Any]:
    """A machine draft's word: text, times in seconds (end not before start), scores in [0, 1]."""
    if not isinstance(w, dict) or not isinstance(w.get("word"), str):
        raise _fail("word_not_text", f"{where}.word" if isinstance(w, dict) else where, "is not a word (text)")
    for key in ("start_s", "end_s"):
        if w.get(key) is not None and not _finite(w[key]):
            raise _fail("not_a_number", f"{where}.{key}", f"{w[key]!r} is not a finite number of seconds")
    if w.get("start_s") is not None and w.get("end_s") is not None and w["end_s"] < w["start_s"]:
        raise _fail("reversed_times", f"{where}.end_s", f"{w['end_s']} is before start_s {w['start_s']}")
    for key in ("score", "confidence"):
        if w.get(key) is not None and not (_finite(w[key]) and 0 <= w[key] <= 1):
            raise _fail("score_out_of_range", f"{where}.{key}", f"{w[key]!r} is not a probability in [0, 1]")
    return {k: w[k] for k in _WORD_KEYS if w.get(k) is not None}


def check_transcript(raw: object, options: TranscriptOptions | Mapping[str, Any] | None = None,
                     field: str = "answer") -> dict[str, Any]:
    """`raw` (`{"text": ...}`, optionally with a machine draft's `words`; JSON text is parsed first) as
    the JSON form the app stores. `options`: the project's `allow_empty` and `max_chars`.

    Raises `AnswerError` naming the field (`answer`, `answer.text`, `answer.words[k].<key>`).
    """
    opts = options if isinstance(options, TranscriptOptions) else TranscriptOptions.model_validate(dict(options or {}))
    text_field = f"{field}.text"
    if raw is None:
        raise _fail("missing_answer", field, 'the answer is missing (an empty transcript is {"text": ""})')
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise _fail("malformed_json", field, f"{raw[:80]!r} is not valid JSON") from None
    if not isinstance(raw, dict):
        raise _fail("not_an_object", field, f'expected an object {{"text": "..."}}, got {type(raw).__name__}')
    text = raw.get("text")
    if text is None:
        raise _fail("missing_text", text_field, 'the answer has no "text" (a transcript is {"text": "..."})')
    if not isinstance(text, str):
        raise _fail("text_not_a_string", text_field, f"{text!r} is not a string")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise _fail("invalid_text_encoding", text_field, "the text holds a lone surrogate, the mark of text escaped "
                    "in the wrong encoding: save it as UTF-8 and send it again")
    if any(ord(c) < 32 and c not in "\t\n\r" or c == "\x7f" for c in text):
        raise _fail("invalid_text_encoding", text_field, "the text holds a control character, the mark of text "
                    "decoded in the wrong encoding: save it as UTF-8 and send it again")
    if "\ufffd" in text:
        raise _fail("replacement_character", text_field, "the text holds U+FFFD, the mark of bytes decoded in the "
                    f"wrong encoding: {text[:60]!r}")
    if not text.strip() and not opts.allow_empty:
        raise _fail("empty_transcript", text_field, "the transcript is empty, and this project does not allow empty "
                    "transcripts ([answer] allow_empty = false)")
    if len(text) > opts.max_chars:
        raise _fail("too_long", text_field, f"the transcript has {len(text)} characters, more than [answer] "
                    f"max_chars = {opts.max_chars}")
    out: dict[str, Any] = {"text": text}
    words = raw.get("words")
    if words is not None:
        if not isinstance(words, list):
            raise _fail("words_not_a_list", f"{field}.words", f"{str(words)[:80]!r} is not a list of {{\"word\": ...}}")
        out["words"] = [_check_word(w, f"{field}.words[{k}]") for k, w in enumerate(words)]
    return out
