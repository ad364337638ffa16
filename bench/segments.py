"""Segment consolidation on simulated crowds: segment F1 against the true regions, with simple peers.

Run: ``uv run python -m bench.segments`` (two seeds, every shape); ``--scale`` times 1M segments instead.

Truth: generated clips of 10 s with 1-4 non-overlapping events (lengths 0.3-4 s) labelled speaker_a /
speaker_b / music. Each clip is answered by 3-5 annotators drawn from a pool of 10
(`tasks.kinds.segments.simulation.simulate_segments`). Crowd shapes (the pool's error profiles; jitter =
the standard deviation of each boundary in seconds):

- clean: all 10 careful (jitter 0.08 s, miss 5%, wrong label 2%, 0.05 invented regions per clip);
- jitter_heavy: 3 careful, 7 loose hands (jitter 0.4 s);
- missers: 3 careful, 7 who miss 40% of the events;
- false_positives: 3 careful, 7 who invent 0.8 regions per clip;
- wrong_labels: 3 careful, 7 who pick a wrong label 30% of the time;
- spammers: 7 decent (jitter 0.12 s, miss 10%, wrong label 5%, 0.1 invented), 2 "uniform" spammers
  (random regions, 1.5 per clip), 1 "constant" spammer (the whole clip as one label every time);
- mixed_spammers: 6 of mixed quality (one of each error above), 3 uniform spammers, 1 "no regions".

Metric: segment F1 at temporal IoU >= 0.5 with the label right (`tasks.kinds.segments.evaluate.segment_f1`:
one-to-one matching, best overlaps first, pooled over clips): the event-based F1 of sound event detection
and speaker-turn evaluation. Methods: ours (the segments kind's consensus facet, no gold: sources learned
from the crowd alone); frame majority (each 10 ms frame gets every label that more than half of the clip's
annotators marked there; runs of a label become regions, runs under 0.1 s dropped: the usual way to merge
several people's time labels); the best single annotator (each annotator's F1 on the clips it answered, the
best of those with 50+ clips, compared with ours on the same clips: "ours there"). Calibration: ECE (10
bins) of our region confidence (a region is right when it matches a true region of its label at IoU >= 0.5)
and of the clip confidence (right when the whole set is).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import zlib

import numpy as np
import pyarrow as pa

from tasks.consensus.calibration import expected_calibration_error
from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings, run_consensus
from tasks.kinds.regions.corners import corner_iou
from tasks.kinds.regions.match import greedy_match, group_pairs
from tasks.kinds.segments.evaluate import segment_f1
from tasks.kinds.segments.simulation import SegmentErrors, simulate_segments

from .scale_timing import timed_consolidation

LABELS = ("speaker_a", "speaker_b", "music")
DURATION = 10.0
FRAME_S = 0.01
MIN_RUN_S = 0.1
_CAREFUL = SegmentErrors(jitter_s=0.08, miss=0.05, wrong_label=0.02, false_pos=0.05)
SHAPES = {
    "clean": [_CAREFUL] * 10,
    "jitter_heavy": [_CAREFUL] * 3 + [SegmentErrors(jitter_s=0.4, miss=0.05, wrong_label=0.02, false_pos=0.05)] * 7,
    "missers": [_CAREFUL] * 3 + [SegmentErrors(jitter_s=0.1, miss=0.4, wrong_label=0.02, false_pos=0.05)] * 7,
    "false_positives": [_CAREFUL] * 3 + [SegmentErrors(jitter_s=0.1, miss=0.05, wrong_label=0.02, false_pos=0.8)] * 7,
    "wrong_labels": [_CAREFUL] * 3 + [SegmentErrors(jitter_s=0.1, miss=0.05, wrong_label=0.3, false_pos=0.05)] * 7,
    "spammers": [SegmentErrors(jitter_s=0.12, miss=0.1, wrong_label=0.05, false_pos=0.1)] * 7
    + [SegmentErrors(false_pos=1.5, spammer="uniform")] * 2 + [SegmentErrors(spammer="constant", whole_clip=True)],
    "mixed_spammers": [_CAREFUL, SegmentErrors(jitter_s=0.4, miss=0.05), SegmentErrors(jitter_s=0.1, miss=0.4),
                       SegmentErrors(jitter_s=0.1, false_pos=0.8), SegmentErrors(jitter_s=0.1, wrong_label=0.3),
                       SegmentErrors(jitter_s=0.2, miss=0.2, wrong_label=0.1, false_pos=0.3)]
    + [SegmentErrors(false_pos=1.5, spammer="uniform")] * 3 + [SegmentErrors(spammer="constant")],
}
_COLS = ["item_id", "source_id", "source_kind", "answer"]


def clips(n: int, rng: random.Random) -> list[list[tuple[float, float, str]]]:
    """`n` clips of 1-4 non-overlapping events each."""
    out = []
    for _ in range(n):
        cuts = sorted(rng.uniform(0, DURATION) for _ in range(2 * rng.randint(1, 4)))
        out.append([(round(cuts[i], 3), round(min(cuts[i + 1], cuts[i] + 4.0), 3), rng.choice(LABELS))
                    for i in range(0, len(cuts), 2) if cuts[i + 1] - cuts[i] >= 0.3])
    return out


def crowd(truth, pool, rng: random.Random):
    """Per clip: [(annotator, regions)] from 3-5 annotators of the pool."""
    return [[(a, simulate_segments(t, LABELS, rng, pool[a], DURATION))
             for a in sorted(rng.sample(range(len(pool)), rng.randint(3, 5)))] for t in truth]


def _json(regions) -> str:
    return json.dumps([{"start_s": round(s, 3), "end_s": round(e, 3), "label": lab} for s, e, lab in regions])


def ours(answers) -> tuple[list[str], list[float], float]:
    rows = [(str(i), f"a{a}", "human", _json(r)) for i, per in enumerate(answers) for a, r in per]
    votes = pa.table({k: [r[j] for r in rows] for j, k in enumerate(_COLS)})
    empty = pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())})
    settings = ConsensusSettings(classes=LABELS, kind="segments", method="dawid_skene")
    t0 = time.perf_counter()
    out = run_consensus(settings, ConsensusInputs(votes, votes.slice(0, 0), empty, empty))
    took = time.perf_counter() - t0
    by = {int(r["item_id"]): (r["answer"], r["confidence"]) for r in out.labels.to_pylist()}
    return [by[i][0] for i in range(len(answers))], [by[i][1] for i in range(len(answers))], took


def frame_majority(answers) -> list[str]:
    """Each frame gets every label more than half of the clip's annotators marked there; runs become regions."""
    n_frames = round(DURATION / FRAME_S)
    out = []
    for per in answers:
        active = np.zeros((len(per), len(LABELS), n_frames + 1), np.int32)
        for k, (_, regions) in enumerate(per):
            for s, e, lab in regions:
                active[k, LABELS.index(lab), round(s / FRAME_S)] += 1
                active[k, LABELS.index(lab), round(e / FRAME_S)] -= 1
        marked = (np.cumsum(active, axis=2)[:, :, :n_frames] > 0).sum(axis=0) * 2 > len(per)
        regions = []
        for li, lab in enumerate(LABELS):
            edges = np.diff(np.concatenate([[0], marked[li].astype(np.int8), [0]]))
            for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
                if (b - a) * FRAME_S >= MIN_RUN_S:
                    regions.append((a * FRAME_S, b * FRAME_S, lab))
        out.append(_json(regions))
    return out


