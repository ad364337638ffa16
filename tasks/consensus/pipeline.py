"""The consensus stage's pure core: gold scoring and bans, aggregation, decisions, stats, agreement.

Everything here takes Arrow tables and plain values and returns Arrow tables and dicts; the
DuckDB reads and writes live in ``stage.py``. Single-label and multi-label projects share the
outputs: one labels row per item, one stats row per source.
"""

from __future__ import annotations

__all__ = [
    "METHODS",
    "ConsensusInputs",
    "ConsensusOutcome",
    "ConsensusSettings",
    "make_aggregator",
    "params_from_bytes",
    "params_to_bytes",
    "run_consensus",
]

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import Aggregator
from .calibration import calibrate_posterior
from .dawid_skene import DawidSkene, DawidSkeneParams
from .glad import GLAD
from .label_model import LabelModel
from .machine import (
    BANDS,
    EVIDENCE,
    combine,
    fit_calibration,
    machine_log_probs,
    machine_vote,
    split_votes,
    with_fallback,
)
from .majority_vote import MajorityVote, WeightedMajorityVote
from .multilabel import MultiLabel
from .one_coin import OneCoinDawidSkene
from .report import agreement_summary, source_stats
from .resolution import decide
from .scoring import answer_sets, reference_answers, reference_sets, score_on_reference
from .votes import check_option, label_table

METHODS = ("majority_vote", "weighted_majority_vote", "dawid_skene", "one_coin_dawid_skene", "glad",
           "label_model")
_STR = pa.string()


@dataclass(frozen=True)
class ConsensusSettings:
    """The config values the core needs (taken from ``ProjectConfig`` by the stage)."""

    classes: tuple[str, ...]
    method: str = "label_model"
    multi_label: bool = False
    target_confidence: float = 0.9
    max_overlap: int = 5
    min_votes: int = 1
    ban_below: float = 0.6
    min_answers_for_ban: int = 5
    max_iter: int = 100
    tol: float = 1e-6
    bootstrap: int = 200
    min_shared_for_kappa: int = 10
    resolve_without_humans: bool = False
    machine_evidence: str = "calibrated"

    def __post_init__(self):
        check_option("consensus.method", self.method, METHODS)
        check_option("consensus.machine_evidence", self.machine_evidence, EVIDENCE)


@dataclass
class ConsensusInputs:
    """What the stage read from the store.

    Attributes:
        votes: ``item_id, source_id, source_kind, label`` of non-banned, non-adjudicator sources
            (multi-label: one row per ticked label, a null label for an empty answer); string or
            dictionary-encoded columns (the stage reads them encoded: every vote of a large project).
        scoring_votes: ``item_id, source_id, source_kind, label`` of every non-adjudicator source
            (banned ones too) on gold or adjudicated items: what sources are scored on.
        gold: ``item_id, label`` accepted answers from the gold file (several rows for a set).
        adjudications: ``item_id, label`` the expert's answer (several rows for a set; a null
            label in multi-label projects means "no label applies").
        banned: source ids already banned before this run.
        kinds: ``source_id, kind`` for every registered source.
        vote_counts: answers per source over all its votes (banned sources included); when
            None they are counted from ``votes``.
        machine: ``item_id`` and one probability column per class: the pre-label (all labeling
            functions and models combined), the machines' single opinion per item (see
            ``machine.py``). Items with machine votes but no row here are combined from their
            votes.
    """

    votes: pa.Table
    scoring_votes: pa.Table
    gold: pa.Table
    adjudications: pa.Table
    banned: list[str] = field(default_factory=list)
    kinds: pa.Table | None = None
    vote_counts: dict[str, int] | None = None
    machine: pa.Table | None = None


@dataclass
class ConsensusOutcome:
    labels: pa.Table
    source_stats: pa.Table
    new_bans: pa.Table
    agreement: dict
    params: dict[str, DawidSkeneParams]
    fit: dict


