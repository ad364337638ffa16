"""Synthetic street scenes with known boxes (cars, people, signs drawn with PIL) for the box pre-labeling tests.

Objects mostly stand apart on a plain background with a little noise, but some scenes are harder in the
ways real ones are: two objects touching (they merge into one blob), an object whose colour is close to
the background, an unlabelled bush that looks like a sign. The reference detector errs on those, which
is what the calibration tests need.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["draw_scene", "write_scenes"]

_COLOURS = [(200, 30, 30), (30, 60, 190), (20, 140, 60), (120, 40, 150), (230, 140, 20), (40, 40, 40), (175, 180, 170)]


def _free(box: tuple[int, int, int, int], taken: list[tuple[int, int, int, int]], gap: int = 4) -> bool:
    x, y, w, h = box
    return all(x + w + gap <= a or a + c + gap <= x or y + h + gap <= b or b + d + gap <= y for a, b, c, d in taken)


def draw_scene(rng: random.Random, size: tuple[int, int] = (160, 120), n_max: int = 3) -> tuple[Image.Image, list[dict]]:
    """(image, true boxes) with 0..n_max objects."""
    width, height = size
    bg = tuple(int(v) for v in rng.choice([(215, 220, 215), (235, 232, 220), (200, 215, 230)]))
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    taken: list[tuple[int, int, int, int]] = []
    boxes = []
    for _ in range(rng.randint(0, n_max)):
        label = rng.choice(["car", "person", "sign"])
        w, h = {"car": (rng.randint(30, 50), rng.randint(14, 22)), "person": (rng.randint(8, 13), rng.randint(26, 40)),
                "sign": (s := rng.randint(13, 22), s)}[label]
        for _ in range(20):
            box = (rng.randint(2, width - w - 2), rng.randint(2, height - h - 2), w, h)
            if _free(box, taken, gap=-6 if rng.random() < 0.1 else 4):
                break
        else:
            continue
        taken.append(box)
        x, y = box[:2]
        colour = rng.choice(_COLOURS)
        if label == "car":
            draw.rectangle([x, y, x + w - 1, y + h - 5], fill=colour)
            r = 4
            for cx in (x + r, x + w - r - 1):
                draw.ellipse([cx - r, y + h - 2 * r, cx + r, y + h - 1], fill=(25, 25, 25))
        elif label == "person":
            head = w - 2
            draw.ellipse([x + 1, y, x + 1 + head - 1, y + head - 1], fill=colour)
            draw.rectangle([x, y + head - 1, x + w - 1, y + h - 1], fill=colour)
        else:
            draw.polygon([(x + w // 2, y), (x + w - 1, y + h // 2), (x + w // 2, y + h - 1), (x, y + h // 2)], fill=(240, 200, 0))
        boxes.append({"x": float(x), "y": float(y), "w": float(w), "h": float(h), "label": label})
    if rng.random() < 0.3:  # a bush: not an object of the label set
        r = rng.randint(6, 10)
        cx, cy = rng.randint(r, width - r - 1), rng.randint(r, height - r - 1)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(60, 120, 50))
    noise = np.asarray(img, dtype=np.int16) + np.asarray(np.random.default_rng(rng.randint(0, 2**31)).normal(0, 3, (height, width, 3)), np.int16)
    return Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)), boxes


def write_scenes(folder: Path, n: int, seed: int = 0) -> dict[str, list[dict]]:
    """`n` scenes as PNG files in `folder`; returns file name → true boxes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    truth = {}
    for k in range(n):
        img, boxes = draw_scene(rng)
        name = f"scene_{k:03d}.png"
        img.save(folder / name)
        truth[name] = boxes
    return truth
