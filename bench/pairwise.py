"""Pairwise consolidation on simulated comparison crowds: system ranking and per-item preference, with peers.

Run: ``uv run python -m bench.pairwise`` (eight seeds, every shape); ``--scale`` times 1M pairwise
judgments and 1M ratings instead.

Truth: 8 systems with log-strengths ~ N(0, spread); each item pairs two different systems at random;
its true outcome is drawn from the Davidson model (``tasks.kinds.pairwise.simulation``). Each item is
judged by 3 of the pool's annotators (drawn by weight), candidate order random per judgment. A judge
reads the item with its reliability and answers the true outcome, else guesses a slot. Shapes:

- mixed: reliabilities 0.95, 0.9, 0.85, 0.8, 0.7, 0.6; one position-biased judge (reads 30%, guesses
  "first" 95%); one spammer (reads never, guesses 50/50);
- biased: as mixed, but three position-biased judges (first, first, second) doing 40% of the work;
- spammers: four careful judges (0.9, 0.85, 0.8, 0.7) and three spammers doing half of the work;
- close: systems close together (spread 0.3) and every careful judge draws the outcome afresh
  (careful judges disagree on close items; truth = the more probable outcome);
- ties: ties allowed (Davidson nu 0.6); judges as mixed plus one who guesses "tie" half the time.

Methods: ours (``PreferenceModel``: noisy Bradley–Terry with position bias over a Davidson prior, no
gold); crowd-kit 1.4.2's BradleyTerry (MM, n_iter 1000) and NoisyBradleyTerry (n_iter 100, its default
regularisation), run in bench/.peers-venv (bench/peers/run_pairwise_peers.py) on the same judgments
without ties (crowd-kit has none); per item they are fitted on (item, candidate) objects, as
crowd-kit's NoisyBT docstring groups questions. Metrics: Kendall's tau between the recovered system
strengths and the true ones; per-item preference accuracy against the true outcome (a peer's item
score difference picks a or b; it cannot say tie); ECE (10 bins) of our per-item confidence. Also per
seed: ``oracle tau``, Bradley–Terry(-Davidson) fitted on the items' true outcomes (what the drawn outcomes
allow; on "close" the truth is the more probable outcome, so it is the true order), and our intervals'
coverage: share of systems whose true centred log-strength lies in the 95% strength interval (``cover``)
and whose true rank lies in the rank interval (``rank cover``).
Floor: on every shape, ours >= both peers on tau and on accuracy, each averaged over the seeds. A single
seed's tau over 8 systems moves in steps of 1/14 with the items drawn (two systems closer than the data
can tell flip it), so the mean over 8 seeds has a standard error of about 0.02, more than the gaps between
the methods; every seed's row is printed, with the oracle, to show where a seed is a coin flip.
``--tau-seeds N`` measures the ranking alone over N more seeds (100 on) against both peers, with the
difference's standard error and the count of seeds where ours >= the peer, to see past that noise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy.stats import kendalltau

from tasks.consensus.calibration import expected_calibration_error
from tasks.kinds.pairwise.bradley_terry import fit_strengths
from tasks.kinds.pairwise.preference import PreferenceModel
from tasks.kinds.pairwise.simulation import PairAnnotator, simulate_comparisons

ROOT = Path(__file__).resolve().parents[1]
PEERS_PY = ROOT / "bench" / ".peers-venv" / "bin" / "python"
BIASED_FIRST = PairAnnotator(0.3, (0.95, 0.05, 0.0))
SPAMMER = PairAnnotator(0.0, (0.5, 0.5, 0.0))
_CAREFUL = [PairAnnotator(r) for r in (0.95, 0.9, 0.85, 0.8, 0.7, 0.6)]
SHAPES = {
    "mixed": {"annotators": [*_CAREFUL, BIASED_FIRST, SPAMMER]},
    "biased": {"annotators": [*_CAREFUL, PairAnnotator(0.3, (0.95, 0.05, 0.0), 1.6),
                               PairAnnotator(0.2, (0.9, 0.1, 0.0), 1.6), PairAnnotator(0.3, (0.05, 0.95, 0.0), 1.6)]},
    "spammers": {"annotators": [PairAnnotator(r) for r in (0.9, 0.85, 0.8, 0.7)] + [PairAnnotator(0.0, (0.5, 0.5, 0.0), 4 / 3)] * 3},
    "close": {"annotators": [*_CAREFUL, BIASED_FIRST, SPAMMER], "spread": 0.3, "item_noise": False},
    "ties": {"annotators": [PairAnnotator(r, (0.45, 0.45, 0.1)) for r in (0.95, 0.9, 0.85, 0.8, 0.7, 0.6)]
                 + [PairAnnotator(0.3, (0.9, 0.05, 0.05)), PairAnnotator(0.0, (0.25, 0.25, 0.5))], "nu": 0.6},
}


def _peer_rows(judgments: pa.Table, items: pa.Table) -> list[list]:
    """The judgments as crowd-kit rows (source, item, left system, right system, winner slot, left candidate); ties
    left out (crowd-kit has none)."""
    j = judgments.join(items, "item_id").to_pydict()
    rows = []
    for src, item, choice, swapped, sa, sb in zip(j["source_id"], j["item_id"], j["choice"], j["swapped"],
                                                  j["system_a"], j["system_b"]):
        if choice == "tie":
            continue
        left, right = (sb, sa) if swapped else (sa, sb)
        rows.append([src, item, left, right, int(choice == "B"), "b" if swapped else "a"])
    return rows


def _call_peers(payload: dict):
    """crowd-kit's outputs (bench/peers/run_pairwise_peers.py), or None without the peers venv."""
    if not PEERS_PY.exists():
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(payload, f)
    r = subprocess.run([str(PEERS_PY), str(ROOT / "bench" / "peers" / "run_pairwise_peers.py"), f.name],
                       capture_output=True, text=True, check=True)
    Path(f.name).unlink()
    return json.loads(r.stdout)


