"""A classical object detector for the example's synthetic street scenes: no weights, nothing downloaded.

The reference `/detect` endpoint needs a detector that works offline on a fresh clone, so this is colour
segmentation plus part rules, not a learned model. Scenery (sky, road, buildings, kerb, lane marks) is
every colour covering much of the picture or running across it in a strip; the rest splits into regions of
one flat colour. An object is assembled from its parts as the annotators' instructions describe them: a
car is a body with a cabin on top (the body's colour, darkened) and dark wheels below, a person a body with
a round head on top and dark legs below, a sign a plate on a thin grey pole (its box leaves the pole out).
Assembling parts rather than taking blobs keeps touching objects apart; a body cut in two by a nearer
object in front is joined again (same colour, same rows, the gap covered by the occluder). A region with
no parts around it falls back to its shape (wide is a car, tall a person, square a sign), scored low.

The score says how much evidence a box has: all its kinds of part seen and nothing else in its blob is
high; parts missing or other objects touching is lower; a guess from shape alone is low. The pre-labeling
stage calibrates it on gold before anything is auto-accepted. Tuned on scenes drawn by
`examples/shapes-boxes/generate.py` with other seeds (`python -m bench.box_prelabel --generator-seed N`),
never on the example's own images.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["DETECTOR_LABELS", "DETECTOR_VERSION", "detect"]

DETECTOR_VERSION = "shapes-2"
DETECTOR_LABELS = ("car", "person", "sign")

_MIN_AREA = 20  # pixels; a box with fewer object pixels is noise
_MIN_PART = 4  # pixels; smaller one-colour regions are slivers between shapes, not parts
_BACKGROUND_SHARE = 0.04  # a colour covering this share of the picture is scenery (sky, road, a building)
_STRIP_ROWS = 8  # a colour spanning most of the width within this many rows is a strip (kerb, lane marks)
_BLOCK = 0.95, 10  # a solid rectangle (fill, smallest side in px) standing on scenery is a building
_CAR, _PERSON = np.log(0.6), np.log(1.6)  # log(h / w) bands of a part-less region: car, sign, person
_BELOW = {"wheel": "car", "legs": "person", "pole": "sign"}  # a part under a body says what the body is
_PARTS = {"car": 2, "person": 2, "sign": 1}  # kinds of part a fully seen object shows


class _Region:
    """One connected region of a single colour: its pixels, bounds and what part of an object it is."""

    __slots__ = ("code", "id", "kind", "rgb", "x0", "x1", "xs", "y0", "y1", "ys")

    def __init__(self, rid: int, code: int, ys: np.ndarray, xs: np.ndarray) -> None:
        self.id, self.code, self.kind = rid, code, None
        self.rgb = np.array([code >> 16, (code >> 8) & 255, code & 255])
        self.set_pixels(ys, xs)

    def set_pixels(self, ys: np.ndarray, xs: np.ndarray) -> None:
        self.ys, self.xs = ys, xs
        self.x0, self.x1, self.y0, self.y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())

    @property
    def w(self) -> int:
        return self.x1 - self.x0 + 1

    @property
    def h(self) -> int:
        return self.y1 - self.y0 + 1


def _foreground(code: np.ndarray) -> tuple[np.ndarray, int]:
    """(pixels not of a scenery colour, the horizon row). Scenery is drawn in flat colours that reach the
    border and cover much of the picture, or run across it in a thin strip; objects are small and stand
    inside the frame. The street starts at the first row mostly of the road's colour or a strip (the kerb):
    everything standing on it ends below that row, the buildings behind it end above."""
    h, w = code.shape
    _, inverse, counts = np.unique(code.ravel(), return_inverse=True, return_counts=True)
    rows, cols = np.divmod(np.arange(h * w), w)
    n = len(counts)
    x_min, x_max, y_min, y_max = np.full(n, w), np.full(n, -1), np.full(n, h), np.full(n, -1)
    np.minimum.at(x_min, inverse, cols)
    np.maximum.at(x_max, inverse, cols)
    np.minimum.at(y_min, inverse, rows)
    np.maximum.at(y_max, inverse, rows)
    strip = (x_max - x_min + 1 >= 0.6 * w) & (y_max - y_min + 1 <= _STRIP_ROWS)
    # objects stand inside the frame, so a common colour that never reaches the border is cars of one colour
    border = (x_min == 0) | (y_min == 0) | (x_max == w - 1) | (y_max == h - 1)
    scenery = ((counts >= _BACKGROUND_SHARE * h * w) & border) | strip
    ground = scenery[inverse].reshape(h, w) & (strip[inverse].reshape(h, w) | (code == code[-1, 0]))
    rows_ground = np.flatnonzero(ground.mean(axis=1) >= 0.5)
    return ~scenery[inverse].reshape(h, w), int(rows_ground[0]) if len(rows_ground) else h


def _regions(code: np.ndarray, fg: np.ndarray) -> tuple[list[_Region | None], np.ndarray]:
    """The one-colour regions of the foreground (4-connected), and a region-id map padded by one pixel
    (0 = scenery or a sliver) so neighbours can be looked up without bounds checks. One graph pass over
    all pixels, not one labelling per colour: a photo's thousands of colours stay cheap."""
    h, w = code.shape
    idx = np.arange(h * w).reshape(h, w)
    right = fg[:, :-1] & fg[:, 1:] & (code[:, :-1] == code[:, 1:])
    down = fg[:-1, :] & fg[1:, :] & (code[:-1, :] == code[1:, :])
    src = np.concatenate([idx[:, :-1][right], idx[:-1, :][down]])
    dst = np.concatenate([idx[:, 1:][right], idx[1:, :][down]])
    graph = coo_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(h * w, h * w))
    _, comp = connected_components(graph, directed=False)
    pix = np.flatnonzero(fg.ravel())
    comp = comp[pix]
    order = np.argsort(comp, kind="stable")
    pix, comp = pix[order], comp[order]
    starts = np.flatnonzero(np.r_[True, comp[1:] != comp[:-1]])
    sizes = np.diff(np.r_[starts, len(comp)])
    rid = np.zeros((h + 2, w + 2), np.int64)
    regions: list[_Region | None] = [None]
    for start, size in zip(starts[sizes >= _MIN_PART], sizes[sizes >= _MIN_PART]):
        ys, xs = np.divmod(pix[start : start + size], w)
        region = _Region(len(regions), int(code[ys[0], xs[0]]), ys, xs)
        regions.append(region)
        rid[ys + 1, xs + 1] = region.id
    return regions, rid


