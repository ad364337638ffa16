"""Synthetic street scenes with known boxes (cars, people, signs drawn with PIL) for the box pre-labeling tests.

Drawn in the style of the shapes-boxes example: flat colours, a sky, a row of buildings, a road with a kerb
and lane marks; a car is a body, a cabin and two wheels, a person a head, a body and two legs, a sign a
plate on a pole (its box is the plate). Objects mostly stand apart, but about one placement in ten may
overlap another; the reference detector gets nearly all of these right. `example_scenes` draws the
example's own, more crowded kind (occlusion, same-coloured cars), where it still errs now and then: what
tests of calibrated routing need.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

from PIL import Image, ImageDraw

__all__ = ["draw_scene", "example_scenes", "write_scenes"]

_EXAMPLE_GENERATOR = Path(__file__).resolve().parents[3] / "examples" / "shapes-boxes" / "generate.py"

_SKY, _ROAD, _KERB, _LANE = (170, 200, 228), (92, 95, 100), (150, 150, 146), (235, 235, 220)
_BUILDINGS = [(184, 160, 132), (150, 156, 170), (200, 186, 160)]
_COLOURS = [(200, 30, 30), (30, 60, 190), (20, 140, 60), (120, 40, 150), (230, 140, 20), (240, 240, 240)]


def _apart(box: tuple[int, int, int, int], taken: list[tuple[int, int, int, int]], gap: int) -> bool:
    x, y, w, h = box
    return all(x + w + gap <= a or a + c + gap <= x or y + h + gap <= b or b + d + gap <= y for a, b, c, d in taken)


def _draw(draw: ImageDraw.ImageDraw, label: str, x: int, y: int, w: int, h: int, colour: tuple, rng: random.Random) -> None:
    if label == "car":
        r = max(3, h // 4)
        draw.rectangle([x, y + h // 3, x + w - 1, y + h - 1 - r], fill=colour)
        draw.rectangle([x + w // 5, y, x + w - w // 4, y + h // 3], fill=tuple(c // 2 + 60 for c in colour))
        for cx in (x + w // 5, x + w - 1 - w // 5):
            draw.ellipse([cx - r, y + h - 2 * r, cx + r, y + h - 1], fill=(20, 20, 20))
    elif label == "person":
        head = max(3, w // 2 - 1)
        cx = x + w // 2
        draw.ellipse([cx - head, y, cx + head - 1, y + 2 * head - 1], fill=rng.choice([(240, 200, 170), (140, 95, 65)]))
        body = y + 2 * head
        draw.rectangle([x, body, x + w - 1, body + int(h * 0.4)], fill=colour)
        leg = max(2, w // 3)
        for lx in (x, x + w - leg):
            draw.rectangle([lx, body + int(h * 0.4), lx + leg - 1, y + h - 1], fill=(50, 50, 60))
    else:
        shape = rng.randrange(3)
        plate = [x, y, x + w - 1, y + h - 1]
        if shape == 0:
            draw.ellipse(plate, fill=colour)
        elif shape == 1:
            draw.rectangle(plate, fill=colour)
        else:
            draw.polygon([(x + w // 2, y), (x + w - 1, y + h // 2), (x + w // 2, y + h - 1), (x, y + h // 2)], fill=colour)


def draw_scene(rng: random.Random, size: tuple[int, int] = (200, 150), n_max: int = 4) -> tuple[Image.Image, list[dict]]:
    """(image, true boxes) with 0..n_max objects."""
    width, height = size
    horizon = int(height * rng.uniform(0.38, 0.48))
    img = Image.new("RGB", size, _SKY)
    draw = ImageDraw.Draw(img)
    x = 0
    while x < width:
        bw, bh = rng.randint(20, 44), rng.randint(horizon // 3, horizon - 4)
        draw.rectangle([x, horizon - bh, x + bw - 1, horizon - 1], fill=rng.choice(_BUILDINGS))
        x += bw + rng.randint(0, 6)
    draw.rectangle([0, horizon, width - 1, height - 1], fill=_ROAD)
    draw.rectangle([0, horizon, width - 1, horizon + 3], fill=_KERB)
    lane = (horizon + height) // 2
    for lx in range(rng.randint(0, 12), width, 28):
        draw.rectangle([lx, lane, lx + 13, lane + 1], fill=_LANE)
    taken: list[tuple[int, int, int, int]] = []
    boxes = []
    for _ in range(rng.randint(0, n_max)):
        label = rng.choice(["car", "car", "person", "person", "sign"])
        w, h = {"car": (rng.randint(34, 52), rng.randint(16, 24)), "person": (rng.randint(9, 14), rng.randint(30, 44)),
                "sign": (s := rng.randint(10, 18), s)}[label]
        pole = rng.randint(16, 24) if label == "sign" else 0
        for _ in range(30):
            box = (rng.randint(3, width - w - 3), rng.randint(horizon + 6, height - h - pole - 3), w, h)
            if _apart((box[0], box[1], w, h + pole), taken, gap=-6 if rng.random() < 0.1 else 4):
                break
        else:
            continue
        taken.append((box[0], box[1], w, h + pole))
        if pole:
            cx = box[0] + w // 2
            draw.rectangle([cx - 1, box[1] + h, cx + 1, box[1] + h + pole], fill=(120, 120, 120))
        _draw(draw, label, *box, colour=rng.choice(_COLOURS), rng=rng)
        boxes.append({"x": float(box[0]), "y": float(box[1]), "w": float(w), "h": float(h), "label": label})
    return img, boxes


def write_scenes(folder: Path, n: int, seed: int = 0, *, like_example: bool = False) -> dict[str, list[dict]]:
    """`n` scenes as PNG files in `folder`; returns file name -> true boxes. `like_example` draws them with the
    example's generator (crowded, occluded: the reference detector gets some wrong) instead of `draw_scene`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    drawn = example_scenes(n, seed) if like_example else (draw_scene(rng) for _ in range(n))
    truth = {}
    for k, (img, boxes) in enumerate(drawn):
        name = f"scene_{k:03d}.png"
        img.save(folder / name)
        truth[name] = boxes
    return truth


def example_scenes(n: int, seed: int) -> list[tuple[Image.Image, list[dict]]]:
    """`n` scenes drawn by the shapes-boxes example's own generator with another seed: the same kind of
    picture as the example (occlusion, touching objects, same-coloured cars) without being its images,
    so the reference detector can be tuned and tested on them and the example stays held out."""
    spec = importlib.util.spec_from_file_location("shapes_boxes_generate", _EXAMPLE_GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = random.Random(seed)
    return [module._scene(rng) for _ in range(n)]
