"""Monotone calibration of a raw score to measured precision, shared by the span model and the combiner.

Isotonic regression (pool adjacent violators) over the distinct raw scores, each pooled block's precision
smoothed with a Beta(1, 1) prior: with a few dozen gold answers a plain isotonic fit promises 0 or 1 on
small blocks, which routing would then trust; the prior keeps such blocks honest about their size.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Calibrator", "fit_calibrator"]


class Calibrator:
    """A non-decreasing step function: raw scores `xs` (ascending) map to confidences `ys`."""

    def __init__(self, xs: np.ndarray, ys: np.ndarray) -> None:
        self.xs, self.ys = np.asarray(xs, float), np.asarray(ys, float)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, float)
        if not len(self.xs):
            return raw.copy()
        # a score between two fitted levels takes the lower one (never promises more than measured)
        at = np.clip(np.searchsorted(self.xs, raw, side="right") - 1, 0, len(self.xs) - 1)
        return self.ys[at]


def fit_calibrator(raw: np.ndarray, ok: np.ndarray) -> Calibrator:
    raw, ok = np.asarray(raw, float), np.asarray(ok, bool)
    xs, inv = np.unique(raw, return_inverse=True)
    hits = np.bincount(inv, weights=ok.astype(float), minlength=len(xs))
    n = np.bincount(inv, minlength=len(xs)).astype(float)
    blocks: list[list[float]] = []  # [hits, n, how many levels]
    for h, m in zip(hits, n):
        blocks.append([h, m, 1])
        while len(blocks) > 1 and (blocks[-2][0] + 1) / (blocks[-2][1] + 2) > (blocks[-1][0] + 1) / (blocks[-1][1] + 2):
            h2, m2, c2 = blocks.pop()
            blocks[-1][0] += h2
            blocks[-1][1] += m2
            blocks[-1][2] += c2
    ys = np.array([(h + 1) / (m + 2) for h, m, c in blocks for _ in range(int(c))])
    return Calibrator(xs, ys)
