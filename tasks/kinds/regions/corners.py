"""IoU of regions given by their corners, whatever their number of axes (see the package docstring)."""

from __future__ import annotations

import numpy as np

__all__ = ["corner_iou", "extent"]


def extent(corners: np.ndarray) -> np.ndarray:
    """(n, d) side lengths of (n, 2d) corners."""
    d = corners.shape[1] // 2
    return corners[:, d:] - corners[:, :d]


def corner_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of `a[i]` with `b[i]` for aligned (n, 2d) corner arrays: the hot path of matching across many items."""
    d = a.shape[1] // 2
    lo = np.maximum(a[:, :d], b[:, :d])
    hi = np.minimum(a[:, d:], b[:, d:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    union = np.prod(extent(a), axis=1) + np.prod(extent(b), axis=1) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)
