"""The simulated segment annotator: deterministic from its rng, errs at its rates, spammers as named."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tasks.kinds import get
from tasks.kinds.regions.corners import corner_iou
from tasks.kinds.segments.intervals import check_segments
from tasks.kinds.segments.simulation import SegmentErrors, simulate_segments

LABELS = ("alice", "bob", "music")
TRUTH = [{"start_s": 1.0, "end_s": 3.0, "label": "alice"}, {"start_s": 5.0, "end_s": 8.0, "label": "bob"}]


def test_same_seed_same_crowd():
    sim = get("segments").simulation
    runs = []
    for _ in range(2):
        rng = random.Random(5)
        profiles = [sim.annotator(0.8, LABELS, rng, None), sim.annotator(0.8, LABELS, rng, "constant")]
        runs.append([sim.answer(p, TRUTH, rng, LABELS, None) for p in profiles for _ in range(5)])
    assert runs[0] == runs[1]


def test_error_rates_are_kept():
    rng = random.Random(1)
    truth = [(2.0, 6.0, "alice")]
    errors = SegmentErrors(jitter_s=0.2, miss=0.3, wrong_label=0.2, false_pos=0.5)
    found = wrong = invented = 0
    starts = []
    n = 3000
    for _ in range(n):
        out = simulate_segments(truth, LABELS, rng, errors, duration=10.0)
        ious = corner_iou(np.array([r[:2] for r in out]).reshape(-1, 2), np.repeat([[2.0, 6.0]], len(out), axis=0))
        hit = [r for r, x in zip(out, ious) if x >= 0.5]
        found += bool(hit)
        wrong += bool(hit) and hit[0][2] != "alice"
        invented += len(out) - len(hit)
        starts += [hit[0][0]] if hit else []
    assert found / n == pytest.approx(0.7, abs=0.03)
    assert wrong / found == pytest.approx(0.2, abs=0.03)
    assert invented / n == pytest.approx(0.5, abs=0.06)
    # boundary jitter in seconds (a robust spread: an invented region can land on the event too)
    assert 1.4826 * np.median(np.abs(np.array(starts) - 2.0)) == pytest.approx(0.2, abs=0.02)


def test_answers_are_valid_and_inside_the_clip():
    sim = get("segments").simulation
    rng = random.Random(4)
    p = sim.annotator(0.5, LABELS, rng, None)
    for _ in range(200):
        ans = sim.answer(p, TRUTH, rng, LABELS, '{"duration_s": 9.0}')
        assert check_segments(ans, LABELS, 9.0, allow_overlap=True) is not None


def test_spammers():
    sim = get("segments").simulation
    rng = random.Random(2)
    uniform = sim.annotator(0.9, LABELS, rng, "uniform")
    regions = [r for _ in range(200) for r in sim.answer(uniform, TRUTH, rng, LABELS, '{"duration_s": 10}')]
    assert len(regions) >= 200 and all(0 <= r["start_s"] < r["end_s"] <= 10 for r in regions)
    t = np.array([[x["start_s"], x["end_s"]] for x in TRUTH])
    hits = [max(corner_iou(np.array([[r["start_s"], r["end_s"]]] * 2), t)) >= 0.5 and
            r["label"] == TRUTH[int(np.argmax(corner_iou(np.array([[r["start_s"], r["end_s"]]] * 2), t)))]["label"]
            for r in regions]
    assert np.mean(hits) < 0.15  # random regions, not the events
    lazy = sim.annotator(0.9, LABELS, random.Random(0), "constant")
    assert len({str(sim.answer(lazy, TRUTH, rng, LABELS, None)) for _ in range(20)}) == 1
    with pytest.raises(ValueError, match="spammer"):
        sim.annotator(0.9, LABELS, rng, "sometimes")
