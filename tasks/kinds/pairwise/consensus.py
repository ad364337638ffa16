"""Pairwise: the consensus facet (see tasks/kinds/protocol.py, consolidation).

Votes are read as `choice` + `swapped` (the slot picked, and whether `b` was shown first) and the items'
systems from their payloads. Accepted answers (gold, adjudications) score every source (an answer is right
when it prefers the same candidate, or ties where gold ties) through the shared Wilson ban rule, and clamp
their items; `PreferenceModel` (noisy Bradley–Terry with per-source reliability and position bias) gives
each voted item its preference with a posterior confidence, which feeds the shared resolved / needs-more /
adjudicate rule, so adaptive overlap works as for every kind.

The consolidated answer is written in the item's own order (`swapped` false) with the posterior:
`{"choice": "A", "swapped": false, "p_a": .., "p_b": .., "p_tie": ..}`. The export derives the system
leaderboard from these posteriors (soft comparisons), so the files alone give it; the run's own ranking
(with intervals) is kept in the stored agreement under `ranking`, each source's reliability, position
bias and flag ("spammer", "position_biased") in its source stats (`confusion.learned`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.errors import ConsensusError
from tasks.consensus.pipeline import ConsensusInputs, ConsensusOutcome, ConsensusSettings, labels_table, per_item_votes
from tasks.consensus.report import agreement_by_source, categorical_agreement, source_stats_table
from tasks.consensus.scoring import reference_answers, score_table
from tasks.kinds.agreement_sample import json_safe, stable_sample

from .comparison import PROBLEMS_SQL
from .options import PairwiseOptions
from .preference import OUTCOMES, PreferenceModel
from .storage import preference_sql

__all__ = ["FACET", "METHOD", "preferences"]

METHOD = "preference_em"
AGREEMENT_ITEMS = 5_000
"""Agreement (a report) is measured on at most this many items, a sample fixed by the items' ids."""
_STR = pa.string()

_READ = """
SELECT item_id::VARCHAR AS item_id, {extra}
       """ + preference_sql("answer") + """ AS preference,
       answer::JSON ->> '$.choice' AS choice,
       coalesce(TRY_CAST(answer::JSON ->> '$.swapped' AS BOOLEAN), false) AS swapped
FROM _t WHERE answer IS NOT NULL AND json_valid(answer) AND answer::JSON ->> '$.choice' IN ('A', 'B', 'tie')
"""


def preferences(table: pa.Table, extra: tuple[str, ...] = ()) -> pa.Table:
    """Answers (`item_id`, `answer` JSON, `extra` columns) as `item_id, *extra, preference (a|b|tie), choice, swapped`."""
    with duckdb.connect() as con:
        con.register("_t", table.select(["item_id", "answer", *extra]))
        cols = "".join(f"{c}::VARCHAR AS {c}, " for c in extra)
        return con.sql(_READ.replace("{extra}", cols)).to_arrow_table()


def _systems(payloads: pa.Table | None, ids: pa.Array) -> pa.Table:
    """`item_id, system_a, system_b` of `ids` from their payloads; `ConsensusError` naming an item that is no comparison."""
    payloads = payloads if payloads is not None else pa.table({"item_id": pa.array([], _STR), "payload": pa.array([], _STR)})
    with duckdb.connect() as con:
        con.register("_p", payloads.select(["item_id", "payload"]))
        con.register("_ids", pa.table({"item_id": ids}))
        t = con.sql(f"""
            SELECT i.item_id, p.payload::JSON ->> '$.system_a' AS system_a, p.payload::JSON ->> '$.system_b' AS system_b,
                   CASE WHEN p.item_id IS NULL THEN 'no_payload' ELSE {PROBLEMS_SQL.replace('{p}', 'p.payload')} END AS problem
            FROM _ids i LEFT JOIN (SELECT DISTINCT ON (item_id) * FROM _p) p USING (item_id)""").to_arrow_table()
    bad = t.filter(pc.is_valid(t["problem"]))
    if bad.num_rows:
        r = bad.slice(0, 1).to_pylist()[0]
        raise ConsensusError(f"item {r['item_id']!r}: cannot consolidate its comparison ({r['problem']}): its payload "
                             'must be {"prompt", "a", "b", "system_a", "system_b"} with two different candidates')
    return t.select(["item_id", "system_a", "system_b"])


