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
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .agreement import (
    cohen_kappa_pairs,
    fleiss_kappa,
    krippendorff_alpha,
    per_label_alpha,
    value_counts,
)
from .base import Aggregator
from .dawid_skene import DawidSkene, DawidSkeneParams
from .glad import GLAD
from .gold import wilson_interval
from .label_model import LabelModel
from .majority_vote import MajorityVote, WeightedMajorityVote
from .multilabel import MultiLabel
from .one_coin import OneCoinDawidSkene
from .resolution import decide
from .votes import check_option, encode_votes

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
    ban_below: float = 0.6
    min_answers_for_ban: int = 5
    max_iter: int = 100
    tol: float = 1e-6
    bootstrap: int = 200
    min_shared_for_kappa: int = 10
    fixed_overlap: bool = False

    def __post_init__(self):
        check_option("consensus.method", self.method, METHODS)


@dataclass
class ConsensusInputs:
    """What the stage read from the store.

    Attributes:
        votes: ``item_id, source_id, source_kind, label`` of non-banned, non-adjudicator sources
            (multi-label: one row per ticked label, a null label for an empty answer).
        scoring_votes: ``item_id, source_id, source_kind, label`` of every non-adjudicator source
            (banned ones too) on gold or adjudicated items: what sources are scored on.
        gold: ``item_id, label`` accepted answers from the gold file (several rows for a set).
        adjudications: ``item_id, label`` the expert's answer (several rows for a set; a null
            label in multi-label projects means "no label applies").
        banned: source ids already banned before this run.
        kinds: ``source_id, kind`` for every registered source.
        vote_counts: answers per source over all its votes (banned sources included); when
            None they are counted from ``votes``.
    """

    votes: pa.Table
    scoring_votes: pa.Table
    gold: pa.Table
    adjudications: pa.Table
    banned: list[str] = field(default_factory=list)
    kinds: pa.Table | None = None
    vote_counts: dict[str, int] | None = None


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


# -- gold scoring -----------------------------------------------------------------------------
def _reference(inputs: ConsensusInputs) -> pa.Table:
    """Accepted answers per item: adjudications replace file gold for the same item."""
    adj = inputs.adjudications.select(["item_id", "label"])
    gold = inputs.gold.select(["item_id", "label"])
    if adj.num_rows:
        gold = gold.filter(pc.invert(pc.is_in(gold["item_id"], value_set=adj["item_id"].combine_chunks())))
    return pa.concat_tables([gold.cast(adj.schema), adj]) if adj.num_rows else gold


