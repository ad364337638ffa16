"""Consensus benchmark: accuracy and seconds, ours vs crowd-kit and snorkel, on real and synthetic crowds.

Run: ``uv run python -m bench.consensus`` (``--quick`` skips the 10M-vote case). The peers run in
``bench/.peers-venv`` (built once from ``bench/peers/requirements.txt``: they need pandas<3).
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as csv

from tasks.consensus.dawid_skene import DawidSkene
from tasks.consensus.glad import GLAD
from tasks.consensus.label_model import LabelModel
from tasks.consensus.majority_vote import MajorityVote, WeightedMajorityVote
from tasks.consensus.one_coin import OneCoinDawidSkene

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
if not DATA.exists():
    DATA = Path("/work/shared/datasets")
PEERS_VENV = ROOT / "bench" / ".peers-venv"
PEERS_REQ = ROOT / "bench" / "peers" / "requirements.txt"


def _table(items, sources, labels) -> pa.Table:
    return pa.table({"item_id": pa.array(items, pa.string()), "source_id": pa.array(sources, pa.string()),
                     "label": pa.array(labels, pa.string())})


def load_snow(name):
    t = csv.read_csv(DATA / "snow2008" / f"{name}.standardized.tsv",
                     parse_options=csv.ParseOptions(delimiter="\t"),
                     convert_options=csv.ConvertOptions(strings_can_be_null=False,
                                                        column_types={"orig_id": pa.string(), "response": pa.string(),
                                                                      "gold": pa.string()}))
    votes = _table(t["orig_id"], t["!amt_worker_ids"], t["response"])
    truth = dict(zip(t["orig_id"].to_pylist(), t["gold"].to_pylist()))
    return votes, truth


def _read_tsv(path, names):
    return csv.read_csv(path, read_options=csv.ReadOptions(column_names=names),
                        parse_options=csv.ParseOptions(delimiter="\t", quote_char=False),
                        convert_options=csv.ConvertOptions(column_types={n: pa.string() for n in names}))


def load_gal(name):
    lab = _read_tsv(DATA / "gal" / name / "labels.tsv", ["worker", "item", "label"])
    gold = _read_tsv(DATA / "gal" / name / "gold.tsv", ["item", "label"])
    votes = _table(lab["item"], lab["worker"], lab["label"])
    seen = set(lab["item"].to_pylist())
    truth = {i: l for i, l in zip(gold["item"].to_pylist(), gold["label"].to_pylist()) if i in seen}
    return votes, truth


def load_bluebirds():
    a = csv.read_csv(DATA / "bluebirds" / "answers.csv",
                     convert_options=csv.ConvertOptions(column_types={c: pa.string() for c in ("worker", "task", "label")}))
    t = csv.read_csv(DATA / "bluebirds" / "truth.csv",
                     convert_options=csv.ConvertOptions(column_types={"task": pa.string(), "truth": pa.string()}))
    return _table(a["task"], a["worker"], a["label"]), dict(zip(t["task"].to_pylist(), t["truth"].to_pylist()))


def load_youtube(with_texts: bool = False):
    items, sources, labels, truth, texts = [], [], [], {}, {}
    for split in ("train", "valid", "test"):
        for key, row in json.loads((DATA / "wrench_youtube" / f"{split}.json").read_text()).items():
            iid = f"{split}:{key}"
            texts[iid] = row["data"]["text"]
            if split == "test":
                truth[iid] = str(row["label"])
            for j, v in enumerate(row["weak_labels"]):
                items.append(iid); sources.append(f"lf{j}"); labels.append(None if v == -1 else str(v))
    return (_table(items, sources, labels), truth) + ((texts,) if with_texts else ())


def youtube_end_model(votes: pa.Table, truth: dict, texts: dict, min_confidence: float = 0.9) -> dict:
    """The pre-label stage's weak-supervision path (``weak_labels = true``) on WRENCH youtube, no gold.

    The label model combines the rules; the stage's text model is trained on its labels of at least
    ``min_confidence`` (out-of-fold predictions for those items), then its votes join the rules' in the
    label model. The same functions the stage calls, without the DuckDB around them.
    """
    from schemas.config import ModelConfig
    from tasks.prelabel.combine import LabelModelCombiner
    from tasks.prelabel.models import train_sklearn
    from tasks.prelabel.weak import weak_labels

    classes = ["0", "1"]
    t0 = time.perf_counter()
    combiner = lambda: LabelModelCombiner(LabelModel(classes))  # noqa: E731 - a fresh model per fit
    weak = weak_labels(combiner(), votes, classes, min_confidence)
    ids = list(texts)
    items = pa.table({"item_id": ids, "payload": [texts[i] for i in ids]})
    train_ids = weak.column("item_id")
    run = train_sklearn("text", "text", classes, items.filter(pc.is_in(items.column("item_id"), value_set=train_ids)),
                        weak.column("label").to_pylist(), ModelConfig(name="text"))
    rest = items.filter(pc.invert(pc.is_in(items.column("item_id"), value_set=train_ids)))
    _, rest_p = run.model.predict_proba(rest)
    P = np.vstack([run.oof_probs, rest_p])
    model_ids = run.oof_item_ids + rest.column("item_id").to_pylist()
    model_votes = pa.table({"item_id": model_ids, "source_id": ["model:text"] * len(model_ids),
                            "label": np.asarray(classes, dtype=object)[P.argmax(axis=1)].tolist()})
    model_only = dict(zip(model_ids, model_votes.column("label").to_pylist()))
    combined = combiner().label_model.fit_predict(pa.concat_tables([votes.select(["item_id", "source_id", "label"]),
                                                                    model_votes]))
    sec = time.perf_counter() - t0
    return {
        f"ours.LabelModel + end model (weak labels >= {min_confidence})": {"acc": accuracy(combined, truth), "s": sec,
                                                                         "n_weak": weak.num_rows},
        f"ours.end model alone (weak labels >= {min_confidence})": {
            "acc": float(np.mean([model_only[i] == t for i, t in truth.items()])), "s": sec},
    }


def synthetic(n_votes, n_items, n_workers, k=4, seed=0):
    """Confusion-matrix workers: accuracy U(0.35, 0.95), errors drawn from a per-worker Dirichlet."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(k, n_items, p=np.array([0.4, 0.3, 0.2, 0.1])[:k] / np.array([0.4, 0.3, 0.2, 0.1])[:k].sum())
    acc = rng.uniform(0.35, 0.95, n_workers)
    wrong_dist = rng.dirichlet(np.ones(k - 1), size=(n_workers, k)).cumsum(axis=2)
    item = np.repeat(np.arange(n_items, dtype=np.int64), n_votes // n_items)
    worker = rng.integers(0, n_workers, len(item))
    t = truth[item]
    right = rng.random(len(item)) < acc[worker]
    shift = (rng.random(len(item))[:, None] > wrong_dist[worker, t]).sum(axis=1) + 1
    label = np.where(right, t, (t + shift) % k)
    del shift, right
    classes = [str(c) for c in range(k)]
    votes = pa.table({
        "item_id": pc.cast(pa.array(item), pa.string()),
        "source_id": pc.cast(pa.array(worker), pa.string()),
        "label": pa.DictionaryArray.from_arrays(pa.array(label.astype(np.int32)), pa.array(classes)).cast(pa.string()),
    })
    return votes, truth.astype(str), classes


def accuracy(labels: pa.Table, truth: dict) -> float:
    got = dict(zip(labels["item_id"].to_pylist(), labels["label"].to_pylist()))
    return float(np.mean([got.get(i) == t for i, t in truth.items()]))


def accuracy_synthetic(labels: pa.Table, truth: np.ndarray) -> float:
    ids = labels["item_id"].cast(pa.int64()).to_numpy()
    return float((labels["label"].to_numpy(zero_copy_only=False) == truth[ids]).mean())


OURS = {
    "LabelModel (default)": lambda c: LabelModel(c),
    "MV": lambda c: MajorityVote(c),
    "Wawa": lambda c: WeightedMajorityVote(c, mode="wawa"),
    "DS": lambda c: DawidSkene(c),
    "OneCoinDS": lambda c: OneCoinDawidSkene(c),
    "GLAD": lambda c: GLAD(c),
}


def run_ours(votes, truth, classes, methods):
    out = {}
    for name, make in methods.items():
        t0 = time.perf_counter()
        labels = make(classes).fit_predict(votes)
        out[f"ours.{name}"] = {"acc": accuracy(labels, truth), "s": time.perf_counter() - t0}
    return out


def child_synthetic(n_votes: int) -> None:
    """Run in a subprocess so its peak RSS is measured alone."""
    votes, truth, classes = synthetic(n_votes, n_votes // 5, max(10_000, n_votes // 100))
    t0, c0 = time.perf_counter(), time.process_time()
    ds = DawidSkene(classes)
    labels = ds.fit_predict(votes)
    s, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"acc": accuracy_synthetic(labels, truth), "s": s, "cpu_s": cpu, "n_iter": ds.n_iter_}))