def peers(judgments: pa.Table, items: pa.Table) -> dict | None:
    """crowd-kit's outputs on the same judgments, systems and per item, or None without the peers venv."""
    return _call_peers({"rows": _peer_rows(judgments, items)})


def _item_predictions(scores: dict[str, float], item_ids: list[str]) -> np.ndarray:
    diff = {}
    for k, v in scores.items():
        item, cand = k.split("\t")
        diff[item] = diff.get(item, 0.0) + (v if cand == "a" else -v)
    return np.array(["a" if diff.get(i, 0.0) >= 0 else "b" for i in item_ids], dtype=object)


def _crowd(shape: str, n_items: int, seed: int):
    spec = dict(SHAPES[shape])
    crowd = simulate_comparisons(np.random.default_rng(seed), spec.pop("annotators"), n_items, per_item=3, **spec)
    return crowd, spec.get("nu", 0.0) > 0


def _ours(crowd, ties: bool) -> tuple[PreferenceModel, dict]:
    """Our fit with its ranking's tau, the oracle's tau and the intervals' coverage of the truth.

    Oracle: Bradley–Terry(-Davidson) fitted on the items' true outcomes, what the drawn outcomes allow (no
    consolidation of the judgments knows more; on "close" the truth is the more probable outcome, so it is
    the true order itself). Coverage: share of systems whose true centred log-strength lies inside our
    interval (``cover``), and whose true rank lies inside the rank interval (``rank cover``).
    """
    model = PreferenceModel(ties=ties).fit(crowd.judgments, crowd.items)
    r = model.ranking_
    est = dict(zip(r["system"].to_pylist(), r["strength"].to_pylist()))
    enc = model.encoded_
    truth = np.array(crowd.truth["preference"].to_pylist(), dtype=object)
    oracle = fit_strengths(enc.system_a, enc.system_b, truth == "a", truth == "b", truth == "tie",
                           len(enc.systems), ties="davidson" if ties else "none")
    true = dict(zip(crowd.systems, crowd.strengths - crowd.strengths.mean()))
    true_rank = dict(zip(crowd.systems, (-crowd.strengths).argsort().argsort() + 1))
    t = np.array([true[x] for x in r["system"].to_pylist()])
    k = np.array([true_rank[x] for x in r["system"].to_pylist()])
    return model, {
        "ours tau": _tau(est, crowd),
        "oracle tau": _tau(dict(zip(enc.systems.to_pylist(), oracle.theta)), crowd),
        "cover": float(np.mean((r["low"].to_numpy() <= t) & (t <= r["high"].to_numpy()))),
        "rank cover": float(np.mean((r["rank_low"].to_numpy() <= k) & (k <= r["rank_high"].to_numpy()))),
    }


