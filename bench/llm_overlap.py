"""How many human judgments per item an LLM source saves under adaptive overlap, at equal final accuracy (SIMULATED).

Run: ``uv run python -m bench.llm_overlap`` (a few seconds; ``--kind pairwise``, ``--items``,
``--human-accuracy``, ``--seed``).

Simulation. Items with a true class among ``--classes``; people answer right with ``--human-accuracy``,
otherwise a uniformly wrong class; an LLM source answers right with its true accuracy (0.6 ... 0.95), its
accuracy *measured* on 500 gold items (as the prelabel combiner and consensus learn it) is what the
posterior uses. Adaptive overlap asks one person at a time and stops with the product's rule
(`tasks.consensus.resolution.decide`: posterior >= target with at least one human vote, or the
`max_overlap` budget spent); the posterior is naive Bayes over the people (and the LLM's vote as the prior
when it is used). Baseline: people alone at target 0.95. With the LLM: the lowest target whose final
accuracy is at least the baseline's, so the saving is at equal final accuracy.

``--kind pairwise``: comparisons without ties (the truth is a or b; people's shown order is drawn, so their
accuracy does not depend on it). The LLM judge is shown each comparison in a drawn order, reads it with
probability `reliability` and otherwise picks the response shown first with probability `p_first` (0.5: no
position bias; 1.0 with reliability 0: always "A"). Its accuracy is measured on 500 gold comparisons per
slot the better response was shown in, as consensus learns a judge's position bias from the stored
`swapped`, and the posterior uses the accuracy of the slot each candidate sat in. The "bias ignored" row
uses the judge's overall accuracy instead, what a consolidation that did not record the order could do.
"""

from __future__ import annotations

__all__ = ["main", "simulate", "simulate_pairwise"]

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


def _at_equal_accuracy(prior: np.ndarray, human: np.ndarray, h_acc: float, max_overlap: int, truth: np.ndarray,
                       base_acc: float) -> tuple[float, float, float]:
    """(target, final accuracy, judgments per item) at the lowest target reaching `base_acc` (else the highest target)."""
    for t in TARGETS:
        ans, used = run_overlap(prior, human, h_acc, float(t), max_overlap)
        acc = float((ans == truth).mean())
        if acc >= base_acc:
            return float(t), acc, float(used.mean())
    ans, used = run_overlap(prior, human, h_acc, float(TARGETS[-1]), max_overlap)
    return float(TARGETS[-1]), float((ans == truth).mean()), float(used.mean())


def _baseline(truth: np.ndarray, classes: int, h_acc: float, max_overlap: int, rng: np.random.Generator):
    human = _votes(truth, h_acc, max_overlap, rng)
    base_ans, base_used = run_overlap(np.zeros((len(truth), classes)), human, h_acc, 0.95, max_overlap)
    base_acc = float((base_ans == truth).mean())
    row = {"llm": "none", "measured": None, "target": 0.95, "accuracy": base_acc, "judgments": float(base_used.mean()), "saved": 0.0}
    return human, base_acc, float(base_used.mean()), row


def simulate(items: int, classes: int, h_acc: float, max_overlap: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, items)
    human, base_acc, base_used, base = _baseline(truth, classes, h_acc, max_overlap, rng)
    rows = [base]
    for true_acc in (0.6, 0.7, 0.8, 0.9, 0.95):
        gold_truth = rng.integers(0, classes, 500)
        measured = float((_votes(gold_truth, true_acc, 1, rng)[:, 0] == gold_truth).mean())
        measured = min(max(measured, 1.0 / classes + 1e-3), 0.999)
        llm = _votes(truth, true_acc, 1, rng)
        prior = _loglik(llm, measured, classes)[:, 0, :]
        t, acc, used = _at_equal_accuracy(prior, human, h_acc, max_overlap, truth, base_acc)
        rows.append({"llm": f"{true_acc:.2f}", "measured": measured, "target": t, "accuracy": acc, "judgments": used,
                     "saved": base_used - used})
    return rows


