"""crowd-kit's DawidSkene applied per token (the usual token-level NER baseline); prints JSON.

Runs inside bench/.peers-venv. Usage: python token_ds.py VOTES_CSV (columns task, worker, label);
prints {"<task>": "<tag>", ...} on stdout and the fit time on stderr.
"""

import json
import sys
import time
import warnings

import pandas as pd

warnings.filterwarnings("ignore")


def main() -> None:
    from crowdkit.aggregation import DawidSkene

    votes = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
    t0 = time.perf_counter()
    pred = DawidSkene(n_iter=100).fit_predict(votes)
    print(f"token DS: {len(votes)} votes in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    print(json.dumps({str(k): str(v) for k, v in pred.items()}))


if __name__ == "__main__":
    main()