def ensure_peers() -> Path | None:
    py = PEERS_VENV / "bin" / "python"
    if py.exists():
        return py
    print(f"building peers venv in {PEERS_VENV} (once) ...", flush=True)
    steps = [[sys.executable if "uv" not in sys.executable else "python3", "-m", "venv", str(PEERS_VENV)],
             [str(py), "-m", "pip", "install", "-q", "torch==2.13.0"],
             [str(py), "-m", "pip", "install", "-q", "-r", str(PEERS_REQ)]]
    steps[0][0] = "python3"
    for cmd in steps:
        if subprocess.run(cmd).returncode != 0:
            print(f"PEERS MISSING: {' '.join(cmd)} failed; only our figures are shown")
            return None
    return py


def write_peer_input(tmp: Path, name: str, kind: str, votes: pa.Table, truth: dict | np.ndarray, lf=False):
    lab = votes["label"]
    if lf:
        lab = pc.fill_null(lab, "-1")
    csv.write_csv(pa.table({"task": votes["item_id"], "worker": votes["source_id"], "label": lab}),
                  tmp / f"{name}.votes.csv")
    if isinstance(truth, dict):
        tt = pa.table({"task": list(truth), "label": list(truth.values())})
    else:
        tt = pa.table({"task": pc.cast(pa.array(np.arange(len(truth))), pa.string()), "label": truth})
    csv.write_csv(tt, tmp / f"{name}.truth.csv")
    (tmp / f"{name}.kind").write_text(kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 10M-vote case")
    parser.add_argument("--no-peers", action="store_true", help="skip crowd-kit and snorkel")
    parser.add_argument("--child-synthetic", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_synthetic:
        child_synthetic(args.child_synthetic)
        return
    with tempfile.TemporaryDirectory(prefix="annoflow-bench-") as name:
        run_all(args, Path(name))


def run_all(args, tmp: Path) -> None:
    results: dict[str, dict] = {}
    crowds = {
        "snow_rte": lambda: load_snow("rte"), "snow_temp": lambda: load_snow("temp"),
        "snow_wsd": lambda: load_snow("wsd"), "bluebirds": load_bluebirds,
        "gal_adultcontent2": lambda: load_gal("adultcontent2"),
        "gal_hitspam": lambda: load_gal("hitspam_crowdflower"), "gal_mozafari": lambda: load_gal("mozafari"),
    }
    for name, load in crowds.items():
        votes, truth = load()
        classes = sorted(set(votes["label"].drop_null().to_pylist()) | set(truth.values()))
        results[name] = run_ours(votes, truth, classes, OURS)
        write_peer_input(tmp, name, "crowd", votes, truth)

    votes, truth, texts = load_youtube(with_texts=True)
    yt = {"MV": lambda c: MajorityVote(c), "DS": lambda c: DawidSkene(c),
          "LabelModel": lambda c: LabelModel(c),
          "LabelModel(uniform balance)": lambda c: LabelModel(c, class_balance=[1, 1]),
          "LabelModel(matrix completion)": lambda c: LabelModel(c, fit="matrix_completion", abstain_evidence=False),
          "LabelModel(matrix completion, abstain evidence)": lambda c: LabelModel(c, fit="matrix_completion"),
          "LabelModel(matrix completion + EM)": lambda c: LabelModel(c, fit="matrix_completion+em",
                                                                     class_balance=[1, 1])}
    results["wrench_youtube"] = run_ours(votes, truth, ["0", "1"], yt)
    results["wrench_youtube"].update(youtube_end_model(votes, truth, texts))
    write_peer_input(tmp, "wrench_youtube", "lf", votes, truth, lf=True)

    votes, struth, classes = synthetic(1_000_000, 200_000, 10_000)
    DawidSkene(classes, max_iter=1).fit(votes.slice(0, 1000))  # warm imports, not the algorithm
    t0, c0 = time.perf_counter(), time.process_time()
    ds = DawidSkene(classes)
    labels = ds.fit_predict(votes)
    sec, cpu = time.perf_counter() - t0, time.process_time() - c0
    results["synthetic_1M"] = {"ours.DS": {"acc": accuracy_synthetic(labels, struth), "s": sec, "cpu_s": cpu,
                                           "n_iter": ds.n_iter_}}
    t0 = time.perf_counter()
    labels = MajorityVote(classes).fit_predict(votes)
    results["synthetic_1M"]["ours.MV"] = {"acc": accuracy_synthetic(labels, struth), "s": time.perf_counter() - t0}
    write_peer_input(tmp, "synthetic_1M", "big", votes, struth)
    del votes

    if not args.quick:
        out = subprocess.run([sys.executable, "-m", "bench.consensus", "--child-synthetic", "10000000"],
                             cwd=ROOT, capture_output=True, text=True)
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
        if out.returncode == 0:
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r["peak_rss_gb"] = peak_gb
            results["synthetic_10M"] = {"ours.DS": r}
        else:
            print("10M case failed:", out.stderr[-2000:])

    peers_ok = False
    if not args.no_peers:
        py = ensure_peers()
        if py is not None:
            out = subprocess.run([str(py), str(ROOT / "bench" / "peers" / "run_peers.py"), str(tmp)],
                                 capture_output=True, text=True)
            if out.returncode == 0:
                for ds_name, res in json.loads(out.stdout.strip().splitlines()[-1]).items():
                    results.setdefault(ds_name, {}).update(res)
                peers_ok = True
            else:
                print("PEERS FAILED:", out.stderr[-2000:])
    report(results, peers_ok)


def report(results: dict, peers_ok: bool) -> None:
    print(f"\n{'dataset':<20} {'method':<40} {'accuracy':>9} {'seconds':>9}")
    for ds_name, res in results.items():
        for method, r in sorted(res.items()):
            if "error" in r:
                print(f"{ds_name:<20} {method:<40} {'error':>9}  {r['error'][:60]}")
                continue
            extra = "".join(f"  {k}={v:.3g}" if isinstance(v, float) else f"  {k}={v}"
                            for k, v in r.items() if k not in ("acc", "s"))
            print(f"{ds_name:<20} {method:<40} {r['acc']:>9.4f} {r['s']:>9.3f}{extra}")
    if not peers_ok:
        print("\nPEERS MISSING: crowd-kit/snorkel figures are not shown.")
    print("\nchecks:")
    syn = results.get("synthetic_1M", {})
    if "ours.DS" in syn:
        print(f"  DS 1M votes <= 1.3 s: {syn['ours.DS']['s']:.3f} s (CPU {syn['ours.DS']['cpu_s']:.3f} s)")
        if "crowdkit.DS" in syn and "s" in syn["crowdkit.DS"]:
            ck = syn["crowdkit.DS"]
            print(f"  DS 1M speed-up vs crowd-kit >= 10x: {ck['s'] / syn['ours.DS']['s']:.1f}x; "
                  f"accuracy ours {syn['ours.DS']['acc']:.4f} vs crowd-kit {ck['acc']:.4f}")
    if "synthetic_10M" in results:
        r = results["synthetic_10M"]["ours.DS"]
        print(f"  DS 10M votes <= 15 s: {r['s']:.2f} s (CPU {r['cpu_s']:.2f} s); peak RSS <= 3 GB: {r['peak_rss_gb']:.2f} GB")
    for ds_name, res in results.items():
        if ds_name.startswith("synthetic") or ds_name == "wrench_youtube":
            continue
        ours = {m: r["acc"] for m, r in res.items() if m.startswith("ours.")}
        peer = {m: r["acc"] for m, r in res.items() if m.startswith("crowdkit.") and "acc" in r}
        if peer:
            best_o, best_p = max(ours.values()), max(peer.values())
            nan = float("nan")
            print(f"  {ds_name}: best ours {best_o:.4f} vs best crowd-kit {best_p:.4f} "
                  f"({'ok' if best_o >= best_p - 0.005 else 'MISS'}); DS ours {ours['ours.DS']:.4f} vs "
                  f"crowd-kit {peer.get('crowdkit.DS', nan):.4f} "
                  f"(run to convergence {peer.get('crowdkit.DS(converged)', nan):.4f})")
    yt = results.get("wrench_youtube", {})
    if yt:
        best = max(r["acc"] for m, r in yt.items() if m.startswith("ours.LabelModel") and "end model" not in m)
        print(f"  youtube label model >= 0.892: best ours {best:.4f} (votes only)")
        end = [r["acc"] for m, r in yt.items() if "end model" in m]
        if end:
            print(f"  youtube with the stage's weak-label text model (no gold): {max(end):.4f}")


if __name__ == "__main__":
    main()