def _answers(votes: pa.Table, classes: Sequence[str]) -> tuple[pa.Table, np.ndarray]:
    """(item, source) answers with a class-membership matrix (one row per answer)."""
    k = len(classes)
    enc = encode_votes(votes, classes)
    pair = enc.item.astype(np.int64) * enc.n_sources + enc.source
    pairs, inv = np.unique(pair, return_inverse=True)
    member = np.zeros((len(pairs), k), dtype=bool)
    ok = enc.label >= 0
    member[inv[ok], enc.label[ok]] = True
    items = pc.take(enc.item_ids.cast(_STR), pa.array(pairs // enc.n_sources))
    sources = pc.take(enc.source_ids.cast(_STR), pa.array(pairs % enc.n_sources))
    return pa.table({"item_id": items, "source_id": sources}), member


def _reference_matrix(ref: pa.Table, items: pa.Array, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per answer row: the accepted class set and whether the item has a reference at all."""
    k = len(classes)
    ref_items = pc.unique(ref["item_id"].combine_chunks().cast(_STR))
    has = pc.is_in(items, value_set=ref_items).to_numpy(zero_copy_only=False)
    pos = pc.index_in(ref["item_id"].combine_chunks().cast(_STR), value_set=ref_items).to_numpy(zero_copy_only=False)
    code = pc.index_in(ref["label"].combine_chunks().cast(_STR), value_set=pa.array(list(classes), _STR))
    valid = pc.is_valid(code).to_numpy(zero_copy_only=False)
    sets = np.zeros((len(ref_items), k), dtype=bool)
    sets[pos[valid].astype(np.int64), code.to_numpy(zero_copy_only=False)[valid].astype(np.int64)] = True
    row = pc.index_in(items, value_set=ref_items).to_numpy(zero_copy_only=False)
    row = np.nan_to_num(row.astype(np.float64), nan=0).astype(np.int64)
    return (sets[row] if len(ref_items) else np.zeros((len(items), k), bool)), has


def score_on_reference(s: ConsensusSettings, inputs: ConsensusInputs) -> pa.Table:
    """Accuracy of every source on gold + adjudicated items, Wilson interval and the ban rule.

    Single-label: an answer is right when its label is an accepted one (abstains not counted).
    Multi-label: every (answer, label) cell counts, right when ticked iff accepted.
    """
    ref = _reference(inputs)
    v = inputs.scoring_votes
    empty = pa.table({"source_id": pa.array([], _STR), "n_gold": pa.array([], pa.int64()),
                      "correct": pa.array([], pa.int64()), "low": pa.array([], pa.float64()),
                      "high": pa.array([], pa.float64()), "accuracy": pa.array([], pa.float64()),
                      "banned": pa.array([], pa.bool_())})
    if v.num_rows == 0 or ref.num_rows == 0:
        return empty
    k = len(s.classes)
    if s.multi_label:
        answers, member = _answers(v, s.classes)
        accepted, has = _reference_matrix(ref, answers["item_id"].combine_chunks(), s.classes)
        n_cells = np.where(has, k, 0)
        right = np.where(has, (member == accepted).sum(axis=1), 0)
        src = answers["source_id"].combine_chunks()
    else:
        v = v.filter(pc.is_valid(v["label"]))
        if v.num_rows == 0:
            return empty
        items = v["item_id"].combine_chunks().cast(_STR)
        accepted, has = _reference_matrix(ref, items, s.classes)
        code = pc.index_in(v["label"].combine_chunks().cast(_STR), value_set=pa.array(list(s.classes), _STR))
        code = np.nan_to_num(code.to_numpy(zero_copy_only=False).astype(np.float64), nan=0).astype(np.int64)
        n_cells = has.astype(np.int64)
        right = has & accepted[np.arange(len(code)), code]
        src = v["source_id"].combine_chunks().cast(_STR)
    enc = src.dictionary_encode()
    idx = enc.indices.to_numpy(zero_copy_only=False)
    m = len(enc.dictionary)
    n = np.bincount(idx, weights=n_cells, minlength=m)
    c = np.bincount(idx, weights=right.astype(np.float64), minlength=m)
    low, high = wilson_interval(c, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, c / np.where(n > 0, n, 1), np.nan)
    banned = (n >= s.min_answers_for_ban) & (high < s.ban_below)
    return pa.table({"source_id": enc.dictionary, "n_gold": pa.array(n.astype(np.int64)),
                     "correct": pa.array(c.astype(np.int64)), "low": pa.array(low), "high": pa.array(high),
                     "accuracy": pa.array(acc, mask=np.isnan(acc)), "banned": pa.array(banned)})


def gold_confusions(s: ConsensusSettings, inputs: ConsensusInputs) -> dict[str, dict]:
    """Per source: counts of {true label: {answered label: n}} on single-gold items (single-label)."""
    if s.multi_label or inputs.scoring_votes.num_rows == 0:
        return {}
    ref = _reference(inputs)
    single = ref.group_by("item_id").aggregate([("label", "count")]).filter(pc.equal(pc.field("label_count"), 1))
    ref = ref.filter(pc.is_in(ref["item_id"], value_set=single["item_id"].combine_chunks()))
    v = inputs.scoring_votes.filter(pc.is_valid(inputs.scoring_votes["label"]))
    j = v.select(["item_id", "source_id", "label"]).join(ref.rename_columns(["item_id", "true"]), "item_id",
                                                        join_type="inner")
    g = j.group_by(["source_id", "true", "label"]).aggregate([("item_id", "count")])
    out: dict[str, dict] = {}
    for r in g.to_pylist():
        out.setdefault(r["source_id"], {}).setdefault(r["true"], {})[r["label"]] = r["item_id_count"]
    return out


# -- aggregation -------------------------------------------------------------------------------
def _fit_single(s, votes, ref, warm):
    model = make_aggregator(s, s.classes, ref.num_rows > 0)
    init = warm.get("") if _warm_capable(s) else None
    ref_single = ref.filter(pc.is_valid(ref["label"]))
    model.fit(votes.select(["item_id", "source_id", "label"]), ref_single if ref_single.num_rows else None, init)
    params = {"": model.params_} if hasattr(model, "params_") else {}
    return model, params


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
    answers, member = _answers(votes, classes) if multi else (None, None)
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


def _labels_single(s, model, votes, ref, adj):
    lab = model.labels_
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
    k = len(s.classes)
    probas = model.probas_
    ids = probas["item_id"].combine_chunks().cast(_STR)
    p = np.column_stack([pc.fill_null(probas[c], 0.5).to_numpy(zero_copy_only=False) for c in s.classes])
    present = p >= 0.5
    conf = np.where(present, p, 1 - p).min(axis=1)
    method = np.full(len(ids), s.method, dtype=object)
    is_ref = np.zeros(len(ids), dtype=bool)
    for table, name in ((ref, "gold"), (adj, "adjudicated")):
        if table.num_rows:
            sets, has = _reference_matrix(table, ids, s.classes)
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
    del k
    return ids, pa.nulls(len(ids), _STR), label_sets, conf, method, is_ref, n, n_h, hits, sources


def _labels_table(s, parts) -> pa.Table:
    ids, label, label_sets, conf, method, is_ref, n, n_h, hits, sources = parts
    decision = decide(conf, n_h, s.target_confidence, s.max_overlap)
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


# -- per-source statistics and agreement ----------------------------------------------------------
def _learned(model, multi: bool) -> tuple[dict[str, float], dict[str, dict]]:
    """Learned accuracy (mean over labels for multi-label) and learned confusions per source."""
    if multi:
        sk = model.skills_
        if sk is None:
            return {}, {}
        g = sk.group_by("source_id").aggregate([("skill", "mean")])
        return dict(zip(g["source_id"].to_pylist(), g["skill_mean"].to_pylist())), {}
    skills = dict(zip(model.skills_["source_id"].to_pylist(), model.skills_["skill"].to_pylist())) \
        if getattr(model, "skills_", None) is not None else {}
    conf: dict[str, dict] = {}
    params = getattr(model, "params_", None)
    if params is not None:
        observed = list(s_classes := model.classes) + ["(abstain)"]
        cube = np.round(params.confusions, 5).transpose(0, 2, 1).tolist()  # source, true, answered
        for src, mat in zip(params.source_ids.cast(_STR).to_pylist(), cube):
            conf[src] = {t: dict(zip(observed, row)) for t, row in zip(s_classes, mat)}
    return skills, conf


def _source_stats(s, inputs, model, labels, scores, new_banned) -> pa.Table:
    v = inputs.votes
    answered = v.filter(pc.is_valid(v["label"])) if not s.multi_label else v
    src_all = pa.concat_tables([answered.select(["source_id", "source_kind"]),
                                inputs.scoring_votes.select(["source_id", "source_kind"])])
    per = src_all.group_by(["source_id", "source_kind"]).aggregate([])
    nv = answered.group_by("source_id").aggregate([("item_id", "count_distinct" if s.multi_label else "count")])
    nv_map = dict(zip(nv["source_id"].to_pylist(), nv[nv.column_names[-1]].to_pylist()))
    if inputs.vote_counts is not None:
        nv_map = {**nv_map, **inputs.vote_counts}
    sc = {r["source_id"]: r for r in scores.to_pylist()}
    skills, learned_conf = _learned(model, s.multi_label) if model is not None else ({}, {})
    gold_conf = gold_confusions(s, inputs)
    # Agreement with consensus: share of a source's answers equal to the item's final label (set).
    agree = {}
    if answered.num_rows and labels.num_rows:
        if s.multi_label:
            answers, member = _answers(v, s.classes)
            sets, has = _reference_matrix(_explode_sets(labels), answers["item_id"].combine_chunks(), s.classes)
            hit = ((member == sets).all(axis=1) & has).astype(np.float64)
            src = answers["source_id"].combine_chunks()
        else:
            j = answered.select(["item_id", "source_id", "label"]).join(
                labels.select(["item_id", "label"]).rename_columns(["item_id", "final"]), "item_id")
            hit = pc.fill_null(pc.equal(j["label"], j["final"]), False).to_numpy(zero_copy_only=False).astype(np.float64)
            src = j["source_id"].combine_chunks()
        enc = src.dictionary_encode()
        idx = enc.indices.to_numpy(zero_copy_only=False)
        h = np.bincount(idx, weights=hit, minlength=len(enc.dictionary))
        t = np.bincount(idx, minlength=len(enc.dictionary))
        agree = dict(zip(enc.dictionary.to_pylist(), (h / np.maximum(t, 1)).tolist()))
    rows = []
    banned_now = set(inputs.banned) | set(new_banned)
    for src, kind in zip(per["source_id"].to_pylist(), per["source_kind"].to_pylist()):
        r = sc.get(src)
        conf = {}
        if src in gold_conf:
            conf["gold"] = gold_conf[src]
        if src in learned_conf:
            conf["learned"] = learned_conf[src]
        rows.append({
            "source_id": src, "kind": kind, "n_votes": int(nv_map.get(src, 0)),
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


def _explode_sets(labels: pa.Table) -> pa.Table:
    """``item_id, label`` rows from the labels' sets (an empty set keeps the item with a null)."""
    sets = labels["labels"].combine_chunks()
    lens = pc.list_value_length(sets).to_numpy(zero_copy_only=False)
    empty = lens == 0
    ids = labels["item_id"].combine_chunks()
    flat_ids = pc.take(ids, pa.array(np.repeat(np.arange(len(ids)), lens)))
    return pa.concat_tables([
        pa.table({"item_id": flat_ids, "label": pc.list_flatten(sets).cast(_STR)}),
        pa.table({"item_id": pc.filter(ids, pa.array(empty)), "label": pa.nulls(int(empty.sum()), _STR)}),
    ])


def agreement_summary(s: ConsensusSettings, votes: pa.Table) -> dict:
    """Krippendorff alpha (+ bootstrap CI), Fleiss where overlap is fixed, per label, Cohen pairs.

    Measured among human annotators when there are any (inter-annotator agreement), else over
    every source. Multi-label projects are measured on the binary (item, label) questions.
    """
    human = votes.filter(pc.equal(votes["source_kind"], "human"))
    over = "human" if human.num_rows else "all"
    v = human if human.num_rows else votes
    classes = list(s.classes)
    if s.multi_label and v.num_rows:
        answers, member = _answers(v, s.classes)
        k = len(classes)
        n = answers.num_rows
        unit = pc.binary_join_element_wise(pc.take(answers["item_id"], pa.array(np.repeat(np.arange(n), k))),
                                           pa.array(np.tile(np.asarray(classes, dtype=object), n).tolist(), _STR),
                                           "\x1f")
        v = pa.table({"item_id": unit, "source_id": pc.take(answers["source_id"], pa.array(np.repeat(np.arange(n), k))),
                      "label": pa.array(np.where(member.ravel(), "present", "absent").tolist(), _STR)})
        per_label = []
        for c, name in enumerate(classes):
            sub = v.take(pa.array(np.arange(n) * k + c))
            per_label.append({"label": name, **{kk: vv for kk, vv in krippendorff_alpha(
                sub, ["absent", "present"], n_boot=0).items() if kk in ("alpha", "n_items")}})
        classes = ["absent", "present"]
        enc, counts = value_counts(v, classes) if v.num_rows else (None, None)
    else:
        v = v.filter(pc.is_valid(v["label"])).select(["item_id", "source_id", "label"])
        enc, counts = value_counts(v, classes) if v.num_rows else (None, None)
        per_label = per_label_alpha(None, classes, counts=counts).to_pylist() if v.num_rows else []
    out: dict[str, Any] = {"over": over, "n_votes": v.num_rows}
    if v.num_rows == 0:
        out.update({"alpha": None, "low": None, "high": None, "fleiss": None, "per_label": [], "pairs": {}})
        return out
    ka = krippendorff_alpha(None, classes, n_boot=s.bootstrap, counts=counts)
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
    ref = _reference(inputs)
    model = None
    params: dict[str, DawidSkeneParams] = {}
    fit: dict = {"n_iter": None, "converged": None, "objective": None}
    if votes.num_rows:
        if s.multi_label:
            model, params = _fit_multi(s, votes, ref, warm or {})
            parts = _labels_multi(s, model, votes, ref, inputs.adjudications)
        else:
            model, params = _fit_single(s, votes, ref, warm or {})
            parts = _labels_single(s, model, votes, ref, inputs.adjudications)
        labels = _labels_table(s, parts)
        fit = _fit_info(model)
        fit["warm_start"] = bool(warm) and _warm_capable(s)
    else:
        labels = _labels_table(s, (pa.array([], _STR), pa.array([], _STR),
                                   pa.array([], pa.list_(_STR)) if s.multi_label else None, np.zeros(0),
                                   np.zeros(0, object), np.zeros(0, bool), np.zeros(0, np.int64),
                                   np.zeros(0, np.int64), np.zeros(0), pa.array([], pa.list_(_STR))))
    stats = _source_stats(s, inputs, model, labels, scores, fresh["source_id"].to_pylist())
    return ConsensusOutcome(labels, stats, new_bans, agreement_summary(s, votes), params, fit)