def make_aggregator(s: ConsensusSettings, classes: Sequence[str], has_gold: bool) -> Aggregator:
    """The configured method; weighted majority vote weighs by gold accuracy when gold exists."""
    if s.method == "majority_vote":
        return MajorityVote(classes)
    if s.method == "weighted_majority_vote":
        return WeightedMajorityVote(classes, mode="gold" if has_gold else "wawa")
    if s.method == "dawid_skene":
        return DawidSkene(classes, max_iter=s.max_iter, tol=s.tol)
    if s.method == "one_coin_dawid_skene":
        return OneCoinDawidSkene(classes, max_iter=s.max_iter, tol=s.tol)
    if s.method == "glad":
        return GLAD(classes, max_iter=s.max_iter, tol=s.tol)
    return LabelModel(classes, max_iter=s.max_iter, tol=s.tol)


def _warm_capable(s: ConsensusSettings) -> bool:
    return s.method in ("dawid_skene", "one_coin_dawid_skene", "label_model")


# -- parameters for warm start --------------------------------------------------------------
def params_to_bytes(params: dict[str, DawidSkeneParams]) -> bytes:
    """Serialise fitted parameters (one entry per model: '' single-label, a label name multi-label)."""
    arrays: dict[str, np.ndarray] = {}
    for i, (key, p) in enumerate(params.items()):
        arrays[f"key{i}"] = np.array(key)
        arrays[f"src{i}"] = np.array(p.source_ids.cast(_STR).to_pylist(), dtype=str)
        arrays[f"conf{i}"] = p.confusions
        arrays[f"prior{i}"] = p.priors
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def params_from_bytes(blob: bytes | None) -> dict[str, DawidSkeneParams]:
    if not blob:
        return {}
    z = np.load(io.BytesIO(blob), allow_pickle=False)
    out = {}
    i = 0
    while f"key{i}" in z.files:
        out[str(z[f"key{i}"])] = DawidSkeneParams(pa.array(z[f"src{i}"].tolist(), _STR), z[f"conf{i}"],
                                                  z[f"prior{i}"])
        i += 1
    return out


# -- aggregation -------------------------------------------------------------------------------
_COUNTING = ("majority_vote", "weighted_majority_vote")


def _prior(model) -> np.ndarray | None:
    """The human model's class prior, where the method has one (None: uniform)."""
    params = getattr(model, "params_", None)
    if params is not None:
        return params.priors
    priors = getattr(model, "priors_", None)
    return priors["prior"].to_numpy() if priors is not None else None


def _codes(answers: pa.Table, items: pa.Array, classes) -> np.ndarray:
    """Class code per item from ``item_id, label`` answers (-1 where none)."""
    code = np.full(len(items), -1, dtype=np.int64)
    if answers.num_rows:
        at = pc.index_in(answers["item_id"].combine_chunks().cast(_STR), value_set=items).to_numpy(zero_copy_only=False)
        c = pc.index_in(answers["label"].combine_chunks().cast(_STR),
                        value_set=pa.array(list(classes), _STR)).to_numpy(zero_copy_only=False)
        ok = ~np.isnan(at.astype(np.float64)) & ~np.isnan(c.astype(np.float64))
        code[at[ok].astype(np.int64)] = c[ok].astype(np.int64)
    return code


def _fit_votes(s, votes, ref, warm):
    model = make_aggregator(s, s.classes, ref.num_rows > 0)
    init = warm.get("") if _warm_capable(s) else None
    ref_single = ref.filter(pc.is_valid(ref["label"]))
    model.fit(votes.select(["item_id", "source_id", "label"]), ref_single if ref_single.num_rows else None, init)
    params = {"": model.params_} if hasattr(model, "params_") else {}
    return model, params


def _fit_single(s, inputs, votes, ref, warm):
    """(human model, its params, labels table, machine fit or None); see ``machine.py``."""
    if s.machine_evidence == "votes":
        model, params = _fit_votes(s, votes, ref, warm)
        return model, params, model.labels_, None
    human, mvotes = split_votes(votes)
    items = pc.unique(votes["item_id"].combine_chunks().cast(_STR)).sort()
    machine = with_fallback(inputs.machine, mvotes, inputs.gold, s.classes)
    if s.method in _COUNTING:
        one = machine_vote(machine, pc.unique(mvotes["item_id"].combine_chunks().cast(_STR)), s.classes)
        both = pa.concat_tables([human.select(one.column_names).cast(one.schema), one])
        model, params = _fit_votes(s, both, ref, warm)
        return model, params, model.labels_, None
    return _fit_calibrated(s, inputs, human, machine, items, ref, warm)