JUDGES = ((0.2, 0.5), (0.4, 0.5), (0.6, 0.5), (0.8, 0.5), (0.9, 0.5), (0.6, 0.9), (0.0, 1.0))
"""LLM judges as (reliability, p_first): unbiased ones of accuracy 0.6 ... 0.95, a position-biased one of
accuracy 0.8 (0.96 when the better response is shown first, 0.64 when second), one that always answers "A"."""


def _judge(truth: np.ndarray, reliability: float, p_first: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(vote, class shown first) per comparison (0 = a, 1 = b), the shown order drawn per item."""
    first = (rng.random(len(truth)) < 0.5).astype(np.int64)  # swapped: b shown first
    reads = rng.random(len(truth)) < reliability
    guess = np.where(rng.random(len(truth)) < p_first, first, 1 - first)
    return np.where(reads, truth, guess), first


def _slot_loglik(vote: np.ndarray, first: np.ndarray, acc_first: float, acc_second: float) -> np.ndarray:
    """log P(vote | class) for both classes, each class's accuracy that of the slot it was shown in: (items, 2)."""
    cls = np.arange(2)[None, :]
    acc = np.clip(np.where(cls == first[:, None], acc_first, acc_second), 1e-3, 1 - 1e-3)
    return np.log(np.where(cls == vote[:, None], acc, 1 - acc))


def simulate_pairwise(items: int, h_acc: float, max_overlap: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, items)
    human, base_acc, base_used, base = _baseline(truth, 2, h_acc, max_overlap, rng)
    rows = [base]
    for reliability, p_first in JUDGES:
        gold = rng.integers(0, 2, 500)
        g_vote, g_first = _judge(gold, reliability, p_first, rng)
        right, shown_first = g_vote == gold, gold == g_first
        acc_first, acc_second = float(right[shown_first].mean()), float(right[~shown_first].mean())
        vote, first = _judge(truth, reliability, p_first, rng)
        name = f"{reliability + (1 - reliability) / 2:.2f}" + ("" if p_first == 0.5 else f" p_first {p_first:.1f}")
        priors = [(name, _slot_loglik(vote, first, acc_first, acc_second))]
        if p_first != 0.5 and reliability > 0:
            overall = float(right.mean())
            priors.append((name + " bias ignored", _slot_loglik(vote, first, overall, overall)))
        for label, prior in priors:
            t, acc, used = _at_equal_accuracy(prior, human, h_acc, max_overlap, truth, base_acc)
            rows.append({"llm": label, "measured": float(right.mean()), "slots": (acc_first, acc_second), "target": t,
                         "accuracy": acc, "judgments": used, "saved": base_used - used})
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.llm_overlap", description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=("classes", "pairwise"), default="classes")
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--human-accuracy", type=float, default=0.8)
    p.add_argument("--max-overlap", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.kind == "pairwise":
        rows = simulate_pairwise(a.items, a.human_accuracy, a.max_overlap, a.seed)
        print(f"SIMULATED: {a.items:,} comparisons (no ties), people {a.human_accuracy:.2f} accurate, max overlap {a.max_overlap}")
    else:
        rows = simulate(a.items, a.classes, a.human_accuracy, a.max_overlap, a.seed)
        print(f"SIMULATED: {a.items:,} items, {a.classes} classes, people {a.human_accuracy:.2f} accurate, max overlap {a.max_overlap}")
    print(f"{'LLM accuracy':>28} {'measured':>9} {'first/second':>13} {'target':>7} {'final acc':>9} {'judgments/item':>15} {'saved/item':>11}")
    for r in rows:
        m = "-" if r["measured"] is None else f"{r['measured']:.3f}"
        slots = f"{r['slots'][0]:.2f}/{r['slots'][1]:.2f}" if r.get("slots") else "-"
        print(f"{r['llm']:>28} {m:>9} {slots:>13} {r['target']:>7.4f} {r['accuracy']:>9.4f} {r['judgments']:>15.3f} {r['saved']:>11.3f}")


if __name__ == "__main__":
    main()
