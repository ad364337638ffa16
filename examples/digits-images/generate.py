"""Build the digits-images sample project from scikit-learn's bundled handwritten digits.

    python examples/digits-images/generate.py

Writes (relative to this folder), byte-for-byte reproducibly:
    data/images/<index>.png   300 digits (30 per class), 64x64 grayscale, dark ink on white;
                              <index> is the row in sklearn.datasets.load_digits()
    truth/labels.csv          file,label for every image (evaluation only)
    gold/gold.csv             file,label for 30 of them (3 per class), the hidden gold items

Needs only numpy, Pillow and scikit-learn (the data ships inside scikit-learn; nothing is downloaded).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent
PER_CLASS = 30
GOLD_PER_CLASS = 3
SIZE = 64  # 8x8 source pixels, each drawn as an 8x8 block
SEED = 1998


def render(pixels: np.ndarray) -> Image.Image:
    """0..16 ink counts -> 8-bit grayscale, ink dark on a white page, upscaled without smoothing."""
    gray = 255 - np.rint(pixels * (255 / 16)).astype(np.uint8)
    return Image.fromarray(gray, mode="L").resize((SIZE, SIZE), Image.Resampling.NEAREST)


def write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file", "label"])
        w.writerows(rows)


def main() -> None:
    digits = load_digits()
    rng = np.random.default_rng(SEED)
    chosen: list[int] = []
    gold: list[int] = []
    for label in range(10):
        idx = np.flatnonzero(digits.target == label)
        pick = rng.choice(idx, size=PER_CLASS, replace=False)
        chosen += pick.tolist()
        gold += pick[:GOLD_PER_CLASS].tolist()
    chosen.sort()

    out = HERE / "data" / "images"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for i in chosen:
        render(digits.images[i]).save(out / f"{i}.png", optimize=True)

    write_csv(HERE / "truth" / "labels.csv", [(f"{i}.png", str(digits.target[i])) for i in chosen])
    rng.shuffle(gold)
    write_csv(HERE / "gold" / "gold.csv", [(f"{i}.png", str(digits.target[i])) for i in gold])
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {len(chosen)} images ({total / 1024:.0f} KiB), {len(gold)} gold items")


if __name__ == "__main__":
    main()
