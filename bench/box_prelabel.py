"""Box pre-labeling: is the image confidence calibrated, and what does calibrated auto-accept deliver?

    uv run python -m bench.box_prelabel [--example examples/shapes-boxes] [--scenes N] [--generator-seed S] [--gold G] [--splits 5]

The reference detector (`model_server/detector.py`, called in-process: the endpoint runs the same function)
answers every image of the example (or, with `--scenes N`, of N generated test scenes; with
`--generator-seed S` as well, of N scenes drawn by the example's own generator with seed S: the tuning set,
which keeps the example itself held out); the images are split at random into gold (half, or `--gold G`
images) and held-out (`--splits` seeds); the combiner calibrates on gold and the stage's threshold rule
picks per-key thresholds there. Printed per split, on the held-out images:
ECE of the image confidence (10 bins) against "the box set is right at IoU >= 0.5 with labels right", and
for each target (precision at confidence level) the share auto-accepted and its precision. Also the
detector's box precision and recall at IoU 0.5. Nothing is downloaded; the truth file is read only here.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

TARGETS = ((0.95, 0.95), (0.9, 0.9), (0.85, 0.9))


def _example(folder: Path) -> tuple[list[str], list[np.ndarray], list[str]]:
    from PIL import Image

    from tasks.kinds.boxes.geometry import canonical

    rows = [json.loads(line) for line in (folder / "truth" / "labels.jsonl").read_text().splitlines() if line.strip()]
    images = []
    for r in rows:
        with Image.open(folder / "data" / "images" / r["file"]) as im:
            images.append(np.asarray(im.convert("RGB")))
    return [r["file"] for r in rows], images, [canonical(r["answer"]) for r in rows]


def _scenes(n: int, generator_seed: int | None) -> tuple[list[str], list[np.ndarray], list[str]]:
    from tasks.kinds.boxes.geometry import canonical
    from tests.kinds.boxes.scenes import draw_scene, example_scenes

    rng = random.Random(7)
    drawn = example_scenes(n, generator_seed) if generator_seed is not None else [draw_scene(rng) for _ in range(n)]
    return [f"scene_{k:04d}" for k in range(n)], [np.asarray(img) for img, _ in drawn], [canonical(b) for _, b in drawn]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.box_prelabel", description=__doc__.splitlines()[0])
    p.add_argument("--example", type=Path, default=Path("examples/shapes-boxes"))
    p.add_argument("--scenes", type=int, default=0, help="Use N generated test scenes instead of the example.")
    p.add_argument("--generator-seed", type=int, default=None,
                   help="Draw the N scenes with examples/shapes-boxes/generate.py at this seed (not the example's 2026).")
    p.add_argument("--gold", type=int, default=0, help="Gold images per split (default: half); the rest are held out.")
    p.add_argument("--splits", type=int, default=5)
    a = p.parse_args(argv)

    from model_server.detector import detect
    from tasks.kinds.boxes.box_sets import same_sets
    from tasks.kinds.boxes.geometry import canonical, iou_matrix
    from tasks.kinds.boxes.machine_fusion import combine_boxes
    from tasks.prelabel.routing import calibration_table, select_thresholds

    if a.scenes or a.generator_seed is not None or not (a.example / "truth" / "labels.jsonl").exists():
        n = a.scenes or 400
        what = ("test scenes (tests/kinds/boxes/scenes.py)" if a.generator_seed is None
                else f"scenes of the example's generator, seed {a.generator_seed}")
        print(f"data: {n} generated {what}" + ("" if a.scenes or a.generator_seed is not None else f"; {a.example} not found"))
        ids, images, truth = _scenes(n, a.generator_seed)
    else:
        print(f"data: {a.example} ({a.example.resolve().name})")
        ids, images, truth = _example(a.example)
    t0 = time.perf_counter()
    detected = [detect(img) for img in images]
    secs = time.perf_counter() - t0
    tp = n_pred = n_true = 0
    for boxes, t in zip(detected, truth):
        tb = json.loads(t)
        n_pred, n_true = n_pred + len(boxes), n_true + len(tb)
        if boxes and tb:
            m = iou_matrix(np.array([[b[k] for k in "xywh"] for b in boxes]), np.array([[b[k] for k in "xywh"] for b in tb]))
            same = np.array([[b["label"] == g["label"] for g in tb] for b in boxes])
            tp += int(((m >= 0.5) & same).any(axis=1).sum())
    print(f"detector: {len(ids)} images, {n_pred} boxes in {secs:.2f} s; box precision {tp / max(n_pred, 1):.3f}, "
          f"recall {tp / max(n_true, 1):.3f} at IoU 0.5")
    votes = pa.table({"item_id": ids, "source_id": ["model:shapes"] * len(ids), "answer": [canonical(b) for b in detected]})
    n = len(ids)
    for seed in range(a.splits):
        order = np.random.default_rng(seed).permutation(n)
        gold_mask = np.zeros(n, bool)
        gold_mask[order[: a.gold or n // 2]] = True
        gold = pa.table({"item_id": [ids[k] for k in np.flatnonzero(gold_mask)], "answer": [truth[k] for k in np.flatnonzero(gold_mask)]})
        pre, report = combine_boxes(votes, gold, ids)
        at = {i: k for k, i in enumerate(pre.column("item_id").to_pylist())}
        take = pa.array([at[i] for i in ids])
        answer, conf = pre.column("answer").take(take).combine_chunks(), pre.column("confidence").to_numpy()[take.to_numpy()]
        ok = same_sets(answer, pa.array(truth), 0.5)
        key = np.where(np.asarray(answer.to_pylist(), dtype=object) == "[]", "no objects", "objects")
        held = ~gold_mask
        ece, _ = calibration_table(conf[held], ok[held])
        line = [(f"split {seed}: gold {int(gold_mask.sum())} (cross-fitted ECE {report['item_calibration']['ece']:.3f}), "
                 f"held-out {int(held.sum())}: right {ok[held].mean():.3f}, mean confidence {conf[held].mean():.3f}, ECE {ece:.3f}")]
        for target, level in TARGETS:
            thr = select_thresholds(key[gold_mask], conf[gold_mask], ok[gold_mask], ["objects", "no objects"], target=target,
                                    confidence_level=level, min_n=10)
            acc = held & np.array([thr[k].threshold is not None and c >= thr[k].threshold for k, c in zip(key, conf)])
            prec = f"{ok[acc].mean():.3f}" if acc.any() else "-"
            line.append(f"target {target}@{level}: auto {acc.sum() / held.sum():.1%} at precision {prec}")
        print("; ".join(line))


if __name__ == "__main__":
    main()
