"""Calibration on gold, per-class auto-accept thresholds from measured precision, and the audit draw.

Threshold rule: for class c, take the evaluated items (gold, plus audited auto-accepts with a human
verdict) that the pre-labeler predicted as c. For every candidate threshold t (each observed
confidence), precision(t) is measured on those with confidence >= t; t qualifies when at least
`min_n` items are above it and the one-sided Wilson lower bound of precision at level
`confidence_level` reaches `target`. The threshold is the lowest qualifying t; none qualifying means
nothing of class c is auto-accepted. Audits feed back into this: wrong audited auto-accepts lower the
bound, the threshold rises, and items under it go back to humans.

"Class" is the key of a decision as the answer kind defines it (tasks/kinds/protocol.py,
`PrelabelDecisions`): the predicted class of a single-label pre-label, the label of each present/absent
decision of a multi-label one. An item is auto-accepted only when every one of its decisions reaches
its key's threshold (`route_items`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "Threshold", "audit_draw", "calibration_by_key", "calibration_table", "route", "route_items", "routing_advice",
    "select_thresholds", "wilson_interval", "wilson_lower",
]


def _z(level: float) -> float:
    return NormalDist().inv_cdf(level)


def wilson_lower(k: np.ndarray | int, n: np.ndarray | int, confidence_level: float = 0.95) -> np.ndarray:
    """One-sided Wilson lower bound of a proportion k/n (0 where n = 0)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    z = _z(confidence_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = p + z * z / (2 * n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low = (centre - half) / (1 + z * z / n)
    return np.where(n > 0, np.clip(low, 0, 1), 0.0)


def wilson_interval(k: int, n: int, confidence_level: float = 0.95) -> tuple[float | None, float | None]:
    """Two-sided Wilson interval; (None, None) without observations."""
    if n == 0:
        return None, None
    z = _z(0.5 + confidence_level / 2)
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    d = 1 + z * z / n
    return float(max(0.0, (centre - half) / d)), float(min(1.0, (centre + half) / d))


def calibration_table(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> tuple[float | None, list[dict]]:
    """Expected calibration error and the reliability table (equal-width confidence bins)."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, bool)
    if len(confidence) == 0:
        return None, []
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if not m.any():
            continue
        conf, acc = float(confidence[m].mean()), float(correct[m].mean())
        ece += m.mean() * abs(conf - acc)
        rows.append({"bin": f"{edges[b]:.2f}-{edges[b + 1]:.2f}", "n": int(m.sum()), "mean_confidence": round(conf, 4), "accuracy": round(acc, 4), "gap": round(acc - conf, 4)})
    return float(ece), rows


@dataclass(frozen=True)
class Threshold:
    label: str
    threshold: float | None
    precision: float | None
    precision_low: float | None
    n_eval: int

    def as_dict(self) -> dict:
        return asdict(self)


def select_thresholds(
    predicted: Sequence[str], confidence: np.ndarray, correct: np.ndarray, classes: Sequence[str], *,
    target: float, confidence_level: float = 0.95, min_n: int = 10,
) -> dict[str, Threshold]:
    """Per class, the lowest confidence whose precision lower bound reaches `target` (see module doc)."""
    predicted = np.asarray(list(predicted), dtype=object)
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, bool)
    out = {}
    for c in classes:
        m = predicted == c
        conf, ok = confidence[m], correct[m]
        order = np.argsort(-conf, kind="stable")
        conf, ok = conf[order], ok[order]
        n = np.arange(1, len(conf) + 1)
        k = np.cumsum(ok)
        last = np.r_[conf[1:] != conf[:-1], True] if len(conf) else np.array([], bool)  # ties enter together
        low = wilson_lower(k, n, confidence_level)
        good = last & (n >= min_n) & (low >= target)
        if good.any():
            j = np.flatnonzero(good)[-1]
            out[c] = Threshold(c, float(conf[j]), float(k[j] / n[j]), float(low[j]), int(n[j]))
        else:
            out[c] = Threshold(c, None, None, None, len(conf))
    return out


def audit_draw(item_ids: Sequence[str], seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per item, fixed by the item id and the seed (re-runs draw the same)."""
    s = f"{seed}\x1f".encode()
    return np.array([int.from_bytes(hashlib.md5(s + i.encode()).digest()[:8], "big") / 2**64 for i in item_ids])


def route_items(
    item_ids: Sequence[str], item: np.ndarray, key: np.ndarray, confidence: np.ndarray, thresholds: dict[str, Threshold], *,
    audit_rate: float, seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """('auto' | 'audit' | 'human' per item, the threshold of each item's weakest decision (NaN: its key has none)).

    `item`, `key`, `confidence` describe decisions (several per item possible); an item's weakest
    decision is the one with the least margin over its key's threshold, and the item is accepted when
    that margin is not negative.
    """
    n = len(item_ids)
    thr = np.array([np.inf if (t := thresholds.get(k)) is None or t.threshold is None else t.threshold for k in key], float)
    margin = np.asarray(confidence, float) - thr
    order = np.lexsort((margin, item))  # per item, its smallest margin first
    first = order[np.r_[True, item[order][1:] != item[order][:-1]]] if len(order) else order
    worst = np.full(n, -np.inf)
    worst[item[first]] = margin[first]
    item_thr = np.full(n, np.nan)
    item_thr[item[first]] = np.where(np.isinf(thr[first]), np.nan, thr[first])
    accept = worst >= 0
    audit = audit_draw(item_ids, seed) < audit_rate if audit_rate > 0 else np.zeros(n, bool)
    return np.where(accept, np.where(audit, "audit", "auto"), "human").astype(object), item_thr


def route(
    item_ids: Sequence[str], predicted: Sequence[str], confidence: np.ndarray, thresholds: dict[str, Threshold], *,
    audit_rate: float, seed: int,
) -> np.ndarray:
    """'auto', 'audit' or 'human' per item, one decision each (keyed by its predicted class)."""
    n = len(item_ids)
    return route_items(item_ids, np.arange(n), np.asarray(list(predicted), dtype=object), confidence, thresholds,
                       audit_rate=audit_rate, seed=seed)[0]


def calibration_by_key(key: np.ndarray, confidence: np.ndarray, correct: np.ndarray, keys: Sequence[str], bins: int = 10) -> list[dict]:
    """Per key, the calibration of its decisions on evaluated items: n, accuracy, mean confidence, ECE."""
    out = []
    for k in keys:
        m = key == k
        ece, _ = calibration_table(confidence[m], correct[m], bins)
        out.append({"key": k, "n": int(m.sum()), "accuracy": round(float(correct[m].mean()), 4) if m.any() else None,
                    "mean_confidence": round(float(confidence[m].mean()), 4) if m.any() else None,
                    "ece": round(ece, 4) if ece is not None else None})
    return out


def routing_advice(report: dict) -> str | None:
    """What the user should know about a routing report (`combine_and_route`) beside its numbers, one paragraph the
    CLI and the flow's report both print; None when the numbers say it all.

    A kind whose machine votes never auto-accept (`auto_accepts` false) gets what happens to them instead of
    advice on reaching a precision it never aims at; otherwise, when no key has a threshold, how to get one.
    """
    if not report.get("auto_accepts", True):
        return (f"Machine votes never auto-accept in this project: every item goes to people, and the votes of the "
                f"{report['with_machine_vote']:,} items a model answered count in consensus beside people's, each source "
                "weighed by the reliability consensus learns for it (scored on gold; `annoflow lf-report`, `annoflow status`).")
    if all(t["threshold"] is None for t in report["thresholds"]):
        return (f"No class (or label) reaches precision {report['target_precision']} with {report['precision_confidence']:.0%} "
                f"confidence on the {sum(t['n_eval'] for t in report['thresholds'])} evaluated (gold + audited) items, so nothing "
                "is auto-accepted: add gold answers (0.95 at 95% confidence needs at least 52 gold items per class, all right), "
                "let audits accumulate, or lower prelabel.target_precision / prelabel.precision_confidence.")
    return None
