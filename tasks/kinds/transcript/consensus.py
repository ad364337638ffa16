"""Transcripts: the consensus facet (see tasks/kinds/protocol.py, consolidation).

The stage hands each vote's `answer` JSON as text. `run` reads the texts, normalises them by the project's
rule (normalise.py), scores every source against the accepted transcripts (gold, adjudications: WER with
jiwer and its interval, bans on word accuracy through the shared rule; wer.py), consolidates the rest with a
reliability-weighted ROVER (rover.py: alignment into a word transition network, EM over its positions) and
hands back the rows the stage writes. The consolidated answer is
`{"text": ..., "words": [{"word": ..., "confidence": ...}]}`: `words` are the normalised words voted in with
their posteriors, `text` is the best source's own typing of exactly those words (case and punctuation kept)
when one source typed them, else the normalised words. The clip's confidence is the probability that its
whole normalised transcript is right (vote.py), which drives the shared resolved / needs-more / adjudicate
rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.dawid_skene import DawidSkeneParams
from tasks.consensus.pipeline import (
    ConsensusInputs,
    ConsensusOutcome,
    ConsensusSettings,
    labels_table,
    per_item_votes,
)
from tasks.consensus.report import agreement_by_source, source_stats_table
from tasks.consensus.scoring import reference_answers, score_table
from tasks.kinds.agreement_sample import json_safe, sample_note, stable_sample

from .normalise import Normaliser, normaliser
from .options import TranscriptOptions
from .rover import rover
from .vote import Profiles
from .wer import edit_counts, pairwise_wer, wer_by_source

__all__ = ["AGREEMENT_ITEMS", "FACET", "METHOD", "answer_texts", "answers_json"]

_STR = pa.string()
METHOD = "rover"
"""The labels' `method` for consolidated transcripts (gold and adjudicated ones keep "gold" / "adjudicated")."""
AGREEMENT_ITEMS = 5_000
"""Pairwise WER is a report: measured on at most this many clips (a sample fixed by the ids, the same every run)."""
_PARAMS_KEY = "transcript_profiles"


def answer_texts(table: pa.Table) -> pa.Table:
    """`table` with `text`: the transcript's text read from its `answer` JSON (null when it has none)."""
    with duckdb.connect() as con:
        con.register("_t", table)
        return con.sql("SELECT * EXCLUDE (answer), answer::VARCHAR AS answer, CASE WHEN json_valid(answer::VARCHAR)"
                       " AND json_type(answer::VARCHAR::JSON, '$.text') = 'VARCHAR'"
                       " THEN answer::VARCHAR::JSON ->> '$.text' END AS text FROM _t").to_arrow_table()


def answers_json(text: pa.Array, words: pa.Array, word_confidence: pa.Array) -> pa.Array:
    """The consolidated answers' JSON: `{"text", "words": [{"word", "confidence"}]}` per clip."""
    with duckdb.connect() as con:
        con.register("_a", pa.table({"text": text, "w": words, "c": word_confidence}))
        return con.sql("SELECT to_json({'text': text, 'words': list_transform(list_zip(w, c),"
                       " lambda p: {'word': p[1], 'confidence': p[2]})})::VARCHAR AS j FROM _a") \
            .to_arrow_table()["j"].combine_chunks()


def _codes(values, dictionary: pa.Array) -> np.ndarray:
    v = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return pc.index_in(v.cast(_STR), value_set=dictionary).to_numpy(zero_copy_only=False).astype(np.int64)


def _warm_profiles(warm: Mapping[str, DawidSkeneParams], src_ids: pa.Array) -> Profiles | None:
    """The previous run's profiles for the sources it knew (the prior's mean for new ones)."""
    p = warm.get(_PARAMS_KEY)
    if p is None or p.confusions.shape[1:] != (4, 1):
        return None
    known = dict(zip(p.source_ids.cast(_STR).to_pylist(), p.confusions[:, :, 0]))
    start = Profiles.initial(len(src_ids))
    rows = np.stack([start.accuracy, start.delete, start.substitute, start.insert], axis=1)
    for k, sid in enumerate(src_ids.to_pylist()):
        if sid in known:
            rows[k] = known[sid]
    return Profiles(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], float(p.priors[0]))


def _params(src_ids: pa.Array, prof: Profiles) -> dict[str, DawidSkeneParams]:
    """The learned profiles as warm-start parameters (accuracy, delete, substitute, insert per source)."""
    conf = np.stack([prof.accuracy, prof.delete, prof.substitute, prof.insert], axis=1)[:, :, None]
    return {_PARAMS_KEY: DawidSkeneParams(src_ids.cast(_STR), conf, np.array([prof.word_prior]))}


