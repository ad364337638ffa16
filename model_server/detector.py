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

_MIN_AREA = 20          # pixels; smaller components are noise
_BACKGROUND_SHARE = 0.04  # a colour covering this share of the picture is scenery (sky, road, a building)
_STRIP_ROWS = 8           # a colour spanning most of the width within this many rows is a strip (kerb, lane marks)
_STEM_SHARE, _STEM_ROWS = 0.35, 5  # a run of at least _STEM_ROWS bottom rows narrower than this share of the
                                   # component's widest row is a pole (legs are wider: two of a third each)
_BLOCK = 0.97, 26         # a solid rectangle (fill, smallest side in px) this full and big is a building
# log(h / w) bands: car below _CAR, person above _PERSON, sign between
_CAR, _PERSON = np.log(0.85), np.log(1.6)


def _foreground(rgb: np.ndarray) -> np.ndarray:
    """Pixels not of a scenery colour. Scenery is drawn in flat colours that cover much of the picture or run
    across it in a thin strip; objects are small and never span the street."""
    h, w, _ = rgb.shape
    code = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    colours, inverse, counts = np.unique(code.ravel(), return_inverse=True, return_counts=True)
    cols = np.tile(np.arange(w), h)
    rows = np.repeat(np.arange(h), w)
    x_min = np.full(len(colours), w)
    x_max = np.full(len(colours), -1)
    y_min = np.full(len(colours), h)
    y_max = np.full(len(colours), -1)
    np.minimum.at(x_min, inverse, cols)
    np.maximum.at(x_max, inverse, cols)
    np.minimum.at(y_min, inverse, rows)
    np.maximum.at(y_max, inverse, rows)
    strip = (x_max - x_min + 1 >= 0.6 * w) & (y_max - y_min + 1 <= _STRIP_ROWS)
    scenery = (counts >= _BACKGROUND_SHARE * h * w) | strip
    return ~scenery[inverse].reshape(h, w)


def _trim_stem(mask: np.ndarray) -> int:
    """Rows to drop at the bottom of one component's mask: a sign's pole, which its box leaves out."""
    width = mask.sum(axis=1)
    run = 0
    for v in width[::-1]:
        if v > max(2, _STEM_SHARE * width.max()):
            break
        run += 1
    return run if _STEM_ROWS <= run < len(width) else 0


def detect(rgb: np.ndarray) -> list[dict]:
    """Boxes `{x, y, w, h, label, score}` (pixels, top-left origin) found in one `(H, W, 3)` uint8 image."""
    mask = _foreground(rgb[..., :3])
    labelled, n = ndimage.label(mask)
    if n == 0:
        return []
    out = []
    for k, sl in enumerate(ndimage.find_objects(labelled)):
        if sl is None:
            continue
        own = labelled[sl] == k + 1
        cut = _trim_stem(own)
        if cut:
            own = own[: own.shape[0] - cut]
            keep = np.flatnonzero(own.any(axis=0))
            own = own[:, keep[0] : keep[-1] + 1]
            sl = (slice(sl[0].start, sl[0].stop - cut), slice(sl[1].start + keep[0], sl[1].start + keep[-1] + 1))
        area = float(own.sum())
        if area < _MIN_AREA:
            continue
        y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        if x0 == 0 or y0 == 0 or x1 == mask.shape[1] or y1 == mask.shape[0]:
            continue  # cut by the frame: scenery (a building at the edge), or an object too partial to box well
        w, h = x1 - x0, y1 - y0
        ratio = float(np.log(h / w))
        if ratio < _CAR:
            label, margin = "car", _CAR - ratio
        elif ratio > _PERSON:
            label, margin = "person", ratio - _PERSON
        else:
            label, margin = "sign", 2 * min(ratio - _CAR, _PERSON - ratio)  # the band is narrow: scale to the others
        fill = area / (w * h)
        if fill >= _BLOCK[0] and min(w, h) >= _BLOCK[1]:
            continue
        # a clear shape margin, a solid fill and a reasonable size make a confident box; smooth terms (no caps)
        # keep the scores of different boxes apart, so calibration downstream can tell them apart
        score = (1 - np.exp(-4 * margin)) * (1 - np.exp(-3 * fill)) * (1 - np.exp(-area / 120))
        out.append({"x": float(x0), "y": float(y0), "w": float(w), "h": float(h), "label": label,
                    "score": round(float(np.clip(0.05 + 0.9 * score, 0.0, 1.0)), 4)})
    return out
