"""Per-source statistics and the agreement summary of a consensus run: the parts every kind shares.

A kind's consensus facet decides what an answer is and which answers agree; the table of source
statistics and the chance-corrected coefficients over categorical answers are assembled here.
"""

from __future__ import annotations

__all__ = ["agreement_by_source", "categorical_agreement", "learned_accuracy", "source_stats_table"]

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from scipy.special import expit

from .agreement import (
    cohen_kappa_pairs,
    fleiss_kappa,
    krippendorff_alpha,
    per_label_alpha,
    value_counts,
)
from .glad import GLAD

if TYPE_CHECKING:
    from .pipeline import ConsensusSettings

_STR = pa.string()


def learned_accuracy(model) -> tuple[dict[str, float], dict[str, dict]]:
    """Learned accuracy and learned confusions per source of one categorical aggregator."""
    skills = dict(zip(model.skills_["source_id"].to_pylist(), model.skills_["skill"].to_pylist())) \
        if getattr(model, "skills_", None) is not None else {}
    params = getattr(model, "params_", None)
    if params is not None and params.confusions.shape[1] == len(model.classes) + 1:
        # Abstains modelled: accuracy when the source answers, not P(answer = truth) overall.
        cf, p = params.confusions, params.priors
        k = len(model.classes)
        answered = ((1 - cf[:, k, :]) * p).sum(axis=1)
        correct = (cf[:, np.arange(k), np.arange(k)] * p).sum(axis=1)
        skills = dict(zip(params.source_ids.cast(_STR).to_pylist(), (correct / np.maximum(answered, 1e-12)).tolist()))
    if isinstance(model, GLAD):  # ability alpha -> P(correct) on an item of unit difficulty
        skills = {k: (None if v is None else float(expit(v))) for k, v in skills.items()}
    conf: dict[str, dict] = {}
    params = getattr(model, "params_", None)
    if params is not None:
        observed = list(s_classes := model.classes) + ["(abstain)"]
        cube = np.round(params.confusions, 5).transpose(0, 2, 1).tolist()  # source, true, answered
        for src, mat in zip(params.source_ids.cast(_STR).to_pylist(), cube):
            conf[src] = {t: dict(zip(observed, row)) for t, row in zip(s_classes, mat)}
    return skills, conf


def agreement_by_source(src: pa.Array, hit: np.ndarray) -> dict[str, float]:
    """Share of each source's answers that agree with the item's final answer (``hit`` per answer)."""
    enc = src.dictionary_encode()
    idx = enc.indices.to_numpy(zero_copy_only=False)
    h = np.bincount(idx, weights=hit, minlength=len(enc.dictionary))
    t = np.bincount(idx, minlength=len(enc.dictionary))
    return dict(zip(enc.dictionary.to_pylist(), (h / np.maximum(t, 1)).tolist()))


def source_stats_table(sources: pa.Table, vote_counts: dict[str, int], scores: pa.Table, skills: dict[str, float],
                       confusions: dict[str, dict], agree: dict[str, float], banned_now: set[str]) -> pa.Table:
    """One row per source of ``sources`` (``source_id, source_kind``), the ``source_stats`` table's shape.

    ``scores`` comes from ``scoring.score_table``; ``confusions`` maps a source to the JSON-ready
    confusions shown in reports (e.g. ``{"gold": ..., "learned": ...}``). A banned source keeps its
    gold score but no learned accuracy (it no longer takes part in the fit).
    """
    sc = {r["source_id"]: r for r in scores.to_pylist()}
    rows = []
    for src, kind in zip(sources["source_id"].to_pylist(), sources["source_kind"].to_pylist()):
        r = sc.get(src)
        conf = confusions.get(src)
        rows.append({
            "source_id": src, "kind": kind, "n_votes": int(vote_counts.get(src, 0)),
            "n_gold": int(r["n_gold"]) if r else 0, "gold_correct": int(r["correct"]) if r else 0,
            "gold_accuracy": r["accuracy"] if r else None,
            "gold_low": r["low"] if r and r["n_gold"] else None, "gold_high": r["high"] if r and r["n_gold"] else None,
            "learned_accuracy": None if src in banned_now else skills.get(src),
            "agreement_with_consensus": agree.get(src),
            "confusion": json.dumps(conf) if conf else None,
        })
    schema = pa.schema([("source_id", _STR), ("kind", _STR), ("n_votes", pa.int64()), ("n_gold", pa.int64()),
                        ("gold_correct", pa.int64()), ("gold_accuracy", pa.float64()), ("gold_low", pa.float64()),
                        ("gold_high", pa.float64()), ("learned_accuracy", pa.float64()),
                        ("agreement_with_consensus", pa.float64()), ("confusion", _STR)])
    return pa.Table.from_pylist(rows, schema=schema)


def categorical_agreement(s: ConsensusSettings, v: pa.Table | None, classes: list[str], over: str,
                          per_label: list[dict] | None = None) -> dict:
    """Krippendorff alpha (+ bootstrap CI), Fleiss where overlap is fixed, per label, Cohen pairs.

    ``v``: ``item_id, source_id, label`` categorical answers (one per unit and source) over
    ``classes``; ``over`` says whose answers they are ("human" or "all": Cohen pairs only between
    people). ``per_label`` replaces the per-class alphas when the kind measures labels otherwise.
    """
    enc, counts = value_counts(v, classes) if v is not None and v.num_rows else (None, None)
    if per_label is None:
        per_label = per_label_alpha(None, classes, counts=counts).to_pylist() if counts is not None else []
    out: dict[str, Any] = {"over": over, "n_votes": 0 if v is None else v.num_rows}
    if v is None or v.num_rows == 0:
        out.update({"alpha": None, "low": None, "high": None, "fleiss": None, "per_label": [], "pairs": {}})
        return out
    ka = krippendorff_alpha(None, classes, n_boot=s.bootstrap, counts=counts, unit_ids=enc.item_ids)
    out.update({k2: (None if isinstance(x, float) and np.isnan(x) else x) for k2, x in ka.items()})
    fleiss = None
    try:
        f = fleiss_kappa(None, classes, counts=counts)
        fleiss = None if np.isnan(f) else f
    except ValueError:
        fleiss = None
    out["fleiss"] = fleiss
    out["per_label"] = [{kk: (None if isinstance(x, float) and np.isnan(x) else x) for kk, x in r.items()}
                        for r in per_label]
    pairs = cohen_kappa_pairs(None, classes, min_shared=s.min_shared_for_kappa, enc=enc) if over == "human" else None
    if pairs is not None and pairs.num_rows:
        kap = pairs["kappa"].drop_null().to_numpy(zero_copy_only=False)
        worst = pairs.sort_by([("kappa", "ascending")]).slice(0, 5).to_pylist()
        out["pairs"] = {"n_pairs": pairs.num_rows, "mean_kappa": float(kap.mean()) if len(kap) else None,
                        "lowest": worst}
    else:
        out["pairs"] = {"n_pairs": 0}
    return out
