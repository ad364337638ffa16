"""Labeling-function analysis (Snorkel's `lf_summary` and more), computed inside DuckDB.

Columns per LF (shares of all items, as in Snorkel): polarity (labels it emitted), coverage (items it
labeled), overlap (items it labeled that another labeling function also labeled), conflict (items it
labeled where another labeling function gave a different label; models are compared with LFs too),
n_gold / correct / accuracy with a 95% Wilson interval on gold, and the learned accuracy of the
combiner (or label model).
"""

from __future__ import annotations

import duckdb

from tasks.prelabel.routing import wilson_interval

__all__ = ["consensus_learned", "lf_summary"]


def lf_summary(con: duckdb.DuckDBPyConnection, units: tuple[str, str], learned: dict[str, float] | None = None,
               kinds: tuple[str, ...] = ("lf",)) -> list[dict]:
    """One row per machine source of the given kinds, from the stored votes, items and gold.

    `units` is the answer kind's (votes, gold) SQL as `item_id, unit, value` rows (`vote_units_sql`): a
    single-label vote is one unit per item, a multi-label vote one per label it spoke on. Coverage,
    overlap and conflict count items; gold accuracy counts units.
    """
    vote_units, gold_units = units
    n_items = con.execute("SELECT count(*) FROM items").fetchall()[0][0] or 1
    kind_list = list(kinds)
    rows = con.execute(
        f"""
        WITH v AS (
            SELECT item_id, source_id, source_kind, unit, value AS label FROM ({vote_units})
            WHERE source_kind IN (SELECT unnest(?::VARCHAR[]))
        ),
        per_item AS (  -- overlap and conflict are counted against labeling functions only
            SELECT item_id, unit, count(*) AS n_lf FROM v WHERE source_kind = 'lf' GROUP BY item_id, unit
        ),
        mine AS (
            SELECT v.source_id, v.item_id, v.unit, v.label,
                   coalesce(p.n_lf, 0) - (v.source_kind = 'lf')::INT AS n_other,
                   EXISTS (SELECT 1 FROM v w WHERE w.item_id = v.item_id AND w.unit = v.unit AND w.source_kind = 'lf'
                           AND w.source_id <> v.source_id AND w.label <> v.label) AS conflicted
            FROM v LEFT JOIN per_item p USING (item_id, unit)
        ),
        g AS ({gold_units})
        SELECT s.source_id, s.kind, s.version,
               coalesce(list_sort(list_distinct(list(m.label))), []) AS polarity,
               count(DISTINCT m.item_id) AS n_labeled,
               count(DISTINCT m.item_id) FILTER (WHERE m.n_other > 0) AS n_overlap,
               count(DISTINCT m.item_id) FILTER (WHERE m.conflicted) AS n_conflict,
               count(g.item_id) AS n_gold,
               count(g.item_id) FILTER (WHERE g.value = m.label) AS n_correct,
               (SELECT count(*) FROM votes a WHERE a.source_id = s.source_id) AS n_votes
        FROM sources s LEFT JOIN mine m ON m.source_id = s.source_id
             LEFT JOIN g ON g.item_id = m.item_id AND g.unit = m.unit
        WHERE s.kind IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY ALL ORDER BY s.source_id
        """,
        [kind_list, kind_list],
    ).fetchall()
    out = []
    for sid, kind, version, polarity, n_lab, n_ov, n_conf, n_gold, n_ok, n_votes in rows:
        lo, hi = wilson_interval(n_ok, n_gold)
        out.append(
            {
                "source_id": sid,
                "kind": kind,
                "version": version,
                "polarity": ",".join(polarity),
                "votes": int(n_votes),
                "coverage": round(n_lab / n_items, 4),
                "overlap": round(n_ov / n_items, 4),
                "conflict": round(n_conf / n_items, 4),
                "n_gold": int(n_gold),
                "gold_correct": int(n_ok),
                "gold_accuracy": round(n_ok / n_gold, 4) if n_gold else None,
                "gold_acc_low": round(lo, 4) if lo is not None else None,
                "gold_acc_high": round(hi, 4) if hi is not None else None,
                "learned_accuracy": round(learned[sid], 4) if learned and sid in learned else None,
            }
        )
    return out


def consensus_learned(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Each source's accuracy as the last consensus run learned it (`source_stats.learned_accuracy`): the learned
    accuracy of a kind whose machine votes are weighed by consensus beside people's rather than by a combiner."""
    return dict(con.execute("SELECT source_id, learned_accuracy FROM source_stats WHERE learned_accuracy IS NOT NULL").fetchall())
