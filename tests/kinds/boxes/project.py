"""A small boxes project for the queue tests: three generated street images (PIL) with known boxes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from schemas.config import ProjectConfig
from tests.conftest import write_project

__all__ = ["IMAGES", "LABELS", "TRUTH", "boxes_config", "draw_images"]

LABELS = ["car", "person", "sign"]
COLOURS = {"car": (200, 40, 40), "person": (40, 90, 200), "sign": (230, 190, 30)}
# name -> (width, height, true boxes). Small images on purpose: the tool must show them enlarged.
IMAGES: dict[str, tuple[int, int, list[dict[str, Any]]]] = {
    "street1.png": (160, 120, [{"x": 20.0, "y": 60.0, "w": 50.0, "h": 30.0, "label": "car"},
                               {"x": 110.0, "y": 30.0, "w": 16.0, "h": 40.0, "label": "person"}]),
    "street2.png": (96, 64, [{"x": 60.0, "y": 8.0, "w": 20.0, "h": 20.0, "label": "sign"}]),
    "street3.png": (128, 96, []),
}
TRUTH = {name: boxes for name, (_, _, boxes) in IMAGES.items()}


def draw_images(folder: Path) -> dict[str, Path]:
    """Each image of `IMAGES` as a PNG in `folder`: grey road, one filled rectangle per true box."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (w, h, boxes) in IMAGES.items():
        img = Image.new("RGB", (w, h), (150, 155, 160))
        draw = ImageDraw.Draw(img)
        draw.rectangle([0, h * 2 // 3, w, h], fill=(90, 90, 95))
        for b in boxes:
            draw.rectangle([b["x"], b["y"], b["x"] + b["w"] - 1, b["y"] + b["h"] - 1], fill=COLOURS[b["label"]])
        img.save(folder / name)
        out[name] = folder / name
    return out


def boxes_config(root: Path | None = None, **overrides: Any) -> ProjectConfig:
    """A validated boxes project over `LABELS`; with `root`, written there as annoflow.toml first
    (its state database and keys live under it)."""
    data: dict[str, Any] = {"name": "street", "task_kind": "boxes", "data_kind": "image", "labels": LABELS}
    data.update(overrides)
    return ProjectConfig.model_validate(data) if root is None else write_project(root, **data)
