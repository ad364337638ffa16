"""The consensus facet of a kind whose answer is a set of labelled regions (boxes, time segments).

The stage reads each vote's `answer` JSON as text; `run` flattens every answer into one row per region
(the kind's `flatten`, regions as corners), scores every source on the accepted answers (gold,
adjudications: precision and recall at IoU >= `match_iou` with Wilson intervals, localisation error;
bans on the F1 interval through the shared rule), consolidates the rest (`fusion.fuse_regions`: clusters
across sources, a Dawid–Skene model of "is this cluster an object, of which class" with each source's
recall, false-positive profile and class confusion, and edges weighted by each source's learned
localisation precision), and hands back the rows the stage writes. Each consolidated region carries its
`confidence` and the `sources` that drew it as extra keys of the answer JSON (the kind's `write_answers`);
the item's confidence is the probability that its whole region set is right, which drives the shared
resolved / needs-more / adjudicate rule.

A kind subclasses `RegionConsensus` with its method name, the word for one region in messages, how its
JSON becomes flat regions and back, and its options model (which has `match_iou`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.errors import ConsensusError
from tasks.consensus.pipeline import (
    ConsensusInputs,
    ConsensusOutcome,
    ConsensusSettings,
    labels_table,
    per_item_votes,
)
from tasks.consensus.report import agreement_by_source, source_stats_table
from tasks.consensus.scoring import reference_answers, score_table
from tasks.kinds.agreement_sample import json_safe, measure, sample_note, stable_sample
from tasks.kinds.part_posterior import part_posterior

from .agreement import pairwise_agreement
from .fusion import FusionSettings, RegionFusion, fuse_regions
from .scores import score_answers, source_scores

__all__ = ["AGREEMENT_ITEMS", "FlatRegions", "RegionConsensus"]

_STR = pa.string()
AGREEMENT_ITEMS = 5_000
"""Agreement is a report, not a decision: it is measured on at most this many items (a sample fixed by the
items' ids, the same on every run), so its cost stops growing with the project."""
_ANSWER_COLUMNS = ["item_id", "source_id", "source_kind", "answer"]



def _codes(values: pa.Array, dictionary: pa.Array) -> np.ndarray:
    return pc.index_in(values, value_set=dictionary).to_numpy(zero_copy_only=False).astype(np.int64)


class FlatRegions(Protocol):
    """Answers and their regions as a kind's `flatten` gives them: one row per region pointing at its answer."""

    answers: pa.Table
    row: np.ndarray
    corners: np.ndarray
    label: pa.Array


def _label_codes(flat: FlatRegions, classes: tuple[str, ...], who: str, part: str) -> np.ndarray:
    """Label codes of the regions; a label outside the project's stops the run naming item and source."""
    code = pc.index_in(flat.label, value_set=pa.array(list(classes), _STR))
    bad = pc.is_null(code).to_numpy(zero_copy_only=False)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        r = flat.answers.slice(int(flat.row[k]), 1).to_pylist()[0]
        raise ConsensusError(f"item {r.get('item_id')!r}, {who} {r.get('source_id', 'gold')!r}: {part} label "
                             f"{flat.label[k].as_py()!r} is not one of the project's labels {list(classes)}")
    return code.to_numpy(zero_copy_only=False).astype(np.int64)



class RegionConsensus:
    """The shared facet; a kind's subclass fills the class attributes and the three hooks below."""

    method: str
    """The labels' `method` for consolidated answers (gold and adjudicated ones keep "gold" / "adjudicated")."""
    part: str
    """One region in messages and summaries ("box", "segment")."""
    agreement_key: str
    """The key of the pairwise F1 in the stored agreement ("box_f1", "segment_f1")."""
    part_keys: tuple[str, ...]
    """The fields of a part of the answer that say what it is (the conflict view shows them with its confidence)."""
    relative_error = True
    """Whether a source's edge error is measured as a share of the region's size (`FusionSettings.relative_error`)."""
    input_column = "answer"
    answer_sql = "answer::VARCHAR"
    answered_sql = "answer IS NOT NULL"
    label_values_sql = "coalesce(json_extract_string(answer, '$[*].label'), [])"
    wants_payloads = False

    @property
    def methods(self) -> tuple[str, ...]:
        return (self.method,)

    # -- the kind's hooks ----------------------------------------------------------------------------
    def options(self, answer: Mapping[str, Any]) -> Any:
        """The kind's `[answer]` options (a model with `match_iou`)."""
        raise NotImplementedError

    def cluster_iou(self, opts: Any) -> float:
        """The IoU at which a region joins a cluster (gold scoring and agreement keep `match_iou`)."""
        return opts.match_iou

    def flatten(self, table: pa.Table) -> FlatRegions:
        """Answers (ids plus the JSON `answer`, no nulls) as flat regions; raises `ConsensusError` naming a bad one."""
        raise NotImplementedError

    def write_answers(self, n_items: int, row: np.ndarray, corners: np.ndarray, label: pa.Array,
                      confidence: np.ndarray, expected_iou: np.ndarray, sources: pa.Array,
                      fused_from: tuple[FlatRegions, np.ndarray], accepted: tuple[FlatRegions, np.ndarray]) -> pa.Array:
        """One JSON answer per item from the final regions (`row` = their item). `fused_from` = (the votes'
        flat regions, per final region the index of a member it was fused from, -1 for none); `accepted` =
        (the accepted answers' flat regions, per final region its index there, -1 for a fused one): a kind
        whose regions carry more than corners and a label (a segment's text) takes it from there."""
        raise NotImplementedError

    def wants_prelabels(self, settings: ConsensusSettings) -> bool:
        # Detector votes are votes of their sources (model rows of `votes`), learned like any annotator's.
        return False

    def run(self, inputs: ConsensusInputs, s: ConsensusSettings, warm: Mapping) -> ConsensusOutcome:
        opts = self.options(dict(s.answer))
        classes = tuple(s.classes)
        votes = inputs.votes.select(_ANSWER_COLUMNS)
        votes = votes.filter(pc.is_valid(votes["answer"]))
        scoring = inputs.scoring_votes.select(_ANSWER_COLUMNS)
        scoring = scoring.filter(pc.is_valid(scoring["answer"]))
        accepted = reference_answers(inputs, "answer")
        ref = self.flatten(accepted.filter(pc.is_valid(accepted["answer"])))
        ref_label = _label_codes(ref, classes, "source", self.part)
        ref_ids = ref.answers["item_id"]

        # Gold scores (banned sources too) and this run's bans.
        sv = self.flatten(scoring.filter(pc.is_in(scoring["item_id"], value_set=ref_ids)))
        sv_label = _label_codes(sv, classes, "source", self.part)
        sc = score_answers(_codes(sv.answers["item_id"], ref_ids), sv.row, sv.corners, sv_label,
                           ref.row, ref.corners, ref_label, len(ref_ids), opts.match_iou)
        scores = source_scores(sv.answers["source_id"], sc)
        rule = score_table(s, sv.answers["source_id"].combine_chunks(), sc.tp + (sc.n_boxes - sc.tp + sc.n_ref - sc.tp) / 2, sc.tp) \
            if sv.answers.num_rows else None
        banned_rule = {r["source_id"]: r["banned"] for r in rule.to_pylist()} if rule is not None else {}
        already = set(inputs.banned)
        fresh = sorted(x for x, b in banned_rule.items() if b and x not in already)
        excluded = already | set(fresh)
        if excluded:
            votes = votes.filter(pc.invert(pc.is_in(votes["source_id"], value_set=pa.array(sorted(excluded), _STR))))

        fv = self.flatten(votes)
        fit: dict[str, Any] = {"method": self.method, "n_iter": None, "converged": None, "objective": None,
                               "warm_start": False}
        learned: dict[str, float] = {}
        learned_detail: dict[str, dict] = {}
        if fv.answers.num_rows:
            table, hit, fusion, src_ids = self._consolidate(s, opts, classes, fv, ref, ref_label, inputs.adjudications)
            fit.update(n_iter=fusion.iterations, converged=fusion.converged)
            learned, learned_detail = self._learned(src_ids, fusion)
            agree = agreement_by_source(fv.answers["source_id"].combine_chunks(), hit)
        else:
            table = labels_table(s, "answer", pa.array([], _STR), pa.array([], _STR), np.zeros(0), np.zeros(0, object),
                                 np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                                 pa.array([], pa.list_(_STR)))
            agree = {}
        stats = self._source_stats(inputs, fv.answers, sv.answers, scores, learned, learned_detail, agree, excluded)
        return ConsensusOutcome(table, stats, self._ban_rows(s, scores, fresh),
                                self._agreement(fv, classes, opts), {}, fit)

    # -- consolidation -------------------------------------------------------------------------------
    def _consolidate(self, s: ConsensusSettings, opts: Any, classes, fv: FlatRegions, ref: FlatRegions,
                     ref_label: np.ndarray, adjudications: pa.Table):
        ans = fv.answers
        ids = pc.unique(ans["item_id"]).sort()
        src_ids = pc.unique(ans["source_id"]).sort()
        n_items = len(ids)
        ans_item = _codes(ans["item_id"], ids)
        ans_src = _codes(ans["source_id"], src_ids)
        label = _label_codes(fv, classes, "source", self.part)
        # Accepted answers of voted items pin those items while the sources are learned.
        r_item_of_answer = pc.fill_null(pc.index_in(ref.answers["item_id"], value_set=ids), -1) \
            .to_numpy(zero_copy_only=False).astype(np.int64)
        r_ok = r_item_of_answer >= 0
        is_ref = np.zeros(n_items, bool)
        is_ref[r_item_of_answer[r_ok]] = True
        rb = r_ok[ref.row] if len(ref.row) else np.zeros(0, bool)
        fusion = fuse_regions(n_items, ans_item, ans_src, len(src_ids), fv.row, fv.corners, label,
                              FusionSettings(n_classes=len(classes), match_iou=self.cluster_iou(opts), max_iter=min(s.max_iter, 100),
                                             relative_error=self.relative_error),
                              r_item_of_answer[ref.row[rb]], ref.corners[rb], ref_label[rb], is_ref)
        keep = np.flatnonzero(fusion.keep)
        method = np.full(n_items, self.method, dtype=object)
        conf = fusion.item_confidence.copy()
        adj = pc.is_in(ids, value_set=adjudications["item_id"].combine_chunks().cast(_STR)).to_numpy(zero_copy_only=False)
        method[is_ref] = "gold"
        method[is_ref & adj] = "adjudicated"
        conf[is_ref] = 1.0
        # Final boxes: kept clusters of consolidated items, the accepted boxes of accepted items.
        c_keep = keep[~is_ref[fusion.cluster_item[keep]]]
        drew = pa.table({"c": pa.array(fusion.box_cluster), "s": pc.take(src_ids, pa.array(ans_src[fv.row]))})
        with duckdb.connect() as con:
            con.register("_d", drew)
            by_c = con.sql("SELECT c, list(DISTINCT s ORDER BY s) AS s FROM _d GROUP BY c").to_arrow_table()
        c_sources = pc.take(by_c["s"].combine_chunks(), pc.index_in(pa.array(c_keep), value_set=by_c["c"].combine_chunks()))
        ref_src = np.where(adj, "adjudicator", "gold")[r_item_of_answer[ref.row[rb]]]
        r_sources = pa.array([[x] for x in ref_src.tolist()], pa.list_(_STR))
        row = np.concatenate([fusion.cluster_item[c_keep], r_item_of_answer[ref.row[rb]]])
        corners = np.concatenate([fusion.cluster_corners[c_keep], ref.corners[rb]])
        lab = np.concatenate([fusion.label[c_keep], ref_label[rb]])
        box_conf = np.concatenate([fusion.confidence[c_keep], np.ones(int(rb.sum()))])
        lab_names = pc.take(pa.array(list(classes), _STR), pa.array(lab, pa.int64()))
        box_iou = np.concatenate([fusion.expected_iou[c_keep], np.ones(int(rb.sum()))])
        # Where each final region came from: a member of a fused cluster, or a region of an accepted answer.
        member = np.concatenate([_representatives(fusion, c_keep, ans_src[fv.row], label),
                                 np.full(int(rb.sum()), -1, np.int64)])
        ref_member = np.concatenate([np.full(len(c_keep), -1, np.int64), np.flatnonzero(rb)])
        answers = self.write_answers(n_items, row, corners, lab_names, box_conf, box_iou,
                                     pa.concat_arrays([c_sources, r_sources]), (fv, member), (ref, ref_member))
        # Agreement per answer: whether it is the final answer (every box matched, none missing).
        final = score_answers(ans_item, fv.row, fv.corners, label, row, corners, lab, n_items, opts.match_iou)
        hit = final.exact.astype(np.float64)
        human = pc.equal(ans["source_kind"], "human").to_numpy(zero_copy_only=False)
        pos, n, n_h, sources = per_item_votes(ids, ans["item_id"], ans["source_id"], human)
        hits = np.bincount(pos, weights=hit, minlength=n_items)
        table = labels_table(s, "answer", ids, answers, conf, method, is_ref, n, n_h, hits, sources)
        return table, hit, fusion, src_ids

    @staticmethod
    def _learned(src_ids: pa.Array, f: RegionFusion) -> tuple[dict[str, float], dict[str, dict]]:
        """Learned accuracy of a region source: the F1 of its learned precision and recall; the parts besides."""
        learned, detail = {}, {}
        for k, src in enumerate(src_ids.to_pylist()):
            p, r = f.precision[k], f.recall[k]
            if not (np.isnan(p) or np.isnan(r)):
                learned[src] = float(2 * p * r / (p + r)) if p + r > 0 else 0.0
            elif not np.isnan(r):  # never drew a box: recall says it all
                learned[src] = 0.0
            detail[src] = {"precision": json_safe(round(float(p), 6)), "recall": json_safe(round(float(r), 6)),
                           "loc_error": json_safe(round(float(f.loc_error[k]), 6)),
                           "weight": round(float(f.weight[k]), 6)}
        return learned, detail

    @staticmethod
    def _source_stats(inputs: ConsensusInputs, answered: pa.Table, scoring: pa.Table, scores: pa.Table,
                      learned: dict[str, float], learned_detail: dict[str, dict], agree: dict[str, float],
                      banned: set[str]) -> pa.Table:
        """One row per source: gold F1 (with its interval) where `gold_accuracy` sits, gold items answered
        exactly right as `gold_correct`; gold precision, recall, localisation error and the learned ones
        in `confusion` JSON."""
        cols = ["source_id", "source_kind"]
        both = pa.concat_tables([answered.select(cols).cast(pa.schema([(c, _STR) for c in cols])),
                                 scoring.select(cols).cast(pa.schema([(c, _STR) for c in cols]))])
        per = both.group_by(cols, use_threads=False).aggregate([])
        nv = answered.group_by("source_id").aggregate([("item_id", "count_distinct")])
        nv_map = {**dict(zip(nv["source_id"].to_pylist(), nv["item_id_count_distinct"].to_pylist())),
                  **(inputs.vote_counts or {})}
        shaped = pa.table({"source_id": scores["source_id"], "n_gold": scores["n_gold"], "correct": scores["exact"],
                           "low": scores["f1_low"], "high": scores["f1_high"], "accuracy": scores["f1"]})
        detail: dict[str, dict] = {k: {"learned": v} for k, v in learned_detail.items()}
        for r in scores.to_pylist():
            if r["n_gold"]:
                detail.setdefault(r["source_id"], {})["gold"] = {
                    "tp": r["tp"], "fp": r["fp"], "fn": r["fn"], "loc_error": json_safe(r["loc_error"]),
                    **{m: {"value": json_safe(r[m]), "low": json_safe(r[f"{m}_low"]), "high": json_safe(r[f"{m}_high"])}
                       for m in ("precision", "recall", "f1")}}
        return source_stats_table(per, nv_map, shaped, learned, detail, agree, banned)

    def _ban_rows(self, s: ConsensusSettings, scores: pa.Table, fresh: list[str]) -> pa.Table:
        rows = [r for r in scores.to_pylist() if r["source_id"] in set(fresh)]
        return pa.table({"source_id": pa.array([r["source_id"] for r in rows], _STR),
                         "evidence": pa.array([json.dumps({
                             "n_gold": r["n_gold"], "tp": r["tp"], "fp": r["fp"], "fn": r["fn"],
                             "precision": json_safe(r["precision"]), "recall": json_safe(r["recall"]),
                             "f1": json_safe(r["f1"]), "loc_error": json_safe(r["loc_error"]),
                             "low": round(r["f1_low"], 6), "high": round(r["f1_high"], 6),
                             "threshold": s.ban_below, "min_answers": s.min_answers_for_ban,
                             "rule": f"Wilson 95% upper bound of gold {self.part} F1 (IoU-matched) below threshold"})
                             for r in rows], _STR)})

    def _agreement(self, fv: FlatRegions, classes: tuple[str, ...], opts: Any) -> dict:
        """Among human annotators when there are any, else every source: pairwise IoU-matched F1 and mean IoU."""
        ans = fv.answers
        human = pc.equal(ans["source_kind"], "human").to_numpy(zero_copy_only=False) if ans.num_rows else np.zeros(0, bool)
        over = "human" if human.any() else "all"
        use = human if human.any() else np.ones(ans.num_rows, bool)
        out: dict[str, Any] = {"over": over, "n_votes": int(use.sum()), "alpha": None, "low": None, "high": None,
                               "fleiss": None, "per_label": [], "pairs": {"n_pairs": 0}, self.agreement_key: None}
        if not use.any():
            return out
        items = pc.unique(ans["item_id"].filter(pa.array(use)))
        sample = stable_sample(items, AGREEMENT_ITEMS)
        use &= pc.is_in(ans["item_id"], value_set=sample).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(use)
        remap = np.full(ans.num_rows, -1, np.int64)
        remap[rows] = np.arange(len(rows))
        b = use[fv.row]
        sub = ans.take(pa.array(rows))
        src_ids = pc.unique(sub["source_id"]).sort()
        label = _label_codes(fv, classes, "source", self.part)
        f1 = pairwise_agreement(_codes(sub["item_id"], sample), _codes(sub["source_id"], src_ids),
                                src_ids.to_pylist(), remap[fv.row[b]], fv.corners[b], label[b], classes,
                                opts.match_iou)
        out[self.agreement_key] = {**f1, "n_items": len(sample), "of_items": len(items), "match_iou": opts.match_iou}
        out["per_label"] = [{"label": r["label"], "f1": r["f1"], "mean_iou": r["mean_iou"]} for r in f1["by_label"]]
        out["pairs"] = {"n_pairs": f1["n_pairs"], "lowest": f1["lowest_pairs"][:5]}
        return out

    # -- reports -------------------------------------------------------------------------------------
    def conflict_posterior(self, answers: pa.Table, consensus: pa.Table, labels: Any) -> pa.Array:
        """Each consolidated part with its stored confidence and sources (`part_posterior`)."""
        return part_posterior(consensus, self.part_keys)

    def summary_lines(self, agreement: Mapping) -> list[str]:
        """Pairwise IoU-matched F1 and mean IoU (over all, per label, the least agreeing pairs)."""
        f1 = agreement.get(self.agreement_key) or {}
        if not f1 or not f1.get("n_pairs"):
            return []
        lines = [f"{self.part.capitalize()} F1 between annotators ({f1['n_pairs']} pairs, IoU >= {f1.get('match_iou', 0.5):g}): "
                 f"{measure(f1.get('f1'))}, mean IoU of matched boxes {measure(f1.get('mean_iou'))}"
                 + sample_note(f1)]
        if f1.get("by_label"):
            lines.append(f"Per label {self.part} F1 / mean IoU: " + ", ".join(
                f"{r['label']} {measure(r.get('f1'))}/{measure(r.get('mean_iou'))}" for r in f1["by_label"]))
        if f1.get("lowest_pairs"):
            lines.append("Least agreeing pairs (F1/mean IoU): " + ", ".join(
                f"{r['source_a']}~{r['source_b']} {measure(r.get('f1'))}/{measure(r.get('mean_iou'))} ({r['n_items']} items)"
                for r in f1["lowest_pairs"][:5]))
        return lines



def _representatives(f: RegionFusion, clusters: np.ndarray, src_of_region: np.ndarray, region_label: np.ndarray) -> np.ndarray:
    """Per cluster of `clusters`: one member region of the cluster's final label, from the source with the
    highest learned weight (ties: the first region), or any member when none has that label."""
    n = len(f.box_cluster)
    pos = np.full(len(f.cluster_item), -1, np.int64)
    pos[clusters] = np.arange(len(clusters))
    k = pos[f.box_cluster]
    mine = k >= 0
    idx = np.flatnonzero(mine)
    same = np.zeros(n, bool)
    same[idx] = region_label[idx] == f.label[clusters][k[idx]]
    # Best first within each cluster: its label, then weight, then region order; the first row of a cluster wins.
    order = idx[np.lexsort((idx, -f.weight[src_of_region[idx]], ~same[idx], k[idx]))]
    out = np.full(len(clusters), -1, np.int64)
    first = np.ones(len(order), bool)
    first[1:] = k[order][1:] != k[order][:-1]
    out[k[order[first]]] = order[first]
    return out
