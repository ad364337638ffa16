"""Spans: the consensus facet (see tasks/kinds/protocol.py, consolidation).

The stage reads each vote's `answer` JSON as text; `run` parses it into `SPANS_TYPE`, scores every
source on the accepted answers (gold, adjudications: strict span precision, recall and F1 with Wilson
intervals), bans as classification does (on the F1 interval), consolidates the rest with the span-level
Dawid–Skene of `consolidate` (accepted answers pin their items while it learns), and hands back the rows
the stage writes. The resolved / needs-more / adjudicate rule is the shared one
(`tasks.consensus.pipeline.labels_table`), fed with the item's confidence and its human answers, so
adaptive overlap works exactly as for classification. Agreement between annotators is pairwise span F1
(strict and overlap; per pair and per type) and token-level Krippendorff's alpha on BIO tags
(`agreement`); see docs/spans-consolidation.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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
from tasks.consensus.scoring import reference_answers
from tasks.kinds.agreement_sample import json_safe, measure, sample_note, stable_sample
from tasks.kinds.part_posterior import part_posterior

from .agreement import krippendorff_alpha_bio, pairwise_span_f1
from .consolidate import (
    SpanConsensusSettings,
    SpanConsolidation,
    consolidate_spans,
    gold_span_scores,
)
from .options import SpanOptions
from .storage import SPANS_TYPE

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "METHOD", "parse_answers"]

_STR = pa.string()
METHOD = "span_dawid_skene"
"""The labels' `method` for consolidated spans (gold and adjudicated answers keep "gold" / "adjudicated")."""
AGREEMENT_ITEMS = 20_000
"""Agreement is a report, not a decision: pairwise span F1 is measured on at most this many items (a sample
fixed by the items' ids, the same on every run), so its cost stops growing with the project."""
ALPHA_ITEMS = 5_000
"""Token-level alpha tokenises each answer's text (a per-answer loop): it is measured on the first this many
items of the same sample."""
_LOWEST_PAIRS = 10
_DUCK_SPANS = 'STRUCT(start INTEGER, "end" INTEGER, label VARCHAR)[]'
_SPANS_JSON = '[{"start": "INTEGER", "end": "INTEGER", "label": "VARCHAR"}]'


def parse_answers(table: pa.Table, column: str = "answer") -> pa.Table:
    """`table` with its JSON `column` (text, null = abstain) parsed into `SPANS_TYPE` and ids as plain strings.

    Stored answers were validated when they came in (collect, gold ingest), so this is a plain parse in
    DuckDB, vectorised; a value that still does not parse stops the run with its item and source named.
    """
    plain = pa.table({c: table[c].combine_chunks().cast(_STR) for c in table.column_names})
    parse = f"list_sort(from_json({column}, '{_SPANS_JSON}')::{_DUCK_SPANS})"
    # from_json turns what does not fit the span shape (an object, a span without its end...) into nulls.
    unfit = (f"CASE WHEN {column} IS NULL THEN false WHEN NOT json_valid({column}) THEN true"
             f" WHEN json_type({column}::JSON) <> 'ARRAY' THEN true"
             f" WHEN len(list_filter({column}::JSON[], lambda e: json_type(e) <> 'OBJECT')) > 0 THEN true"
             f" ELSE len(list_filter({parse}, lambda s: s.start IS NULL OR s.\"end\" IS NULL OR s.label IS NULL)) > 0 END")
    with duckdb.connect() as con:
        con.register("_t", plain)
        bad = con.sql(f"SELECT * FROM _t WHERE {unfit} LIMIT 1").fetchall()
        if not bad:
            parsed = con.sql(f"SELECT * REPLACE ({parse} AS {column}) FROM _t").to_arrow_table()
        else:
            where = dict(zip(plain.column_names, bad[0]))
            raise ConsensusError(
                f"item {where.get('item_id')!r}, source {where.get('source_id', 'gold')!r}: answer "
                f"{str(where.get(column))[:80]!r} is not a list of spans "
                '[{"start": <int>, "end": <int>, "label": "<type>"}, ...]')
    return parsed.set_column(parsed.schema.get_field_index(column), column,
                             parsed[column].combine_chunks().cast(SPANS_TYPE))




