"""Review replayed on a SIMULATED project: what reviewers add to the final labels, and what they cost.

`uv run python -m bench.review [--items 4000 --seeds 10]`

The crowd is simulated, not real: annotators of mixed accuracy (the single-label kind's simulation facet
draws each one's confusion matrix; answers are then drawn for every (item, annotator) at once with numpy).
Reviewers are 95% accurate and review 10% of each annotator's work, as `[review] share = 0.1` picks it
(a uniform draw per answer). A reviewer who agrees accepts the answer; one who disagrees corrects it to
their own answer. Either way collect stores the decision as the reviewer's vote, so the final label is
the project's consensus (the default label model) over the crowd's votes plus the reviewers' votes.

Printed per overlap (1 and 3 crowd answers per item): final label accuracy without and with review, the
gain with a 95% interval over seeds (t interval of the paired differences), the extra human effort
(judgments per item), an equal-effort control that spends the same extra judgments on one more crowd
answer for randomly chosen items instead of on review, and the same number of reviews spent the way
`below_confidence` spends them (one answer of each least confident item).
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import pyarrow as pa
from scipy import stats

from tasks.consensus.label_model import LabelModel
from tasks.kinds import get

K = 4
CLASSES = tuple(f"c{c}" for c in range(K))
N_ANNOTATORS, N_REVIEWERS = 40, 8
REVIEW_SHARE, REVIEWER_ACCURACY = 0.10, 0.95


def _mixed_accuracies(rng: np.random.Generator, n: int) -> np.ndarray:
    """Half good (0.80-0.95), a third middling (0.60-0.80), the rest poor (0.35-0.55; chance is 0.25)."""
    band = rng.choice(3, n, p=[0.5, 1 / 3, 1 / 6])
    lo, hi = np.array([0.80, 0.60, 0.35])[band], np.array([0.95, 0.80, 0.55])[band]
    return rng.uniform(lo, hi)


def _confusions(accuracies: np.ndarray, seed: int) -> np.ndarray:
    """(people, answer, truth) from the kind's simulated annotator: each person's own typical mistakes."""
    sim = get("single_label").simulation
    rng = random.Random(seed)
    conf = np.zeros((len(accuracies), K, K))
    for s, acc in enumerate(accuracies):
        profile = sim.annotator(float(acc), CLASSES, rng, None)
        for t, truth in enumerate(CLASSES):
            conf[s, :, t] = [profile.confusion[truth][a] for a in CLASSES]
    return conf


def _answers(rng: np.random.Generator, conf: np.ndarray, truth: np.ndarray, item: np.ndarray, who: np.ndarray) -> np.ndarray:
    cum = np.cumsum(conf[who, :, truth[item]], axis=1)
    return (rng.random(len(item))[:, None] > cum).sum(axis=1).clip(max=K - 1)


def _crowd_pairs(rng: np.random.Generator, n_items: int, overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """`overlap` distinct annotators per item, busier annotators more often (lognormal workload)."""
    keys = np.log(rng.lognormal(0.0, 0.8, N_ANNOTATORS))[None, :] + rng.gumbel(size=(n_items, N_ANNOTATORS))
    who = np.argsort(-keys, axis=1)[:, :overlap]
    return np.repeat(np.arange(n_items), overlap), who.ravel()


def _votes(item: np.ndarray, source: list[str] | np.ndarray, label: np.ndarray) -> pa.Table:
    return pa.table({"item_id": pa.array(item.astype(str)), "source_id": pa.array(np.asarray(source, dtype=object).astype(str)),
                     "label": pa.array(np.asarray(CLASSES, dtype=object)[label].tolist(), pa.string())})


def _consensus(votes: pa.Table, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(label code, confidence) per item by the project's default aggregator (-1 / 0: no label)."""
    out = LabelModel(CLASSES).fit_predict(votes)
    idx = np.asarray(out["item_id"].to_pylist(), dtype=np.int64)
    pred, conf = np.full(n_items, -1), np.zeros(n_items)
    pred[idx] = [CLASSES.index(x) if x is not None else -1 for x in out["label"].to_pylist()]
    conf[idx] = np.nan_to_num(out["confidence"].to_numpy(zero_copy_only=False).astype(float))
    return pred, conf


def _accuracy(votes: pa.Table, truth: np.ndarray) -> float:
    return float((_consensus(votes, len(truth))[0] == truth).mean())


