"""Ratings: the consensus facet (see tasks/kinds/protocol.py, consolidation).

Each (item, criterion) is one rated unit. `RatingModel` (consensus.py) learns every source's leniency
(bias), range use (severity/scale) and noise across all units and gives each unit a posterior over its
true score: the answer is the nearest scale point, the unit's confidence the posterior probability that
the true score rounds to it, and the item's confidence the product over its criteria (every score right).
That confidence drives the shared decision rule (resolved / needs more / adjudicate), so adaptive overlap
asks for another rating exactly where the posterior straddles two points.

Gold: a source's score counts as right when within `[answer] gold_tolerance` of the gold score; the exact
rate with its Wilson interval feeds the shared ban rule, the mean absolute error with its interval is
reported beside it. Agreement: Krippendorff's alpha at the ordinal and interval levels (the configured one
headlined), per criterion, and weighted Cohen's kappa per pair of annotators.

The labels' answer keeps the interval: `{"score": 4, "estimate": {"mean", "low", "high", "confidence"}}` or
`{"scores": {...}, "estimates": {criterion: {...}}}`; comparisons read only `score` / `scores`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import norm

from tasks.consensus.calibration import fit_gold_calibration
from tasks.consensus.gold import wilson_interval
from tasks.consensus.pipeline import (
    ConsensusInputs,
    ConsensusOutcome,
    ConsensusSettings,
    ban_evidence,
    labels_table,
    per_item_votes,
)
from tasks.consensus.report import source_stats_table
from tasks.consensus.scoring import reference_answers, score_table

from ..agreement_sample import stable_sample
from .agreement import krippendorff_alpha, weighted_kappa_pairs
from .consensus import EncodedRatings, RatingModel
from .flat import flatten
from .options import RatingOptions

__all__ = ["FACET", "METHOD", "gold_errors"]

METHOD = "rating_model"
_STR = pa.string()
_COLS = ["item_id", "source_id", "source_kind", "answer"]


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else round(float(x), 6)


def gold_errors(scores: pa.Table, ref: pa.Table, tolerance: int) -> pa.Table:
    """Per scored unit (`scores` joined to `ref` on item and criterion): `abs_error` and `right` (within tolerance)."""
    with duckdb.connect() as con:
        con.register("_s", scores)
        con.register("_g", ref.select(["item_id", "criterion", "score"]))
        return con.sql(f"""SELECT s.*, abs(s.score - g.score) AS abs_error, abs(s.score - g.score) <= {int(tolerance)} AS right
                           FROM _s s JOIN _g g ON s.item_id = g.item_id AND s.criterion IS NOT DISTINCT FROM g.criterion
                           ORDER BY s.item_id, s.criterion, s.source_id""").to_arrow_table()


def _mae(err: np.ndarray) -> dict[str, float | None]:
    """Mean absolute error with a normal 95% interval (None below two units)."""
    n = len(err)
    if n == 0:
        return {"mae": None, "mae_low": None, "mae_high": None}
    m = float(err.mean())
    half = 1.96 * float(err.std(ddof=1)) / math.sqrt(n) if n > 1 else None
    return {"mae": _num(m), "mae_low": None if half is None else _num(max(m - half, 0.0)),
            "mae_high": None if half is None else _num(m + half)}


def _gold_summary(err: pa.Table) -> dict[str, Any]:
    e = err["abs_error"].to_numpy(zero_copy_only=False).astype(np.float64)
    right = err["right"].to_numpy(zero_copy_only=False).astype(np.float64)
    lo, hi = wilson_interval(np.array([right.sum()]), np.array([float(len(right))]))
    return {"n": len(e), **_mae(e), "exact": _num(right.mean()) if len(e) else None,
            "exact_low": _num(lo[0]) if len(e) else None, "exact_high": _num(hi[0]) if len(e) else None}


AGREEMENT_ITEMS = 20_000
"""Agreement is measured on at most this many items (the same ones every run: `stable_sample`)."""
MIN_GOLD_UNITS = 10
"""Fewer gold units than this with votes: the consensus stays on the typical rater's scale, uncalibrated."""