class _SpanConsensus:
    input_column = "answer"
    methods = (METHOD,)
    answer_sql = "answer::VARCHAR"
    answered_sql = "answer IS NOT NULL"
    label_values_sql = "coalesce(json_extract_string(answer, '$[*].label'), [])"
    wants_payloads = True

    def wants_prelabels(self, settings: ConsensusSettings) -> bool:
        # Machine span votes (LFs, models) are votes of their sources, learned like any annotator's.
        return False

    # -- settings ------------------------------------------------------------------------------------
    def settings(self, cfg: ProjectConfig) -> SpanConsensusSettings:
        """The project's consolidation settings (the same numbers the stage passes to `run`)."""
        from tasks.consensus.stage import settings_from_config

        return self._span_settings(settings_from_config(cfg))

    @staticmethod
    def _span_settings(s: ConsensusSettings) -> SpanConsensusSettings:
        """Entity types, the resolution rule (consensus.target_confidence, overlap.initial as the minimum,
        overlap.max), the ban rule (gold.ban_below on the F1 upper bound, gold.min_answers_for_ban) and
        the `[answer]` overlap switch."""
        opts = SpanOptions.model_validate(dict(s.answer))
        return SpanConsensusSettings(
            labels=tuple(s.classes), target_confidence=s.target_confidence, max_overlap=s.max_overlap,
            min_votes=min(s.min_votes, s.max_overlap), allow_overlap=opts.allow_overlap, ban_below=s.ban_below,
            min_answers_for_ban=s.min_answers_for_ban, max_iter=min(s.max_iter, 100))

    def consolidate(self, votes: pa.Table, gold: pa.Table | None, cfg: ProjectConfig,
                    items: pa.Table | None = None) -> SpanConsolidation:
        """Votes (item_id, source_id, source_kind, answer: SPANS_TYPE) and gold -> `SpanConsolidation`."""
        return consolidate_spans(votes, self.settings(cfg), gold, texts=items)

    def agreement(self, votes: pa.Table, items: pa.Table, cfg: ProjectConfig) -> dict:
        """Pairwise span F1 (per pair and type) and token-level alpha among the human votes."""
        opts: SpanOptions = cfg.answer_options
        human = votes.filter(pc.equal(votes["source_kind"], "human")) if "source_kind" in votes.column_names else votes
        return {"pairs": pairwise_span_f1(human, cfg.labels),
                "alpha": krippendorff_alpha_bio(human, items, cfg.labels, opts.tokenizer)}

    # -- the stage's run -----------------------------------------------------------------------------
    def run(self, inputs: ConsensusInputs, s: ConsensusSettings, warm: Mapping) -> ConsensusOutcome:
        st = self._span_settings(s)
        labels = tuple(s.classes)
        votes = parse_answers(inputs.votes.select(["item_id", "source_id", "source_kind", "answer"]))
        ref = parse_answers(reference_answers(inputs, "answer"))
        scoring = parse_answers(inputs.scoring_votes.select(["item_id", "source_id", "source_kind", "answer"]))
        try:
            scores = gold_span_scores(scoring.filter(pc.is_valid(scoring["answer"])), ref, labels)
        except ValueError as e:
            raise ConsensusError(str(e)) from None
        n_gold = scores["n_gold"].to_numpy(zero_copy_only=False)
        high = pc.fill_null(scores["f1_high"], 1.0).to_numpy(zero_copy_only=False)
        banned_now = (n_gold >= s.min_answers_for_ban) & (high < s.ban_below)
        already = set(inputs.banned)
        fresh = [x for x, b in zip(scores["source_id"].to_pylist(), banned_now) if b and x not in already]
        excluded = already | set(fresh)
        if excluded:
            votes = votes.filter(pc.invert(pc.is_in(votes["source_id"], value_set=pa.array(sorted(excluded), _STR))))
        answered = votes.filter(pc.is_valid(votes["answer"]))
        texts = inputs.payloads
        fit: dict[str, Any] = {"method": METHOD, "n_iter": None, "converged": None, "objective": None,
                               "warm_start": False}
        if answered.num_rows:
            try:
                result = consolidate_spans(answered, st, ref if ref.num_rows else None, texts=texts)
            except ValueError as e:
                raise ConsensusError(str(e)) from None
            fit.update(n_iter=result.iterations, converged=result.iterations < st.max_iter)
            table, hit, hit_src = self._labels(s, result, answered, ref, inputs.adjudications)
            learned = self._learned(result.sources)
        else:
            table = labels_table(s, "answer", pa.array([], _STR), pa.array([], _STR), np.zeros(0), np.zeros(0, object),
                                 np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                                 pa.array([], pa.list_(_STR)))
            hit, hit_src, learned = np.zeros(0), pa.array([], _STR), {}
        stats = self._source_stats(inputs, answered, scoring, scores, learned,
                                   agreement_by_source(hit_src, hit) if len(hit) else {}, excluded)
        return ConsensusOutcome(table, stats, self._ban_rows(s, scores, fresh),
                                self._agreement(s, answered, texts), {}, fit)

    def _labels(self, s: ConsensusSettings, result: SpanConsolidation, answered: pa.Table, ref: pa.Table,
                adjudications: pa.Table) -> tuple[pa.Table, np.ndarray, pa.Array]:
        """The labels rows, and per answer whether it equals its item's final answer (with its source)."""
        items = result.items
        ids = items["item_id"].combine_chunks().cast(_STR)
        n_items = len(ids)
        spans = items["spans"].combine_chunks()
        conf = items["confidence"].to_numpy(zero_copy_only=False).copy()
        method = np.full(n_items, METHOD, dtype=object)
        is_ref = np.zeros(n_items, bool)
        if ref.num_rows:  # accepted answers stand, whatever the evidence
            pos = pc.index_in(ids, value_set=ref["item_id"].combine_chunks())
            is_ref = pc.is_valid(pos).to_numpy(zero_copy_only=False)
            idx = np.where(is_ref, n_items + pc.fill_null(pos, 0).to_numpy(zero_copy_only=False), np.arange(n_items))
            spans = pc.take(pa.concat_arrays([spans, ref["answer"].combine_chunks().cast(SPANS_TYPE)]), pa.array(idx))
            method[is_ref] = "gold"
            adj = pc.is_in(ids, value_set=adjudications["item_id"].combine_chunks().cast(_STR)).to_numpy(
                zero_copy_only=False)
            method[adj] = "adjudicated"
            conf[is_ref] = 1.0
        human = pc.equal(answered["source_kind"], "human").to_numpy(zero_copy_only=False)
        pos, n, n_h, sources = per_item_votes(ids, answered["item_id"], answered["source_id"], human)
        hit = _equal_answers(answered["answer"].combine_chunks(), pos, spans)
        hits = np.bincount(pos, weights=hit.astype(np.float64), minlength=n_items)
        span_conf = items["span_confidence"].combine_chunks()
        if is_ref.any():  # an accepted span is certain; its source is the reference itself
            ones = pa.ListArray.from_arrays(
                pa.array(np.concatenate([[0], np.cumsum(pc.list_value_length(ref["answer"]).to_numpy(zero_copy_only=False))]),
                         pa.int32()),
                pa.array(np.ones(int(pc.sum(pc.list_value_length(ref["answer"])).as_py() or 0))), type=span_conf.type)
            span_conf = pc.take(pa.concat_arrays([span_conf, ones]), pa.array(idx))
        answers = _answers_with_lineage(spans, span_conf, answered, pos, method)
        table = labels_table(s, "answer", ids, answers, conf, method, is_ref, n, n_h, hits, sources)
        return table, hit.astype(np.float64), answered["source_id"].combine_chunks()

    @staticmethod
    def _learned(sources: pa.Table) -> dict[str, float]:
        """Learned accuracy of a span source: the F1 of its learned precision and recall."""
        p = pc.fill_null(sources["precision"], np.nan).to_numpy(zero_copy_only=False)
        r = pc.fill_null(sources["recall"], np.nan).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
        return {k: float(v) for k, v in zip(sources["source_id"].to_pylist(), f) if not np.isnan(v)}

    @staticmethod
    def _source_stats(inputs: ConsensusInputs, answered: pa.Table, scoring: pa.Table, scores: pa.Table,
                      learned: dict[str, float], agree: dict[str, float], banned: set[str]) -> pa.Table:
        """One row per source: gold F1 (with its interval) where `gold_accuracy` sits, gold items answered
        exactly right as `gold_correct`; precision, recall and their intervals in `confusion` JSON."""
        both = pa.concat_tables([answered.select(["source_id", "source_kind"]),
                                 scoring.select(["source_id", "source_kind"]).cast(
                                     answered.select(["source_id", "source_kind"]).schema)])
        per = both.group_by(["source_id", "source_kind"], use_threads=False).aggregate([])
        nv = answered.group_by("source_id").aggregate([("item_id", "count_distinct")])
        nv_map = {**dict(zip(nv["source_id"].to_pylist(), nv["item_id_count_distinct"].to_pylist())),
                  **(inputs.vote_counts or {})}
        shaped = pa.table({"source_id": scores["source_id"], "n_gold": scores["n_gold"], "correct": scores["exact"],
                           "low": scores["f1_low"], "high": scores["f1_high"], "accuracy": scores["f1"]})
        detail: dict[str, dict] = {}
        for r in scores.to_pylist():
            if r["n_gold"]:
                detail[r["source_id"]] = {"gold": {
                    "tp": r["tp"], "fp": r["fp"], "fn": r["fn"],
                    **{m: {"value": json_safe(r[m]), "low": json_safe(r[f"{m}_low"]), "high": json_safe(r[f"{m}_high"])}
                       for m in ("precision", "recall", "f1")}}}
        return source_stats_table(per, nv_map, shaped, learned, detail, agree, banned)

    @staticmethod
    def _ban_rows(s: ConsensusSettings, scores: pa.Table, fresh: list[str]) -> pa.Table:
        rows = [r for r in scores.to_pylist() if r["source_id"] in set(fresh)]
        return pa.table({"source_id": pa.array([r["source_id"] for r in rows], _STR),
                         "evidence": pa.array([json.dumps({
                             "n_gold": r["n_gold"], "tp": r["tp"], "fp": r["fp"], "fn": r["fn"],
                             "precision": json_safe(r["precision"]), "recall": json_safe(r["recall"]),
                             "f1": json_safe(r["f1"]), "low": round(r["f1_low"], 6), "high": round(r["f1_high"], 6),
                             "threshold": s.ban_below, "min_answers": s.min_answers_for_ban,
                             "rule": "Wilson 95% upper bound of gold span F1 below threshold"}) for r in rows], _STR)})

    def _agreement(self, s: ConsensusSettings, answered: pa.Table, texts: pa.Table | None) -> dict:
        """Among human annotators when there are any, else every source: pairwise span F1 and BIO alpha."""
        human = answered.filter(pc.equal(answered["source_kind"], "human"))
        over = "human" if human.num_rows else "all"
        v = human if human.num_rows else answered
        out: dict[str, Any] = {"over": over, "n_votes": v.num_rows, "alpha": None, "low": None, "high": None,
                               "fleiss": None, "per_label": [], "pairs": {"n_pairs": 0}, "n_items": 0}
        if not v.num_rows:
            out["span_f1"] = None
            return out
        items = pc.unique(v["item_id"].combine_chunks().cast(_STR))
        sample = stable_sample(items, AGREEMENT_ITEMS)
        if len(sample) < len(items):
            v = v.filter(pc.is_in(v["item_id"], value_set=sample))
        out["span_f1"] = {**_span_f1_summary(pairwise_span_f1(v, s.classes)), "n_items": len(sample),
                          "of_items": len(items)}
        if texts is not None and texts.num_rows:
            shown = sample[:ALPHA_ITEMS]
            sub = v.filter(pc.is_in(v["item_id"], value_set=shown)) if len(shown) < len(sample) else v
            opts = SpanOptions.model_validate(dict(s.answer))
            try:
                out["alpha"] = json_safe(krippendorff_alpha_bio(sub, texts, s.classes, opts.tokenizer))
            except ValueError:  # an item without a text: no token-level view of it
                out["alpha"] = None
            out.update(n_items=len(shown), alpha_on="BIO tags of each item's tokens"
                       + (f" (a fixed sample of {len(shown):,} of {len(items):,} items)" if len(shown) < len(items) else ""))
        return out

    # -- reports -------------------------------------------------------------------------------------
    def conflict_posterior(self, answers: pa.Table, consensus: pa.Table, labels) -> pa.Array:
        """Each consolidated part with its stored confidence and sources (`part_posterior`)."""
        return part_posterior(consensus, ("start", "end", "label"))

    def summary_lines(self, agreement: Mapping) -> list[str]:
        """Pairwise span F1 (over all, per type, the least agreeing pairs) and what alpha was measured on."""
        f1 = agreement.get("span_f1") or {}
        if not f1:
            return []
        lines = [f"Span F1 between annotators ({f1.get('n_pairs', 0)} pairs): strict {measure(f1.get('strict'))}, "
                 f"overlap {measure(f1.get('overlap'))}"
                 + sample_note(f1)]
        if f1.get("by_type"):
            lines.append("Per type span F1 (strict/overlap): " + ", ".join(
                f"{r['label']} {measure(r.get('strict'))}/{measure(r.get('overlap'))}" for r in f1["by_type"]))
        if f1.get("lowest_pairs"):
            lines.append("Least agreeing pairs (strict/overlap): " + ", ".join(
                f"{r['source_a']}~{r['source_b']} {measure(r.get('strict'))}/{measure(r.get('overlap'))} ({r['n_items']} items)"
                for r in f1["lowest_pairs"][:5]))
        if agreement.get("alpha_on"):
            lines.append(f"Alpha is token-level, on {agreement['alpha_on']}.")
        return lines


