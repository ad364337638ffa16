"""Run the peer libraries (crowd-kit, snorkel) on the benchmark's CSV files; print JSON results.

Runs inside bench/.peers-venv (pandas<3), never in the project environment. Usage:
    python run_peers.py DATA_DIR   (DATA_DIR holds <name>.votes.csv, <name>.truth.csv, <name>.kind)
"""

import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

warnings.filterwarnings("ignore")


def accuracy(pred: pd.Series, truth: pd.Series) -> float:
    pred = pred.reindex(truth.index)
    return float((pred.astype(str) == truth.astype(str)).mean())


def crowd(votes: pd.DataFrame, truth: pd.Series, methods, predictions: bool = False):
    from crowdkit import aggregation as agg
    out = {}
    for name in methods:
        # "DS(converged)": crowd-kit's DawidSkene stops as soon as its objective falls (after
        # 2-3 iterations on adultcontent2 and mozafari); tol=-inf makes it run all 100 iterations,
        # the same model fitted to convergence, for a like-for-like comparison.
        model = {"MV": agg.MajorityVote, "Wawa": agg.Wawa, "DS": agg.DawidSkene,
                 "DS(converged)": lambda: agg.DawidSkene(n_iter=100, tol=float("-inf")),
                 "OneCoinDS": agg.OneCoinDawidSkene, "GLAD": agg.GLAD, "ZBS": agg.ZeroBasedSkill}[name]()
        t0 = time.perf_counter()
        try:
            pred = model.fit_predict(votes)
            out[f"crowdkit.{name}"] = {"acc": accuracy(pred, truth), "s": time.perf_counter() - t0}
            if predictions:  # per-item answers, for a paired comparison on the same items
                out[f"crowdkit.{name}"]["pred"] = pred.reindex(truth.index).astype(str).to_dict()
        except Exception as exc:  # a peer failing must not hide the others' figures
            out[f"crowdkit.{name}"] = {"error": repr(exc)[:200]}
    return out


def snorkel(votes: pd.DataFrame, truth: pd.Series):
    from snorkel.labeling.model import LabelModel
    mat = votes.pivot(index="task", columns="worker", values="label").fillna(-1).astype(int)
    out = {}
    # Snorkel's defaults (100 epochs) stop short of convergence on this data; 500 epochs is
    # its tutorials' setting and converged (1000 epochs or lr 0.1 give the same labels).
    for epochs in (100, 500):
        for policy in ("abstain", "random"):
            t0 = time.perf_counter()
            lm = LabelModel(cardinality=2, verbose=False)
            lm.fit(mat.values, n_epochs=epochs, seed=0, progress_bar=False)
            pred = pd.Series(lm.predict(mat.values, tie_break_policy=policy), index=mat.index)
            out[f"snorkel.LabelModel(epochs={epochs}, tie={policy})"] = {
                "acc": accuracy(pred, truth), "s": time.perf_counter() - t0}
    return out


def main() -> None:
    data = Path(sys.argv[1])
    result = {}
    for kind_file in sorted(data.glob("*.kind")):
        name = kind_file.stem
        kind = kind_file.read_text().strip()
        votes = pd.read_csv(data / f"{name}.votes.csv", dtype=str, keep_default_na=False)
        truth = pd.read_csv(data / f"{name}.truth.csv", dtype=str).set_index("task")["label"]
        if kind == "lf":
            votes["label"] = votes["label"].astype(int)
            result[name] = snorkel(votes, truth)
        elif kind == "big":
            result[name] = crowd(votes, truth, ["MV", "DS"])
        elif kind == "hostile":
            result[name] = crowd(votes, truth, ["MV", "DS", "GLAD"], predictions=True)
        else:
            result[name] = crowd(votes, truth, ["MV", "Wawa", "DS", "DS(converged)", "OneCoinDS", "GLAD", "ZBS"])
        print(name, json.dumps(result[name]), file=sys.stderr, flush=True)  # progress on long runs
    print(json.dumps(result))


if __name__ == "__main__":
    main()