def _touching(r: _Region, rid: np.ndarray, dy: int) -> list[int]:
    """Regions next to `r` one row down (dy=1) or up (dy=-1)."""
    ids = rid[r.ys + 1 + dy, r.xs + 1]
    return np.unique(ids[(ids != 0) & (ids != r.id)]).tolist()


def _cabin_of(top: np.ndarray, body: np.ndarray) -> bool:
    """A car's cabin is drawn in its body's colour darkened: half of it plus 60 per channel."""
    return bool(np.all(np.abs(body // 2 + 60 - top) <= 1))


def _part_kind(r: _Region) -> str | None:
    """A part told by its neutral colour and thin shape: dark wheels, dark-grey legs, a grey pole."""
    lo, hi = int(r.rgb.min()), int(r.rgb.max())
    if hi - lo > 12:
        return None
    if hi <= 30:
        return "wheel"
    if 40 <= hi <= 75 and r.w <= 7 and r.h >= r.w:
        return "legs"
    if 100 <= hi <= 140 and r.w <= 5 and r.h >= 2 * r.w:
        return "pole"
    return None


def _type_parts(regions: list[_Region | None], rid: np.ndarray) -> None:
    """Mark wheels, legs, poles, and cabins (a region sitting on a body of the matching colour)."""
    for r in regions[1:]:
        r.kind = _part_kind(r)
    for r in regions[1:]:
        if r.kind is None and any(
            regions[b].kind is None and _cabin_of(r.rgb, regions[b].rgb) for b in _touching(r, rid, 1)
        ):
            r.kind = "cabin"


def _join_cut_bodies(bodies: list[_Region], rid: np.ndarray) -> list[_Region]:
    """A nearer object in front of a body cuts it in two regions of the same colour and rows, the gap
    between them covered by the occluder: join them, or the object would be boxed twice, each half short."""
    kept: dict[int, list[_Region]] = {}  # by colour: only regions of one colour can be one body
    for r in sorted(bodies, key=lambda r: (r.code, r.y0, r.x0)):
        same = kept.setdefault(r.code, [])
        for m in same:
            if (abs(m.y0 - r.y0) <= 1 and abs(m.y1 - r.y1) <= 1 and r.x0 > m.x1
                    and (rid[max(m.y0, r.y0) + 1 : min(m.y1, r.y1) + 2, m.x1 + 2 : r.x0 + 1] != 0).all()):
                m.set_pixels(np.concatenate([m.ys, r.ys]), np.concatenate([m.xs, r.xs]))
                rid[r.ys + 1, r.xs + 1] = m.id
                break
        else:
            same.append(r)
    return [r for group in kept.values() for r in group]


def _heads(bodies: list[_Region], regions: list[_Region | None], rid: np.ndarray) -> dict[int, list[int]]:
    """Body id -> its head: a roundish region sitting centred on a body not much wider than itself (a
    sign's plate sits on a pole instead, a car's cabin was already told by its colour)."""
    heads: dict[int, list[int]] = {}
    for r in bodies:
        centre = (r.x0 + r.x1) // 2
        if abs(r.h - r.w) > 2 or r.y1 + 2 >= rid.shape[0] - 1:
            continue
        b = int(rid[r.y1 + 2, centre + 1])
        o = regions[b] if b else None
        if (o is not None and o.kind is None and o.id != r.id and o.x0 <= centre <= o.x1 and o.y0 == r.y1 + 1
                and r.w <= o.w + 3 and o.w <= r.w + 6 and o.h >= 0.6 * r.h):
            r.kind = "head"
            heads.setdefault(o.id, []).append(r.id)
    return heads


def _evidence(a: _Region, regions: list[_Region | None], rid: np.ndarray, heads: list[int]) -> dict[str, list[int]]:
    """Per class, the parts seen around body `a`: wheels or legs or a pole below, a cabin or a head above."""
    ev: dict[str, list[int]] = {"car": [], "person": list(heads), "sign": []}
    for b in _touching(a, rid, 1):
        kind = regions[b].kind
        if kind in _BELOW and (kind != "wheel" or a.w >= 1.5 * a.h):  # a plate in front of a car sits on its wheel
            ev[_BELOW[kind]].append(b)
    for b in _touching(a, rid, -1):
        if regions[b].kind == "cabin" and _cabin_of(regions[b].rgb, a.rgb):
            ev["car"].append(b)
    return ev


def _shape_guess(a: _Region, rid: np.ndarray, horizon: int) -> tuple[str, float] | None:
    """(label, strength) of a region with no parts around it, from its shape; None for scenery left over
    (a building not caught by colour, a sliver of lane mark) or a speck."""
    fill = a.ys.size / (a.w * a.h)
    standing_on_scenery = (rid[a.y1 + 2, a.x0 + 1 : a.x1 + 2] == 0).mean() >= 0.7
    if a.ys.size < _MIN_AREA or min(a.w, a.h) <= 3 or a.y1 < horizon:
        return None
    if fill >= _BLOCK[0] and min(a.w, a.h) >= _BLOCK[1] and standing_on_scenery:
        return None
    ratio = float(np.log(a.h / a.w))
    if ratio < _CAR:
        label, margin = "car", _CAR - ratio
    elif ratio > _PERSON:
        label, margin = "person", ratio - _PERSON
    else:
        label, margin = "sign", 2 * min(ratio - _CAR, _PERSON - ratio)  # the band is narrow: scale to the others
    return label, 0.35 * (1 - np.exp(-4 * margin))


def detect(rgb: np.ndarray) -> list[dict]:
    """Boxes `{x, y, w, h, label, score}` (pixels, top-left origin) found in one `(H, W, 3)` uint8 image."""
    rgb = rgb[..., :3].astype(np.int64)
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    height, width = code.shape
    fg, horizon = _foreground(code)
    regions, rid = _regions(code, fg)
    _type_parts(regions, rid)
    bodies = _join_cut_bodies([r for r in regions[1:] if r.kind is None], rid)
    heads = _heads(bodies, regions, rid)
    bodies = [r for r in bodies if r.kind is None]
    blobs, _ = ndimage.label(fg)
    crowd = np.bincount([blobs[a.ys[0], a.xs[0]] for a in bodies], minlength=int(blobs.max()) + 1)
    out = []
    for a in bodies:
        ev = _evidence(a, regions, rid, heads.get(a.id, []))
        kinds = {k: len({regions[b].kind for b in v}) for k, v in ev.items()}
        label = max(kinds, key=kinds.__getitem__)
        ys, xs = [a.ys], [a.xs]
        if kinds[label] == 0:
            guess = _shape_guess(a, rid, horizon)
            if guess is None:
                continue
            label, strength = guess
        else:
            alone = crowd[blobs[a.ys[0], a.xs[0]]] <= 1
            strength = (0.6 + 0.35 * min(1.0, kinds[label] / _PARTS[label])) * (1.0 if alone else 0.8)
            reach = 3 if label == "person" else 0  # a small person's head is wider than its body
            for b in ev[label]:
                o = regions[b]
                if o.kind != "pole":  # a sign's box is its plate; wheels and legs of a neighbour are cut off
                    keep = (o.xs >= a.x0 - reach) & (o.xs <= a.x1 + reach)
                    ys.append(o.ys[keep])
                    xs.append(o.xs[keep])
        ys, xs = np.concatenate(ys), np.concatenate(xs)
        cabins = [regions[b] for b in ev["car"] if regions[b].kind == "cabin"] if label == "car" else []
        # cabins ending on different rows are different cars (one cut by an occluder keeps its rows)
        two_cars = len(cabins) > 1 and max(c.y1 for c in cabins) - min(c.y1 for c in cabins) >= 2
        for py, px in _split_same_coloured_cars(ys, xs, cabins) if two_cars else [(ys, xs)]:
            x0, x1, y0, y1 = int(px.min()), int(px.max()) + 1, int(py.min()), int(py.max()) + 1
            if x0 == 0 or y0 == 0 or x1 == width or y1 == height or py.size < _MIN_AREA:
                continue  # cut by the frame: scenery (a building at the edge) or an object too partial to box well
            score = strength * (1 - np.exp(-py.size / 80))
            out.append({"x": float(x0), "y": float(y0), "w": float(x1 - x0), "h": float(y1 - y0), "label": label,
                        "score": round(float(np.clip(0.05 + 0.9 * score, 0.0, 1.0)), 4)})
    return out


def _split_same_coloured_cars(ys: np.ndarray, xs: np.ndarray, cabins: list[_Region]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Two cars of one colour that overlap share one body region but keep a cabin each. A cabin spans the
    middle 55% of its car (from a fifth of the width to a quarter before the end), so each cabin tells its
    car's columns; where two cars' columns overlap, a pixel below the nearer car's cabin is the nearer car's
    (it is drawn over the farther one), above it the farther car's."""
    cabins = sorted(cabins, key=lambda c: c.y1)  # farther (higher up) first, nearer last
    spans = []
    for c in cabins:
        w = c.w / 0.55
        spans.append((c.x0 - 0.2 * w - 1, c.x0 - 0.2 * w + w + 1, c.y1))
    owner = np.full(len(xs), -1)
    for k, (lo, hi, cabin_bottom) in enumerate(spans):  # nearer cars later: they take the pixels below their cabin
        inside = (xs >= lo) & (xs <= hi)
        owner[inside & ((owner < 0) | (ys > cabin_bottom))] = k
    centres = np.array([(c.x0 + c.x1) / 2 for c in cabins])
    lost = owner < 0
    owner[lost] = np.abs(xs[lost, None] - centres[None, :]).argmin(axis=1)
    return [(ys[owner == k], xs[owner == k]) for k in range(len(cabins)) if (owner == k).any()]
