"""Per-source statistics and the agreement summary of a consensus run."""

from __future__ import annotations

__all__ = ["agreement_summary", "source_stats"]

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import expit

from .agreement import (
    cohen_kappa_pairs,
    fleiss_kappa,
    krippendorff_alpha,
    per_label_alpha,
    value_counts,
)
from .glad import GLAD
from .scoring import answer_sets, gold_confusions, reference_sets

if TYPE_CHECKING:
    from .pipeline import ConsensusSettings

_STR = pa.string()


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


def source_stats(s, inputs, model, labels, scores, new_banned) -> pa.Table:
    v = inputs.votes
    answered = v.filter(pc.is_valid(v["label"])) if not s.multi_label else v
    mine = answered.select(["source_id", "source_kind"])
    src_all = pa.concat_tables([mine, inputs.scoring_votes.select(["source_id", "source_kind"]).cast(mine.schema)]).unify_dictionaries()
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
            answers, member = answer_sets(v, s.classes)
            sets, has = reference_sets(_explode_sets(labels), answers["item_id"].combine_chunks(), s.classes)
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
        answers, member = answer_sets(v, s.classes)
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