def _fit_calibrated(s, inputs, human, machine, items, ref, warm):
    """People's votes through the method, times the calibrated pre-label (``machine.py``)."""
    k = len(s.classes)
    post = np.full((len(items), k), 1.0 / k)
    z, has = machine_log_probs(machine, items, s.classes)
    ref_code = _codes(ref.filter(pc.is_valid(ref["label"])), items, s.classes)
    is_gold = pc.is_in(items, value_set=inputs.gold["item_id"].combine_chunks().cast(_STR)).to_numpy(
        zero_copy_only=False)
    model, params, prior, seen = None, {}, None, np.zeros(len(items), dtype=bool)
    scale, bias = np.ones(len(BANDS) + 1), np.zeros(k)
    if human.num_rows:
        model, params = _fit_votes(s, human, ref, warm)
        prior = _prior(model)
        at = pc.index_in(model.encoded_.item_ids.cast(_STR), value_set=items).to_numpy(zero_copy_only=False)
        at = at.astype(np.int64)
        if prior is not None:  # items no person saw start from the human model's prior
            post[:] = prior
        forecast = getattr(model, "forecast_", None)
        post[at] = model.posteriors_ if forecast is None else forecast
        seen[at] = True
        scale, bias = fit_calibration(z[at], has[at], model.encoded_, ref_code[at], has[at] & ~is_gold[at])
    post, fit = combine(post, prior, z, has, scale, bias, seen & ~is_gold)
    if getattr(model, "forecast_", None) is not None:
        # Calibrate what decides: the people's leave-one-out forecast times a machine calibrated
        # without gold is an honest forecast of each gold item, so gold maps the combined confidence.
        gold_code = np.where(is_gold, ref_code, -1)
        post, _cal = calibrate_posterior(post, (gold_code[:, None] == np.arange(k)) & (gold_code[:, None] >= 0))
    rows = np.flatnonzero(ref_code >= 0)  # accepted answers stand whatever the evidence
    post[rows] = np.eye(k)[ref_code[rows]]
    return model, params, label_table(items, post, s.classes), fit


def _fit_multi(s, votes, ref, warm):
    make: Callable = lambda c: make_aggregator(s, c, ref.num_rows > 0)
    model = MultiLabel(s.classes, make)
    init = warm if _warm_capable(s) else None
    ref_sets = ref.filter(pc.is_valid(ref["label"]))
    model.fit(votes.select(["item_id", "source_id", "label"]), ref_sets if ref_sets.num_rows else None, init=init)
    params = {name: m.params_ for name, m in model.models_.items() if hasattr(m, "params_")}
    return model, params


def _fit_info(model) -> dict:
    models = model.models_.values() if isinstance(model, MultiLabel) else [model]
    iters = [getattr(m, "n_iter_", None) for m in models]
    conv = [getattr(m, "converged_", None) for m in models]
    ll = [m.log_likelihood_[-1] for m in models if getattr(m, "log_likelihood_", None)]
    return {"n_iter": max((i for i in iters if i is not None), default=None),
            "converged": all(c for c in conv if c is not None) if any(c is not None for c in conv) else None,
            "objective": float(sum(ll)) if ll else None}


