"""Build the shapes-boxes sample project: synthetic street scenes with known boxes.

    python examples/shapes-boxes/generate.py

Writes (relative to this folder), byte-for-byte reproducibly:
    data/images/scene_<nn>.png   80 street scenes, 160x120 to 320x240 px, 0-5 objects each
    truth/labels.jsonl           {"file", "answer"} for every image: its true boxes (evaluation only)
    gold/gold.jsonl              the same for 15 of them, the hidden gold items

Three kinds of object, drawn in flat colours so each is recognisable at a glance: a car (body, cabin
and two wheels), a person (head, body, legs) and a sign (a plate on a pole). Objects nearer the
viewer (lower in the picture) are bigger and drawn over farther ones. A true box is the tight box of
the object's visible pixels (for a sign: the plate, not the pole), computed from a mask drawn with
the same shapes, so it is exact. No object is more than half hidden.

Needs only numpy and Pillow; nothing is downloaded.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SEED = 2026
N_IMAGES = 80
N_GOLD = 15
SIZES = [(160, 120), (192, 144), (224, 168), (256, 192), (320, 240)]
COUNTS = [0, 1, 2, 2, 3, 3, 4, 5]  # objects per image, drawn uniformly from this list
MIN_VISIBLE = 0.5

SKY, ROAD, KERB, LANE = (176, 206, 230), (96, 98, 104), (150, 150, 146), (235, 235, 220)
BUILDINGS = [(184, 160, 132), (150, 156, 170), (200, 186, 160), (170, 140, 120)]
CAR_COLOURS = [(196, 38, 38), (40, 86, 190), (236, 236, 236), (34, 34, 40), (56, 150, 70), (232, 180, 30)]
CLOTHES = [(40, 60, 140), (150, 30, 40), (60, 120, 60), (120, 80, 40), (90, 90, 90)]
SKIN = [(240, 200, 170), (200, 150, 110), (140, 95, 65)]
PLATES = [(210, 30, 30), (30, 80, 200), (240, 200, 20)]


def _car(draw: ImageDraw.ImageDraw, x: int, bottom: int, s: float, colour, fill=None) -> None:
    w, h = round(56 * s), round(26 * s)
    r = max(3, round(6 * s))
    top = bottom - h
    body = fill or colour
    draw.rectangle([x, top + h // 3, x + w - 1, bottom - r], fill=body)                  # body
    draw.rectangle([x + w // 5, top, x + w - w // 4, top + h // 3], fill=fill or tuple(c // 2 + 60 for c in colour))  # cabin
    for cx in (x + w // 5, x + w - w // 5):                                               # wheels
        draw.ellipse([cx - r, bottom - 2 * r, cx + r, bottom], fill=fill or (20, 20, 20))


def _person(draw: ImageDraw.ImageDraw, x: int, bottom: int, s: float, colour, skin, fill=None) -> None:
    h = round(40 * s)
    w = max(5, round(12 * s))
    head = max(3, round(5 * s))
    top = bottom - h
    cx = x + w // 2
    draw.ellipse([cx - head, top, cx + head, top + 2 * head], fill=fill or skin)           # head
    draw.rectangle([x, top + 2 * head, x + w - 1, top + 2 * head + round(h * 0.4)], fill=fill or colour)  # body
    leg = max(2, w // 3)
    for lx in (x + 1, x + w - 1 - leg):                                                   # legs
        draw.rectangle([lx, top + 2 * head + round(h * 0.4), lx + leg - 1, bottom], fill=fill or (50, 50, 60))


def _sign(draw: ImageDraw.ImageDraw, x: int, bottom: int, s: float, colour, shape: int, fill=None, pole=True) -> tuple[int, int, int, int]:
    p = max(6, round(14 * s))
    pole_h = round(30 * s)
    top = bottom - pole_h - p
    cx = x + p // 2
    if pole:
        draw.rectangle([cx - max(1, round(s)), top + p, cx + max(1, round(s)), bottom], fill=fill or (120, 120, 120))
    plate = [x, top, x + p - 1, top + p - 1]
    if shape == 0:
        draw.ellipse(plate, fill=fill or colour)
    elif shape == 1:
        draw.rectangle(plate, fill=fill or colour)
    else:
        draw.polygon([(cx, top), (x + p - 1, top + p // 2), (cx, top + p - 1), (x, top + p // 2)], fill=fill or colour)
    return (x, top, p, p)


def _extent(kind: str, s: float) -> tuple[int, int]:
    """(width, height) an object of `kind` at scale `s` occupies, pole included."""
    if kind == "car":
        return round(56 * s), round(26 * s)
    if kind == "person":
        return max(5, round(12 * s)), round(40 * s)
    p = max(6, round(14 * s))
    return p, round(30 * s) + p


def _draw(draw: ImageDraw.ImageDraw, obj: dict, fill=None, pole=True) -> None:
    kind, x, bottom, s = obj["label"], obj["x"], obj["bottom"], obj["scale"]
    if kind == "car":
        _car(draw, x, bottom, s, obj["colour"], fill)
    elif kind == "person":
        _person(draw, x, bottom, s, obj["colour"], obj["skin"], fill)
    else:
        _sign(draw, x, bottom, s, obj["colour"], obj["shape"], fill, pole)


def _masks(objs: list[dict], size: tuple[int, int]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The painted scene as object indices (what is visible where; a sign's pole counts as hiding but
    is not part of its box), and each object's own pixels of the part its box covers."""
    scene = Image.new("I", size, 0)
    d = ImageDraw.Draw(scene)
    own = []
    for k, obj in enumerate(objs):
        _draw(d, obj, fill=k + 1)
        alone = Image.new("L", size, 0)
        _draw(ImageDraw.Draw(alone), obj, fill=255, pole=False)
        own.append(np.asarray(alone) > 0)
    return np.asarray(scene), own


