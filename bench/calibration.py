"""Calibration of resolved items: is a label resolved at confidence >= t right at least t - 0.01 of the time?

Run: ``uv run python -m bench.calibration``. Every crowd dataset of ``../shared/datasets`` replayed at
sparse overlap (1-3 of each item's votes, seeded) and the generated hostile crowds of ``bench/crowds.py``;
the default method (``label_model``) decides with the product's rule (``resolution.decide``) at targets
0.8 / 0.9 / 0.95, with the overlap policy's minimum of 2 human votes (``overlap.initial``) and, to show
the posterior alone, with a minimum of 1. A seeded share of the known answers (``--gold``, 20%) is
given as the project's gold, as a project would have it; everything is scored on the other items.
ECE beside it: the same model without gold, and plain Dawid–Skene's plug-in posterior without gold.
With gold, a confidence is what gold certifies (``calibration.GoldCalibration``: a one-sided lower
bound of gold accuracy over a confidence tail), so where gold is scarce nothing resolves at high
targets. The last line counts the (crowd, target) pairs that meet the floor under the product rule.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import time

import numpy as np
import pyarrow as pa

from bench.consensus import load_bluebirds, load_gal, load_snow
from bench.crowds import HOSTILE, hostile_crowd, sparse_replay
from tasks.consensus.calibration import expected_calibration_error
from tasks.consensus.dawid_skene import DawidSkene
from tasks.consensus.label_model import LabelModel
from tasks.consensus.resolution import decide

TARGETS = (0.8, 0.9, 0.95)
REAL = {
    "snow_rte": lambda: load_snow("rte"), "snow_temp": lambda: load_snow("temp"),
    "snow_wsd": lambda: load_snow("wsd"), "bluebirds": load_bluebirds,
    "gal_adultcontent2": lambda: load_gal("adultcontent2"),
    "gal_hitspam": lambda: load_gal("hitspam_crowdflower"), "gal_mozafari": lambda: load_gal("mozafari"),
}


def _aligned(labels: pa.Table, votes: pa.Table, truth: dict):
    """Per item with a known answer: confidence, correct, number of votes."""
    ids = labels["item_id"].to_pylist()
    pos = {i: n for n, i in enumerate(ids)}
    keep = [pos[i] for i in truth if i in pos]
    conf = np.nan_to_num(np.asarray(labels["confidence"].to_numpy(zero_copy_only=False), np.float64))[keep]
    got = np.asarray(labels["label"].to_pylist(), dtype=object)[keep]
    want = np.asarray([truth[i] for i in truth if i in pos], dtype=object)
    per_item = dict(zip(*np.unique(votes["item_id"].to_numpy(zero_copy_only=False).astype(str), return_counts=True)))
    n = np.asarray([per_item.get(ids[j], 0) for j in keep])
    return conf, got == want, n


def split_gold(truth: dict, share: float, seed: int) -> tuple[pa.Table, dict]:
    """A seeded ``share`` of the known answers as the project's gold; the rest is what is scored."""
    ids = sorted(truth)
    rng = np.random.default_rng(seed)
    is_gold = rng.random(len(ids)) < share
    gold = [i for i, g in zip(ids, is_gold) if g]
    return (pa.table({"item_id": pa.array(gold, pa.string()), "label": pa.array([truth[i] for i in gold], pa.string())}),
            {i: truth[i] for i, g in zip(ids, is_gold) if not g})


def evaluate(votes: pa.Table, truth: dict, gold_share: float, seed: int) -> dict:
    classes = sorted(set(votes["label"].drop_null().to_pylist()) | set(truth.values()))
    gold, scored = split_gold(truth, gold_share, seed)
    conf, ok, n = _aligned(LabelModel(classes).fit_predict(votes, gold), votes, scored)
    plain_conf, plain_ok, _ = _aligned(LabelModel(classes).fit_predict(votes), votes, scored)
    flat_conf, flat_ok, _ = _aligned(DawidSkene(classes).fit_predict(votes), votes, scored)
    out = {"n": len(ok), "gold": gold.num_rows, "acc": float(ok.mean()), "ece": expected_calibration_error(conf, ok),
           "ece_no_gold": expected_calibration_error(plain_conf, plain_ok),
           "ece_flat_ds": expected_calibration_error(flat_conf, flat_ok), "targets": {}}
    for t in TARGETS:
        row = {}
        for min_votes in (2, 1):
            resolved = decide(conf, n, t, max_overlap=5, min_votes=min_votes) == "resolved"
            acc = float(ok[resolved].mean()) if resolved.any() else float("nan")
            row[min_votes] = {"share": float(resolved.mean()), "n": int(resolved.sum()), "acc": acc,
                              "floor": bool(not resolved.any() or acc >= t - 0.01)}
        out["targets"][t] = row
    return out


def report(results: dict) -> bool:
    """One row per (crowd, target); the floor count is for the product rule (minimum 2 human votes)."""
    print(f"\n{'crowd':<27}{'gold':>5}{'items':>6}{'acc':>7}{'ECE':>7}{'no gold':>8}{'DS':>7}  {'t':>5}"
          f"{'resolved (min 2)':>18}{'acc':>8}{'floor':>6}{'resolved (min 1)':>18}{'acc':>8}{'floor':>6}")
    met = {2: 0, 1: 0}
    pairs = 0
    for name, r in results.items():
        for j, (t, row) in enumerate(r["targets"].items()):
            head = (f"{name:<27}{r['gold']:>5}{r['n']:>6}{r['acc']:>7.3f}{r['ece']:>7.3f}{r['ece_no_gold']:>8.3f}"
                    f"{r['ece_flat_ds']:>7.3f}" if j == 0 else " " * 67)
            cells = ""
            pairs += 1
            for min_votes in (2, 1):
                c = row[min_votes]
                met[min_votes] += c["floor"]
                acc = f"{c['acc']:>8.3f}" if c["n"] else f"{'-':>8}"
                cells += f"{c['share']:>11.1%} ({c['n']:>4}){acc}{'yes' if c['floor'] else 'NO':>6}"
            print(f"{head}  {t:>5}{cells}")
    print("\nacc: accuracy of every scored item's label; ECE: of every scored item's confidence (10 bins); "
          "floor: accuracy of the resolved >= t - 0.01 (nothing resolved keeps it)")
    print(f"floor met on {met[2]} of {pairs} (dataset, target) pairs"
          f" (with a minimum of 1 human vote: {met[1]} of {pairs})")
    return met[2] == pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="seed of the sparse replay, the crowds and the gold split")
    parser.add_argument("--gold", type=float, default=0.2, help="share of the known answers given as gold")
    args = parser.parse_args()
    t0 = time.perf_counter()
    results = {}
    for name, load in REAL.items():
        votes, truth = load()
        results[f"{name} (sparse)"] = evaluate(sparse_replay(votes, seed=args.seed), truth, args.gold, args.seed)
    for shape in HOSTILE:
        votes, truth, _classes = hostile_crowd(shape, args.seed)
        results[shape] = evaluate(votes, truth, args.gold, args.seed)
    report(results)
    print(f"\n{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