def f1(truth_json: list[str], predicted: list[str], which: list[int] | None = None) -> float:
    idx = range(len(truth_json)) if which is None else which
    return segment_f1(pa.array([predicted[i] for i in idx]), pa.array([truth_json[i] for i in idx]), LABELS, 0.5)["f1"]


def best_single(truth_json, answers, ours_json) -> tuple[float, float]:
    """(the best annotator's F1 on the clips it answered, ours on the same clips)."""
    by: dict[int, dict[int, str]] = {}
    for i, per in enumerate(answers):
        for a, regions in per:
            by.setdefault(a, {})[i] = _json(regions)
    own = {}
    for a, d in by.items():
        if len(d) >= 50:
            ids = sorted(d)
            own[a] = segment_f1(pa.array([d[i] for i in ids]), pa.array([truth_json[i] for i in ids]), LABELS, 0.5)["f1"]
    best = max(own, key=own.get)
    return own[best], f1(truth_json, ours_json, sorted(by[best]))


def calibration(truth, ours_json, clip_conf) -> tuple[float, float]:
    """ECE of region confidence (right = matches a true region of its label at IoU >= 0.5) and clip confidence."""
    conf, ok, cconf, cok = [], [], [], []
    for t, a, c in zip(truth, ours_json, clip_conf):
        got = json.loads(a)
        right = np.zeros(len(got), bool)
        if got and t:
            g = np.array([[r["start_s"], r["end_s"]] for r in got])
            tt = np.array([[s, e] for s, e, _ in t])
            u, v = group_pairs(np.zeros(len(g), np.int64), np.zeros(len(tt), np.int64))
            iou = corner_iou(g[u], tt[v])
            same = np.array([got[i]["label"] == t[j][2] for i, j in zip(u, v)])
            keep = (iou >= 0.5) & same
            win = greedy_match(u[keep], v[keep], iou[keep])
            right[u[keep][win]] = True
        conf += [r["confidence"] for r in got]
        ok += right.tolist()
        cconf.append(c)
        cok.append(bool(right.all()) and int(right.sum()) == len(t))
    return (expected_calibration_error(np.array(conf), np.array(ok, float)),
            expected_calibration_error(np.array(cconf), np.array(cok, float)))


