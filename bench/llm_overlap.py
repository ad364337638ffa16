"""How many human judgments per item an LLM source saves under adaptive overlap, at equal final accuracy (SIMULATED).

Run: ``uv run python -m bench.llm_overlap`` (a few seconds; ``--items``, ``--human-accuracy``, ``--seed``).

Simulation. Items with a true class among ``--classes``; people answer right with ``--human-accuracy``,
otherwise a uniformly wrong class; an LLM source answers right with its true accuracy (0.6 ... 0.95), its
accuracy *measured* on 500 gold items (as the prelabel combiner and consensus learn it) is what the
posterior uses. Adaptive overlap asks one person at a time and stops with the product's rule
(`tasks.consensus.resolution.decide`: posterior >= target with at least one human vote, or the
`max_overlap` budget spent); the posterior is naive Bayes over the people (and the LLM's vote as the prior
when it is used). Baseline: people alone at target 0.95. With the LLM: the lowest target whose final
accuracy is at least the baseline's, so the saving is at equal final accuracy.
"""

from __future__ import annotations

__all__ = ["main", "simulate"]

import argparse

import numpy as np

from tasks.consensus.resolution import decide

TARGETS = np.round(np.r_[np.arange(0.50, 0.95, 0.01), np.arange(0.95, 0.9995, 0.0005)], 4)


def _votes(truth: np.ndarray, acc: float, k: int, rng: np.random.Generator) -> np.ndarray:
    """`k` answers per item: right with probability `acc`, else a uniformly drawn wrong class."""
    n = len(truth)
    right = rng.random((n, k)) < acc
    wrong = (truth[:, None] + rng.integers(1, k_classes(truth), (n, k))) % k_classes(truth)
    return np.where(right, truth[:, None], wrong)


def k_classes(truth: np.ndarray) -> int:
    return int(truth.max()) + 1


def _loglik(votes: np.ndarray, acc: float, C: int) -> np.ndarray:
    """Per vote, log P(vote | class) for every class: (items, votes, C)."""
    onehot = np.eye(C)[votes]
    return np.log(np.where(onehot == 1, acc, (1 - acc) / (C - 1)))


def run_overlap(prior: np.ndarray, human: np.ndarray, h_acc: float, target: float, max_overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """(final answer, human judgments used) per item under adaptive overlap with `decide`'s stopping rule."""
    n, C = prior.shape
    cum = prior[:, None, :] + np.concatenate([np.zeros((n, 1, C)), np.cumsum(_loglik(human, h_acc, C), axis=1)], axis=1)
    post = np.exp(cum - cum.max(axis=2, keepdims=True))
    post /= post.sum(axis=2, keepdims=True)
    used = np.full(n, max_overlap)
    open_ = np.ones(n, bool)
    for k in range(1, max_overlap + 1):
        d = decide(post[:, k].max(axis=1), np.full(n, k), target, max_overlap, min_votes=1)
        stop = open_ & (d != "needs_more")
        used[stop] = k
        open_ &= ~stop
    return post[np.arange(n), used].argmax(axis=1), used


def simulate(items: int, classes: int, h_acc: float, max_overlap: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, items)
    human = _votes(truth, h_acc, max_overlap, rng)
    uniform = np.zeros((items, classes))
    base_ans, base_used = run_overlap(uniform, human, h_acc, 0.95, max_overlap)
    base_acc = float((base_ans == truth).mean())
    rows = [{"llm": "none", "measured": None, "target": 0.95, "accuracy": base_acc, "judgments": float(base_used.mean()), "saved": 0.0}]
    for true_acc in (0.6, 0.7, 0.8, 0.9, 0.95):
        gold_truth = rng.integers(0, classes, 500)
        measured = float((_votes(gold_truth, true_acc, 1, rng)[:, 0] == gold_truth).mean())
        measured = min(max(measured, 1.0 / classes + 1e-3), 0.999)
        llm = _votes(truth, true_acc, 1, rng)
        prior = _loglik(llm, measured, classes)[:, 0, :]
        best = None
        for t in TARGETS:
            ans, used = run_overlap(prior, human, h_acc, float(t), max_overlap)
            acc = float((ans == truth).mean())
            if acc >= base_acc:
                best = (float(t), acc, float(used.mean()))
                break
        if best is None:  # even the highest target does not reach the baseline: report the highest
            ans, used = run_overlap(prior, human, h_acc, float(TARGETS[-1]), max_overlap)
            best = (float(TARGETS[-1]), float((ans == truth).mean()), float(used.mean()))
        rows.append({"llm": f"{true_acc:.2f}", "measured": measured, "target": best[0], "accuracy": best[1], "judgments": best[2],
                     "saved": float(base_used.mean()) - best[2]})
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.llm_overlap", description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--human-accuracy", type=float, default=0.8)
    p.add_argument("--max-overlap", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    rows = simulate(a.items, a.classes, a.human_accuracy, a.max_overlap, a.seed)
    print(f"SIMULATED: {a.items:,} items, {a.classes} classes, people {a.human_accuracy:.2f} accurate, max overlap {a.max_overlap}")
    print(f"{'LLM accuracy':>12} {'measured':>9} {'target':>7} {'final acc':>9} {'judgments/item':>15} {'saved/item':>11}")
    for r in rows:
        m = "-" if r["measured"] is None else f"{r['measured']:.3f}"
        print(f"{r['llm']:>12} {m:>9} {r['target']:>7.4f} {r['accuracy']:>9.4f} {r['judgments']:>15.3f} {r['saved']:>11.3f}")


if __name__ == "__main__":
    main()
