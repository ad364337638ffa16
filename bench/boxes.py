"""Box consolidation on simulated crowds: COCO mAP@[.5:.95] against the true boxes, with peers.

Run: ``uv run python -m bench.boxes`` (two seeds, every shape); ``--scale`` times 1M boxes instead.

Truth: generated scenes (no example project with true boxes exists on this branch): images of
640 x 480 with 0-6 objects (Poisson, mean 2.5) of the classes car / person / sign, widths 24-200 px,
aspect ratios 0.5-2, no two objects overlapping by more than IoU 0.3. Each image is answered by 3-5
annotators drawn from a pool of 10 (`tasks.kinds.boxes.simulation.simulate_boxes`). Crowd shapes
(the pool's error profiles; jitter = sd of each corner as a share of the box's size):

- clean: all 10 careful (jitter 0.03, miss 5%, wrong class 2%, 0.05 invented boxes per image);
- jitter_heavy: 3 careful, 7 sloppy hands (jitter 0.12);
- missers: 3 careful, 7 who miss 40% of the objects;
- false_positives: 3 careful, 7 who invent 0.8 boxes per image;
- wrong_classes: 3 careful, 7 who pick a wrong class 30% of the time;
- spammers: 7 decent (jitter 0.05, miss 10%, wrong class 5%, 0.1 invented), 2 "uniform" spammers
  (random boxes, 1.5 per image), 1 "constant" spammer (the same box on every image);
- mixed_spammers: 6 of mixed quality (one of each error above), 3 uniform spammers, 1 "no objects".

Methods: ours, two ways: "ours answer" is the stored answer (the boxes kept, P >= 0.5, one class
each; the boxes kind's consensus facet, no gold: sources learned from the crowd alone), "ours ranked"
the ranked hypotheses mAP is meant for (every cluster once per class it is >= 1% likely to be, scored
by that probability x its expected IoU), comparable with weighted boxes fusion, which also outputs
every cluster, class-aware; box score = probability x expected IoU in both. Peers: weighted boxes
fusion (`ensemble_boxes.weighted_boxes_fusion`, every annotator one model, iou_thr 0.55 = its default,
in bench/.peers-venv); CVAT's IoU-quorum merge (IoU 0.5, quorum 0.5) and SageMaker Ground Truth's
IoU-clustered averaging (bench/box_peers.py); the best single annotator (each annotator's boxes on
the images it answered, score 1; the best of those with 50+ images), compared with "ours ranked" on
the same images ("ours there"). mAP from pycocotools (COCOeval, bbox). Calibration: ECE (10 bins) of
our box confidence (a box is right when it matches a true box of its class at IoU >= 0.5) and of the image
confidence (right when the whole set is: every box matched, none missing).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.calibration import expected_calibration_error
from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings, run_consensus
from tasks.kinds.boxes.flat import flatten
from tasks.kinds.boxes.geometry import iou_matrix, to_xywh, to_xyxy
from tasks.kinds.boxes.simulation import BoxErrors, simulate_boxes
from tasks.kinds.regions.fusion import FusionSettings, fuse_regions
from tasks.kinds.regions.match import greedy_match

from .box_peers import cvat_quorum, sagemaker_average
from .scale_timing import timed_consolidation

ROOT = Path(__file__).resolve().parents[1]
PEERS_PY = ROOT / "bench" / ".peers-venv" / "bin" / "python"
LABELS = ("car", "person", "sign")
SIZE = (640.0, 480.0)
_CAREFUL = BoxErrors(jitter=0.03, miss=0.05, wrong_class=0.02, false_pos=0.05)
SHAPES = {
    "clean": [_CAREFUL] * 10,
    "jitter_heavy": [_CAREFUL] * 3 + [BoxErrors(jitter=0.12, miss=0.05, wrong_class=0.02, false_pos=0.05)] * 7,
    "missers": [_CAREFUL] * 3 + [BoxErrors(jitter=0.04, miss=0.4, wrong_class=0.02, false_pos=0.05)] * 7,
    "false_positives": [_CAREFUL] * 3 + [BoxErrors(jitter=0.04, miss=0.05, wrong_class=0.02, false_pos=0.8)] * 7,
    "wrong_classes": [_CAREFUL] * 3 + [BoxErrors(jitter=0.04, miss=0.05, wrong_class=0.3, false_pos=0.05)] * 7,
    "spammers": [BoxErrors(jitter=0.05, miss=0.1, wrong_class=0.05, false_pos=0.1)] * 7
    + [BoxErrors(false_pos=1.5, spammer="uniform")] * 2 + [BoxErrors(spammer="constant", fixed_box=(200, 150, 120, 90))],
    "mixed_spammers": [_CAREFUL, BoxErrors(jitter=0.12, miss=0.05), BoxErrors(jitter=0.04, miss=0.4),
                       BoxErrors(jitter=0.04, false_pos=0.8), BoxErrors(jitter=0.04, wrong_class=0.3),
                       BoxErrors(jitter=0.08, miss=0.2, wrong_class=0.1, false_pos=0.3)]
    + [BoxErrors(false_pos=1.5, spammer="uniform")] * 3 + [BoxErrors(spammer="constant")],
}
WITH_SPAMMERS = ("spammers", "mixed_spammers")
PEERS = ("WBF", "CVAT quorum", "SageMaker avg")


def scenes(n: int, rng: random.Random) -> list[list[tuple[float, float, float, float, str]]]:
    out = []
    for _ in range(n):
        k = min(6, int(np.random.default_rng(rng.randrange(2**32)).poisson(2.5)))
        boxes: list[tuple[float, float, float, float, str]] = []
        for _ in range(50):
            if len(boxes) >= k:
                break
            w = rng.uniform(24, 200)
            h = min(max(w * rng.uniform(0.5, 2.0), 16), SIZE[1] - 2)
            b = (rng.uniform(0, SIZE[0] - w), rng.uniform(0, SIZE[1] - h), w, h, rng.choice(LABELS))
            if not boxes or iou_matrix(np.array([b[:4]]), np.array([x[:4] for x in boxes])).max() <= 0.3:
                boxes.append(b)
        out.append(boxes)
    return out


def crowd(truth, pool, rng: random.Random):
    """Per image: [(annotator, boxes)] from 3-5 annotators of the pool."""
    return [[(a, simulate_boxes(t, LABELS, rng, pool[a], SIZE)) for a in sorted(rng.sample(range(len(pool)), rng.randint(3, 5)))]
            for t in truth]


def _json(boxes) -> str:
    return json.dumps([{"x": x, "y": y, "w": w, "h": h, "label": lab} for x, y, w, h, lab in boxes])


def ours(answers, settings: ConsensusSettings):
    rows = [(str(i), f"a{a}", "human", _json(b)) for i, per in enumerate(answers) for a, b in per]
    votes = pa.table({k: [r[j] for r in rows] for j, k in enumerate(["item_id", "source_id", "source_kind", "answer"])})
    empty = pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())})
    t0 = time.perf_counter()
    out = run_consensus(settings, ConsensusInputs(votes, votes.slice(0, 0), empty, empty))
    took = time.perf_counter() - t0
    dets, image_conf = {}, {}
    for r in out.labels.to_pylist():
        dets[int(r["item_id"])] = [(b["x"], b["y"], b["w"], b["h"], LABELS.index(b["label"]), b["confidence"], b["iou"])
                                   for b in json.loads(r["answer"])]
        image_conf[int(r["item_id"])] = r["confidence"]
    return dets, image_conf, took


def ranked_candidates(answers, settings: ConsensusSettings) -> dict[int, list]:
    """Every cluster the consolidation weighed, kept or not, once per class it is at least 1% likely to be,
    scored by that probability x its expected IoU: the ranked list of hypotheses mAP is meant for, like
    WBF's output (every cluster, class-aware). Same code as the facet (`fuse_regions` on the flattened
    answers), without gold (the bench has none)."""
    rows = [(str(i), f"a{a}", _json(b)) for i, per in enumerate(answers) for a, b in per]
    fv = flatten(pa.table({"item_id": [r[0] for r in rows], "source_id": [r[1] for r in rows],
                           "answer": [r[2] for r in rows]}))
    items = pc.unique(fv.answers["item_id"]).sort()
    srcs = pc.unique(fv.answers["source_id"]).sort()
    code = lambda a, d: pc.index_in(a, value_set=d).to_numpy(zero_copy_only=False).astype(np.int64)
    f = fuse_regions(len(items), code(fv.answers["item_id"], items), code(fv.answers["source_id"], srcs), len(srcs),
                     fv.row, to_xyxy(fv.xywh), code(fv.label, pa.array(list(LABELS))), FusionSettings(n_classes=len(LABELS)))
    ids = np.array(items.to_pylist(), dtype=np.int64)[f.cluster_item]
    # Each class a cluster may be, with its probability (a split vote is two hypotheses, ranked apart).
    c, k = np.nonzero(f.posterior[:, 1:] >= 0.01)
    score = f.posterior[c, k + 1] * f.expected_iou[c]
    out: dict[int, list] = {}
    for i, b, lab, sc in zip(ids[c].tolist(), to_xywh(f.cluster_corners[c]).tolist(), k.tolist(), score.tolist()):
        out.setdefault(i, []).append((*b, lab, sc))
    return out


def wbf(answers) -> dict[int, list] | None:
    if not PEERS_PY.exists():
        return None
    data = {"images": {str(i): {"width": SIZE[0], "height": SIZE[1],
                                "answers": [[[x, y, w, h, LABELS.index(lab)] for x, y, w, h, lab in b] for _, b in per]}
                       for i, per in enumerate(answers)}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(data, f)
    r = subprocess.run([str(PEERS_PY), str(ROOT / "bench" / "peers" / "run_box_peers.py"), f.name],
                       capture_output=True, text=True, check=True)
    Path(f.name).unlink()
    return {int(k): [tuple(b) for b in v] for k, v in json.loads(r.stdout).items()}


def rule(answers, fn) -> dict[int, list]:
    out = {}
    for i, per in enumerate(answers):
        arrs = [np.array([[x, y, w, h, LABELS.index(lab)] for x, y, w, h, lab in b], float).reshape(-1, 5) for _, b in per]
        out[i] = fn(arrs)
    return out


def ranked(dets: dict[int, list]) -> dict[int, list]:
    """Our boxes scored for mAP: confidence x expected IoU (a localisation-aware score, as IoU-aware detectors rank)."""
    return {i: [(*b[:5], b[5] * b[6]) for b in v] for i, v in dets.items()}


def coco_map(truth, dets: dict[int, list], images: list[int] | None = None) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    imgs = list(range(len(truth))) if images is None else images
    anns, k = [], 0
    for i in imgs:
        for x, y, w, h, lab in truth[i]:
            k += 1
            anns.append({"id": k, "image_id": i, "category_id": LABELS.index(lab) + 1, "bbox": [x, y, w, h],
                         "area": w * h, "iscrowd": 0})
    gt = COCO()
    gt.dataset = {"images": [{"id": i, "width": SIZE[0], "height": SIZE[1]} for i in imgs], "annotations": anns,
                  "categories": [{"id": j + 1, "name": n} for j, n in enumerate(LABELS)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dl = [{"image_id": i, "category_id": int(b[4]) + 1, "bbox": [float(v) for v in b[:4]], "score": float(b[5])}
              for i in imgs for b in dets.get(i, [])]
        if not dl:
            return 0.0
        dt = gt.loadRes(dl)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.imgIds = imgs
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def best_single(truth, answers, ours: dict[int, list]) -> tuple[float, float]:
    """(the best annotator's mAP on the images it answered, ours on the same images): annotators see
    different images, so each is compared with the consolidation where it worked."""
    by: dict[int, dict[int, list]] = {}
    for i, per in enumerate(answers):
        for a, b in per:
            by.setdefault(a, {})[i] = [(x, y, w, h, LABELS.index(lab), 1.0) for x, y, w, h, lab in b]
    own = {a: coco_map(truth, d, sorted(d)) for a, d in by.items() if len(d) >= 50}
    best = max(own, key=own.get)
    return own[best], coco_map(truth, ours, sorted(by[best]))


def calibration(truth, dets, image_conf) -> tuple[float, float]:
    """ECE of box confidence (box right = matches a true box of its class at IoU >= 0.5) and image confidence."""
    conf, ok, iconf, iok = [], [], [], []
    for i, t in enumerate(truth):
        d = dets.get(i, [])
        right = np.zeros(len(d), bool)
        if d and t:
            db = np.array([b[:4] for b in d], float)
            tb = np.array([b[:4] for b in t], float)
            iou = iou_matrix(db, tb)
            same = np.array([[b[4] == LABELS.index(x[4]) for x in t] for b in d])
            u, v = np.nonzero((iou >= 0.5) & same)
            win = greedy_match(u, v, iou[u, v])
            right[u[win]] = True
        conf += [b[5] for b in d]
        ok += right.tolist()
        iconf.append(image_conf[i])
        iok.append(bool(right.all()) and right.sum() == len(t))
    return (expected_calibration_error(np.array(conf), np.array(ok, float)),
            expected_calibration_error(np.array(iconf), np.array(iok, float)))


def run_shape(shape: str, n_images: int, seed: int) -> dict:
    rng = random.Random(seed * 1000 + zlib.crc32(shape.encode()) % 997)
    truth = scenes(n_images, rng)
    answers = crowd(truth, SHAPES[shape], rng)
    settings = ConsensusSettings(classes=LABELS, kind="boxes", method="dawid_skene")
    d_ours, img_conf, took = ours(answers, settings)
    cand = ranked_candidates(answers, settings)
    res = {"ours answer": coco_map(truth, ranked(d_ours)), "ours ranked": coco_map(truth, cand)}
    w = wbf(answers)
    res["WBF"] = coco_map(truth, w) if w is not None else float("nan")
    res["CVAT quorum"] = coco_map(truth, rule(answers, cvat_quorum))
    res["SageMaker avg"] = coco_map(truth, rule(answers, sagemaker_average))
    res["best single"], res["ours there"] = best_single(truth, answers, cand)
    box_ece, img_ece = calibration(truth, d_ours, img_conf)
    return {**res, "box_ece": box_ece, "img_ece": img_ece, "seconds": took}


# -- scale ------------------------------------------------------------------------------------------
def scale_votes(n_images: int, n_annot: int, per_image: int, seed: int = 0) -> pa.Table:
    """`n_images` x `n_annot` answers of `per_image` jittered true boxes each (a few missed, a few invented),
    built vectorised; the JSON text is made by DuckDB."""
    import duckdb

    g = np.random.default_rng(seed)
    n_true = n_images * per_image
    tw = g.uniform(24, 160, n_true)
    th = g.uniform(24, 160, n_true)
    tx = g.uniform(0, 640 - 160, n_true)
    ty = g.uniform(0, 480 - 160, n_true)
    # Objects of one image do not overlap: each sits in its own column band.
    tx = tx / per_image + (np.arange(n_true) % per_image) * (640 / per_image)
    tl = g.integers(0, len(LABELS), n_true)
    rep = np.repeat(np.arange(n_true), n_annot)
    ann = np.tile(np.arange(n_annot), n_true)
    j = g.normal(0, 0.04, (len(rep), 4))
    x1 = tx[rep] + j[:, 0] * tw[rep]
    y1 = ty[rep] + j[:, 1] * th[rep]
    x2 = tx[rep] + tw[rep] * (1 + j[:, 2])
    y2 = ty[rep] + th[rep] * (1 + j[:, 3])
    lab = np.where(g.random(len(rep)) < 0.03, g.integers(0, len(LABELS), len(rep)), tl[rep])
    boxes = pa.table({"item": (rep // per_image).astype(np.int64), "src": ann.astype(np.int64),
                      "x": np.round(x1, 2), "y": np.round(y1, 2), "w": np.round(np.maximum(x2 - x1, 2), 2),
                      "h": np.round(np.maximum(y2 - y1, 2), 2),
                      "label": pa.array(np.asarray(LABELS, dtype=object)[lab], pa.string())})
    with duckdb.connect() as con:
        con.register("_b", boxes)
        return con.sql("""
            SELECT item::VARCHAR AS item_id, 'a' || src::VARCHAR AS source_id, 'human' AS source_kind,
                   to_json(list({'x': x, 'y': y, 'w': w, 'h': h, 'label': label}))::VARCHAR AS answer
            FROM _b GROUP BY item, src ORDER BY item, src""").to_arrow_table()


def run_scale(n_images: int, n_annot: int = 5, per_image: int = 2) -> None:
    votes = scale_votes(n_images, n_annot, per_image)
    timed = timed_consolidation(votes, ConsensusSettings(classes=LABELS, kind="boxes", method="dawid_skene"))
    print(f"scale: {n_images:,} images x {n_annot} annotators x {per_image} boxes = {n_images * n_annot * per_image:,} "
          f"boxes ({votes.num_rows:,} answers); {timed.line()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--scale", action="store_true", help="time 1M boxes (100k images x 5 annotators x 2 boxes)")
    ap.add_argument("--scale-images", type=int, default=100_000)
    args = ap.parse_args()
    if args.scale:
        run_scale(args.scale_images)
        return
    if not PEERS_PY.exists():
        print("PEERS MISSING: bench/.peers-venv not found; weighted boxes fusion not run (see bench/consensus.py)")
    cols = ("ours answer", "ours ranked", "WBF", "CVAT quorum", "SageMaker avg", "best single", "ours there")
    print(f"Generated scenes: {args.images} images per run, 3-5 of 10 simulated annotators each; COCO mAP@[.5:.95]")
    print(f"{'crowd shape':16s}{'seed':>5s}" + "".join(f"{c:>14s}" for c in cols)
          + f"{'vs peers':>9s}{'vs single':>10s}{'box ECE':>9s}{'img ECE':>9s}{'ours s':>8s}")
    worst = {}
    for shape in args.shapes.split(","):
        for seed in (int(x) for x in args.seeds.split(",")):
            r = run_shape(shape, args.images, seed)
            best_peer = max(r[k] for k in PEERS if not np.isnan(r[k]))
            margin = r["ours ranked"] - best_peer
            vs_single = r["ours there"] - r["best single"]
            worst[shape] = min(worst.get(shape, 1.0), margin - (0.02 if shape in WITH_SPAMMERS else 0.0), vs_single)
            print(f"{shape:16s}{seed:5d}" + "".join(f"{r[c]:14.3f}" for c in cols)
                  + f"{margin:+9.3f}{vs_single:+10.3f}{r['box_ece']:9.3f}{r['img_ece']:9.3f}{r['seconds']:8.2f}",
                  flush=True)
    fails = [s for s, m in worst.items() if m < 0]
    print("floor (ours ranked >= every peer, by 0.02 with spammers; >= the best single annotator on its images): "
          + ("met" if not fails else f"NOT met on {', '.join(fails)}"))
    sys.exit(0)


if __name__ == "__main__":
    main()