def replay(n_items: int, overlap: int, seed: int) -> dict[str, float]:
    """One simulated project: accuracy without review, with review, and with the same effort as more crowd answers."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n_items)
    crowd = _confusions(_mixed_accuracies(rng, N_ANNOTATORS), seed)
    reviewers = _confusions(np.full(N_REVIEWERS, REVIEWER_ACCURACY), seed + 10_000)
    item, who = _crowd_pairs(rng, n_items, overlap)
    answer = _answers(rng, crowd, truth, item, who)
    base = _votes(item, np.char.add("human:a", who.astype(str)), answer)

    picked = rng.random(len(item)) < REVIEW_SHARE  # the policy's draw: a share of every annotator's answers
    r_item = item[picked]
    reviewer = rng.integers(0, N_REVIEWERS, len(r_item))
    verdict = _answers(rng, reviewers, truth, r_item, reviewer)  # agree: accept (same label); else correct to it
    reviewed = pa.concat_tables([base, _votes(r_item, np.char.add("human:r", reviewer.astype(str)), verdict)])

    # equal effort: as many extra crowd answers, on random items, from annotators who have not answered them
    n_extra = int(picked.sum())
    extra_item = rng.choice(n_items, n_extra, replace=False) if n_extra <= n_items else rng.integers(0, n_items, n_extra)
    taken = who.reshape(n_items, overlap)[extra_item]
    extra_who = (taken.max(axis=1) + 1 + rng.integers(0, N_ANNOTATORS - overlap, n_extra)) % N_ANNOTATORS
    clash = (taken == extra_who[:, None]).any(axis=1)
    extra_item, extra_who = extra_item[~clash], extra_who[~clash]
    more = pa.concat_tables([base, _votes(extra_item, np.char.add("human:a", extra_who.astype(str)),
                                          _answers(rng, crowd, truth, extra_item, extra_who))])
    # the same number of reviews spent by `below_confidence`: one answer of each least confident item
    _, conf = _consensus(base, n_items)
    low = np.argsort(conf, kind="stable")[:len(r_item)]
    first = np.searchsorted(item, low)  # each low item's first crowd answer is the one reviewed
    low_reviewer = rng.integers(0, N_REVIEWERS, len(low))
    targeted = pa.concat_tables([base, _votes(item[first], np.char.add("human:r", low_reviewer.astype(str)),
                                              _answers(rng, reviewers, truth, item[first], low_reviewer))])
    return {"without": _accuracy(base, truth), "with": _accuracy(reviewed, truth), "more_crowd": _accuracy(more, truth),
            "targeted": _accuracy(targeted, truth),
            "effort_without": len(item) / n_items, "effort_with": (len(item) + len(r_item)) / n_items,
            "decided_correct": float((verdict != answer[picked]).mean()) if picked.any() else 0.0}


def _interval(x: np.ndarray) -> tuple[float, float, float]:
    m = float(x.mean())
    if len(x) < 2:
        return m, m, m
    h = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return m, m - h, m + h


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=4000)
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args(argv)
    print(f"SIMULATED crowd: {N_ANNOTATORS} annotators of mixed accuracy, {K} classes, {args.items} items, "
          f"{args.seeds} seeds; {N_REVIEWERS} reviewers {REVIEWER_ACCURACY:.0%} accurate review "
          f"{REVIEW_SHARE:.0%} of each annotator's work; consensus = label model (the default).")
    print(f"{'overlap':>7} | {'acc. no review':>14} | {'acc. review':>11} | {'gain (95% CI)':>24} | "
          f"{'judgments/item':>16} | {'same effort as crowd: gain':>27} | {'below-confidence reviews: gain':>30} | "
          f"{'corrected':>9}")
    for overlap in (1, 3):
        runs = [replay(args.items, overlap, s) for s in range(args.seeds)]
        col = lambda k: np.array([r[k] for r in runs])
        gain, lo, hi = _interval(col("with") - col("without"))
        cg, clo, chi = _interval(col("more_crowd") - col("without"))
        tg, tlo, thi = _interval(col("targeted") - col("without"))
        print(f"{overlap:>7} | {col('without').mean():>14.4f} | {col('with').mean():>11.4f} | "
              f"{gain:+.4f} ({lo:+.4f} – {hi:+.4f}) | {col('effort_without').mean():.2f} → {col('effort_with').mean():.3f} | "
              f"{cg:+.4f} ({clo:+.4f} – {chi:+.4f}) | {tg:+.4f} ({tlo:+.4f} – {thi:+.4f}) | "
              f"{col('decided_correct').mean():>9.3f}")


if __name__ == "__main__":
    main()
