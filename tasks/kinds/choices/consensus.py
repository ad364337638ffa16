"""Choices: the consensus facet (see tasks/kinds/protocol.py, consolidation).

A single-label answer is one class: the configured aggregator fits the people's votes, and the
calibrated pre-label multiplies in (``tasks/consensus/machine.py``). A multi-label answer is a set:
every label is its own binary question ("did the source tick it?", ``MultiLabel``), the set is the
labels whose P(present) reaches 0.5 and its confidence the least certain of those questions.
Sources are scored per label for a set (every (answer, label) cell right or wrong) and per answer
for a single label. Both read their answers one label per row in the ``label`` column: a set
arrives unnested, with a null row for an empty set (an answer: "no label applies").
"""

from __future__ import annotations

__all__ = ["MULTI", "SINGLE"]

from collections.abc import Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.agreement import krippendorff_alpha
from tasks.consensus.calibration import calibrate_posterior
from tasks.consensus.dawid_skene import DawidSkeneParams
from tasks.consensus.machine import (
    BANDS,
    combine,
    fit_calibration,
    machine_log_probs,
    machine_vote,
    split_votes,
    with_fallback,
)
from tasks.consensus.multilabel import MultiLabel
from tasks.consensus.pipeline import (
    METHODS,
    ConsensusInputs,
    ConsensusOutcome,
    ConsensusSettings,
    ban_evidence,
    fit_info,
    labels_table,
    make_aggregator,
    per_item_votes,
    warm_capable,
)
from tasks.consensus.report import (
    agreement_by_source,
    categorical_agreement,
    learned_accuracy,
    source_stats_table,
)
from tasks.consensus.scoring import (
    answer_sets,
    empty_scores,
    gold_confusions,
    reference_answers,
    reference_sets,
    score_table,
)
from tasks.consensus.votes import label_table

from .posterior import choice_posterior

_STR = pa.string()
_COUNTING = ("majority_vote", "weighted_majority_vote")


# -- single label ------------------------------------------------------------------------------------
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
    init = warm.get("") if warm_capable(s) else None
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


def _labels_single(s, lab, votes, ref, adj) -> pa.Table:
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
    v = votes.filter(pc.is_valid(votes["label"]))
    human = pc.equal(v["source_kind"], "human").to_numpy(zero_copy_only=False)
    pos, n, n_h, sources = per_item_votes(ids, v["item_id"], v["source_id"], human)
    ref_code = pc.index_in(label, value_set=pa.array(list(s.classes), _STR))
    ref_code = np.nan_to_num(ref_code.to_numpy(zero_copy_only=False).astype(np.float64), nan=-1).astype(np.int64)
    vcode = pc.index_in(v["label"].combine_chunks().cast(_STR), value_set=pa.array(list(s.classes), _STR))
    vcode = vcode.to_numpy(zero_copy_only=False).astype(np.int64)
    hits = np.bincount(pos, weights=(vcode == ref_code[pos]).astype(np.float64), minlength=len(ids))
    return labels_table(s, "label", ids, label, conf, method, is_ref, n, n_h, hits, sources)


# -- multi-label -------------------------------------------------------------------------------------
def _fit_multi(s, votes, ref, warm):
    make: Callable = lambda c: make_aggregator(s, c, ref.num_rows > 0)
    model = MultiLabel(s.classes, make)
    init = warm if warm_capable(s) else None
    ref_sets = ref.filter(pc.is_valid(ref["label"]))
    model.fit(votes.select(["item_id", "source_id", "label"]), ref_sets if ref_sets.num_rows else None, init=init)
    params = {name: m.params_ for name, m in model.models_.items() if hasattr(m, "params_")}
    return model, params


def _set_answers(votes: pa.Table, classes):
    """(item, source) answers of long set votes, their membership matrix and which are people's."""
    answers, member = answer_sets(votes, classes)
    humans = pc.unique(pc.filter(votes["source_id"], pc.equal(votes["source_kind"], "human")).combine_chunks())
    human = pc.is_in(answers["source_id"], value_set=humans.cast(_STR)).to_numpy(zero_copy_only=False)
    return answers, member, human


def _labels_multi(s, model, votes, ref, adj) -> pa.Table:
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
    answers, member, human = _set_answers(votes, s.classes)
    pos, n, n_h, sources = per_item_votes(ids, answers["item_id"], answers["source_id"], human)
    hits = np.bincount(pos, weights=(member == present[pos]).all(axis=1).astype(np.float64), minlength=len(ids))
    return labels_table(s, "labels", ids, label_sets, conf, method, is_ref, n, n_h, hits, sources)


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


