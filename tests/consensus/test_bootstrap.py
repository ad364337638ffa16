"""The Gaussian shortcut for the alpha bootstrap on many units matches resampling."""

import numpy as np

from tasks.consensus import agreement


def _counts(u=30_000, k=3, seed=3):
    rng = np.random.default_rng(seed)
    truth, m = rng.integers(0, k, u), rng.integers(2, 6, u)
    c = np.zeros((u, k), int)
    for j in range(6):
        lab = np.where(rng.random(u) < 0.7, truth, rng.integers(0, k, u))
        np.add.at(c, (np.arange(u)[j < m], lab[j < m]), 1)
    return c


def test_normal_bootstrap_matches_resampling(monkeypatch):
    c = _counts()
    fast = agreement.krippendorff_alpha(None, ["a", "b", "c"], n_boot=400, counts=c)
    monkeypatch.setattr(agreement, "_EXACT_BOOTSTRAP_UNITS", 10 ** 9)
    exact = agreement.krippendorff_alpha(None, ["a", "b", "c"], n_boot=400, counts=c)
    assert fast["alpha"] == exact["alpha"]
    width = exact["high"] - exact["low"]
    assert abs(fast["low"] - exact["low"]) < 0.15 * width and abs(fast["high"] - exact["high"]) < 0.15 * width