def _per_item_votes(votes: pa.Table, item_ids: pa.Array, classes: Sequence[str], multi: bool):
    """n_votes, n_human, the sources list and each vote's class membership, aligned to item_ids."""
    answers, member = answer_sets(votes, classes) if multi else (None, None)
    if multi:
        v = answers
        humans = pc.unique(pc.filter(votes["source_id"], pc.equal(votes["source_kind"], "human")).combine_chunks())
        human = pc.is_in(v["source_id"], value_set=humans.cast(_STR)).to_numpy(zero_copy_only=False)
    else:
        v = votes.filter(pc.is_valid(votes["label"]))
        human = pc.equal(v["source_kind"], "human").to_numpy(zero_copy_only=False)
    pos = pc.index_in(v["item_id"].combine_chunks().cast(_STR), value_set=item_ids).to_numpy(zero_copy_only=False)
    pos = pos.astype(np.int64)
    n_items = len(item_ids)
    n = np.bincount(pos, minlength=n_items)
    n_h = np.bincount(pos, weights=human.astype(np.float64), minlength=n_items).astype(np.int64)
    order = np.argsort(pos, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(n)]).astype(np.int32)
    sources = pa.ListArray.from_arrays(pa.array(offsets),
                                       pc.take(v["source_id"].combine_chunks().cast(_STR), pa.array(order)))
    return v, pos, n, n_h, sources, member


def _labels_single(s, lab, votes, ref, adj):
    ids = lab["item_id"].combine_chunks().cast(_STR)
    label = lab["label"].combine_chunks().cast(_STR)
    conf = pc.fill_null(lab["confidence"].combine_chunks(), 0.0).to_numpy(zero_copy_only=False).copy()
    method = np.full(len(ids), s.method, dtype=object)
    gold_items = pc.unique(ref["item_id"].combine_chunks().cast(_STR)) if ref.num_rows else pa.array([], _STR)
    is_ref = pc.is_in(ids, value_set=gold_items).to_numpy(zero_copy_only=False)
    method[is_ref] = "gold"
    if adj.num_rows:
        apos = pc.index_in(ids, value_set=adj["item_id"].combine_chunks().cast(_STR))
        is_adj = pc.is_valid(apos).to_numpy(zero_copy_only=False)
        label = pc.if_else(pa.array(is_adj), pc.take(adj["label"].combine_chunks().cast(_STR), apos), label)
        method[is_adj] = "adjudicated"
        is_ref |= is_adj
    conf[is_ref] = 1.0
    v, pos, n, n_h, sources, _ = _per_item_votes(votes, ids, s.classes, False)
    ref_code = pc.index_in(label, value_set=pa.array(list(s.classes), _STR))
    ref_code = np.nan_to_num(ref_code.to_numpy(zero_copy_only=False).astype(np.float64), nan=-1).astype(np.int64)
    vcode = pc.index_in(v["label"].combine_chunks().cast(_STR), value_set=pa.array(list(s.classes), _STR))
    vcode = vcode.to_numpy(zero_copy_only=False).astype(np.int64)
    hits = np.bincount(pos, weights=(vcode == ref_code[pos]).astype(np.float64), minlength=len(ids))
    return ids, label, None, conf, method, is_ref, n, n_h, hits, sources


def _labels_multi(s, model, votes, ref, adj):
    probas = model.probas_
    ids = probas["item_id"].combine_chunks().cast(_STR)
    p = np.column_stack([pc.fill_null(probas[c], 0.5).to_numpy(zero_copy_only=False) for c in s.classes])
    present = p >= 0.5
    conf = np.where(present, p, 1 - p).min(axis=1)
    method = np.full(len(ids), s.method, dtype=object)
    is_ref = np.zeros(len(ids), dtype=bool)
    for table, name in ((ref, "gold"), (adj, "adjudicated")):
        if table.num_rows:
            sets, has = reference_sets(table, ids, s.classes)
            present[has] = sets[has]
            method[has] = name
            is_ref |= has
    conf[is_ref] = 1.0
    cls = np.asarray(s.classes, dtype=object)
    flat = cls[np.nonzero(present)[1]]
    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
    label_sets = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat.tolist(), _STR))
    _v, pos, n, n_h, sources, member = _per_item_votes(votes, ids, s.classes, True)
    hits = np.bincount(pos, weights=(member == present[pos]).all(axis=1).astype(np.float64), minlength=len(ids))
    return ids, pa.nulls(len(ids), _STR), label_sets, conf, method, is_ref, n, n_h, hits, sources