class _ChoicesConsensus:
    """One label or a set of labels per item; ``multi`` picks the set's binary-relevance treatment."""

    input_column = "label"
    label_values_sql = "coalesce(labels, [label])"
    methods = METHODS  # the configurable aggregators (`consensus.method`)
    wants_payloads = False

    def __init__(self, multi: bool) -> None:
        self.multi = multi
        self.column = "labels" if multi else "label"
        # A set is read one ticked label per row; a vote stored with one label (pre-labeling's
        # machine votes) is the set holding that label, an empty set one null row.
        self.answer_sql = ("unnest(CASE WHEN coalesce(len(labels), 0) = 0 THEN [label] ELSE labels END)"
                           if multi else "label")
        self.answered_sql = "true" if multi else "label IS NOT NULL"

    def wants_prelabels(self, settings: ConsensusSettings) -> bool:
        # A set's pre-label is not one distribution over the classes: multi-label machine votes count as votes.
        return not self.multi and settings.machine_evidence != "votes"

    # -- run --------------------------------------------------------------------------------------------
    def run(self, inputs: ConsensusInputs, s: ConsensusSettings,
            warm: dict[str, DawidSkeneParams]) -> ConsensusOutcome:
        scores = self._scores(s, inputs)
        fresh, new_bans = ban_evidence(s, scores, inputs.banned)
        excluded = set(inputs.banned) | set(fresh["source_id"].to_pylist())
        votes = inputs.votes
        if excluded:
            votes = votes.filter(pc.invert(pc.is_in(votes["source_id"], value_set=pa.array(sorted(excluded), _STR))))
        ref = reference_answers(inputs)
        model = None
        params: dict[str, DawidSkeneParams] = {}
        fit: dict = {"n_iter": None, "converged": None, "objective": None}
        if votes.num_rows:
            machine_fit = None
            if self.multi:
                model, params = _fit_multi(s, votes, ref, warm)
                labels = _labels_multi(s, model, votes, ref, inputs.adjudications)
            else:
                model, params, lab, machine_fit = _fit_single(s, inputs, votes, ref, warm)
                labels = _labels_single(s, lab, votes, ref, inputs.adjudications)
            if model is not None:
                fit = fit_info(model.models_.values() if self.multi else [model])
            fit["warm_start"] = bool(warm) and warm_capable(s) and model is not None
            if machine_fit is not None:
                fit["machine"] = machine_fit.as_dict()
        else:
            empty = pa.array([], pa.list_(_STR) if self.multi else _STR)
            labels = labels_table(s, self.column, pa.array([], _STR), empty, np.zeros(0), np.zeros(0, object),
                                  np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                                  pa.array([], pa.list_(_STR)))
        stats = self._source_stats(s, inputs, model, labels, scores, fresh["source_id"].to_pylist())
        return ConsensusOutcome(labels, stats, new_bans, self._agreement(s, votes), params, fit)

    def _scores(self, s: ConsensusSettings, inputs: ConsensusInputs) -> pa.Table:
        """Single label: right when the label is an accepted one (abstains not counted).
        A set: every (answer, label) cell counts, right when ticked iff accepted."""
        ref = reference_answers(inputs)
        v = inputs.scoring_votes
        if v.num_rows == 0 or ref.num_rows == 0:
            return empty_scores()
        if self.multi:
            answers, member = answer_sets(v, s.classes)
            accepted, has = reference_sets(ref, answers["item_id"].combine_chunks(), s.classes)
            n_cells = np.where(has, len(s.classes), 0)
            right = np.where(has, (member == accepted).sum(axis=1), 0)
            return score_table(s, answers["source_id"].combine_chunks(), n_cells, right)
        v = v.filter(pc.is_valid(v["label"]))
        if v.num_rows == 0:
            return empty_scores()
        accepted, has = reference_sets(ref, v["item_id"].combine_chunks().cast(_STR), s.classes)
        code = pc.index_in(v["label"].combine_chunks().cast(_STR), value_set=pa.array(list(s.classes), _STR))
        code = np.nan_to_num(code.to_numpy(zero_copy_only=False).astype(np.float64), nan=0).astype(np.int64)
        right = has & accepted[np.arange(len(code)), code]
        return score_table(s, v["source_id"].combine_chunks().cast(_STR), has.astype(np.int64), right)

    def _source_stats(self, s, inputs, model, labels, scores, new_banned) -> pa.Table:
        v = inputs.votes
        answered = v if self.multi else v.filter(pc.is_valid(v["label"]))
        mine = answered.select(["source_id", "source_kind"])
        src_all = pa.concat_tables([mine, inputs.scoring_votes.select(["source_id", "source_kind"]).cast(
            mine.schema)]).unify_dictionaries()
        per = src_all.group_by(["source_id", "source_kind"]).aggregate([])
        nv = answered.group_by("source_id").aggregate([("item_id", "count_distinct" if self.multi else "count")])
        nv_map = dict(zip(nv["source_id"].to_pylist(), nv[nv.column_names[-1]].to_pylist()))
        if inputs.vote_counts is not None:
            nv_map = {**nv_map, **inputs.vote_counts}
        skills, learned_conf = ({}, {}) if model is None else self._learned(model)
        gold_conf = {} if self.multi else gold_confusions(inputs)
        agree: dict[str, float] = {}
        if answered.num_rows and labels.num_rows:
            if self.multi:  # an answer agrees when its set is the final set
                answers, member = answer_sets(v, s.classes)
                sets, has = reference_sets(_explode_sets(labels), answers["item_id"].combine_chunks(), s.classes)
                hit = ((member == sets).all(axis=1) & has).astype(np.float64)
                src = answers["source_id"].combine_chunks()
            else:
                j = answered.select(["item_id", "source_id", "label"]).join(
                    labels.select(["item_id", "label"]).rename_columns(["item_id", "final"]), "item_id")
                hit = pc.fill_null(pc.equal(j["label"], j["final"]), False).to_numpy(zero_copy_only=False).astype(
                    np.float64)
                src = j["source_id"].combine_chunks()
            agree = agreement_by_source(src, hit)
        confusions = {}
        for src in set(gold_conf) | set(learned_conf):
            conf = {}
            if src in gold_conf:
                conf["gold"] = gold_conf[src]
            if src in learned_conf:
                conf["learned"] = learned_conf[src]
            confusions[src] = conf
        return source_stats_table(per, nv_map, scores, skills, confusions, agree,
                                  set(inputs.banned) | set(new_banned))

    def _learned(self, model) -> tuple[dict[str, float], dict[str, dict]]:
        """Learned accuracy per source (a set: the mean over its labels' binary models)."""
        if not self.multi:
            return learned_accuracy(model)
        sk = model.skills_
        if sk is None:
            return {}, {}
        # One thread: a threaded mean sums in a varying order, and the stored figure would flicker in its last digit.
        g = sk.group_by("source_id", use_threads=False).aggregate([("skill", "mean")])
        return dict(zip(g["source_id"].to_pylist(), g["skill_mean"].to_pylist())), {}

    def _agreement(self, s: ConsensusSettings, votes: pa.Table) -> dict:
        """Among human annotators when there are any (inter-annotator agreement), else every source.

        A set is measured on its binary (item, label) questions, with one alpha per label."""
        human = votes.filter(pc.equal(votes["source_kind"], "human"))
        over = "human" if human.num_rows else "all"
        v = human if human.num_rows else votes
        classes = list(s.classes)
        if not (self.multi and v.num_rows):
            v = v.filter(pc.is_valid(v["label"])).select(["item_id", "source_id", "label"])
            return categorical_agreement(s, v, classes, over)
        answers, member = answer_sets(v, s.classes)
        k, n = len(classes), answers.num_rows
        unit = pc.binary_join_element_wise(pc.take(answers["item_id"], pa.array(np.repeat(np.arange(n), k))),
                                           pa.array(np.tile(np.asarray(classes, dtype=object), n).tolist(), _STR),
                                           "\x1f")
        binary = pa.table({"item_id": unit,
                           "source_id": pc.take(answers["source_id"], pa.array(np.repeat(np.arange(n), k))),
                           "label": pa.array(np.where(member.ravel(), "present", "absent").tolist(), _STR)})
        per_label = []
        for c, name in enumerate(classes):
            sub = binary.take(pa.array(np.arange(n) * k + c))
            per_label.append({"label": name, **{kk: vv for kk, vv in krippendorff_alpha(
                sub, ["absent", "present"], n_boot=0).items() if kk in ("alpha", "n_items")}})
        return categorical_agreement(s, binary, ["absent", "present"], over, per_label)

    # -- reports ----------------------------------------------------------------------------------------
    def summary_lines(self, agreement: Mapping) -> list[str]:
        """Per-label alpha of a multi-label project (each label's present/absent question); a single-label
        project's one alpha is the shared summary's already."""
        rows = agreement.get("per_label") or []
        if not self.multi or not rows:
            return []
        return ["Per label alpha: " + ", ".join(
            f"{r['label']} {'-' if r.get('alpha') is None else format(r['alpha'], '.3f')}" for r in rows)]

    def conflict_posterior(self, answers: pa.Table, consensus: pa.Table, labels) -> pa.Array:
        """P(class), or P(label present) for a set, from the votes and the reliabilities shown (`choice_posterior`)."""
        return choice_posterior(answers, consensus, labels, self.multi)


SINGLE = _ChoicesConsensus(multi=False)
MULTI = _ChoicesConsensus(multi=True)
