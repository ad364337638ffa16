"""Calibration checks: expected calibration error and a reliability table over confidence bins."""

from __future__ import annotations

__all__ = ["reliability_table", "expected_calibration_error"]

import numpy as np
import pyarrow as pa


def _bins(confidence, correct, n_bins):
    conf = np.asarray(confidence, np.float64)
    ok = np.asarray(correct, np.float64)
    if conf.shape != ok.shape:
        raise ValueError(f"confidence and correct differ in shape: {conf.shape!r} vs {ok.shape!r}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins!r}")
    # Equal-width bins on [0, 1]; 1.0 falls in the last bin.
    b = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    n = np.bincount(b, minlength=n_bins)
    s_conf = np.bincount(b, weights=conf, minlength=n_bins)
    s_ok = np.bincount(b, weights=ok, minlength=n_bins)
    return n, s_conf, s_ok


def reliability_table(confidence, correct, n_bins: int = 10) -> pa.Table:
    """Per bin: bounds, count, mean confidence, accuracy (null in empty bins).

    Whether a confidence of 0.9 is right 90% of the time is what makes the target-confidence
    setting of the resolution rule mean anything.
    """
    n, s_conf, s_ok = _bins(confidence, correct, n_bins)
    empty = n == 0
    safe = np.where(empty, 1, n)
    edges = np.linspace(0, 1, n_bins + 1)
    return pa.table({
        "bin_low": edges[:-1], "bin_high": edges[1:], "n": n,
        "mean_confidence": pa.array(s_conf / safe, mask=empty),
        "accuracy": pa.array(s_ok / safe, mask=empty),
    })


def expected_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """Sum over bins of (bin share) * |accuracy - mean confidence|; 0.0 for no items."""
    n, s_conf, s_ok = _bins(confidence, correct, n_bins)
    total = n.sum()
    return float(np.abs(s_ok - s_conf).sum() / total) if total else 0.0
