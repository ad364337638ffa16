"""The shapes-boxes example cut down for stage tests: a copy in a temporary folder with some of its
pictures (every kept gold picture included), its truth, and a simulated box annotator that knows a
picture by the bytes the queue serves it."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).parents[3] / "examples" / "shapes-boxes"

__all__ = ["EXAMPLE", "copy_example", "digests", "read_truth", "sloppy", "steady"]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def copy_example(dest: Path, *, n_gold: int, n_plain: int) -> Path:
    """The example in `dest` with its first `n_gold` gold pictures and `n_plain` pictures that are not
    gold (the others deleted, the gold file trimmed to the kept ones)."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".annoflow", "generate.py"))
    gold = _jsonl(dest / "gold" / "gold.jsonl")[:n_gold]
    gold_files = {g["file"] for g in gold}
    plain = [t["file"] for t in _jsonl(dest / "truth" / "labels.jsonl") if t["file"] not in gold_files][:n_plain]
    keep = gold_files | set(plain)
    for f in (dest / "data" / "images").iterdir():
        if f.name not in keep:
            f.unlink()
    (dest / "gold" / "gold.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gold), encoding="utf-8")
    return dest


def read_truth(project: Path) -> dict[str, list[dict[str, Any]]]:
    """File name -> true boxes, for the pictures still in the project's image folder."""
    kept = {f.name for f in (project / "data" / "images").iterdir()}
    return {t["file"]: t["answer"] for t in _jsonl(project / "truth" / "labels.jsonl") if t["file"] in kept}


def digests(project: Path) -> dict[str, str]:
    """sha256 of each picture's bytes -> its file name: how a simulated annotator recognises a picture."""
    return {hashlib.sha256(f.read_bytes()).hexdigest(): f.name for f in (project / "data" / "images").iterdir()}


def steady(boxes: list[dict[str, Any]], shift: float = 0.5) -> list[dict[str, Any]]:
    """A careful annotator: every true box, each corner `shift` px off."""
    return [{**b, "x": b["x"] + shift, "y": b["y"] + shift} for b in boxes]


def sloppy(boxes: list[dict[str, Any]], size: tuple[float, float]) -> list[dict[str, Any]]:
    """A sloppy annotator: boxes 3 px off and 4 px too wide, the last of two or more objects missed, and an
    invented car in the top-left corner of every picture."""
    drawn = [{**b, "x": b["x"] + 3, "y": b["y"] + 3, "w": b["w"] + 4} for b in boxes[: max(len(boxes) - 1, 1)]
             if b["x"] + 3 + b["w"] + 4 <= size[0] and b["y"] + 3 + b["h"] <= size[1]]
    return [*drawn, {"x": 1.0, "y": 1.0, "w": 12.0, "h": 8.0, "label": "car"}]
