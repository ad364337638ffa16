"""Spans: the simulated annotator (see tasks/kinds/protocol.py, simulation).

A simulated span annotator makes the errors real NER annotators make, each at its own rate: it misses
a true span, gets a boundary wrong by a token or two, picks the wrong type, or marks a span where there
is none. A spammer ignores the text's entities and marks random token runs with random types. Spans
fall on token boundaries (the project's "words" tokeniser), as the span tool's snapping makes them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..simulated_annotator import ErrorProfile, ErrorRateSimulation
from .tokens import tokenize

__all__ = ["FACET", "SpanErrors", "simulate_spans"]


@dataclass(frozen=True)
class SpanErrors:
    """How one simulated annotator errs. Per true span: `miss`, `bounds`, `wrong_type` are the chances
    of each error (the rest is the exact span); `spurious` is the expected number of invented spans per
    text; `spammer` ignores the truth altogether and invents `spurious` (at least one) spans per text."""

    miss: float = 0.0
    bounds: float = 0.0
    wrong_type: float = 0.0
    spurious: float = 0.0
    spammer: bool = False

    def __post_init__(self):
        if min(self.miss, self.bounds, self.wrong_type, self.spurious) < 0 or self.miss + self.bounds + self.wrong_type > 1:
            raise ValueError(f"span error rates must be >= 0 and miss + bounds + wrong_type <= 1, got {self!r}")

    @classmethod
    def from_accuracy(cls, accuracy: float) -> SpanErrors:
        """An annotator who gets a true span exactly right with probability `accuracy`; the errors split
        as seen in crowd NER (misses most common, then boundaries, then types)."""
        err = min(max(1.0 - float(accuracy), 0.0), 1.0)
        return cls(miss=0.4 * err, bounds=0.35 * err, wrong_type=0.25 * err, spurious=0.5 * err)


def _overlaps(span: tuple[int, int, str], taken: Sequence[tuple[int, int, str]]) -> bool:
    return any(span[0] < e and s < span[1] for s, e, _ in taken)


def _shift_bounds(span: tuple[int, int, str], tokens: list[tuple[int, int]], rng: random.Random) -> tuple[int, int, str]:
    """Move one boundary of `span` by one or two tokens (never to an empty span)."""
    inside = [k for k, (s, e) in enumerate(tokens) if s < span[1] and span[0] < e]
    if not inside:
        return span
    first, last = inside[0], inside[-1]
    step = rng.choice((1, 1, 2))
    moves = []
    if first - step >= 0:
        moves.append((first - step, last))
    if last + step < len(tokens):
        moves.append((first, last + step))
    if last > first:
        moves += [(first + 1, last), (first, last - 1)]
    if not moves:
        return span
    a, b = rng.choice(moves)
    return tokens[a][0], tokens[b][1], span[2]


def simulate_spans(truth: Sequence[tuple[int, int, str]], text: str, labels: Sequence[str], rng: random.Random,
                   errors: SpanErrors, allow_overlap: bool = False) -> list[tuple[int, int, str]]:
    """One simulated answer: spans `(start, end, label)` sorted, on token boundaries of `text`."""
    tokens = tokenize(text)
    out: list[tuple[int, int, str]] = []
    if not tokens:
        return out
    if not errors.spammer:
        for span in sorted(truth):
            r = rng.random()
            if r < errors.miss:
                continue
            if r < errors.miss + errors.bounds:
                span = _shift_bounds(span, tokens, rng)
            elif r < errors.miss + errors.bounds + errors.wrong_type and len(labels) > 1:
                span = (span[0], span[1], rng.choice([x for x in labels if x != span[2]]))
            if allow_overlap or not _overlaps(span, out):
                out.append(span)
    n_invented = errors.spurious if not errors.spammer else max(errors.spurious, 1.0)
    # Invented spans start on tokens no span covers, each with the same chance, so a text gets
    # `n_invented` of them on average (capped by its free tokens) and they never hide a true span.
    free = [k for k, (a, b) in enumerate(tokens) if allow_overlap or not _overlaps((a, b, ""), out)]
    p = min(1.0, n_invented / len(free)) if free else 0.0
    for k in free:
        if rng.random() < p:
            last = k
            for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
                nxt = last + 1
                if nxt >= len(tokens) or (not allow_overlap and _overlaps((tokens[nxt][0], tokens[nxt][1], ""), out)):
                    break
                last = nxt
            span = (tokens[k][0], tokens[last][1], rng.choice(list(labels)))
            if allow_overlap or not _overlaps(span, out):
                out.append(span)
    return sorted(set(out))


def _as_spans(truth: Any) -> list[tuple[int, int, str]]:
    if isinstance(truth, str):
        truth = json.loads(truth) if truth.strip() else []
    return [(int(s["start"]), int(s["end"]), str(s["label"])) for s in truth or []]


class _SpanSimulation(ErrorRateSimulation):
    def errors(self, accuracy: float, spammer: str | None, rng: random.Random) -> SpanErrors:
        """SIMULATION: a span annotator who finds each true span exactly with probability `accuracy`, its
        errors split in crowd proportions (misses, boundaries, types, invented spans). A "uniform" spammer
        ignores the text's entities and marks random words with random types; a "constant" one always
        answers "no entities", the lazy click. Draws nothing from `rng`: the profile follows from
        `accuracy`, so a crowd's seed means the same as for choices."""
        errors = SpanErrors.from_accuracy(accuracy)
        if spammer is not None:
            errors = SpanErrors(spurious=max(errors.spurious, 1.0), spammer=True)
        return errors

    def answer(self, profile: ErrorProfile, truth: Any, rng: random.Random, labels: Sequence[str],
               payload: str | None) -> list[dict[str, Any]]:
        """SIMULATION: what `profile` marks in `payload` when the true spans are `truth` (JSON form)."""
        if profile.spammer == "constant":
            return []
        spans = simulate_spans(_as_spans(truth), payload or "", labels, rng, profile.errors)
        return [{"start": s, "end": e, "label": lb} for s, e, lb in spans]


FACET = _SpanSimulation()
