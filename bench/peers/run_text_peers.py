"""Run crowd-kit's ROVER on the transcript benchmark's crowds; print JSON results.

Runs inside bench/.peers-venv, never in the project environment. Usage:
    python run_text_peers.py CROWD.json   (written by bench/transcripts.py)
Input: {"answers": [[task, worker, text], ...]} with texts already normalised by the project's rule, so
both sides vote on the same words. Output: {task: text}. Tokens are the words split on single spaces
(crowd-kit's own example does the same); an empty transcript is no tokens.
"""

import json
import sys

import pandas as pd
from crowdkit.aggregation import ROVER


def main() -> None:
    with open(sys.argv[1]) as f:
        data = json.load(f)
    df = pd.DataFrame(data["answers"], columns=["task", "worker", "text"])
    rover = ROVER(tokenizer=lambda s: s.split(" ") if s else [], detokenizer=lambda t: " ".join(t))
    out = rover.fit_predict(df)
    print(json.dumps({str(k): v for k, v in out.items()}))


if __name__ == "__main__":
    main()
