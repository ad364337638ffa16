"""Behaviour rules over human judgments: too fast, straight-lining, gold drift. Read-only, pure decisions.

Each rule reads the judgments already in DuckDB and returns `Finding`s (who, which rule, the numbers
and a sentence a person can read); writing events and pausing is `tasks.behaviour.pause`'s job.
Why these three: they are the behaviours gold accuracy alone catches late or never: a spammer who
answers in a second can be lucky on gold for a while, a straight-liner on a skewed label set scores
the majority class's share, and an annotator who got tired is averaged with their good weeks.

Every kind is judged alike: an answer is compared as its canonical JSON text
(`to_json(<kind.storage.column>)`), so nothing here knows what an answer is. On gold, "correct"
is that text equal to the gold answer's: the kind's own score (span F1, box IoU) is the consensus
stage's; for a rule that compares an annotator with their own past, exact agreement is enough.

Only an annotator's latest `behaviour.recent_judgments` judgments after their last resume (`resume`,
`unban`, `requalify_pass` in `annotator_events`) are judged, so a resumed annotator is not paused
again for what they did before (gold drift reads all their gold answers since then); reference
figures (item and project times, other people's answers) use every human judgment on those items.
"""

from __future__ import annotations

__all__ = ["JUDGMENTS", "Finding", "evaluate", "gold_drift", "load_judgments", "straight_lining", "too_fast"]

from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
from scipy.stats import binom, norm

from schemas.config import BehaviourConfig
from tasks.consensus.gold import wilson_interval

JUDGMENTS = "_behaviour_judgments"
"""Temp table: the latest human judgment per (item, source), canonical answer, seconds, gold verdict."""

CLEAN_SLATE = ("resume", "unban", "requalify_pass")
"""Events after which an annotator's earlier judgments are no longer held against them."""


@dataclass(frozen=True)
class Finding:
    """One rule firing on one annotator: `pause` False when the evidence clears them (a fast expert)."""

    source_id: str
    rule: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    pause: bool = True


_LOAD = """
CREATE OR REPLACE TEMP TABLE {t} AS
WITH since AS (
    SELECT source_id, max(created_at) AS t FROM annotator_events WHERE action IN {slate} GROUP BY 1
),
cutoff AS (  -- when each annotator's latest $recent judgments began (a top-n per source, no full sort)
    SELECT source_id, list_min(max(created_at, $recent)) AS t FROM votes
    WHERE source_kind = 'human' AND {col} IS NOT NULL GROUP BY 1
),
recent AS (  -- what each annotator is judged on (selected before any JSON is built)
    SELECT DISTINCT v.item_id, v.source_id FROM votes v JOIN cutoff c ON c.source_id = v.source_id AND v.created_at >= c.t
    WHERE v.source_kind = 'human' AND v.{col} IS NOT NULL
),
g AS (SELECT item_id, CAST(to_json({col}) AS VARCHAR) AS answer FROM gold WHERE {col} IS NOT NULL),
scope AS (SELECT item_id FROM recent UNION SELECT item_id FROM g),
v AS (  -- every human judgment on those items (the reference), the latest per item and source
    SELECT item_id, source_id, duration_ms, created_at, CAST(to_json({col}) AS VARCHAR) AS answer FROM votes
    WHERE source_kind = 'human' AND {col} IS NOT NULL AND item_id IN (SELECT item_id FROM scope)
    QUALIFY row_number() OVER (PARTITION BY item_id, source_id ORDER BY created_at DESC, vote_id DESC) = 1
)
SELECT v.item_id, v.source_id, v.answer, v.created_at,
    CASE WHEN v.duration_ms > 0 THEN ln(v.duration_ms / 1000.0) END AS log_s,
    g.item_id IS NOT NULL AS on_gold, v.answer = g.answer AS correct,
    v.created_at > coalesce(s.t, '-infinity'::TIMESTAMPTZ) AS fresh,
    r.item_id IS NOT NULL AS in_window,
    coalesce(src.paused, false) OR coalesce(src.banned, false) AS judged_already
FROM v LEFT JOIN g USING (item_id) LEFT JOIN since s USING (source_id)
LEFT JOIN recent r USING (item_id, source_id)
LEFT JOIN sources src USING (source_id)
"""


