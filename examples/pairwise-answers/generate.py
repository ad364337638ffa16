"""Writes the sample pairwise project's files: 5 synthetic "systems" of known strength answer 8 arithmetic
and spelling prompts; each comparison pairs two of them. A system's answer is right with its skill, and the
truth is the right answer (a coin decides between two right or two wrong ones, so ties never happen).
Deterministic (seed 17): `uv run python examples/pairwise-answers/generate.py` rewrites the same files."""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent
SYSTEMS = {"atlas": 0.95, "birch": 0.85, "cedar": 0.7, "delta": 0.55, "ember": 0.4}
PROMPTS = [(f"What is {a} + {b}?", str(a + b), str(a + b + 1)) for a, b in ((12, 30), (7, 8), (45, 17), (3, 99))]
PROMPTS += [(f"Spell the word for the number {n}.", w, w[:-1] + "e" if not w.endswith("e") else w[:-1])
            for n, w in ((11, "eleven"), (40, "forty"), (12, "twelve"), (90, "ninety"))]


def main() -> None:
    rng = random.Random(17)
    names = sorted(SYSTEMS)
    rows, truth = [], []
    k = 0
    for prompt, right, wrong in PROMPTS:
        for i, sa in enumerate(names):
            for sb in names[i + 1:]:
                ra, rb = rng.random() < SYSTEMS[sa], rng.random() < SYSTEMS[sb]
                if ra == rb:  # both right or both wrong: keep the pair only if the stronger one is right
                    continue
                a = f"The answer is **{right if ra else wrong}**." + (" Checked twice." if k % 3 == 0 else "")
                b = f"It is {right if rb else wrong}."
                if rng.random() < 0.5:
                    sa_, sb_, a, b, ra, rb = sb, sa, b, a, rb, ra
                else:
                    sa_, sb_ = sa, sb
                rows.append({"id": f"c{k:03d}", "prompt": prompt, "a": a, "b": b, "system_a": sa_, "system_b": sb_})
                truth.append({"id": f"c{k:03d}", "answer": {"choice": "A" if ra else "B"}})
                k += 1
    (HERE / "data").mkdir(exist_ok=True)
    (HERE / "truth").mkdir(exist_ok=True)
    (HERE / "gold").mkdir(exist_ok=True)
    (HERE / "data" / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (HERE / "truth" / "labels.jsonl").write_text("".join(json.dumps(t) + "\n" for t in truth))
    (HERE / "gold" / "gold.jsonl").write_text("".join(json.dumps(t) + "\n" for t in truth[::6]))


if __name__ == "__main__":
    main()