def unit_table(units: pa.Table, mu: np.ndarray, sd: np.ndarray, scale: tuple[int, int], level: float,
               cap: np.ndarray | None = None) -> pa.Table:
    """`units` with the estimate `mu` +- `sd`: interval, nearest scale point and P(truth rounds to it). The
    estimate and its interval are reported inside the scale (a score past an end reads as that end)."""
    lo, hi = scale
    z = norm.ppf(0.5 + level / 2)
    rounded = np.clip(np.round(mu), lo, hi)
    upper = np.where(rounded >= hi, np.inf, rounded + 0.5)
    lower = np.where(rounded <= lo, -np.inf, rounded - 0.5)
    conf = norm.cdf((upper - mu) / sd) - norm.cdf((lower - mu) / sd)
    if cap is not None:
        conf = cap
    for name, col in (("score", np.clip(mu, lo, hi)), ("low", np.clip(mu - z * sd, lo, hi)), ("high", np.clip(mu + z * sd, lo, hi)),
                      ("rounded", pa.array(rounded.astype(np.int32))), ("confidence", conf), ("sd", sd)):
        units = units.set_column(units.column_names.index(name), name, pa.array(col) if not isinstance(col, pa.Array) else col)
    return units


def unit_refs(units: pa.Table, ref: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """The positions of `units` (`item_id, criterion`) that have an accepted score in `ref`, and those scores."""
    with duckdb.connect() as con:
        con.register("_u", pa.table({"i": np.arange(units.num_rows), "item_id": units["item_id"], "criterion": units["criterion"]}))
        con.register("_g", ref.select(["item_id", "criterion", "score"]))
        pair = con.sql("SELECT u.i, g.score FROM _u u JOIN _g g ON u.item_id = g.item_id"
                       " AND u.criterion IS NOT DISTINCT FROM g.criterion ORDER BY u.i").to_arrow_table()
    return pair["i"].to_numpy(zero_copy_only=False).astype(np.int64), pair["score"].to_numpy(zero_copy_only=False).astype(np.int64)


def anchor_to_gold(units: pa.Table, ref: pa.Table, scale: tuple[int, int], level: float) -> tuple[pa.Table, dict | None]:
    """Put the consensus on gold's scale and make its confidence a measured promise.

    Without gold the model's scale is the typical rater's, which a lenient or compressed crowd shifts;
    gold units fix it: gold ~ a + b * mu by least squares (b > 0) maps every unit's estimate and sd. Then
    the confidence (P(truth rounds to the answer)) is lowered to what gold certifies at that confidence
    (`fit_gold_calibration`: Platt map and certified tails, as the categorical kinds do)."""
    mu = units["score"].to_numpy(zero_copy_only=False)
    sd = units["sd"].to_numpy(zero_copy_only=False)
    pos, g = unit_refs(units, ref)
    g = g.astype(np.float64)
    if len(pos) < MIN_GOLD_UNITS or np.ptp(mu[pos]) == 0:
        return unit_table(units, mu, sd, scale, level), None
    b, a = np.polyfit(mu[pos], g.astype(np.float64), 1)
    if b <= 0:
        return unit_table(units, mu, sd, scale, level), None
    resid = g - (a + b * mu[pos])
    mu2, sd2 = a + b * mu, b * sd
    mapped = unit_table(units, mu2, sd2, scale, level)
    conf = mapped["confidence"].to_numpy(zero_copy_only=False)
    right = mapped["rounded"].to_numpy(zero_copy_only=False)[pos] == g
    cal = fit_gold_calibration(conf[pos], right)
    capped = cal.apply(conf) if cal is not None else conf
    info = {"a": round(float(a), 6), "b": round(float(b), 6), "n_gold_units": len(pos),
            "residual_sd": round(float(resid.std()), 6), "gold_exact_rate": round(float(right.mean()), 6),
            "mean_confidence_before": round(float(conf[pos].mean()), 6),
            "mean_confidence_after": round(float(capped[pos].mean()), 6)}
    return unit_table(units, mu2, sd2, scale, level, cap=capped), info


def raters_on_gold(raters: pa.Table, anchor: dict | None, scale: tuple[int, int]) -> pa.Table:
    """Each rater's bias and scale relative to gold's scale when the consensus was anchored on gold (rater x =
    bias + scale * mu with gold = a + b * mu gives x = (bias - scale * a / b) + (scale / b) * gold), so a
    careful rater reads bias ~0 and a lenient one its extra points, whatever the crowd's average is."""
    if anchor is None:
        return raters
    a, b = anchor["a"], anchor["b"]
    bias = raters["bias"].to_numpy(zero_copy_only=False)
    sc = raters["scale"].to_numpy(zero_copy_only=False)
    bias, sc = bias - sc * a / b, sc / b
    mid = (scale[0] + scale[1]) / 2
    for name, col in (("bias", bias), ("scale", sc), ("leniency", bias + (sc - 1) * mid)):
        raters = raters.set_column(raters.column_names.index(name), name, pa.array(col))
    return raters


class _RatingConsensus:
    input_column = "answer"
    answer_sql = "answer::VARCHAR"
    answered_sql = "answer IS NOT NULL"
    label_values_sql = "[]::VARCHAR[]"  # a rating names no labels: its scale is checked by validate and flatten
    methods = (METHOD,)
    wants_payloads = False

    def wants_prelabels(self, settings: ConsensusSettings) -> bool:
        return False

    def run(self, inputs: ConsensusInputs, s: ConsensusSettings, warm: Mapping) -> ConsensusOutcome:
        opts = RatingOptions.model_validate(dict(s.answer))
        crit, scale = list(opts.criteria), opts.scale
        votes = inputs.votes.select(_COLS).filter(pc.is_valid(inputs.votes["answer"]))
        scoring = inputs.scoring_votes.select(_COLS).filter(pc.is_valid(inputs.scoring_votes["answer"]))
        accepted = reference_answers(inputs, "answer")
        accepted = accepted.filter(pc.is_valid(accepted["answer"]))
        ref = flatten(accepted, crit, scale, "gold")
        ref_ids = pc.unique(ref["item_id"]) if ref.num_rows else pa.array([], _STR)

        # Gold scores (banned sources too), the shared ban rule, this run's bans.
        sv = flatten(scoring.filter(pc.is_in(scoring["item_id"], value_set=ref_ids)), crit, scale)
        err = gold_errors(sv, ref, opts.gold_tolerance)
        rule = score_table(s, err["source_id"].combine_chunks().cast(_STR), np.ones(err.num_rows),
                           err["right"].to_numpy(zero_copy_only=False)) if err.num_rows else None
        fresh, new_bans = ban_evidence(s, rule, list(inputs.banned)) if rule is not None else (None, _no_bans())
        excluded = set(inputs.banned) | (set(fresh["source_id"].to_pylist()) if fresh is not None else set())
        if excluded:
            votes = votes.filter(pc.invert(pc.is_in(votes["source_id"], value_set=pa.array(sorted(excluded), _STR))))

        fv = flatten(votes, crit, scale)
        fit: dict[str, Any] = {"method": METHOD, "n_iter": None, "converged": None, "objective": None, "warm_start": False}
        raters, agreement = None, self._agreement(s, opts, fv)
        if fv.num_rows:
            model = RatingModel(scale, max_iter=max(s.max_iter, 50), level=opts.interval).fit(fv)
            fit.update(n_iter=model.n_iter_, converged=bool(model.n_iter_ < model.max_iter))
            units, anchor = anchor_to_gold(model.consensus_, ref, scale, opts.interval)
            raters = raters_on_gold(model.raters_, anchor, scale)
            fit["gold_anchor"] = anchor
            agreement["gold"] = self._model_on_gold(units, ref, opts.gold_tolerance)
            table, agree, answered = self._labels(s, opts, fv, model.encoded_, units, ref, inputs.adjudications)
        else:
            table = labels_table(s, "answer", pa.array([], _STR), pa.array([], _STR), np.zeros(0), np.zeros(0, object),
                                 np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                                 pa.array([], pa.list_(_STR)))
            agree, answered = {}, {}
        stats = self._source_stats(inputs, fv, sv, err, rule, raters, agree, answered, excluded)
        return ConsensusOutcome(table, stats, new_bans, agreement, {}, fit)

    # -- the answers ---------------------------------------------------------------------------------
    @staticmethod
    def _labels(s: ConsensusSettings, opts: RatingOptions, fv: pa.Table, enc: EncodedRatings, units: pa.Table,
                ref: pa.Table, adjudications: pa.Table) -> tuple[pa.Table, dict[str, float], dict[str, int]]:
        """One labels row per voted item: the rounded consensus (the accepted scores on gold / adjudicated
        items), its estimate per unit, the item's confidence, and which answers equal the final one; and per
        source the share of its answers equal to the final ones and how many items it answered.

        `enc` codes `fv` row by row and `units` follows its units: every per-rating step is on those codes."""
        adj_ids = pc.unique(adjudications["item_id"].combine_chunks().cast(_STR)) if adjudications.num_rows else pa.array([], _STR)
        pos, g = unit_refs(units, ref)
        is_ref = np.zeros(units.num_rows, bool)
        is_ref[pos] = True
        col = {c: units[c].to_numpy(zero_copy_only=False).astype(np.float64) for c in ("score", "low", "high", "confidence")}
        final = units["rounded"].to_numpy(zero_copy_only=False).astype(np.int64)
        final[pos] = g
        for c in ("score", "low", "high"):
            col[c][pos] = g
        col["confidence"][pos] = 1.0
        fin = pa.table({"item_id": units["item_id"], "criterion": units["criterion"], "is_ref": is_ref, "final": final,
                        "mean": col["score"], "low": col["low"], "high": col["high"], "confidence": col["confidence"]})
        with duckdb.connect() as con:
            con.register("fin", fin)
            con.register("_adj", pa.table({"item_id": adj_ids}))
            est = ("json_object('mean', round(mean, 4), 'low', round(low, 4), 'high', round(high, 4), "
                   "'confidence', round(confidence, 6))")
            con.execute("SET VARIABLE criteria = ?::VARCHAR[]", [sorted(opts.criteria)])
            per = [("'" + c.replace("'", "''") + "'", f"criterion = getvariable('criteria')[{k + 1}]")
                   for k, c in enumerate(sorted(opts.criteria))]  # every unit of an item has each criterion once
            answer = (f"json_object('score', any_value(final), 'estimate', any_value({est}))" if not opts.criteria else
                      "json_object('scores', json_object(" + ", ".join(f"{n}, any_value(final) FILTER ({w})" for n, w in per)
                      + "), 'estimates', json_object(" + ", ".join(f"{n}, any_value({est}) FILTER ({w})" for n, w in per) + "))")
            items = con.sql(f"""SELECT item_id, {answer}::VARCHAR AS answer, exp(sum(ln(greatest(confidence, 1e-12)))) AS conf,
                                       bool_or(is_ref) AS is_ref, item_id IN (SELECT item_id FROM _adj) AS adjudicated
                                FROM fin GROUP BY item_id ORDER BY item_id""").to_arrow_table()
        ids = items["item_id"].combine_chunks()
        # One answer = one (item, source): right when every score it gave equals the final one. Answers in
        # (item, source id) order, as the sources lists read.
        n_s = len(enc.source_ids)
        item_pos = pc.index_in(enc.item_ids, value_set=ids).to_numpy(zero_copy_only=False).astype(np.int64)
        source_rank = np.empty(n_s, np.int64)
        source_rank[pc.sort_indices(enc.source_ids).to_numpy(zero_copy_only=False)] = np.arange(n_s)
        key = item_pos[enc.item] * n_s + source_rank[enc.source]
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        answer_of = np.cumsum(np.r_[True, sorted_key[1:] != sorted_key[:-1]]) - 1
        misses = np.bincount(answer_of, weights=(enc.score != final[enc.unit])[order], minlength=len(starts))
        hit = (misses == 0).astype(np.float64)
        first = order[starts]
        source = enc.source[first]
        human = pc.equal(fv["source_kind"].take(pa.array(first)), "human").to_numpy(zero_copy_only=False)
        p, n, n_h, sources = per_item_votes(ids, None, pa.chunked_array([enc.source_ids.take(pa.array(source))]), human,
                                            pos=sorted_key[starts] // n_s)
        hits = np.bincount(p, weights=hit, minlength=len(ids))
        is_ref_item = items["is_ref"].to_numpy(zero_copy_only=False)
        method = np.full(len(ids), METHOD, dtype=object)
        method[is_ref_item] = "gold"
        method[items["adjudicated"].to_numpy(zero_copy_only=False) & is_ref_item] = "adjudicated"
        conf = items["conf"].to_numpy(zero_copy_only=False).astype(np.float64)
        conf[is_ref_item] = 1.0
        table = labels_table(s, "answer", ids, items["answer"].combine_chunks(), conf, method, is_ref_item, n, n_h, hits, sources)
        answered = np.bincount(source, minlength=n_s)
        right = np.bincount(source, weights=hit, minlength=n_s) / np.maximum(answered, 1)
        names = enc.source_ids.to_pylist()
        return table, dict(zip(names, right.tolist())), dict(zip(names, answered.tolist()))

    @staticmethod
    def _model_on_gold(units: pa.Table, ref: pa.Table, tolerance: int) -> dict[str, Any] | None:
        """The consensus (before gold replaces it) against gold: MAE, exact rate, and calibration (mean
        confidence vs the rate at which the rounded score is the gold score)."""
        if not ref.num_rows:
            return None
        est = units.select(["item_id", "criterion", "rounded", "confidence"]).rename_columns(
            ["item_id", "criterion", "score", "confidence"]).append_column("source_id", pa.array(["consensus"] * units.num_rows, _STR))
        err = gold_errors(est, ref, tolerance)
        if not err.num_rows:
            return None
        out = _gold_summary(err)
        exact = pc.equal(err["abs_error"], 0).to_numpy(zero_copy_only=False)
        out["mean_confidence"] = _num(float(err["confidence"].to_numpy(zero_copy_only=False).mean()))
        out["exact_rate"] = _num(float(exact.mean()))
        return out

    # -- sources -------------------------------------------------------------------------------------
    @staticmethod
    def _source_stats(inputs: ConsensusInputs, fv: pa.Table, sv: pa.Table, err: pa.Table, rule: pa.Table | None,
                      raters: pa.Table | None, agree: dict[str, float], answered: dict[str, int], banned: set[str]) -> pa.Table:
        """One row per source: gold exact rate (within tolerance) with its Wilson interval; learned accuracy =
        the chance its bias-corrected score falls within half a point of the truth; bias, scale, noise,
        leniency and gold MAE (with interval) in `confusion` JSON."""
        cols = ["source_id", "source_kind"]
        sch = pa.schema([(c, _STR) for c in cols])
        per = pa.concat_tables([fv.select(cols).cast(sch), sv.select(cols).cast(sch)]).group_by(cols, use_threads=False).aggregate([])
        counts = {**answered, **(inputs.vote_counts or {})}
        learned: dict[str, float] = {}
        detail: dict[str, dict] = {}
        if raters is not None:
            for r in raters.to_pylist():
                learned[r["source_id"]] = float(2 * norm.cdf(0.5 * abs(r["scale"]) / max(r["noise"], 1e-6)) - 1)
                detail[r["source_id"]] = {"learned": {k: _num(r[k]) for k in ("bias", "scale", "noise", "leniency")}
                                          | {"n_ratings": r["n_ratings"]}}
        if err.num_rows:
            for src, part in _groups(err):
                detail.setdefault(src, {})["gold"] = _gold_summary(part)
        scores = rule if rule is not None else pa.table({"source_id": pa.array([], _STR), "n_gold": pa.array([], pa.int64()),
                                                         "correct": pa.array([], pa.int64()), "low": pa.array([], pa.float64()),
                                                         "high": pa.array([], pa.float64()), "accuracy": pa.array([], pa.float64())})
        return source_stats_table(per, counts, scores, learned, detail, agree, banned)

    # -- agreement -----------------------------------------------------------------------------------
    @staticmethod
    def _agreement(s: ConsensusSettings, opts: RatingOptions, fv: pa.Table) -> dict[str, Any]:
        """Among people when there are any, else every source: alpha (ordinal and interval, per criterion)
        and weighted kappa per pair."""
        human = pc.equal(fv["source_kind"], "human").to_numpy(zero_copy_only=False) if fv.num_rows else np.zeros(0, bool)
        over = "human" if human.any() else "all"
        r = fv.filter(pa.array(human)) if human.any() else fv
        out: dict[str, Any] = {"over": over, "n_votes": r.num_rows, "alpha": None, "low": None, "high": None,
                               "fleiss": None, "per_label": [], "pairs": {"n_pairs": 0}, "level": opts.level,
                               "alpha_ordinal": None, "alpha_interval": None}
        if not r.num_rows:
            return out
        items = pc.unique(r["item_id"].combine_chunks().cast(_STR))
        if len(items) > AGREEMENT_ITEMS:  # a fixed sample: the summary's cost stops growing with the project
            r = r.filter(pc.is_in(r["item_id"], value_set=stable_sample(items, AGREEMENT_ITEMS)))
            out.update(n_items=AGREEMENT_ITEMS, of_items=len(items))
        for level in ("ordinal", "interval"):
            out[f"alpha_{level}"] = _num(krippendorff_alpha(r, opts.scale, level)["alpha"])
        out["alpha"] = out[f"alpha_{opts.level}"]
        if opts.criteria:
            for c in opts.criteria:
                part = r.filter(pc.equal(r["criterion"], c))
                out["per_label"].append({"label": c, **{f"alpha_{lv}": _num(krippendorff_alpha(part, opts.scale, lv)["alpha"])
                                                      for lv in ("ordinal", "interval")}})
        if over == "human":
            pairs = weighted_kappa_pairs(r, opts.scale, opts.kappa_weights, s.min_shared_for_kappa)
            if pairs.num_rows:
                k = pairs["kappa"].to_numpy(zero_copy_only=False)
                worst = pairs.sort_by([("kappa", "ascending")]).slice(0, 5).to_pylist()
                out["pairs"] = {"n_pairs": pairs.num_rows, "weights": opts.kappa_weights,
                                "mean_kappa": _num(float(np.nanmean(k))) if np.isfinite(k).any() else None,
                                "lowest": [{**w, "kappa": _num(w["kappa"])} for w in worst]}
        return out

    # -- reports -------------------------------------------------------------------------------------
    def conflict_posterior(self, answers: pa.Table, consensus: pa.Table, labels: Any) -> pa.Array:
        """Per item: each unit's consensus score with its interval and confidence (`[{"criterion", "score",
        "mean", "low", "high", "p"}]`), from the stored answer."""
        out = []
        for text in consensus["answer"].to_pylist():
            a = json.loads(text) if text else None
            if not a:
                out.append(None)
                continue
            units = ([(None, a.get("score"), a.get("estimate") or {})] if "score" in a else
                     [(c, v, (a.get("estimates") or {}).get(c) or {}) for c, v in (a.get("scores") or {}).items()])
            out.append(json.dumps([{"criterion": c, "score": v, "mean": e.get("mean"), "low": e.get("low"),
                                    "high": e.get("high"), "p": e.get("confidence")} for c, v, e in units]))
        return pa.array(out, _STR)

    def summary_lines(self, agreement: Mapping[str, Any]) -> list[str]:
        lines = []
        if agreement.get("alpha_ordinal") is not None or agreement.get("alpha_interval") is not None:
            lines.append(f"Krippendorff's alpha: ordinal {_f(agreement.get('alpha_ordinal'))}, interval "
                         f"{_f(agreement.get('alpha_interval'))}")
        if agreement.get("per_label"):
            lines.append("Per criterion alpha (ordinal/interval): " + ", ".join(
                f"{r['label']} {_f(r.get('alpha_ordinal'))}/{_f(r.get('alpha_interval'))}" for r in agreement["per_label"]))
        pairs = agreement.get("pairs") or {}
        if pairs.get("n_pairs"):
            lines.append(f"Weighted kappa ({pairs.get('weights')}) over {pairs['n_pairs']} pairs: mean {_f(pairs.get('mean_kappa'))}")
        g = agreement.get("gold")
        if g:
            lines.append(f"Consensus on gold ({g['n']} scores): MAE {_f(g.get('mae'))} [{_f(g.get('mae_low'))}, "
                         f"{_f(g.get('mae_high'))}], exact {_f(g.get('exact_rate'))} at mean confidence {_f(g.get('mean_confidence'))}")
        return lines


def _f(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def _no_bans() -> pa.Table:
    return pa.table({"source_id": pa.array([], _STR), "evidence": pa.array([], _STR)})


def _groups(t: pa.Table):
    t = t.sort_by("source_id")
    src = t["source_id"].to_numpy(zero_copy_only=False)
    bounds = np.flatnonzero(np.r_[True, src[1:] != src[:-1], True])
    for a, b in pairwise(bounds):
        yield str(src[a]), t.slice(a, b - a)


FACET = _RatingConsensus()