def run_shape(shape: str, n_items: int, seed: int) -> dict:
    crowd, ties = _crowd(shape, n_items, seed)
    t0 = time.perf_counter()
    model, out = _ours(crowd, ties)
    out["seconds"] = time.perf_counter() - t0
    truth = np.array(crowd.truth["preference"].to_pylist(), dtype=object)
    pred = np.array(model.preferences_["preferred"].to_pylist(), dtype=object)
    conf = model.preferences_["confidence"].to_numpy()
    out["ours acc"] = float((pred == truth).mean())
    out["ece"] = expected_calibration_error(conf, pred == truth)
    p = peers(crowd.judgments, crowd.items)
    item_ids = crowd.items["item_id"].to_pylist()
    for name, key in (("BT", "bt"), ("NoisyBT", "noisy_bt")):
        if p is None:
            out[f"{name} tau"] = out[f"{name} acc"] = float("nan")
            continue
        out[f"{name} tau"] = _tau(p[key], crowd)
        out[f"{name} acc"] = float((_item_predictions(p[f"{key}_items"], item_ids) == truth).mean())
    return out


def _crowdkit_bt_scores(crowd) -> dict[str, float]:
    """crowd-kit 1.4.2's BradleyTerry in process: two MM steps from uniform (where it stops whatever
    n_iter is; tests/kinds/pairwise/test_bradley_terry.py checks this reproduces its stored output)."""
    j = crowd.judgments.join(crowd.items, "item_id")
    keep = np.array(j["choice"].to_pylist()) != "tie"
    code = {s: i for i, s in enumerate(crowd.systems)}
    a = np.array([code[s] for s in j["system_a"].to_pylist()])[keep]
    b = np.array([code[s] for s in j["system_b"].to_pylist()])[keep]
    a_won = (np.array(j["choice"].to_pylist())[keep] == "A") != j["swapped"].to_numpy(zero_copy_only=False)[keep]
    n = len(crowd.systems)
    wins = np.bincount(np.where(a_won, a * n + b, b * n + a), minlength=n * n).reshape(n, n).astype(np.float64)
    p = np.full(n, 1.0 / n)
    for _ in range(2):
        p = wins.sum(axis=1) / ((wins + wins.T) / (p[:, None] + p[None, :])).sum(axis=0)
        p /= p.sum()
    return dict(zip(crowd.systems, p.tolist()))


def _tau(scores: dict[str, float], crowd) -> float:
    return kendalltau([scores.get(x, 0.0) for x in crowd.systems], crowd.strengths).statistic


def run_tau_seeds(shapes: list[str], n_items: int, seeds: int) -> None:
    """The ranking alone over many seeds (100 on), against crowd-kit's BradleyTerry and NoisyBT fitted on the
    systems (one peers process per shape; without the peers venv, BradleyTerry reproduced in process)."""
    print(f"Ranking over {seeds} seeds ({100}..{99 + seeds}), {n_items} items x 3 judgments, 8 systems "
          "(mean; ours - peer with its standard error and the seeds where ours >= peer)")
    for shape in shapes:
        rows, payload = [], []
        for seed in range(100, 100 + seeds):
            crowd, ties = _crowd(shape, n_items, seed)
            rows.append((crowd, _ours(crowd, ties)[1]))
            payload.append({"rows": _peer_rows(crowd.judgments, crowd.items), "per_item": False})
        got = _call_peers({"crowds": payload})
        for (crowd, r), p in zip(rows, got or [None] * len(rows)):
            r["BT tau"] = _tau(p["bt"] if p else _crowdkit_bt_scores(crowd), crowd)
            r["NoisyBT tau"] = _tau(p["noisy_bt"], crowd) if p else float("nan")
        m = {c: np.array([r[c] for _, r in rows]) for c in rows[0][1]}
        line = f"{shape:10s} ours {m['ours tau'].mean():.3f}  oracle {m['oracle tau'].mean():.3f}"
        for peer in ("BT", "NoisyBT"):
            gap = m["ours tau"] - m[f"{peer} tau"]
            line += (f"  {peer} {m[f'{peer} tau'].mean():.3f} (ours - {peer} {gap.mean():+.3f} se "
                     f"{gap.std() / np.sqrt(len(gap)):.3f}, >= on {(gap >= 0).sum()}/{len(gap)})")
        print(line + f"  cover {m['cover'].mean():.3f}  rank cover {m['rank cover'].mean():.3f}", flush=True)


