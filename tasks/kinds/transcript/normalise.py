"""The comparison rule of transcripts: what "the same words" means for consensus, agreement, gold WER and the gate.

Two people transcribing one clip type "Twenty-one cats, sir!" and "21 cats sir": the same words, written
differently. Transcripts are therefore never compared as typed but after this rule, applied in order:

1. Unicode NFC (a precomposed "é" and "e" + combining accent are one letter); curly apostrophes become "'".
2. Case folded to lower case (`lowercase`).
3. Punctuation removed (`strip_punctuation`): every character that is neither a letter, a digit, an
   apostrophe nor white space becomes a space (so "twenty-one" is two words); an apostrophe is kept only
   inside a word ("don't", not "'quoted'"); thousands separators inside numbers go ("1,000" is "1000") and
   a decimal point between digits stays ("3.5").
4. Numbers (`numbers`): "digits" writes English number words as digits ("twenty one" and "21" are both
   "21"; "one hundred and five" is "105"), "words" writes digit runs as English words ("21" is "twenty
   one"), "keep" leaves them as typed. Only whole numbers up to 999,999,999,999 are converted; a decimal
   or a longer number stays as it is. "one" is a number word too ("the one I saw" compares as "the 1 i
   saw"), on both sides of every comparison, so it never makes two transcripts differ.
5. White space collapsed to single spaces, trimmed.

The tokens of a transcript are the words of its normalised text (split on spaces). Steps 1-3 and 5 run
as Arrow compute kernels over a whole column; step 4 runs in Python only on the texts that hold a digit
or a number word, so a million transcripts normalise in seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["NUMBER_MODES", "Normaliser", "digits_to_words", "normaliser", "words_to_digits"]

NUMBER_MODES = ("digits", "words", "keep")

_UNITS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)
_TENS = ("_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = (("billion", 10**9), ("million", 10**6), ("thousand", 10**3))
_SMALL = {w: i for i, w in enumerate(_UNITS)} | {w: 10 * i for i, w in enumerate(_TENS) if i >= 2}
_NUMBER_WORDS = set(_SMALL) | {"hundred"} | {s for s, _ in _SCALES}
_MAX = 10**12 - 1
_HAS_NUMBER_WORD = r"\b(" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")\b"


def _below_thousand(n: int) -> list[str]:
    out: list[str] = []
    if n >= 100:
        out += [_UNITS[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        out.append(_TENS[n // 10])
        n %= 10
        if n:
            out.append(_UNITS[n])
    elif n or not out:
        out.append(_UNITS[n])
    return out


def digits_to_words(n: int) -> str:
    """A whole number 0..999,999,999,999 in English words, without "and" or hyphens ("twenty one")."""
    if n == 0:
        return "zero"
    out: list[str] = []
    for name, scale in _SCALES:
        if n >= scale:
            out += [*_below_thousand(n // scale), name]
            n %= scale
    if n:
        out += _below_thousand(n)
    return " ".join(out)


def _read_number(tokens: list[str], i: int) -> tuple[int, int]:
    """(value, tokens consumed) of the longest number spelled in words from `tokens[i]`; (0, 0) if none.

    Reads what people say: "two thousand twenty", "one hundred and five". "nineteen eighty four" is read
    as two numbers (19, 84): a year said in pairs has no scale word joining its halves. "one two" is two
    numbers too (digits read out one by one)."""
    total = group = 0
    last_scale = 10**15
    prev: str | None = None  # the kind of the last word read: unit, teen, ten, hundred, scale
    used = 0
    j = i
    while j < len(tokens):
        w = tokens[j]
        if w == "and" and prev in ("hundred", "scale") and j + 1 < len(tokens) and tokens[j + 1] in _SMALL \
                and tokens[j + 1] != "zero":
            j += 1
            continue
        if w in _SMALL:
            v = _SMALL[w]
            kind = "zero" if v == 0 else "ten" if v >= 20 else "teen" if v >= 10 else "unit"
            allowed = {"zero": (None,), "unit": (None, "ten", "hundred", "scale"),
                       "teen": (None, "hundred", "scale"), "ten": (None, "hundred", "scale")}[kind]
            if prev not in allowed:
                break
            group += v
            prev = kind
        elif w == "hundred":
            if prev not in ("unit", "teen") or group >= 100:
                break
            group *= 100
            prev = "hundred"
        elif w in ("thousand", "million", "billion"):
            scale = dict(_SCALES)[w]
            if prev not in ("unit", "teen", "ten", "hundred") or group == 0 or scale >= last_scale:
                break
            total += group * scale
            group, last_scale, prev = 0, scale, "scale"
        else:
            break
        j += 1
        used = j - i
        if prev == "zero":
            break
    value = total + group
    if not used or value > _MAX:
        return 0, 0
    return value, used


def words_to_digits(text: str) -> str:
    """Every run of English number words in `text` (normalised: lower case, single spaces) as digits."""
    tokens = text.split(" ")
    out: list[str] = []
    i = 0
    while i < len(tokens):
        value, used = _read_number(tokens, i)
        if used:
            out.append(str(value))
            i += used
        else:
            out.append(tokens[i])
            i += 1
    return " ".join(out)


def _digits_as_words(text: str) -> str:
    def spell(m: re.Match[str]) -> str:
        s = m.group(0)
        return digits_to_words(int(s)) if len(s) <= 12 else s
    return re.sub(r"(?<![\d.])\d+(?![\d.])", spell, text)


@dataclass(frozen=True)
class Normaliser:
    """The comparison rule with its options (`TranscriptOptions`: lowercase, strip_punctuation, numbers)."""

    lowercase: bool = True
    strip_punctuation: bool = True
    numbers: str = "digits"

    def __post_init__(self):
        if self.numbers not in NUMBER_MODES:
            raise ValueError(f"numbers must be one of {NUMBER_MODES}, got {self.numbers!r}")

    def normalise(self, texts: pa.Array | pa.ChunkedArray) -> pa.Array:
        """The normalised text of each transcript (nulls stay null), column-wise."""
        t = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
        t = pc.utf8_normalize(t.cast(pa.string()), form="NFC")
        t = pc.replace_substring(t, "\u2019", "'")
        if self.lowercase:
            t = pc.utf8_lower(t)
        if self.strip_punctuation:
            for _ in range(2):  # "1,000,000": each pass joins every other group
                t = pc.replace_substring_regex(t, r"(\d),(\d\d\d)", r"\1\2")
            t = pc.replace_substring_regex(t, r"[^\pL\pN\pM\s'.]", " ")
            for _ in range(2):  # a dot stays only between two digits ("3.5")
                t = pc.replace_substring_regex(t, r"(^|[^\d])\.|\.([^\d]|$)", r"\1 \2")
            for _ in range(2):  # an apostrophe stays only inside a word ("don't")
                t = pc.replace_substring_regex(t, r"(^|[^\pL\pN])'|'([^\pL\pN]|$)", r"\1 \2")
        t = pc.utf8_trim_whitespace(pc.replace_substring_regex(t, r"\s+", " "))
        if self.numbers == "keep":
            return t
        pattern = r"\d" if self.numbers == "words" else _HAS_NUMBER_WORD
        if not self.lowercase and self.numbers == "digits":
            pattern = "(?i)" + pattern
        hit = pc.fill_null(pc.match_substring_regex(t, pattern), False)
        idx = pc.indices_nonzero(hit)
        if len(idx) == 0:
            return t
        picked = pc.take(t, idx).to_pylist()
        if self.numbers == "words":
            changed = [_digits_as_words(s) for s in picked]
        else:  # number words are matched in lower case; other words keep the case they have
            changed = [words_to_digits(s) if self.lowercase else _digits_keeping_case(s) for s in picked]
        mask = hit.to_numpy(zero_copy_only=False)
        return pc.replace_with_mask(t, pa.array(mask), pa.array(changed, pa.string()))

    def one(self, text: str) -> str:
        """One transcript normalised (the app's and a test's scale)."""
        return self.normalise(pa.array([text], pa.string()))[0].as_py()

    def tokens(self, text: str) -> list[str]:
        """The words of one transcript after the rule ("" has none)."""
        s = self.one(text)
        return s.split(" ") if s else []


def _digits_keeping_case(text: str) -> str:
    """`words_to_digits` on a text whose case is kept: number words are read whatever their case."""
    orig = text.split(" ")
    low = [w.lower() for w in orig]
    out: list[str] = []
    i = 0
    while i < len(low):
        value, used = _read_number(low, i)
        out.append(str(value) if used else orig[i])
        i += used or 1
    return " ".join(out)


def normaliser(options: Any) -> Normaliser:
    """The rule configured by a project's `[answer]` options (a `TranscriptOptions` or a mapping of them)."""
    get = options.get if isinstance(options, dict) else (lambda k, d: getattr(options, k, d))
    return Normaliser(lowercase=bool(get("lowercase", True)), strip_punctuation=bool(get("strip_punctuation", True)),
                      numbers=str(get("numbers", "digits")))