def _equal_answers(answers: pa.Array, pos: np.ndarray, final: pa.Array) -> np.ndarray:
    """Per answer: whether its span set equals the final span set of its item (`pos` = the item's row)."""
    a_len = pc.list_value_length(answers).to_numpy(zero_copy_only=False)
    f_len = pc.list_value_length(final).to_numpy(zero_copy_only=False)
    flat_a, flat_f = pc.list_flatten(answers), pc.list_flatten(final)
    a_parent = pc.list_parent_indices(answers).to_numpy(zero_copy_only=False)
    f_parent = pc.list_parent_indices(final).to_numpy(zero_copy_only=False)
    said = pa.table({"item": pos[a_parent], "start": flat_a.field("start"), "end": flat_a.field("end"),
                     "label": flat_a.field("label"), "row": a_parent})
    kept = pa.table({"item": f_parent.astype(np.int64), "start": flat_f.field("start"), "end": flat_f.field("end"),
                     "label": flat_f.field("label")})
    hit = said.join(kept, ["item", "start", "end", "label"], join_type="inner")["row"].to_numpy()
    n_hit = np.bincount(hit, minlength=len(a_len))
    return (n_hit == a_len) & (a_len == f_len[pos])


SPAN_CONFIDENCE_DIGITS = 3
"""Span confidences are stored rounded: a re-run that moves one by less than this does not rewrite the label."""


