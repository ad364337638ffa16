"""A classical object detector for the example's synthetic street scenes: no weights, nothing downloaded.

The reference `/detect` endpoint needs a detector that works offline on a fresh clone, so this is colour
segmentation plus shape rules, not a learned model: the background colour is the median of the image
border; a pixel is foreground where its colour is far from it; the connected components of the
foreground (`scipy.ndimage.label`) are the objects, their bounding boxes the boxes. A component's class
comes from its shape: wider than tall is a car, much taller than wide a person, about square a sign.
Its score is how clearly the shape sits inside its class's band of aspect ratios, scaled down for small
or ragged components. It is a modest detector on purpose (objects that touch merge, a leaning person may
pass for a sign): it gives people a draft to fix, and the pre-labeling stage calibrates its scores on gold
before anything is auto-accepted.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["DETECTOR_LABELS", "DETECTOR_VERSION", "detect"]

DETECTOR_VERSION = "shapes-1"
DETECTOR_LABELS = ("car", "person", "sign")

_MIN_AREA = 24          # pixels; smaller components are noise
_COLOUR_DISTANCE = 40.0  # RGB distance from the background beyond which a pixel is foreground
# log(h / w) bands: car below _CAR, person above _PERSON, sign between
_CAR, _PERSON = np.log(0.85), np.log(1.45)


def _foreground(rgb: np.ndarray) -> np.ndarray:
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
    background = np.median(border, axis=0)
    distance = np.sqrt(((rgb.astype(np.float32) - background) ** 2).sum(axis=2))
    mask = distance > _COLOUR_DISTANCE
    # close one-pixel gaps (anti-aliased outlines, a wheel touching its car) without merging separate objects
    return ndimage.binary_opening(ndimage.binary_closing(mask, iterations=1), iterations=1)


def detect(rgb: np.ndarray) -> list[dict]:
    """Boxes `{x, y, w, h, label, score}` (pixels, top-left origin) found in one `(H, W, 3)` uint8 image."""
    mask = _foreground(rgb)
    labelled, n = ndimage.label(mask)
    if n == 0:
        return []
    index = np.arange(1, n + 1)
    area = ndimage.sum_labels(mask, labelled, index)
    out = []
    for k, sl in enumerate(ndimage.find_objects(labelled)):
        if sl is None or area[k] < _MIN_AREA:
            continue
        y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        w, h = x1 - x0, y1 - y0
        ratio = float(np.log(h / w))
        if ratio < _CAR:
            label, margin = "car", _CAR - ratio
        elif ratio > _PERSON:
            label, margin = "person", ratio - _PERSON
        else:
            label, margin = "sign", min(ratio - _CAR, _PERSON - ratio)
        fill = area[k] / (w * h)
        # a clear shape margin, a solid fill and a reasonable size make a confident box; smooth terms (no caps)
        # keep the scores of different boxes apart, so calibration downstream can tell them apart
        score = (1 - np.exp(-4 * margin)) * (1 - np.exp(-3 * fill)) * (1 - np.exp(-area[k] / 120))
        out.append({"x": float(x0), "y": float(y0), "w": float(w), "h": float(h), "label": label,
                    "score": round(float(np.clip(0.05 + 0.9 * score, 0.0, 1.0)), 4)})
    return out
