"""The simulated box annotator: deterministic from its rng, errs at its rates, spammers as named."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tasks.kinds import get
from tasks.kinds.boxes.geometry import iou_matrix
from tasks.kinds.boxes.simulation import BoxErrors, simulate_boxes

LABELS = ("car", "person", "sign")
TRUTH = [{"x": 40.0, "y": 40.0, "w": 100.0, "h": 80.0, "label": "car"},
         {"x": 300.0, "y": 200.0, "w": 60.0, "h": 120.0, "label": "person"}]


def test_same_seed_same_crowd():
    sim = get("boxes").simulation
    runs = []
    for _ in range(2):
        rng = random.Random(5)
        profiles = [sim.annotator(0.8, LABELS, rng, None), sim.annotator(0.8, LABELS, rng, "constant")]
        runs.append([sim.answer(p, TRUTH, rng, LABELS, None) for p in profiles for _ in range(5)])
    assert runs[0] == runs[1]


def test_error_rates_are_kept():
    rng = random.Random(1)
    truth = [(40.0, 40.0, 100.0, 80.0, "car")]
    errors = BoxErrors(jitter=0.05, miss=0.3, wrong_class=0.2, false_pos=0.5)
    found = wrong = invented = 0
    n = 3000
    for _ in range(n):
        out = simulate_boxes(truth, LABELS, rng, errors)
        ious = iou_matrix(np.array([b[:4] for b in out]).reshape(-1, 4), np.array([truth[0][:4]]))[:, 0]
        hit = [b for b, x in zip(out, ious) if x >= 0.5]
        found += bool(hit)
        wrong += bool(hit) and hit[0][4] != "car"
        invented += len(out) - len(hit)
    assert found / n == pytest.approx(0.7, abs=0.03)
    assert wrong / found == pytest.approx(0.2, abs=0.03)
    assert invented / n == pytest.approx(0.5, abs=0.05)


def test_spammers():
    sim = get("boxes").simulation
    rng = random.Random(2)
    uniform = sim.annotator(0.9, LABELS, rng, "uniform")
    boxes = [b for _ in range(200) for b in sim.answer(uniform, TRUTH, rng, LABELS, '{"width": 320, "height": 240}')]
    assert len(boxes) >= 200  # at least one box per image
    assert all(0 <= b["x"] and b["x"] + b["w"] <= 320.01 and b["y"] + b["h"] <= 240.01 for b in boxes)
    hits = iou_matrix(np.array([[b["x"], b["y"], b["w"], b["h"]] for b in boxes]),
                      np.array([[t["x"], t["y"], t["w"], t["h"]] for t in TRUTH])).max(axis=1) >= 0.5
    assert hits.mean() < 0.1  # random boxes, not the objects
    lazy = sim.annotator(0.9, LABELS, random.Random(0), "constant")
    answers = {str(sim.answer(lazy, TRUTH, rng, LABELS, None)) for _ in range(20)}
    assert len(answers) == 1  # the same answer every time: no objects, or one fixed box
    with pytest.raises(ValueError, match="spammer"):
        sim.annotator(0.9, LABELS, rng, "sometimes")