def _answers_with_lineage(final: pa.Array, span_conf: pa.Array, answered: pa.Table, pos: np.ndarray,
                          method: np.ndarray) -> pa.Array:
    """Each item's final spans as JSON with, per span, its `confidence` and its `sources`.

    `sources` are the sources whose vote held exactly that span (start, end and type), sorted; a
    consolidated span nobody proposed exactly has `[]`. An accepted answer (gold, adjudicated) is its
    own lineage: confidence 1 and sources `["gold"]` / `["adjudicator"]` (the stage hands the facet the
    accepted answers, not who gave them). One DuckDB query over the flattened spans, no per-row loop;
    `final` and `span_conf` are aligned lists, a null answer stays null."""
    votes = answered["answer"].combine_chunks()
    flat_v = pc.list_flatten(votes)
    v_parent = pc.list_parent_indices(votes).to_numpy(zero_copy_only=False)
    said = pa.table({"item": pos[v_parent], "start": flat_v.field("start"), "end": flat_v.field("end"),
                     "label": flat_v.field("label"),
                     "source_id": pc.take(answered["source_id"].combine_chunks().cast(_STR), pa.array(v_parent))})
    flat_f = pc.list_flatten(final)
    f_parent = pc.list_parent_indices(final).to_numpy(zero_copy_only=False).astype(np.int64)
    ref_source = np.where(method == "gold", "gold", np.where(method == "adjudicated", "adjudicator", None))
    kept = pa.table({"item": f_parent, "start": flat_f.field("start"), "end": flat_f.field("end"),
                     "label": flat_f.field("label"), "confidence": pc.list_flatten(span_conf),
                     "ref": pa.array(ref_source[f_parent] if len(f_parent) else [], _STR)})
    rows = pa.table({"item": np.arange(len(final), dtype=np.int64), "present": pc.is_valid(final)})
    digits = SPAN_CONFIDENCE_DIGITS
    with duckdb.connect() as con:
        con.register("_said", said)
        con.register("_kept", kept)
        con.register("_rows", rows)
        return con.sql(f"""
            WITH proposed AS (
                SELECT item, start, "end", label, list(source_id ORDER BY source_id) AS sources
                FROM _said SEMI JOIN _kept USING (item, start, "end", label) GROUP BY ALL),
            spans AS (
                SELECT k.item, {{'start': k.start, 'end': k."end", 'label': k.label,
                        'confidence': round(k.confidence, {digits}),
                        'sources': CASE WHEN k.ref IS NOT NULL THEN [k.ref] ELSE coalesce(p.sources, []) END}} AS s
                FROM _kept k LEFT JOIN proposed p USING (item, start, "end", label))
            SELECT CASE WHEN r.present THEN to_json(coalesce(list(s.s ORDER BY s.s.start, s.s."end", s.s.label)
                                                             FILTER (WHERE s.s IS NOT NULL), []))::VARCHAR END AS a
            FROM _rows r LEFT JOIN spans s USING (item) GROUP BY r.item, r.present ORDER BY r.item
        """).to_arrow_table()["a"].combine_chunks()


