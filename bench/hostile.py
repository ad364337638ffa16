"""Hostile crowds: accuracy of our aggregators vs majority vote, crowd-kit's Dawid–Skene and GLAD.

Run: ``uv run python -m bench.hostile`` (``--seeds N`` crowds per shape, default 1; ``--no-peers`` for ours only).
The crowds come from ``bench/crowds.py``; the peers run in ``bench/.peers-venv`` in the same run.
The check: the default method (``label_model``) is at least as accurate as the best peer on every crowd.
Each check also prints a paired bootstrap 95% interval of the difference (same items, resampled), so a
gap of a few items can be told from a real one when more seeds are run.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.consensus import ROOT, accuracy, ensure_peers, write_peer_input
from bench.crowds import HOSTILE, hostile_crowd
from tasks.consensus.calibration import expected_calibration_error
from tasks.consensus.dawid_skene import DawidSkene
from tasks.consensus.glad import GLAD
from tasks.consensus.label_model import LabelModel
from tasks.consensus.majority_vote import MajorityVote
from tasks.consensus.one_coin import OneCoinDawidSkene

DEFAULT = "ours.LabelModel (default)"
OURS = {
    DEFAULT: LabelModel,
    "ours.DS": DawidSkene,
    "ours.DS(hierarchical)": lambda c: DawidSkene(c, prior="hierarchical", posterior="predictive"),
    "ours.OneCoinDS": OneCoinDawidSkene,
    "ours.GLAD": GLAD,
    "ours.MV": MajorityVote,
}
PEERS = ("crowdkit.MV", "crowdkit.DS", "crowdkit.GLAD")


def _ece(labels, truth) -> float:
    got = dict(zip(labels["item_id"].to_pylist(), zip(labels["label"].to_pylist(), labels["confidence"].to_pylist())))
    conf = [got[i][1] or 0.0 for i in truth]
    return expected_calibration_error(conf, [got[i][0] == t for i, t in truth.items()])


def run(seeds: int, peers: bool) -> dict:
    crowds = {f"{shape}#{seed}": hostile_crowd(shape, seed) for shape in HOSTILE for seed in range(seeds)}
    results: dict[str, dict] = {name: {} for name in crowds}
    with tempfile.TemporaryDirectory(prefix="annoflow-hostile-") as tmp:
        for name, (votes, truth, _classes) in crowds.items():
            write_peer_input(Path(tmp), name, "hostile", votes, truth)
        py = ensure_peers() if peers else None
        # The peers run in their own process while ours are fitted: both cores when the machine has them.
        proc = (subprocess.Popen([str(py), str(ROOT / "bench" / "peers" / "run_peers.py"), tmp],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                if py is not None else None)
        for name, (votes, truth, classes) in crowds.items():
            for method, make in OURS.items():
                t0 = time.perf_counter()
                labels = make(classes).fit_predict(votes)
                results[name][method] = {"acc": accuracy(labels, truth), "s": time.perf_counter() - t0,
                                         "ece": _ece(labels, truth)}
                if method == DEFAULT:
                    got = dict(zip(labels["item_id"].to_pylist(), labels["label"].to_pylist()))
                    results[name][method]["pred"] = {i: got.get(i) for i in truth}
            results[name]["truth"] = truth
        if proc is not None:
            out, err = proc.communicate()
            if proc.returncode == 0:
                for name, res in json.loads(out.strip().splitlines()[-1]).items():
                    results[name].update(res)
            else:
                print("PEERS FAILED:", err[-2000:])
    return results


def paired_interval(mine: dict, peer: dict, truth: dict, n_boot: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of accuracy(mine) - accuracy(peer) over the same items, in points."""
    ids = list(truth)
    diff = np.array([(mine.get(i) == truth[i]) - (peer.get(i) == truth[i]) for i in ids], dtype=float)
    rng = np.random.default_rng(0)
    means = diff[rng.integers(0, len(ids), (n_boot, len(ids)))].mean(axis=1)
    return float(np.quantile(means, 0.025) * 100), float(np.quantile(means, 0.975) * 100)


def report(results: dict) -> bool:
    methods = list(OURS) + list(PEERS)
    print(f"\n{'crowd':<24}" + "".join(f"{m.split('.', 1)[1][:16]:>17}" for m in methods) + f"{'ECE(default)':>14}")
    ok_all = True
    for name, res in results.items():
        res = {m: r for m, r in res.items() if m != "truth"}
        cells = "".join(f"{res[m]['acc']:>17.4f}" if "acc" in res.get(m, {}) else f"{'-':>17}" for m in methods)
        print(f"{name:<24}{cells}{res[DEFAULT]['ece']:>14.3f}")
    print("\nchecks (default >= best of MV, crowd-kit DS, crowd-kit GLAD):")
    for name, res in results.items():
        peer = {m: res[m]["acc"] for m in PEERS if "acc" in res.get(m, {})}
        if not peer:
            print(f"  {name}: PEERS MISSING")
            ok_all = False
            continue
        best = max(peer, key=peer.get)
        mine = res[DEFAULT]["acc"]
        ok = mine >= peer[best]
        ok_all &= ok
        interval = ""
        if "pred" in res[best]:
            lo, hi = paired_interval(res[DEFAULT]["pred"], res[best]["pred"], res["truth"])
            interval = f", paired 95% interval [{lo:+.2f}, {hi:+.2f}]" + (" - peer significantly better" if hi < 0 else "")
        print(f"  {name}: default {mine:.4f} vs {best} {peer[best]:.4f} ({'ok' if ok else 'MISS'}, "
              f"{(mine - peer[best]) * 100:+.2f} points{interval})")
    by_shape: dict[str, list[float]] = {}
    for name, res in results.items():
        peer = [res[m]["acc"] for m in PEERS if "acc" in res.get(m, {})]
        if peer:
            by_shape.setdefault(name.split("#")[0], []).append(res[DEFAULT]["acc"] - max(peer))
    if any(len(v) > 1 for v in by_shape.values()):
        print("\nmean over seeds, default - best peer of each crowd (points):")
        for shape, gaps in by_shape.items():
            print(f"  {shape}: {np.mean(gaps) * 100:+.2f} ({len(gaps)} crowds)")
    return ok_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=1, help="crowds per shape (seeds 0..N-1)")
    parser.add_argument("--no-peers", action="store_true", help="skip crowd-kit")
    args = parser.parse_args()
    t0 = time.perf_counter()
    results = run(args.seeds, not args.no_peers)
    report(results)
    print(f"\n{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
