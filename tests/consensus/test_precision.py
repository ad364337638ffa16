"""Dawid-Skene in float32 (used from 1M votes on) gives the float64 answer."""

import numpy as np
import pytest

from bench.consensus import synthetic
from tasks.consensus.dawid_skene import DawidSkene


def test_float32_matches_float64():
    votes, _, classes = synthetic(50_000, 10_000, 500)
    a = DawidSkene(classes, precision="float64").fit(votes)
    b = DawidSkene(classes, precision="float32").fit(votes)
    assert a.labels_["label"].to_pylist() == b.labels_["label"].to_pylist()
    assert np.abs(a.posteriors_ - b.posteriors_).max() < 1e-3
    assert b.posteriors_.dtype == np.float64 and b.converged_
    assert b.log_likelihood_[-1] == pytest.approx(a.log_likelihood_[-1], rel=1e-5)


def test_unknown_precision_is_echoed():
    with pytest.raises(ValueError, match="'float16'"):
        DawidSkene(["a", "b"], precision="float16")
