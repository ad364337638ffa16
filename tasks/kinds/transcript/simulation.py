"""Transcripts: the simulated annotator (see tasks/kinds/protocol.py, simulation).

A simulated transcriber makes the errors people make when typing what they hear, each at its own rate per
true word: a wrong word (substitution: a word of about the same length from a list of common English words, as a
misheard word sounds alike, or another word of the clip),
a word left out (deletion), an extra word typed (insertion: a filler, a repeated word, a common word).
On top, like people, it writes case and punctuation its own way, which the comparison rule ignores. A
careless annotator also gives up early (types only the first part of the clip) and drops many words. A
"uniform" spammer types random words; a "constant" one always submits the same thing (an empty
transcript, or one fixed phrase). Everything is drawn from the `rng` passed in, in a fixed order, so a
seed gives the same crowd. SIMULATION ONLY: nothing here touches real annotators' answers.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from ..simulated_annotator import ErrorProfile, ErrorRateSimulation, unknown_spammer

__all__ = ["COMMON_WORDS", "FACET", "FILLERS", "TranscriptErrors", "simulate_from_draft",
           "simulate_transcript"]

COMMON_WORDS = (
    "a", "about", "after", "again", "all", "also", "an", "and", "any", "are", "as", "at", "back", "be", "because",
    "been", "before", "but", "by", "can", "come", "could", "day", "did", "do", "down", "each", "even", "first",
    "for", "from", "get", "give", "go", "good", "had", "has", "have", "he", "her", "here", "him", "his", "how", "i",
    "if", "in", "into", "is", "it", "its", "just", "know", "like", "little", "long", "look", "made", "make", "man",
    "many", "may", "me", "more", "most", "much", "must", "my", "new", "no", "not", "now", "of", "off", "old", "on",
    "one", "only", "or", "other", "our", "out", "over", "people", "said", "say", "see", "she", "should", "so",
    "some", "take", "than", "that", "the", "their", "them", "then", "there", "these", "they", "thing", "think",
    "this", "those", "through", "time", "to", "two", "up", "us", "use", "very", "want", "was", "way", "we", "well",
    "went", "were", "what", "when", "where", "which", "who", "will", "with", "work", "would", "year", "you", "your",
)
"""The words a substitution or insertion picks from (besides the clip's own words)."""
FILLERS = ("uh", "um", "er", "ah", "hmm", "like", "so", "you know")
_PUNCT = (",", ".", "", "", "", "", "?", "!")


@dataclass(frozen=True)
class TranscriptErrors:
    """How one simulated transcriber errs, per true word: `substitute`, `delete` (chances), `insert` (expected
    extra words after it). `give_up` is the chance of stopping at a random point of the clip (careless).
    `spammer` is None, "uniform" (random words) or "constant" (always `fixed_text`)."""

    substitute: float = 0.0
    delete: float = 0.0
    insert: float = 0.0
    give_up: float = 0.0
    spammer: str | None = None
    fixed_text: str = ""

    def __post_init__(self):
        if min(self.substitute, self.delete, self.insert, self.give_up) < 0 or self.substitute + self.delete > 1 or self.give_up > 1:
            raise ValueError(f"transcript error rates must be >= 0 and substitute + delete <= 1, got {self!r}")
        if self.spammer not in (None, "uniform", "constant"):
            raise ValueError(f"spammer must be None, 'uniform' or 'constant', got {self.spammer!r}")

    @classmethod
    def from_accuracy(cls, accuracy: float) -> TranscriptErrors:
        """A transcriber who types a true word right with probability `accuracy`; its errors split as in crowd
        transcription studies (substitutions most common, then deletions), insertions growing as skill falls."""
        err = min(max(1.0 - float(accuracy), 0.0), 1.0)
        return cls(substitute=0.6 * err, delete=0.4 * err, insert=0.3 * err)

    @classmethod
    def careless(cls) -> TranscriptErrors:
        """The careless annotator: many words dropped or wrong, extra words, and one clip in three abandoned."""
        return cls(substitute=0.15, delete=0.2, insert=0.1, give_up=0.35)


def _style(words: list[str], rng: random.Random) -> str:
    """The words as this person types them: sometimes capitalised, with some punctuation."""
    if not words:
        return ""
    out = [w for w in words]
    if rng.random() < 0.5:
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(w + (rng.choice(_PUNCT) if rng.random() < 0.15 else "") for w in out) + (
        "." if rng.random() < 0.5 else "")


def _misheard(w: str, words: list[str], by_length: dict[int, list[str]], pool: list[str], rng: random.Random) -> str:
    """A wrong word for `w`: another word of its length where the list has one (a misheard word sounds alike,
    and no vote should learn that longer or shorter words are the right ones), else one letter longer or
    shorter; one time in five another word of the clip."""
    if rng.random() < 0.2 and len(words) > 1:
        near = [x for x in words if x != w]
    else:
        near = [x for x in by_length.get(len(w), ()) if x != w] or \
               [x for d in (-1, 1) for x in by_length.get(len(w) + d, ()) if x != w]
    return rng.choice(near or [x for x in pool if x != w] or ["uh"])


def _pool(vocabulary: Sequence[str]) -> tuple[list[str], dict[int, list[str]]]:
    """The words errors pick from, and the same grouped by length (for `_misheard`)."""
    pool = list(vocabulary)
    by_length: dict[int, list[str]] = {}
    for v in pool:
        by_length.setdefault(len(v), []).append(v)
    return pool, by_length


def _type(w: str, words: list[str], out: list[str], errors: TranscriptErrors, by_length: dict[int, list[str]],
          pool: list[str], rng: random.Random) -> None:
    """The true word `w` as this transcriber types it into `out`: left out, misheard or right, then any extra words."""
    r = rng.random()
    if r < errors.delete:
        pass
    elif r < errors.delete + errors.substitute:
        out.append(_misheard(w, words, by_length, pool, rng))
    else:
        out.append(w)
    extra = errors.insert
    while extra > 0 and rng.random() < min(extra, 1.0):
        out.append(rng.choice((w, *FILLERS[:5], rng.choice(pool))))
        extra -= 1


def simulate_transcript(truth: str, rng: random.Random, errors: TranscriptErrors,
                        vocabulary: Sequence[str] = COMMON_WORDS) -> str:
    """One simulated transcript of a clip whose true words are `truth` (plain words, space separated)."""
    if errors.spammer == "constant":
        return errors.fixed_text
    words = truth.split()
    if errors.spammer == "uniform":
        return _style([rng.choice(vocabulary) for _ in range(max(1, len(words) + rng.randint(-3, 3)))], rng)
    if errors.give_up and rng.random() < errors.give_up and words:
        words = words[: rng.randint(0, len(words) - 1)]
    out: list[str] = []
    pool, by_length = _pool(vocabulary)
    for w in words:
        _type(w, words, out, errors, by_length, pool, rng)
    return _style(out, rng)


_WORD = re.compile(r"[^\w']+")


def _plain(w: str) -> str:
    """A word as the simulation compares it with the truth: lower case, punctuation off."""
    return _WORD.sub("", w.lower())


def simulate_from_draft(truth: str, draft: str, rng: random.Random, errors: TranscriptErrors,
                        vocabulary: Sequence[str] = COMMON_WORDS) -> str:
    """What a transcriber submits when the box already holds the machine's `draft` of a clip whose true words
    are `truth`: it edits the draft rather than typing anew (see `_TranscriptSimulation.answer_from_draft`)."""
    if errors.spammer is not None:
        return simulate_transcript(truth, rng, errors, vocabulary)
    words, shown = truth.split(), draft.split()
    stop = len(words)
    if errors.give_up and rng.random() < errors.give_up and words:  # stops listening part way through
        stop = rng.randint(0, len(words) - 1)
    pool, by_length = _pool(vocabulary)
    overlook = min(1.0, errors.substitute + errors.delete + errors.give_up)
    out: list[str] = []

    heard = SequenceMatcher(None, [_plain(w) for w in shown], [_plain(w) for w in words], autojunk=False)
    for op, d0, d1, t0, t1 in heard.get_opcodes():
        if stop < len(words) and t0 >= stop:  # past the point where it gave up: the draft stays as it was
            out.extend(shown[d0:d1])
        elif op == "equal":  # right draft words: kept, rarely broken by a careless edit
            out.extend(_misheard(w, words, by_length, pool, rng) if rng.random() < 0.1 * errors.substitute else w
                       for w in shown[d0:d1])
        else:
            wrong, missing = shown[d0:d1], words[t0:t1]
            for i in range(max(len(wrong), len(missing))):
                if i < len(wrong) and rng.random() < overlook:
                    out.append(wrong[i])  # a wrong draft word not noticed stays (in place of the true word, if any)
                elif i < len(missing):  # typed by the annotator, with its own errors
                    _type(missing[i], words, out, errors, by_length, pool, rng)
    return _style(out, rng)


def _truth_text(truth: Any) -> str:
    if isinstance(truth, str):
        try:
            truth = json.loads(truth)
        except ValueError:
            return truth
    if isinstance(truth, dict):
        return str(truth.get("text") or "")
    return "" if truth is None else str(truth)


class _TranscriptSimulation(ErrorRateSimulation):
    def errors(self, accuracy: float, spammer: str | None, rng: random.Random) -> TranscriptErrors:
        """SIMULATION: a transcriber who types each true word right with probability `accuracy` (errors split
        as in `TranscriptErrors.from_accuracy`). A "uniform" spammer types random common words; a "constant" one
        always submits an empty transcript or, one time in two (drawn from `rng`), always "i don't know"."""
        errors = TranscriptErrors.from_accuracy(accuracy)
        if spammer == "uniform":
            errors = TranscriptErrors(spammer="uniform")
        elif spammer == "constant":
            errors = TranscriptErrors(spammer="constant", fixed_text="" if rng.random() < 0.5 else "i don't know")
        elif spammer is not None:
            raise unknown_spammer(spammer)
        return errors

    def answer(self, profile: ErrorProfile, truth: Any, rng: random.Random, labels: Sequence[str],
               payload: str | None) -> dict[str, Any]:
        """SIMULATION: what `profile` types for a clip whose true transcript is `truth` (JSON form or text)."""
        return {"text": simulate_transcript(_truth_text(truth), rng, profile.errors)}

    def answer_from_draft(self, profile: ErrorProfile, truth: Any, draft: Any, rng: random.Random,
                          labels: Sequence[str], payload: str | None) -> dict[str, Any]:
        """SIMULATION: what `profile` submits when the page shows the machine's `draft` (JSON form) in the box.

        A person corrects the draft rather than typing it anew. The draft's words are aligned onto the true
        ones (after case and punctuation); then, per aligned stretch:
        - a draft word equal to the true word is kept; only a careless edit breaks it (chance 0.1 x the
          annotator's substitution rate);
        - a wrong draft word is noticed and replaced by the true word typed with the annotator's own error
          profile (as in `answer`), except that it stays in place with chance substitute + delete + give_up
          (the annotator's own miss rate: a careful one rarely overlooks it, a careless one often does);
        - an extra draft word (said by nobody) is deleted, or overlooked with the same chance;
        - a true word missing from the draft is typed, with the annotator's own errors and insertions.
        A careless annotator who gives up (chance `give_up`) fixes only the first part of the clip and leaves
        the rest of the draft as it was. Spammers ignore the draft (as in `answer`). Draws from `rng` only.
        """
        text = str((draft or {}).get("text") or "") if isinstance(draft, dict) else _truth_text(draft)
        return {"text": simulate_from_draft(_truth_text(truth), text, rng, profile.errors)}


FACET = _TranscriptSimulation()
