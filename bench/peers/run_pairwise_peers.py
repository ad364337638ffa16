"""Run crowd-kit's BradleyTerry and NoisyBradleyTerry on a comparison crowd; print JSON results.

Runs inside bench/.peers-venv, never in the project environment. Usage:
    python run_pairwise_peers.py CROWD.json   (written by bench/pairwise.py)
Input: {"rows": [[source_id, item_id, left_system, right_system, winner_slot, left_candidate], ...],
"per_item": bool}, or {"crowds": [such objects]} to run many crowds in one process (the output is then
the list of their results), where
winner_slot is 0 (the candidate shown left/first won) or 1 and left_candidate is "a" or "b" (the item's
own name for the candidate shown left); ties are left out by the caller (crowd-kit has none).
Output: {"bt": {system: score}, "noisy_bt": {system: score}, "noisy_bt_skills": {source: skill},
"noisy_bt_biases": {source: bias}, "bt_items": {item: score_a - score_b}, "noisy_bt_items": {...},
"seconds": {...}}. Per item, each method is fitted on (item, candidate) pairs as crowd-kit's own
NoisyBradleyTerry docstring groups questions: "<item>\t<candidate>" is one ranked object.
"""

import json
import sys
import time

import pandas as pd
from crowdkit.aggregation import BradleyTerry, NoisyBradleyTerry


def _frame(rows, per_item: bool) -> pd.DataFrame:
    out = []
    for source, item, left, right, slot, cand in rows:
        if per_item:
            left, right = f"{item}\t{cand}", f"{item}\t{'b' if cand == 'a' else 'a'}"
        out.append((source, left, right, right if slot else left))
    return pd.DataFrame(out, columns=["worker", "left", "right", "label"])


def run(data: dict) -> dict:
    rows = data["rows"]
    res, secs = {}, {}
    systems = _frame(rows, False)
    t = time.perf_counter()
    res["bt"] = BradleyTerry(n_iter=1000, tol=1e-10).fit(systems).scores_.to_dict()
    secs["bt"] = time.perf_counter() - t
    t = time.perf_counter()
    nbt = NoisyBradleyTerry(n_iter=100, random_state=0).fit(systems)
    secs["noisy_bt"] = time.perf_counter() - t
    res["noisy_bt"] = nbt.scores_.to_dict()
    res["noisy_bt_skills"] = nbt.skills_.to_dict()
    res["noisy_bt_biases"] = nbt.biases_.to_dict()
    if data.get("per_item", True):
        items = _frame(rows, True)
        for name, model in (("bt_items", BradleyTerry(n_iter=1000, tol=1e-10)),
                            ("noisy_bt_items", NoisyBradleyTerry(n_iter=100, random_state=0))):
            t = time.perf_counter()
            scores = model.fit(items).scores_
            secs[name] = time.perf_counter() - t
            res[name] = {k: float(v) for k, v in scores.items()}
    res["seconds"] = secs
    return res


def main() -> None:
    with open(sys.argv[1]) as f:
        data = json.load(f)
    print(json.dumps([run(c) for c in data["crowds"]] if "crowds" in data else run(data)))


if __name__ == "__main__":
    main()