def _labels_table(s, parts) -> pa.Table:
    ids, label, label_sets, conf, method, is_ref, n, n_h, hits, sources = parts
    # With resolve_without_humans machine votes may settle an item alone, so no human minimum applies.
    decision = decide(conf, n_h, s.target_confidence, s.max_overlap, 0 if s.resolve_without_humans else s.min_votes)
    if not s.resolve_without_humans:
        decision[(n_h == 0) & (decision == "resolved")] = "needs_more"
    decision[is_ref] = "resolved"
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(n > 0, hits / np.where(n > 0, n, 1), np.nan)
    return pa.table({
        "item_id": ids, "label": label,
        "labels": label_sets if label_sets is not None else pa.nulls(len(ids), pa.list_(_STR)),
        "confidence": pa.array(np.round(conf, 6), pa.float64()),
        "method": pa.array(method.tolist(), _STR), "decision": pa.array(decision.tolist(), _STR),
        "n_votes": pa.array(n.astype(np.int32)), "n_human": pa.array(n_h.astype(np.int32)),
        "agreement": pa.array(np.round(agreement, 6), mask=np.isnan(agreement)),
        "sources": sources,
    })


# -- the whole core ----------------------------------------------------------------------------------
def run_consensus(s: ConsensusSettings, inputs: ConsensusInputs,
                  warm: dict[str, DawidSkeneParams] | None = None) -> ConsensusOutcome:
    """Score sources on gold, ban the ones below threshold, aggregate the rest, decide per item.

    Args:
        s: settings from the project config.
        inputs: tables read by the stage (see ``ConsensusInputs``).
        warm: stored parameters of the previous run, to warm-start EM.

    Returns:
        ``ConsensusOutcome`` with ``labels`` (one row per item with votes), ``source_stats``
        (one row per source), ``new_bans`` (source_id + evidence), ``agreement``, ``params``
        (for the next warm start) and ``fit`` (iterations, convergence, objective).
    """
    scores = score_on_reference(s, inputs)
    already = set(inputs.banned)
    fresh = scores.filter(pc.and_(scores["banned"], pc.invert(pc.is_in(
        scores["source_id"], value_set=pa.array(sorted(already), _STR)))))
    new_bans = pa.table({
        "source_id": fresh["source_id"],
        "evidence": pa.array([json.dumps({
            "n_gold": r["n_gold"], "correct": r["correct"], "accuracy": r["accuracy"],
            "low": round(r["low"], 6), "high": round(r["high"], 6), "threshold": s.ban_below,
            "min_answers": s.min_answers_for_ban, "rule": "Wilson 95% upper bound below threshold"})
            for r in fresh.to_pylist()], _STR)})
    excluded = already | set(fresh["source_id"].to_pylist())
    votes = inputs.votes
    if excluded:
        votes = votes.filter(pc.invert(pc.is_in(votes["source_id"], value_set=pa.array(sorted(excluded), _STR))))
    ref = reference_answers(inputs)
    model = None
    params: dict[str, DawidSkeneParams] = {}
    fit: dict = {"n_iter": None, "converged": None, "objective": None}
    if votes.num_rows:
        machine_fit = None
        if s.multi_label:
            model, params = _fit_multi(s, votes, ref, warm or {})
            parts = _labels_multi(s, model, votes, ref, inputs.adjudications)
        else:
            model, params, lab, machine_fit = _fit_single(s, inputs, votes, ref, warm or {})
            parts = _labels_single(s, lab, votes, ref, inputs.adjudications)
        labels = _labels_table(s, parts)
        fit = _fit_info(model) if model is not None else dict(fit)
        fit["warm_start"] = bool(warm) and _warm_capable(s) and model is not None
        if not s.multi_label and machine_fit is not None:
            fit["machine"] = machine_fit.as_dict()
    else:
        labels = _labels_table(s, (pa.array([], _STR), pa.array([], _STR),
                                   pa.array([], pa.list_(_STR)) if s.multi_label else None, np.zeros(0),
                                   np.zeros(0, object), np.zeros(0, bool), np.zeros(0, np.int64),
                                   np.zeros(0, np.int64), np.zeros(0), pa.array([], pa.list_(_STR))))
    stats = source_stats(s, inputs, model, labels, scores, fresh["source_id"].to_pylist())
    return ConsensusOutcome(labels, stats, new_bans, agreement_summary(s, votes), params, fit)