def _span_f1_summary(pairs: pa.Table) -> dict:
    """Pairwise F1 rows -> over all pairs, per type, and the least agreeing pairs.

    Pooled over pairs by spans marked (n_a + n_b): the strict figure is then the pooled strict F1
    (2·matched / spans marked); the overlap figure is the same weighting of the pairs' overlap F1.
    """
    def pooled(t: pa.Table) -> dict:
        w = (pc.fill_null(t["n_a"], 0).to_numpy(zero_copy_only=False)
             + pc.fill_null(t["n_b"], 0).to_numpy(zero_copy_only=False)).astype(float)
        out = {"n_spans": int(w.sum())}
        for name in ("strict", "overlap"):
            x = pc.fill_null(t[f"{name}_f1"], np.nan).to_numpy(zero_copy_only=False)
            ok = ~np.isnan(x) & (w > 0)
            out[name] = round(float((x[ok] * w[ok]).sum() / w[ok].sum()), 6) if ok.any() else None
        return out

    whole = pairs.filter(pc.is_null(pairs["label"]))
    typed = pairs.filter(pc.is_valid(pairs["label"]))
    by_type = []
    for lab in sorted(set(typed["label"].to_pylist())):
        by_type.append({"label": lab, **pooled(typed.filter(pc.equal(typed["label"], lab)))})
    rows = whole.to_pylist()
    rows.sort(key=lambda r: (r["strict_f1"] if r["strict_f1"] is not None else 2.0, r["source_a"], r["source_b"]))
    lowest = [{"source_a": r["source_a"], "source_b": r["source_b"], "n_items": r["n_items"],
               "strict": json_safe(r["strict_f1"]), "overlap": json_safe(r["overlap_f1"])} for r in rows[:_LOWEST_PAIRS]]
    return {"n_pairs": whole.num_rows, **pooled(whole), "by_type": by_type, "lowest_pairs": lowest}


FACET = _SpanConsensus()