def _answer_json(p: np.ndarray, best: np.ndarray) -> pa.Array:
    """One JSON answer per item in the item's order, with its posterior (one DuckDB pass, no loop over items)."""
    t = pa.table({"c": pa.array(np.array(["A", "B", "tie"], dtype=object)[best], _STR),
                  "pa": np.round(p[:, 0], 6), "pb": np.round(p[:, 1], 6), "pt": np.round(p[:, 2], 6)})
    with duckdb.connect() as con:
        con.register("_t", t)
        return con.sql("SELECT json_object('choice', c, 'swapped', false, 'p_a', pa, 'p_b', pb, 'p_tie', pt)::VARCHAR AS a"
                       " FROM _t").to_arrow_table()["a"].combine_chunks()


class _PairwiseConsensus:
    input_column = "answer"
    answer_sql = "answer::VARCHAR"
    answered_sql = "answer IS NOT NULL"
    label_values_sql = "[]::VARCHAR[]"
    methods = (METHOD,)
    wants_payloads = True

    def wants_prelabels(self, settings: ConsensusSettings) -> bool:
        return False

    def run(self, inputs: ConsensusInputs, s: ConsensusSettings, warm: Mapping) -> ConsensusOutcome:
        opts = PairwiseOptions.model_validate(dict(s.answer))
        votes = preferences(inputs.votes, ("source_id", "source_kind"))
        scoring = preferences(inputs.scoring_votes, ("source_id", "source_kind"))
        accepted = reference_answers(inputs, "answer")
        ref = preferences(accepted.filter(pc.is_valid(accepted["answer"])))
        ref_ids = ref["item_id"].combine_chunks()
        # Gold scores (banned sources too) and this run's bans, through the shared rule.
        sv = scoring.filter(pc.is_in(scoring["item_id"], value_set=ref_ids))
        truth = pc.take(ref["preference"], pc.index_in(sv["item_id"], value_set=ref_ids))
        right = pc.equal(sv["preference"], truth).to_numpy(zero_copy_only=False).astype(bool)
        scores = score_table(s, sv["source_id"].combine_chunks().cast(_STR), np.ones(sv.num_rows), right) \
            if sv.num_rows else None
        already = set(inputs.banned)
        fresh = sorted(r["source_id"] for r in scores.to_pylist() if r["banned"] and r["source_id"] not in already) \
            if scores is not None else []
        excluded = already | set(fresh)
        if excluded:
            votes = votes.filter(pc.invert(pc.is_in(votes["source_id"], value_set=pa.array(sorted(excluded), _STR))))
        fit: dict[str, Any] = {"method": METHOD, "n_iter": None, "converged": None, "objective": None, "warm_start": False}
        model = None
        ids = pc.unique(votes["item_id"]).sort() if votes.num_rows else pa.array([], _STR)
        if votes.num_rows:
            items = _systems(inputs.payloads, ids)
            tie_votes = pc.sum(pc.equal(votes["preference"], "tie")).as_py() or 0
            model = PreferenceModel(ties=opts.allow_ties or bool(tie_votes), spam_threshold=opts.spam_threshold,
                                    bias_threshold=opts.bias_threshold, level=opts.level)
            gold = ref.filter(pc.is_in(ref["item_id"], value_set=ids)).select(["item_id", "preference"])
            model.fit(votes.select(["item_id", "source_id", "choice", "swapped"]), items, gold)
            fit.update(n_iter=model.n_iter_, converged=model.n_iter_ < model.max_iter, objective=model.log_posterior_)
            table, hit = self._labels(s, model, votes, ref, inputs.adjudications, ids)
            agree = agreement_by_source(votes["source_id"].combine_chunks(), hit)
        else:
            table = labels_table(s, "answer", pa.array([], _STR), pa.array([], _STR), np.zeros(0), np.zeros(0, object),
                                 np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                                 pa.array([], pa.list_(_STR)))
            agree = {}
        stats = self._source_stats(inputs, votes, sv, scores, model, agree, excluded)
        # Agreement is a report, not a decision: measured on a fixed sample of items, so its cost stops growing.
        sample = votes.filter(pc.is_in(votes["item_id"], value_set=stable_sample(ids, AGREEMENT_ITEMS))) \
            if votes.num_rows else votes
        agreement = categorical_agreement(s, sample.select(["item_id", "source_id"]).append_column(
            "label", sample["preference"]) if sample.num_rows else None, list(OUTCOMES), "all")
        agreement["ranking"] = [{k: json_safe(v) for k, v in r.items()} for r in model.ranking_.to_pylist()] if model else []
        agreement["flags"] = {r["source_id"]: r["flag"] for r in model.sources_.to_pylist() if r["flag"]} if model else {}
        return ConsensusOutcome(table, stats, self._ban_rows(s, scores, fresh), agreement, {}, fit)

    @staticmethod
    def _labels(s: ConsensusSettings, model: PreferenceModel, votes: pa.Table, ref: pa.Table, adjudications: pa.Table,
                ids: pa.Array) -> tuple[pa.Table, np.ndarray]:
        prefs = model.preferences_
        pos = pc.index_in(ids, value_set=prefs["item_id"]).to_numpy(zero_copy_only=False).astype(np.int64)
        post = np.column_stack([prefs[c].to_numpy()[pos] for c in ("p_a", "p_b", "p_tie")])
        best = post.argmax(axis=1)
        conf = post.max(axis=1)
        n_items = len(ids)
        method = np.full(n_items, METHOD, dtype=object)
        r_idx = pc.index_in(ids, value_set=ref["item_id"].combine_chunks())
        is_ref = pc.is_valid(r_idx).to_numpy(zero_copy_only=False)
        adj = pc.is_in(ids, value_set=adjudications["item_id"].combine_chunks().cast(_STR)).to_numpy(zero_copy_only=False)
        method[is_ref] = "gold"
        method[is_ref & adj] = "adjudicated"
        if is_ref.any():
            ref_pref = pc.take(ref["preference"], pc.drop_null(r_idx)).to_numpy(zero_copy_only=False)
            best[is_ref] = pc.index_in(pa.array(ref_pref, _STR), value_set=pa.array(OUTCOMES)).to_numpy(zero_copy_only=False)
            post[is_ref] = np.eye(3)[best[is_ref]]
            conf[is_ref] = 1.0
        answers = _answer_json(post, best)
        vote_pos = pc.index_in(votes["item_id"], value_set=ids).to_numpy(zero_copy_only=False).astype(np.int64)
        final = np.array(OUTCOMES, dtype=object)[best]
        hit = (votes["preference"].to_numpy(zero_copy_only=False) == final[vote_pos]).astype(np.float64)
        human = pc.equal(votes["source_kind"], "human").to_numpy(zero_copy_only=False)
        p, n, n_h, sources = per_item_votes(ids, votes["item_id"], votes["source_id"], human)
        hits = np.bincount(p, weights=hit, minlength=n_items)
        return labels_table(s, "answer", ids, answers, conf, method, is_ref, n, n_h, hits, sources), hit

    @staticmethod
    def _source_stats(inputs: ConsensusInputs, votes: pa.Table, scoring: pa.Table, scores: pa.Table | None,
                      model: PreferenceModel | None, agree: dict[str, float], banned: set[str]) -> pa.Table:
        """One row per source: gold accuracy with its interval; learned reliability as `learned_accuracy`, and
        its position bias, slot shares and flag under `confusion.learned`."""
        cols = ["source_id", "source_kind"]
        per = pa.concat_tables([votes.select(cols), scoring.select(cols)]).group_by(cols, use_threads=False).aggregate([])
        nv = votes.group_by("source_id").aggregate([("item_id", "count_distinct")])
        nv_map = {**dict(zip(nv["source_id"].to_pylist(), nv["item_id_count_distinct"].to_pylist())),
                  **(inputs.vote_counts or {})}
        learned, detail = {}, {}
        if model is not None:
            for r in model.sources_.to_pylist():
                learned[r["source_id"]] = float(r["reliability"])
                detail[r["source_id"]] = {"learned": {k: json_safe(round(float(r[k]), 6)) for k in
                                                      ("reliability", "position_bias", "p_first", "p_second", "p_tie")}
                                          | {"flag": r["flag"]}}
        if scores is None:
            scores = pa.table({"source_id": pa.array([], _STR), "n_gold": pa.array([], pa.int64()),
                               "correct": pa.array([], pa.int64()), "low": pa.array([], pa.float64()),
                               "high": pa.array([], pa.float64()), "accuracy": pa.array([], pa.float64())})
        return source_stats_table(per.rename_columns(cols), nv_map, scores, learned, detail, agree, banned)

    @staticmethod
    def _ban_rows(s: ConsensusSettings, scores: pa.Table | None, fresh: list[str]) -> pa.Table:
        rows = [r for r in scores.to_pylist() if r["source_id"] in set(fresh)] if scores is not None else []
        return pa.table({"source_id": pa.array([r["source_id"] for r in rows], _STR),
                         "evidence": pa.array([json.dumps({
                             "n_gold": r["n_gold"], "correct": r["correct"], "accuracy": json_safe(r["accuracy"]),
                             "low": round(r["low"], 6), "high": round(r["high"], 6), "threshold": s.ban_below,
                             "min_answers": s.min_answers_for_ban,
                             "rule": "Wilson 95% upper bound of gold preference accuracy below threshold"})
                             for r in rows], _STR)})

    def summary_lines(self, agreement: Mapping[str, Any]) -> list[str]:
        lines = []
        ranking = agreement.get("ranking") or []
        if ranking:
            lines.append("systems: " + ", ".join(f"{r['rank']}. {r['system']} [{r['rank_low']}-{r['rank_high']}]"
                                                 for r in ranking[:10]))
        for src, flag in sorted((agreement.get("flags") or {}).items()):
            lines.append(f"source {src}: {flag.replace('_', ' ')}")
        return lines

    def conflict_posterior(self, answers: pa.Table, consensus: pa.Table, labels) -> pa.Array:
        """Per item: `[{"label": "a"|"b"|"tie", "p", "votes"}]`, the consensus posterior in the item's terms
        (from its stored answer) with the answers' votes, most likely first; null without a consensus."""
        prefs = preferences(answers.select(["item_id", "answer"])) if answers.num_rows else None
        counts: dict[tuple[str, str], int] = {}
        if prefs is not None:
            for i, p in zip(prefs["item_id"].to_pylist(), prefs["preference"].to_pylist()):
                counts[(i, p)] = counts.get((i, p), 0) + 1
        out = []
        for item, ans in zip(consensus["item_id"].to_pylist(), consensus["answer"].to_pylist()):
            try:
                a = json.loads(ans) if ans else None
            except ValueError:
                a = None
            if not isinstance(a, dict) or "p_a" not in a:
                out.append(None)
                continue
            rows = [{"label": o, "p": a[f"p_{o}"], "votes": counts.get((item, o), 0)} for o in OUTCOMES]
            out.append(json.dumps(sorted(rows, key=lambda r: -r["p"])))
        return pa.array(out, _STR)


FACET = _PairwiseConsensus()