def run_shape(shape: str, n_clips: int, seed: int) -> dict:
    rng = random.Random(seed * 1000 + zlib.crc32(shape.encode()) % 997)
    truth = clips(n_clips, rng)
    answers = crowd(truth, SHAPES[shape], rng)
    truth_json = [_json(t) for t in truth]
    ours_json, clip_conf, took = ours(answers)
    res = {"ours": f1(truth_json, ours_json), "frame majority": f1(truth_json, frame_majority(answers))}
    res["best single"], res["ours there"] = best_single(truth_json, answers, ours_json)
    region_ece, clip_ece = calibration(truth, ours_json, clip_conf)
    return {**res, "region_ece": region_ece, "clip_ece": clip_ece, "seconds": took}


# -- scale ------------------------------------------------------------------------------------------
def scale_votes(n_clips: int, n_annot: int, per_clip: int, seed: int = 0) -> pa.Table:
    """`n_clips` x `n_annot` answers of `per_clip` jittered true regions each (a few relabelled), built
    vectorised; the JSON text is made by DuckDB."""
    import duckdb

    g = np.random.default_rng(seed)
    n_true = n_clips * per_clip
    slot = DURATION / per_clip  # events of one clip do not overlap: each sits in its own slot
    length = g.uniform(0.3, 0.8 * slot, n_true)
    start = (np.arange(n_true) % per_clip) * slot + g.uniform(0, slot - length)
    tl = g.integers(0, len(LABELS), n_true)
    rep = np.repeat(np.arange(n_true), n_annot)
    ann = np.tile(np.arange(n_annot), n_true)
    j = g.normal(0, 0.05, (len(rep), 2))
    s = np.clip(start[rep] + j[:, 0], 0, DURATION)
    e = np.clip(start[rep] + length[rep] + j[:, 1], 0, DURATION)
    e = np.maximum(e, s + 0.05)
    lab = np.where(g.random(len(rep)) < 0.03, g.integers(0, len(LABELS), len(rep)), tl[rep])
    regions = pa.table({"clip": (rep // per_clip).astype(np.int64), "src": ann.astype(np.int64),
                        "s": np.round(s, 3), "e": np.round(e, 3),
                        "label": pa.array(np.asarray(LABELS, dtype=object)[lab], pa.string())})
    with duckdb.connect() as con:
        con.register("_r", regions)
        return con.sql("""
            SELECT clip::VARCHAR AS item_id, 'a' || src::VARCHAR AS source_id, 'human' AS source_kind,
                   to_json(list({'start_s': s, 'end_s': e, 'label': label} ORDER BY s))::VARCHAR AS answer
            FROM _r GROUP BY clip, src ORDER BY clip, src""").to_arrow_table()


def run_scale(n_clips: int, n_annot: int = 5, per_clip: int = 2) -> float:
    votes = scale_votes(n_clips, n_annot, per_clip)
    timed = timed_consolidation(votes, ConsensusSettings(classes=LABELS, kind="segments", method="dawid_skene"))
    print(f"scale: {n_clips:,} clips x {n_annot} annotators x {per_clip} segments = {n_clips * n_annot * per_clip:,} "
          f"segments ({votes.num_rows:,} answers); {timed.line()}")
    return timed.wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--scale", action="store_true", help="time 1M segments (100k clips x 5 annotators x 2 segments)")
    ap.add_argument("--scale-clips", type=int, default=100_000)
    args = ap.parse_args()
    if args.scale:
        took = run_scale(args.scale_clips)
        print(f"target 1M segments <= 15 s: {'met' if took <= 15 else 'NOT met'}")
        return
    cols = ("ours", "frame majority", "best single", "ours there")
    print(f"Generated clips: {args.clips} per run (10 s, 1-4 events), 3-5 of 10 simulated annotators each; "
          "segment F1 at IoU >= 0.5")
    print(f"{'crowd shape':16s}{'seed':>5s}" + "".join(f"{c:>16s}" for c in cols)
          + f"{'vs peer':>9s}{'vs single':>10s}{'reg ECE':>9s}{'clip ECE':>9s}{'ours s':>8s}")
    fails = set()
    for shape in args.shapes.split(","):
        for seed in (int(x) for x in args.seeds.split(",")):
            r = run_shape(shape, args.clips, seed)
            margin = r["ours"] - r["frame majority"]
            vs_single = r["ours there"] - r["best single"]
            if margin < 0 or vs_single < 0:
                fails.add(shape)
            print(f"{shape:16s}{seed:5d}" + "".join(f"{r[c]:16.3f}" for c in cols)
                  + f"{margin:+9.3f}{vs_single:+10.3f}{r['region_ece']:9.3f}{r['clip_ece']:9.3f}{r['seconds']:8.2f}",
                  flush=True)
    print("floor (ours >= frame majority, and >= the best single annotator on its clips): "
          + ("met" if not fails else f"NOT met on {', '.join(sorted(fails))}"))
    sys.exit(0)


if __name__ == "__main__":
    main()