def _visible_boxes(objs: list[dict], size: tuple[int, int]) -> tuple[list[dict], float]:
    """Tight boxes of each object's visible pixels, and the smallest visible share among them."""
    scene, own = _masks(objs, size)
    boxes, worst = [], 1.0
    for k, (obj, mine) in enumerate(zip(objs, own)):
        seen = mine & (scene == k + 1)
        worst = min(worst, seen.sum() / max(1, mine.sum()))
        ys, xs = np.nonzero(seen)
        if len(xs):
            boxes.append({"x": float(xs.min()), "y": float(ys.min()), "w": float(xs.max() - xs.min() + 1),
                          "h": float(ys.max() - ys.min() + 1), "label": obj["label"]})
    return boxes, worst


def _scene(rng: random.Random) -> tuple[Image.Image, list[dict]]:
    w, h = rng.choice(SIZES)
    horizon = round(h * rng.uniform(0.38, 0.5))
    unit = w / 240  # object scale relative to a 240 px wide picture
    objs: list[dict] = []
    for _ in range(rng.choice(COUNTS)):
        kind = rng.choice(["car", "car", "person", "person", "sign"])
        bottom = rng.randint(horizon + round(0.2 * (h - horizon)), h - 2)
        depth = (bottom - horizon) / (h - horizon)  # 0 at the horizon, 1 at the bottom edge
        s = unit * (0.55 + 0.75 * depth) * rng.uniform(0.9, 1.15)
        ow, oh = _extent(kind, s)
        if oh >= bottom - 1 or ow >= w - 2:
            continue
        obj = {"label": kind, "x": rng.randint(1, w - ow - 1), "bottom": bottom, "scale": s,
               "colour": rng.choice({"car": CAR_COLOURS, "person": CLOTHES, "sign": PLATES}[kind]),
               "skin": rng.choice(SKIN), "shape": rng.randrange(3)}
        trial = sorted([*objs, obj], key=lambda o: o["bottom"])  # farther objects first: nearer ones cover them
        if _visible_boxes(trial, (w, h))[1] >= MIN_VISIBLE:
            objs = trial
    img = Image.new("RGB", (w, h), SKY)
    d = ImageDraw.Draw(img)
    x = 0
    while x < w:  # a row of buildings along the horizon
        bw, bh = rng.randint(20, 48), rng.randint(horizon // 3, horizon - 4)
        d.rectangle([x, horizon - bh, x + bw - 1, horizon - 1], fill=rng.choice(BUILDINGS))
        x += bw + rng.randint(0, 6)
    d.rectangle([0, horizon, w - 1, h - 1], fill=ROAD)
    d.rectangle([0, horizon, w - 1, horizon + max(2, h // 40)], fill=KERB)
    lane_y = (horizon + h) // 2
    for lx in range(rng.randint(0, 12), w, 28):
        d.rectangle([lx, lane_y, lx + 13, lane_y + 1], fill=LANE)
    for obj in objs:
        _draw(d, obj)
    boxes, _ = _visible_boxes(objs, (w, h))
    return img, boxes


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, separators=(", ", ": ")) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    rng = random.Random(SEED)
    out = HERE / "data" / "images"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    truth = []
    for i in range(N_IMAGES):
        img, boxes = _scene(rng)
        name = f"scene_{i:02d}.png"
        img.save(out / name, optimize=True)
        truth.append({"file": name, "answer": sorted(boxes, key=lambda b: (b["label"], b["x"], b["y"], b["w"], b["h"]))})
    _write_jsonl(HERE / "truth" / "labels.jsonl", truth)
    empty = [r for r in truth if not r["answer"]]
    gold = rng.sample(empty, min(2, len(empty)))
    gold += rng.sample([r for r in truth if r["answer"]], N_GOLD - len(gold))
    _write_jsonl(HERE / "gold" / "gold.jsonl", sorted(gold, key=lambda r: r["file"]))
    total = sum(p.stat().st_size for p in out.iterdir())
    n_boxes = sum(len(r["answer"]) for r in truth)
    counts = {k: sum(b["label"] == k for r in truth for b in r["answer"]) for k in ("car", "person", "sign")}
    print(f"wrote {N_IMAGES} images ({total / 1024:.0f} KiB), {n_boxes} boxes {counts}, {len(empty)} without objects, "
          f"{len(gold)} gold items")


if __name__ == "__main__":
    main()