def run_scale(n: int) -> None:
    from tasks.kinds.rating.consensus import RatingModel
    from tasks.kinds.rating.simulation import Rater, simulate_ratings

    rng = np.random.default_rng(0)
    anns = [PairAnnotator(r) for r in np.linspace(0.5, 0.95, 40)] + [BIASED_FIRST, SPAMMER] * 5
    crowd = simulate_comparisons(rng, anns, n // 5, n_systems=30, per_item=5)
    t0, c0 = time.perf_counter(), time.process_time()
    model = PreferenceModel(ties=False).fit(crowd.judgments, crowd.items)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"scale pairwise: {crowd.judgments.num_rows:,} judgments ({n // 5:,} items x 5, 50 judges, 30 systems) "
          f"consolidated in {took:.2f}s wall, {cpu:.2f}s CPU, {model.n_iter_} EM iterations "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); limit 10 s: "
          + ("met" if took <= 10 else "NOT met"))
    raters = [Rater(bias=b, scale=s, noise=0.6) for b, s in zip(np.linspace(-1, 1, 50), np.linspace(0.6, 1.4, 50))]
    ratings = simulate_ratings(rng, raters, n // 5, per_item=5)
    t0, c0 = time.perf_counter(), time.process_time()
    rm = RatingModel(scale=(1, 5)).fit(ratings.ratings)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"scale ratings: {ratings.ratings.num_rows:,} ratings ({n // 5:,} items x 5, 50 raters) consolidated in "
          f"{took:.2f}s wall, {cpu:.2f}s CPU, {rm.n_iter_} iterations; limit 5 s: " + ("met" if took <= 5 else "NOT met"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--seeds", default="0,1,2,3,4,5,6,7")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--scale", action="store_true", help="time 1M pairwise judgments and 1M ratings")
    ap.add_argument("--scale-n", type=int, default=1_000_000)
    ap.add_argument("--tau-seeds", type=int, default=0,
                    help="ranking only, over this many seeds, against crowd-kit's BT reproduced in process")
    args = ap.parse_args()
    if args.tau_seeds:
        run_tau_seeds(args.shapes.split(","), args.items, args.tau_seeds)
        return
    if args.scale:
        run_scale(args.scale_n)
        return
    if not PEERS_PY.exists():
        print("PEERS MISSING: bench/.peers-venv not found; crowd-kit not run")
    cols = ("ours tau", "BT tau", "NoisyBT tau", "oracle tau", "ours acc", "BT acc", "NoisyBT acc", "cover",
            "rank cover")
    print(f"Simulated comparison crowds: {args.items} items x 3 judgments, 8 systems")
    print(f"{'crowd shape':12s}{'seed':>5s}" + "".join(f"{c:>12s}" for c in cols) + f"{'ECE':>7s}{'ours s':>8s}")
    fails = set()
    for shape in args.shapes.split(","):
        runs = []
        for seed in (int(x) for x in args.seeds.split(",")):
            r = run_shape(shape, args.items, seed)
            runs.append(r)
            print(f"{shape:12s}{seed:5d}" + "".join(f"{r[c]:12.3f}" for c in cols)
                  + f"{r['ece']:7.3f}{r['seconds']:8.2f}", flush=True)
        mean = {c: float(np.mean([r[c] for r in runs])) for c in (*cols, "ece", "seconds")}
        print(f"{shape:12s}{'mean':>5s}" + "".join(f"{mean[c]:12.3f}" for c in cols)
              + f"{mean['ece']:7.3f}{mean['seconds']:8.2f}", flush=True)
        for m in ("tau", "acc"):
            if any(mean[f"ours {m}"] < mean[f"{p} {m}"] - 1e-12 for p in ("BT", "NoisyBT")):
                fails.add(shape)
    print("floor (ours >= BradleyTerry and NoisyBT on mean tau and mean accuracy, every shape): "
          + ("met" if not fails else f"NOT met on {', '.join(sorted(fails))}"))
    sys.exit(0)


if __name__ == "__main__":
    main()