def load_judgments(con: duckdb.DuckDBPyConnection, column: str, recent: int = 500) -> int:
    """Build `JUDGMENTS` from `votes`/`gold` (`column`: the kind's storage column); returns its rows.

    Bounded by `recent` judgments per annotator (`in_window`), plus every judgment on a gold item
    (`gold_drift` needs each annotator's whole gold history) and every other annotator's judgment on
    those items (the reference): the cost follows the number of annotators, not of votes.
    `judged_already`: paused or banned sources are not judged again (their judgments still serve
    as reference). One table for the three rules, so the votes are scanned once per run.
    """
    slate = "(" + ", ".join(f"'{a}'" for a in CLEAN_SLATE) + ")"
    con.execute(_LOAD.format(t=JUDGMENTS, col=column, slate=slate), {"recent": recent}).fetchall()
    return int(con.execute(f"SELECT count(*) FROM {JUDGMENTS}").fetchall()[0][0])


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _gold_scores(con: duckdb.DuckDBPyConnection, cfg: BehaviourConfig) -> dict[str, tuple[int, int, float, float]]:
    """(gold answers, correct, Wilson low, high) per source, over their fresh judgments."""
    rows = con.execute(f"SELECT source_id, count(*), count(*) FILTER (WHERE correct) FROM {JUDGMENTS}"
                       " WHERE fresh AND on_gold AND in_window GROUP BY 1").fetchall()
    if not rows:
        return {}
    n = np.array([r[1] for r in rows], np.float64)
    c = np.array([r[2] for r in rows], np.float64)
    low, high = wilson_interval(c, n, cfg.confidence)
    return {r[0]: (int(r[1]), int(r[2]), float(lo), float(hi)) for r, lo, hi in zip(rows, low, high)}


_FAST = """
WITH base AS (SELECT item_id, source_id, fresh, in_window, judged_already, log_s FROM {t} WHERE log_s IS NOT NULL),
centre AS (SELECT median(log_s) AS med FROM base),
proj AS (SELECT c.med, 1.4826 * median(abs(b.log_s - c.med)) AS scale FROM base b, centre c GROUP BY c.med),
loo AS (  -- the item's mean log-time among the OTHER annotators, from window sums (no self-join);
          -- clipped, so one task left open for an hour does not make everyone else look fast
    SELECT b.source_id, b.fresh, b.in_window, b.judged_already, b.log_s,
        (sum(least(b.log_s, p.med + 3 * p.scale)) OVER w - least(b.log_s, p.med + 3 * p.scale))
            / nullif(count(*) OVER w - 1, 0) AS item_others,
        count(*) OVER w - 1 AS n_others
    FROM base b, proj p WINDOW w AS (PARTITION BY b.item_id)
),
scored AS (
    SELECT l.source_id, l.log_s, (l.log_s - l.item_others) / p.scale AS z_item, (l.log_s - p.med) / p.scale AS z_proj
    FROM loo l, proj p
    WHERE l.fresh AND l.in_window AND NOT l.judged_already AND l.n_others >= $min_others AND p.scale > 0
)
SELECT s.source_id, count(*) AS n, count(*) FILTER (WHERE z_item < -$z AND z_proj < -$z) AS n_fast,
    exp(median(s.log_s)) AS median_seconds, median(z_item) AS median_z_item,
    (SELECT exp(med) FROM proj) AS project_median_seconds
FROM scored s GROUP BY 1 ORDER BY 1
"""