class _TranscriptConsensus:
    input_column = "answer"
    methods = (METHOD,)
    answer_sql = "answer::VARCHAR"
    answered_sql = "answer IS NOT NULL"
    label_values_sql = "[]::VARCHAR[]"  # a transcript uses no label of the set
    wants_payloads = False

    def wants_prelabels(self, settings: ConsensusSettings) -> bool:
        return False  # a recogniser's draft is a vote of its source (a model row of `votes`), learned like a person's

    def run(self, inputs: ConsensusInputs, s: ConsensusSettings, warm: Mapping) -> ConsensusOutcome:
        opts = TranscriptOptions.model_validate(dict(s.answer))
        norm = normaliser(opts)
        cols = ["item_id", "source_id", "source_kind", "answer"]
        votes = answer_texts(inputs.votes.select(cols).cast(pa.schema([(c, _STR) for c in cols])))
        votes = votes.filter(pc.is_valid(votes["text"]))
        scoring = answer_texts(inputs.scoring_votes.select(cols).cast(pa.schema([(c, _STR) for c in cols])))
        scoring = scoring.filter(pc.is_valid(scoring["text"]))
        ref = answer_texts(reference_answers(inputs, "answer").cast(pa.schema([("item_id", _STR), ("answer", _STR)])))
        ref = ref.filter(pc.is_valid(ref["text"]))
        ref_norm = norm.normalise(ref["text"])

        # Gold scores (banned sources too) and this run's bans.
        sv = scoring.filter(pc.is_in(scoring["item_id"], value_set=ref["item_id"].combine_chunks()))
        pos = _codes(sv["item_id"], ref["item_id"].combine_chunks())
        counts = edit_counts(pc.take(ref_norm, pa.array(pos)).to_pylist(), norm.normalise(sv["text"]).to_pylist()) \
            if sv.num_rows else np.zeros((0, 4), np.int64)
        src = sv["source_id"].combine_chunks()
        wer = wer_by_source(src, counts)
        rule = score_table(s, src, counts.sum(axis=1).astype(float), counts[:, 0]) if sv.num_rows else None
        already = set(inputs.banned)
        fresh = sorted(r["source_id"] for r in (rule.to_pylist() if rule is not None else [])
                       if r["banned"] and r["source_id"] not in already)
        excluded = already | set(fresh)
        if excluded:
            votes = votes.filter(pc.invert(pc.is_in(votes["source_id"], value_set=pa.array(sorted(excluded), _STR))))

        fit: dict[str, Any] = {"method": METHOD, "n_iter": None, "converged": None, "objective": None, "warm_start": False}
        learned: dict[str, float] = {}
        detail: dict[str, dict] = {}
        params: dict[str, DawidSkeneParams] = {}
        if votes.num_rows:
            table, hit, result, src_ids, warmed = self._consolidate(s, norm, votes, ref, ref_norm, inputs.adjudications, warm)
            fit.update(n_iter=result.n_iter, converged=result.converged, warm_start=warmed)
            p = result.profiles
            for k, sid in enumerate(src_ids.to_pylist()):
                learned[sid] = float(p.accuracy[k])
                detail[sid] = {"learned": {"accuracy": round(float(p.accuracy[k]), 6), "delete": round(float(p.delete[k]), 6),
                                           "substitute": round(float(p.substitute[k]), 6), "insert": round(float(p.insert[k]), 6)}}
            params = _params(src_ids, p)
            agree = agreement_by_source(votes["source_id"].combine_chunks(), hit)
        else:
            table = labels_table(s, "answer", pa.array([], _STR), pa.array([], _STR), np.zeros(0), np.zeros(0, object),
                                 np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                                 pa.array([], pa.list_(_STR)))
            agree = {}
        stats = self._source_stats(inputs, votes, sv, wer, rule, learned, detail, agree, excluded)
        return ConsensusOutcome(table, stats, self._ban_rows(s, wer, rule, fresh), self._agreement(votes, norm),
                                params, fit)

    # -- consolidation -------------------------------------------------------------------------------
    def _consolidate(self, s: ConsensusSettings, norm: Normaliser, votes: pa.Table, ref: pa.Table, ref_norm: pa.Array,
                     adjudications: pa.Table, warm: Mapping):
        ids = pc.unique(votes["item_id"].combine_chunks()).sort()
        src_ids = pc.unique(votes["source_id"].combine_chunks()).sort()
        n_items = len(ids)
        v_item, v_src = _codes(votes["item_id"], ids), _codes(votes["source_id"], src_ids)
        v_norm = norm.normalise(votes["text"])
        r_item = pc.fill_null(pc.index_in(ref["item_id"], value_set=ids), -1).to_numpy(zero_copy_only=False).astype(np.int64)
        r_ok = r_item >= 0
        is_ref = np.zeros(n_items, bool)
        is_ref[r_item[r_ok]] = True
        # The accepted transcripts of voted clips join their networks as pins.
        item = np.concatenate([v_item, r_item[r_ok]])
        source = np.concatenate([v_src, np.zeros(int(r_ok.sum()), np.int64)])
        pinned = np.r_[np.zeros(len(v_item), bool), np.ones(int(r_ok.sum()), bool)]
        texts = pa.concat_arrays([v_norm, ref_norm.filter(pa.array(r_ok))])
        start = _warm_profiles(warm, src_ids)
        result = rover(item, source, texts, pinned, n_items, len(src_ids), warm=start, max_iter=min(s.max_iter, 50))
        # Final answers: the voted words, typed as the most reliable source that typed exactly them.
        final_norm = result.text
        ref_at = np.full(n_items, -1, np.int64)
        ref_at[r_item[r_ok]] = np.flatnonzero(r_ok)
        if is_ref.any():
            final_norm = pc.if_else(pa.array(is_ref), pc.take(ref_norm, pa.array(np.maximum(ref_at, 0))), final_norm)
        hit = pc.fill_null(pc.equal(v_norm, pc.take(final_norm, pa.array(v_item))), False).to_numpy(zero_copy_only=False)
        order = np.lexsort((-result.profiles.accuracy[v_src], v_item))
        exact = order[hit[order]]
        first = exact[np.r_[True, v_item[exact][1:] != v_item[exact][:-1]]] if len(exact) else exact
        typed_at = np.full(n_items, -1, np.int64)
        typed_at[v_item[first]] = first
        has_typed = typed_at >= 0
        text = pc.if_else(pa.array(has_typed), pc.take(votes["text"].combine_chunks(), pa.array(np.maximum(typed_at, 0))),
                          result.text)
        answers = answers_json(text, result.words, result.word_confidence)
        conf = result.confidence.copy()
        method = np.full(n_items, METHOD, dtype=object)
        adj = pc.is_in(ids, value_set=adjudications["item_id"].combine_chunks().cast(_STR)).to_numpy(zero_copy_only=False)
        method[is_ref] = "gold"
        method[is_ref & adj] = "adjudicated"
        conf[is_ref] = 1.0
        if is_ref.any():
            answers = pc.if_else(pa.array(is_ref), pc.take(ref["answer"].combine_chunks(), pa.array(np.maximum(ref_at, 0))),
                                 answers)
        human = pc.equal(votes["source_kind"], "human").to_numpy(zero_copy_only=False)
        pos, n, n_h, sources = per_item_votes(ids, votes["item_id"], votes["source_id"], human)
        hits = np.bincount(pos, weights=hit.astype(float), minlength=n_items)
        table = labels_table(s, "answer", ids, answers, conf, method, is_ref, n, n_h, hits, sources)
        return table, hit.astype(float), result, src_ids, start is not None

    @staticmethod
    def _source_stats(inputs: ConsensusInputs, answered: pa.Table, scoring: pa.Table, wer: pa.Table, rule: pa.Table | None,
                      learned: dict[str, float], learned_detail: dict[str, dict], agree: dict[str, float],
                      banned: set[str]) -> pa.Table:
        """One row per source: gold word accuracy (hits over edit operations, with its interval) where
        `gold_accuracy` sits (its hits as `gold_correct`, the words scored as `n_gold`: a share needs both counted in
        the same unit; the scored clips are in `confusion`); the gold WER with its interval and
        the learned profile in `confusion` JSON."""
        cols = ["source_id", "source_kind"]
        both = pa.concat_tables([answered.select(cols).cast(pa.schema([(c, _STR) for c in cols])),
                                 scoring.select(cols).cast(pa.schema([(c, _STR) for c in cols]))])
        per = both.group_by(cols, use_threads=False).aggregate([])
        nv = answered.group_by("source_id").aggregate([("item_id", "count_distinct")])
        nv_map = {**dict(zip(nv["source_id"].to_pylist(), nv["item_id_count_distinct"].to_pylist())),
                  **(inputs.vote_counts or {})}
        detail: dict[str, dict] = {k: dict(v) for k, v in learned_detail.items()}
        for r in wer.to_pylist():
            detail.setdefault(r["source_id"], {})["gold"] = {
                k: json_safe(r[k]) for k in ("n_clips", "hits", "substitutions", "deletions", "insertions", "wer", "wer_low", "wer_high")}
        rows = rule.to_pylist() if rule is not None else []
        shaped = pa.table({"source_id": pa.array([r["source_id"] for r in rows], _STR),
                           "n_gold": pa.array([r["n_gold"] for r in rows], pa.int64()),
                           "correct": pa.array([r["correct"] for r in rows], pa.int64()),
                           "low": pa.array([r["low"] for r in rows], pa.float64()),
                           "high": pa.array([r["high"] for r in rows], pa.float64()),
                           "accuracy": pa.array([r["accuracy"] for r in rows], pa.float64())})
        return source_stats_table(per, nv_map, shaped, learned, detail, agree, banned)

    @staticmethod
    def _ban_rows(s: ConsensusSettings, wer: pa.Table, rule: pa.Table | None, fresh: list[str]) -> pa.Table:
        w = {r["source_id"]: r for r in wer.to_pylist()}
        rows = [r for r in (rule.to_pylist() if rule is not None else []) if r["source_id"] in set(fresh)]
        return pa.table({"source_id": pa.array([r["source_id"] for r in rows], _STR),
                         "evidence": pa.array([json.dumps({
                             "n_gold": w[r["source_id"]]["n_clips"], "words_scored": r["n_gold"], "hits": r["correct"],
                             "word_accuracy": json_safe(r["accuracy"]), "low": round(r["low"], 6), "high": round(r["high"], 6),
                             "wer": json_safe(w[r["source_id"]]["wer"]), "threshold": s.ban_below,
                             "min_answers": s.min_answers_for_ban,
                             "rule": "Wilson 95% upper bound of gold word accuracy (hits / edit operations) below threshold"})
                             for r in rows], _STR)})

    def _agreement(self, votes: pa.Table, norm: Normaliser) -> dict:
        """Among human annotators when there are any, else every source: symmetric WER per pair and pooled."""
        human = pc.equal(votes["source_kind"], "human").to_numpy(zero_copy_only=False) if votes.num_rows else np.zeros(0, bool)
        over = "human" if human.any() else "all"
        use = human if human.any() else np.ones(votes.num_rows, bool)
        out: dict[str, Any] = {"over": over, "n_votes": int(use.sum()), "alpha": None, "low": None, "high": None,
                               "fleiss": None, "per_label": [], "pairs": {"n_pairs": 0}, "pairwise_wer": None}
        if not use.any():
            return out
        sub = votes.filter(pa.array(use))
        items = pc.unique(sub["item_id"].combine_chunks())
        sample = stable_sample(items, AGREEMENT_ITEMS)
        sub = sub.filter(pc.is_in(sub["item_id"], value_set=sample))
        src_ids = pc.unique(sub["source_id"].combine_chunks()).sort()
        pw = pairwise_wer(_codes(sub["item_id"], sample), _codes(sub["source_id"], src_ids), src_ids.to_pylist(),
                          norm.normalise(sub["text"]).to_pylist())
        out["pairwise_wer"] = {**{k: v for k, v in pw.items() if k != "pairs"}, "of_items": len(items),
                               "sampled_items": len(sample), "least_agreeing": pw["pairs"][:10]}
        out["pairs"] = {"n_pairs": pw["n_pairs"], "highest_wer": pw["pairs"][:5]}
        return out

    # -- reports -------------------------------------------------------------------------------------
    def summary_lines(self, agreement: Mapping) -> list[str]:
        """Pairwise WER between annotators: pooled, the mean over pairs, the least agreeing pairs."""
        pw = agreement.get("pairwise_wer") or {}
        if not pw or not pw.get("n_pairs"):
            return []
        lines = [f"Word error rate between annotators ({pw['n_pairs']} pairs, {pw['n_items']} clips): pooled "
                 f"{pw['wer']:.3f}, mean over pairs {pw['mean_pair_wer']:.3f}"
                 + sample_note(pw, "sampled_items", "clips")]
        if pw.get("least_agreeing"):
            lines.append("Least agreeing pairs (WER): " + ", ".join(
                f"{r['source_a']}~{r['source_b']} {r['wer']:.3f} ({r['n_items']} clips)" for r in pw["least_agreeing"][:5]))
        return lines


FACET = _TranscriptConsensus()
