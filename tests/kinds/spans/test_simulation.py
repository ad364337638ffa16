"""The simulated span annotator makes each kind of error at its rate, on token boundaries."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from tasks.kinds import get
from tasks.kinds.spans.simulation import SpanErrors, simulate_spans
from tasks.kinds.spans.tokens import tokenize

TEXT = "Yesterday Alice Smith flew from New York to Paris with Bob , then met Acme Corp people ."
TRUTH = [(10, 21, "person"), (32, 40, "location"), (44, 49, "location"), (55, 58, "person")]
LABELS = ("person", "location", "corporation")


def rates(errors: SpanErrors, n: int = 3000, seed: int = 0):
    rng = random.Random(seed)
    exact = missed = typed = bounds = invented = 0
    for _ in range(n):
        out = simulate_spans(TRUTH, TEXT, LABELS, rng, errors)
        got = set(out)
        exact += sum(t in got for t in TRUTH)
        for t in TRUTH:
            near = [o for o in out if o[0] < t[1] and t[0] < o[1]]
            if not near:
                missed += 1
            elif any((o[0], o[1]) == (t[0], t[1]) and o[2] != t[2] for o in near):
                typed += 1
            elif t not in got and any(o[2] == t[2] for o in near):
                bounds += 1
        invented += sum(not any(o[0] < t[1] and t[0] < o[1] for t in TRUTH) for o in out)
    k = n * len(TRUTH)
    return exact / k, missed / k, typed / k, bounds / k, invented / n


def test_perfect_annotator_returns_the_truth():
    assert simulate_spans(TRUTH, TEXT, LABELS, random.Random(1), SpanErrors()) == sorted(TRUTH)


def test_each_error_happens_at_its_rate():
    exact, missed, typed, bounds, invented = rates(SpanErrors(miss=0.2, bounds=0.15, wrong_type=0.1, spurious=0.5))
    assert exact == pytest.approx(0.55, abs=0.03)
    assert missed == pytest.approx(0.2, abs=0.03)
    assert typed == pytest.approx(0.1, abs=0.02)
    assert bounds == pytest.approx(0.15, abs=0.03)
    assert invented == pytest.approx(0.5, abs=0.1)  # a few invented spans land on a true one's place


def test_spans_fall_on_token_boundaries_and_never_overlap():
    starts = {a for a, _ in tokenize(TEXT)}
    ends = {b for _, b in tokenize(TEXT)}
    rng = random.Random(3)
    for _ in range(300):
        out = simulate_spans(TRUTH, TEXT, LABELS, rng, SpanErrors(miss=0.1, bounds=0.5, wrong_type=0.1, spurious=2.0))
        assert all(a in starts and b in ends and a < b for a, b, _ in out)
        assert all(x[1] <= y[0] for x, y in itertools.pairwise(out))


def test_spammer_ignores_the_truth():
    exact, *_ , invented = rates(SpanErrors(spurious=1.0, spammer=True), n=500)
    assert exact < 0.1 and invented > 0.3  # about half of its ~1 span per text lands on an entity by chance


def test_facet_answers_json_spans():
    facet = get("spans").simulation
    truth = json.dumps([{"start": s, "end": e, "label": lb} for s, e, lb in TRUTH])
    rng = random.Random(5)
    perfect = facet.annotator(1.0, list(LABELS), rng, None)
    assert facet.answer(perfect, truth, rng, list(LABELS), TEXT) == [{"start": s, "end": e, "label": lb}
                                                                   for s, e, lb in TRUTH]
    fair = facet.annotator(0.6, list(LABELS), rng, None)
    hits = sum(len({(d["start"], d["end"], d["label"]) for d in facet.answer(fair, truth, rng, list(LABELS), TEXT)}
                   & set(TRUTH)) for _ in range(500))
    assert hits / (500 * len(TRUTH)) == pytest.approx(0.6, abs=0.05)
    assert facet.answer(fair, [], rng, list(LABELS), "") == []


def test_spammer_profiles_spam():
    facet = get("spans").simulation
    rng = random.Random(9)
    truth = [{"start": s, "end": e, "label": lb} for s, e, lb in TRUTH]
    lazy = facet.annotator(0.95, list(LABELS), rng, "constant")
    assert all(facet.answer(lazy, truth, rng, list(LABELS), TEXT) == [] for _ in range(20))
    noisy = facet.annotator(0.95, list(LABELS), rng, "uniform")
    answers = [facet.answer(noisy, truth, rng, list(LABELS), TEXT) for _ in range(300)]
    exact = sum(len({(d["start"], d["end"], d["label"]) for d in a} & set(TRUTH)) for a in answers)
    assert exact / (300 * len(TRUTH)) < 0.1  # a 0.95-accurate person would find 95% of them
    assert sum(map(len, answers)) / 300 > 0.5  # it does mark things, at random


def test_bad_rates_are_refused():
    with pytest.raises(ValueError, match="miss \\+ bounds \\+ wrong_type <= 1"):
        SpanErrors(miss=0.6, bounds=0.6)