def too_fast(con: duckdb.DuckDBPyConnection, cfg: BehaviourConfig) -> list[Finding]:
    """Annotators most of whose judgments are far quicker than both the item's and the project's usual time.

    Times are compared on the log scale (durations are skewed: a 2 s answer next to a 20 s median
    is as odd as 20 s next to 200 s), in robust standard deviations of the project's log-times
    (1.4826 × MAD: a few stuck-open tasks of an hour must not widen the scale). A judgment counts
    as fast only when it is fast for its item too, so an easy item answered quickly by everyone
    is not held against anyone. Speed is not a fault in itself: an annotator whose gold accuracy
    interval reaches `expert_accuracy` (with at least `min_gold_for_expert` gold answers; exact
    agreement here, or the kind's own score in `source_stats`) is
    flagged but not paused; one without enough gold yet is flagged and paused only once the gold
    evidence says they are not that good.
    """
    rows = _rows(con, _FAST.format(t=JUDGMENTS), {"z": cfg.fast_z, "min_others": cfg.min_item_others})
    gold = _gold_scores(con, cfg)
    # the kind's own gold score (span F1, a label set's overlap), written by this consensus run, may
    # clear an annotator whom exact agreement undersells
    kind_score = {r[0]: (int(r[1]), float(r[2])) for r in con.execute(
        "SELECT source_id, n_gold, gold_high FROM source_stats WHERE gold_high IS NOT NULL").fetchall()}
    out = []
    for r in rows:
        if r["n"] < cfg.min_judgments or r["n_fast"] < cfg.fast_share * r["n"]:
            continue
        share = r["n_fast"] / r["n"]
        n_gold, correct, low, high = gold.get(r["source_id"], (0, 0, 0.0, 1.0))
        evidence = {"judgments": r["n"], "fast": r["n_fast"], "fast_share": round(share, 3),
                    "median_seconds": round(r["median_seconds"], 2),
                    "project_median_seconds": round(r["project_median_seconds"], 2),
                    "median_z_item": round(r["median_z_item"], 2), "z_threshold": cfg.fast_z,
                    "gold_answers": n_gold, "gold_correct": correct,
                    "gold_accuracy": round(correct / n_gold, 3) if n_gold else None,
                    "gold_low": round(low, 3), "gold_high": round(high, 3)}
        said = (f"{share:.0%} of {r['n']} judgments were far faster than the item's and the project's usual time "
                f"(median {r['median_seconds']:.1f} s against {r['project_median_seconds']:.1f} s)")
        enough = n_gold >= cfg.min_gold_for_expert
        k_gold, k_high = kind_score.get(r["source_id"], (0, 0.0))
        if k_gold >= cfg.min_gold_for_expert and k_high >= cfg.expert_accuracy > high:
            evidence.update(kind_gold_answers=k_gold, kind_gold_high=round(k_high, 3))
            reason = (f"{said}; not paused: the kind's gold score over {k_gold} answers reaches "
                      f"{k_high:.0%} at the top of its interval")
            out.append(Finding(r["source_id"], "too_fast", reason, evidence, pause=False))
        elif enough and high >= cfg.expert_accuracy:
            reason = (f"{said}; not paused: gold accuracy {correct}/{n_gold} "
                      f"(interval {low:.0%}–{high:.0%}) is consistent with {cfg.expert_accuracy:.0%} or better")
            out.append(Finding(r["source_id"], "too_fast", reason, evidence, pause=False))
        elif enough:
            reason = (f"{said}, and gold accuracy {correct}/{n_gold} (interval {low:.0%}–{high:.0%}) "
                      f"is below {cfg.expert_accuracy:.0%}")
            out.append(Finding(r["source_id"], "too_fast", reason, evidence, pause=True))
        else:
            reason = f"{said}; waiting for {cfg.min_gold_for_expert} gold answers (has {n_gold}) before pausing"
            out.append(Finding(r["source_id"], "too_fast", reason, evidence, pause=False))
    return out


_STRAIGHT = """
WITH mine AS (SELECT item_id, source_id, answer FROM {t} WHERE fresh AND in_window AND NOT judged_already),
top AS (  -- each judged annotator's most frequent answer
    SELECT source_id, arg_max(answer, k) AS answer FROM (SELECT source_id, answer, count(*) AS k FROM mine GROUP BY 1, 2)
    GROUP BY 1
),
counts AS (SELECT item_id, answer, count(*) AS c FROM {t} GROUP BY 1, 2),
per_item AS (SELECT item_id, count(*) AS n FROM {t} GROUP BY 1),
consensus AS (
    SELECT item_id, CAST(to_json({col}) AS VARCHAR) AS answer FROM labels WHERE {col} IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY updated_at DESC) = 1
),
-- the reference on each of the annotator's items: the share of the other people's answers that are
-- the annotator's top answer (leave-one-out counts), or, where nobody else answered, the consensus label
per AS (
    SELECT m.source_id, m.answer = t.answer AS same,
        CASE WHEN pi.n > 1 THEN (coalesce(c.c, 0) - (m.answer = t.answer)::INTEGER) / (pi.n - 1)
             WHEN l.item_id IS NOT NULL THEN (l.answer = t.answer)::INTEGER END AS p
    FROM mine m JOIN top t USING (source_id) JOIN per_item pi USING (item_id)
    LEFT JOIN counts c ON c.item_id = m.item_id AND c.answer = t.answer
    LEFT JOIN consensus l ON l.item_id = m.item_id
)
SELECT t.source_id, t.answer, count(p.p) AS m, coalesce(sum(p.p), 0) AS expected,
    count(p.p) FILTER (WHERE p.same) AS k
FROM top t LEFT JOIN per p USING (source_id)
GROUP BY 1, 2 ORDER BY 1
"""


