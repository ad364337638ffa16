"""Build the wnut17-ner sample project from the WNUT 2017 CoNLL files.

    uv run python examples/wnut17-ner/prepare.py                      # finds shared/datasets/wnut17 above the repo
    uv run python examples/wnut17-ner/prepare.py --source DIR         # or reads the CoNLL files from DIR

Writes (relative to this folder), from a fixed random sample of the WNUT17 dev set:
    data/sentences.jsonl  one object per sentence: text (tokens joined by single spaces), origin (file and line)
    truth/labels.jsonl     text, spans ([{"start", "end", "label"}], code-point offsets) per sentence (evaluation only)
    gold/gold.conll       the gold sentences as CoNLL (token TAB BIO tag), ingested as known answers

The sentences are parsed by annoflow's own CoNLL reader (tasks/kinds/spans/conll.py), so texts and
offsets are exactly what `annoflow ingest` makes of a CoNLL file. The output is reproducible.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tasks.kinds.spans.conll import conll_lines, parse_conll, to_conll

SOURCE_FILE = "emerging.dev.conll"
LABELS = ["person", "location", "group", "corporation", "product", "creative-work"]
SENTENCES = 600
GOLD = 60
MAX_TOKENS = 40
SEED = 2017


def _find_source() -> Path:
    for parent in HERE.parents:
        candidate = parent / "shared" / "datasets" / "wnut17"
        if (candidate / SOURCE_FILE).is_file():
            return candidate
    sys.exit(f"cannot find shared/datasets/wnut17/{SOURCE_FILE} above {HERE}; pass --source DIR")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="folder holding emerging.dev.conll")
    args = parser.parse_args()
    source = (args.source or _find_source()) / SOURCE_FILE
    sentences, problems = parse_conll(conll_lines(source.read_text(encoding="utf-8"), 1), LABELS)
    if problems.num_rows:
        sys.exit(f"{source}: {problems.num_rows} bad lines, e.g. line {problems.column('source_row')[0]}: {problems.column('detail')[0]}")
    seen: set[str] = set()
    rows = []
    for r in sentences.to_pylist():  # one row per distinct text: the same text is one item
        if r["payload"] not in seen and len(json.loads(r["tokens"])) <= MAX_TOKENS:
            seen.add(r["payload"])
            rows.append(r)
    rng = random.Random(SEED)
    chosen = sorted(rng.sample(rows, SENTENCES), key=lambda r: r["source_row"])
    gold = sorted(rng.sample(chosen, GOLD), key=lambda r: r["source_row"])

    for folder in ("data", "truth", "gold"):
        (HERE / folder).mkdir(exist_ok=True)
    with open(HERE / "data" / "sentences.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for r in chosen:
            f.write(json.dumps({"text": r["payload"], "origin": f"{SOURCE_FILE}:{r['source_row']}"}, ensure_ascii=False) + "\n")
    with open(HERE / "truth" / "labels.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for r in chosen:
            f.write(json.dumps({"text": r["payload"], "spans": json.loads(r["answer"])}, ensure_ascii=False) + "\n")
    with open(HERE / "gold" / "gold.conll", "w", encoding="utf-8", newline="\n") as f:
        for r in gold:
            spans = [(s["start"], s["end"], s["label"]) for s in json.loads(r["answer"])]
            f.write(to_conll(r["payload"], spans, "whitespace"))
    n_spans = sum(len(json.loads(r["answer"])) for r in chosen)
    print(f"{len(chosen)} sentences ({n_spans} entities), {len(gold)} gold, from {source}")


if __name__ == "__main__":
    main()
