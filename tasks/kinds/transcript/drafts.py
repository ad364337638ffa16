"""Machine transcripts as drafts: choosing one per clip, scoring it against a reference, and what people kept of it.

Word sequences are compared by word-level Levenshtein alignment (rapidfuzz, the engine under jiwer) on the
normalised texts, so "Twenty-one cats" and "21 cats" are the same two words. Kept words are the draft's
words that the alignment maps onto an equal word of the person's answer: what the annotator did not have
to type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz.distance import Levenshtein

__all__ = ["compare_rule", "kept_words", "medoid", "normalised_tokens", "word_errors"]


def compare_rule(options: Any) -> Callable[[pa.Array], pa.Array]:
    """The texts as compared under the project's `[answer]` options (case and punctuation)."""
    get = options.get if isinstance(options, dict) else (lambda k, d: getattr(options, k, d))
    lower, strip = bool(get("lowercase", True)), bool(get("strip_punctuation", True))

    def rule(texts: pa.Array) -> pa.Array:
        t = pc.utf8_normalize(texts.cast(pa.string()), form="NFC")
        if lower:
            t = pc.utf8_lower(t)
        if strip:
            t = pc.replace_substring_regex(t, r"[^\pL\pN\pM\s']", " ")
            t = pc.replace_substring_regex(t, r"(^|[^\pL\pN])'|'([^\pL\pN]|$)", r"\1 \2")
        return pc.utf8_trim_whitespace(pc.replace_substring_regex(t, r"\s+", " "))

    return rule


def normalised_tokens(texts: pa.Array, rule: Callable[[pa.Array], pa.Array]) -> list[list[str] | None]:
    """Each text's words after `rule` (None stays None)."""
    return [None if s is None else (s.split(" ") if s else []) for s in rule(texts).to_pylist()]


def word_errors(hyp: Sequence[str], ref: Sequence[str]) -> int:
    """Substitutions + deletions + insertions turning `ref` into `hyp` (the numerator of WER)."""
    return Levenshtein.distance(list(hyp), list(ref))


def kept_words(draft: Sequence[str], answer: Sequence[str]) -> int:
    """How many of the draft's words the answer keeps (aligned onto an equal word)."""
    if not draft or not answer:
        return 0
    return sum(op.src_end - op.src_start for op in Levenshtein.opcodes(list(draft), list(answer)) if op.tag == "equal")


def medoid(tokens: Sequence[Sequence[str]], weights: np.ndarray) -> tuple[int, float]:
    """(the hypothesis closest to the others, weighted by their sources' accuracy; its agreement with them in [0, 1]).

    Agreement is 1 minus the weighted mean of its word error rates against the others (each other hypothesis
    taken as the reference); with one hypothesis it is 1."""
    n = len(tokens)
    if n == 1:
        return 0, 1.0
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            e = word_errors(tokens[i], tokens[j])
            d[i, j], d[j, i] = e / max(len(tokens[j]), 1), e / max(len(tokens[i]), 1)
    w = np.asarray(weights, float)
    cost = np.array([(w * d[i]).sum() - w[i] * d[i, i] for i in range(n)]) / np.maximum(w.sum() - w, 1e-9)
    best = int(np.lexsort((-w, cost))[0])  # ties: the more accurate source
    return best, float(np.clip(1.0 - cost[best], 0.0, 1.0))