def straight_lining(con: duckdb.DuckDBPyConnection, cfg: BehaviourConfig, column: str) -> list[Finding]:
    """Annotators whose most frequent answer is far more frequent than the reference says it should be.

    The expected share of that answer is the mean, over the annotator's own items, of how often the
    reference gives it there (others' answers, else the consensus label), so a project whose items
    are 80% one class does not make everyone a straight-liner, and one whose annotator happened to
    get the easy, uniform part of the queue is not either. One-sided binomial test (k of m items,
    expected share p0, smoothed by half an item), plus a minimum excess: with thousands of
    judgments a tiny, harmless preference would also be "significant".
    """
    rows = _rows(con, _STRAIGHT.format(t=JUDGMENTS, col=column))
    out = []
    for r in rows:
        m, k = int(r["m"]), int(r["k"])
        if m < cfg.min_judgments:
            continue
        p0 = (float(r["expected"]) + 0.5) / (m + 1)
        share = k / m
        p_value = float(binom.sf(k - 1, m, p0))
        if p_value >= cfg.straight_alpha or share - p0 < cfg.straight_excess:
            continue
        shown = r["answer"] if len(r["answer"]) <= 60 else r["answer"][:57] + "..."
        evidence = {"answer": r["answer"], "items": m, "same_answer": k, "share": round(share, 3),
                    "expected_share": round(p0, 3), "p_value": p_value, "alpha": cfg.straight_alpha}
        reason = (f"gave {shown} on {k} of {m} items ({share:.0%}) where the other annotators and the consensus "
                  f"give it on {p0:.0%} (binomial p = {p_value:.1e})")
        out.append(Finding(r["source_id"], "straight_lining", reason, evidence))
    return out


def gold_drift(con: duckdb.DuckDBPyConnection, cfg: BehaviourConfig) -> list[Finding]:
    """Annotators whose last `drift_window` gold answers are clearly worse than their earlier ones.

    One-sided two-proportion z-test (earlier better than recent), only with at least a window of
    earlier answers too and a drop of at least `drift_min_drop`: a bad week, not a bad day.
    """
    w = cfg.drift_window
    rows = con.execute(
        f"SELECT source_id, list(correct::INTEGER ORDER BY created_at, item_id) FROM {JUDGMENTS}"
        " WHERE fresh AND on_gold AND NOT judged_already GROUP BY 1 HAVING count(*) >= ? ORDER BY 1",
        [2 * w]).fetchall()
    out = []
    for source_id, seq in rows:
        a = np.asarray(seq, np.float64)
        early, recent = a[:-w], a[-w:]
        pe, pr = early.mean(), recent.mean()
        pooled = a.mean()
        se = np.sqrt(pooled * (1 - pooled) * (1 / len(early) + 1 / len(recent)))
        p_value = float(norm.sf((pe - pr) / se)) if se > 0 else 1.0
        if p_value >= cfg.drift_alpha or pe - pr < cfg.drift_min_drop:
            continue
        evidence = {"earlier_accuracy": round(pe, 3), "earlier_answers": len(early), "recent_accuracy": round(pr, 3),
                    "recent_answers": len(recent), "drop": round(pe - pr, 3), "p_value": p_value,
                    "alpha": cfg.drift_alpha}
        reason = (f"gold accuracy fell from {pe:.0%} ({len(early)} earlier answers) to {pr:.0%} "
                  f"on the last {len(recent)} (one-sided p = {p_value:.1e})")
        out.append(Finding(source_id, "gold_drift", reason, evidence))
    return out


def evaluate(con: duckdb.DuckDBPyConnection, cfg: BehaviourConfig, column: str) -> list[Finding]:
    """Every rule over the current judgments (`column`: the kind's storage column)."""
    load_judgments(con, column, cfg.recent_judgments)
    try:
        return too_fast(con, cfg) + straight_lining(con, cfg, column) + gold_drift(con, cfg)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {JUDGMENTS}").fetchall()
