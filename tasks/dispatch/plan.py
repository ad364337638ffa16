"""Which assignments dispatch creates: the overlap policy and the gold mix, as queries over state.

Read-only over the state database; returns the new `assignments` rows as Arrow. Every id is
`md5(item_id, kind, round, slot)` and every count is derived from the assignments already stored,
so planning again after the rows were written returns nothing (`insert_missing` is the backstop).

Work selected (one item never has two open label slots at once):
- fresh items: `state = 'queued'` (pre-label routing), or `state = 'new'` when the project has no
  pre-labelers, with no assignment yet and no gold answer → `overlap.initial` slots, kind `label`,
  round 0; items `state = 'auto_accepted' AND audit` → one slot of kind `audit`;
- consensus `needs_more` (latest `labels` row), once every slot of the item is answered and the
  consensus has counted them (`labels.n_human >= done slots`, or, where a ban removed votes from
  the count, consensus ran after the last human vote was stored: else a ban held such items back
  for good): adaptive → one more slot (round + 1)
  while below `overlap.max` slots, else adjudication; fixed → adjudication;
- consensus `adjudicate` (or `items.state = 'adjudicate'`): one `adjudication` slot (experts only;
  the app enforces the role);
- an item whose machine label a reviewer rejected (`reviews`, collect set it `queued`) counts as fresh
  until it has label slots. Review assignments (`tasks/review`) never count as an item's slots.
Gold: untargeted gold slots so that gold makes up `gold.rate` of all tasks, spread over the gold
items with the fewest slots (at most one slot per known annotator per item, since nobody sees an
item twice), plus targeted slots (`annotator_id` set) topping every known annotator up to
`gold.min_per_annotator`, on gold items that annotator has not had and that hold fewer slots than
there are annotators (a slot beyond that could never be served). Gold and audit slots take
priorities from the work around them, so neither their content nor their place in an annotator's
stream sets them apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa

from schemas.config import OverlapPolicy, ProjectConfig

__all__ = ["ASSIGNMENT_COLUMNS", "PLANNED", "assignment_id_sql", "plan_assignments", "plan_gold", "plan_work"]

ASSIGNMENT_COLUMNS = pa.schema([
    ("assignment_id", pa.string()),
    ("item_id", pa.string()),
    ("queue", pa.string()),
    ("kind", pa.string()),
    ("round", pa.int32()),
    ("slot", pa.int32()),
    ("priority", pa.float64()),
    ("state", pa.string()),
    ("annotator_id", pa.string()),
])


def assignment_id_sql(item: str, kind: str, rnd: str, slot: str) -> str:
    """SQL expression of the deterministic assignment id."""
    return f"md5(concat_ws(chr(31), {item}, {kind}, CAST({rnd} AS VARCHAR), CAST({slot} AS VARCHAR)))"


_SLOTS = """
WITH latest AS (
    SELECT item_id, decision, n_human, updated_at FROM labels
    QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY updated_at DESC) = 1
),
hv AS (
    -- every stored human vote, banned sources' included: consensus has seen them even where it
    -- no longer counts them, so a ban cannot hold an item back from more votes forever
    SELECT item_id, count(*) AS n_votes, max(created_at) AS last_at FROM votes
    WHERE source_kind = 'human' GROUP BY item_id
),
a AS (
    SELECT item_id,
        count(*) FILTER (WHERE kind IN ('label', 'audit')) AS n_slots,
        count(*) FILTER (WHERE kind IN ('label', 'audit') AND state IN ('pending', 'pushed')) AS n_open,
        count(*) FILTER (WHERE kind IN ('label', 'audit') AND state = 'done') AS n_done,
        max(round) AS max_round,
        max(slot) FILTER (WHERE kind IN ('label', 'audit')) AS max_slot,
        count(*) FILTER (WHERE kind = 'adjudication') AS n_adj,
        count(*) FILTER (WHERE kind = 'adjudication' AND state IN ('pending', 'pushed')) AS n_adj_open,
        count(*) FILTER (WHERE kind = 'label') AS n_label
    FROM assignments WHERE kind NOT IN ('gold', 'review') GROUP BY item_id
),
sent_back AS (  -- a reviewer rejected the item's machine label: people label it from scratch
    SELECT DISTINCT item_id FROM reviews WHERE origin = 'machine' AND decision = 'reject'
),
work AS (
    -- fresh items: label slots 0..initial-1, or one audit slot
    SELECT i.item_id, CASE WHEN i.state = 'auto_accepted' THEN 'audit' ELSE 'label' END AS kind,
           0 AS round, s.slot, coalesce(i.priority, 0.0) AS priority
    FROM items i
    CROSS JOIN range(0, $initial) s(slot)
    WHERE (i.state = 'queued' OR (i.state = 'new' AND $treat_new)
           OR (i.state = 'auto_accepted' AND coalesce(i.audit, false) AND s.slot = 0))
      AND NOT EXISTS (SELECT 1 FROM a WHERE a.item_id = i.item_id
                      AND (a.n_label > 0 OR i.item_id NOT IN (SELECT item_id FROM sent_back)))
      AND NOT EXISTS (SELECT 1 FROM gold g WHERE g.item_id = i.item_id)
    UNION ALL
    -- consensus asks for more: one more slot while the budget lasts, else adjudication
    SELECT i.item_id,
           CASE WHEN $adaptive AND a.n_slots < $max THEN 'label' ELSE 'adjudication' END,
           a.max_round + 1,
           CASE WHEN $adaptive AND a.n_slots < $max THEN a.max_slot + 1 ELSE 0 END,
           coalesce(i.priority, 0.0) + $boost * CASE WHEN $adaptive AND a.n_slots < $max THEN 1 ELSE 2 END
    FROM items i JOIN a USING (item_id) JOIN latest l USING (item_id) LEFT JOIN hv USING (item_id)
    WHERE l.decision = 'needs_more' AND a.n_open = 0 AND a.n_adj = 0
      AND (l.n_human >= a.n_done OR (hv.n_votes >= a.n_done AND l.updated_at >= hv.last_at))
    UNION ALL
    -- adjudication asked for by consensus
    SELECT i.item_id, 'adjudication', coalesce(a.max_round, 0) + 1, 0, coalesce(i.priority, 0.0) + 2 * $boost
    FROM items i LEFT JOIN a USING (item_id) LEFT JOIN latest l USING (item_id)
    WHERE (l.decision = 'adjudicate' OR i.state = 'adjudicate')
      AND coalesce(a.n_adj, 0) = 0 AND coalesce(a.n_open, 0) = 0
)
SELECT DISTINCT ON (item_id, kind, round, slot)
    {aid} AS assignment_id, item_id, $queue AS queue, kind, round::INTEGER AS round,
    slot::INTEGER AS slot, priority::DOUBLE AS priority, 'pending' AS state, NULL::VARCHAR AS annotator_id
FROM work
ORDER BY priority DESC, item_id, slot
""".replace("{aid}", assignment_id_sql("item_id", "kind", "round", "slot"))


PLANNED = "_planned"


def plan_work(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, queue: str) -> int:
    """New label/audit/adjudication slots under the overlap policy, into the temp table `PLANNED`.

    The plan stays in DuckDB (which spills past its memory cap): at a million items it is three
    million rows, and nothing downstream needs them in Python. Returns the row count.
    """
    treat_new = not (cfg.prelabel.labeling_functions or cfg.prelabel.models)
    params = {
        "initial": cfg.overlap.initial, "max": cfg.overlap.max, "treat_new": treat_new,
        "adaptive": cfg.overlap.policy == OverlapPolicy.adaptive, "boost": cfg.overlap.followup_boost,
        "queue": queue,
    }
    con.execute(f"CREATE OR REPLACE TEMP TABLE {PLANNED} AS {_SLOTS}", params).fetchall()
    return int(con.execute(f"SELECT count(*) FROM {PLANNED}").fetchall()[0][0])


def _interleaved_priorities(prios: np.ndarray, n: int) -> list[float]:
    """Priorities that place `n` gold tasks evenly through this run's work (ties keep push order)."""
    prios = -np.sort(-prios)
    if not len(prios):
        return [0.0] * n
    at = np.minimum(len(prios) - 1, ((np.arange(n) + 0.5) * len(prios) / n).astype(np.int64))
    return prios[at].tolist()


def _targeted_priorities(stream: np.ndarray, n: int, rate: float) -> list[float]:
    """Priorities placing an annotator's `n` targeted gold tasks through the open work at the gold rate.

    `stream`: priorities of the open work, highest first (the order the annotator will be served).
    Gold j takes the priority of the work at rank (j + 1/2) / rate, so the annotator meets it among
    ordinary tasks at the rate untargeted gold has, not as the first tasks they are ever given (which
    would mark them as gold). Without a rate, the n tasks are spread over all the open work.
    """
    if not len(stream):
        return [0.0] * n
    step = 1.0 / rate if rate > 0 else len(stream) / max(n, 1)
    at = np.minimum(len(stream) - 1, ((np.arange(n) + 0.5) * step).astype(np.int64))
    return stream[at].tolist()


def _spread_audits(con: duckdb.DuckDBPyConnection) -> None:
    """Give this run's audit slots priorities interleaved through its label work, as gold gets.

    An audited item's own priority is low (the machine was sure of it), so audits would otherwise
    be served after all other work, which tells an annotator which tasks check the machine.
    """
    con.execute(f"""
        UPDATE {PLANNED} SET priority = w.priority FROM (
            SELECT a.assignment_id, l.priority
            FROM (SELECT assignment_id, row_number() OVER (ORDER BY priority DESC, assignment_id) - 1 AS k,
                         count(*) OVER () AS n FROM {PLANNED} WHERE kind = 'audit') a
            JOIN (SELECT priority, row_number() OVER (ORDER BY priority DESC, assignment_id) - 1 AS r,
                         count(*) OVER () AS m FROM {PLANNED} WHERE kind = 'label') l
              ON l.r = least(l.m - 1, floor((a.k + 0.5) * l.m / a.n))
        ) w WHERE {PLANNED}.assignment_id = w.assignment_id""").fetchall()


def _fill_evenly(counts: np.ndarray, need: int, cap: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Up to `need` new slots, each on the item with the fewest slots so far (ties: lower index).

    Returns (item index, slot number) per new slot, in the order that greedy rule picks them: every
    item below level l gets its slot l before any item gets slot l + 1. No slot reaches `cap`
    (nobody sees an item twice, so an item cannot have more slots than annotators).
    """
    if need <= 0 or len(counts) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    top = int(counts.max()) + -(-need // len(counts)) + 1  # levels enough for `need` picks
    if cap is not None:
        top = min(top, cap)
    per_item = np.maximum(0, top - counts)
    item = np.repeat(np.arange(len(counts)), per_item)
    first = np.cumsum(per_item) - per_item
    level = counts[item] + (np.arange(len(item)) - np.repeat(first, per_item))
    order = np.lexsort((item, level))[:need]
    return item[order], level[order]


def plan_gold(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, queue: str, work_priorities: np.ndarray,
              annotators: Sequence[str] | None) -> pa.Table:
    """Gold slots for this run: the rate share over all label/audit slots, then per-annotator minimums.

    `work_priorities`: the priority of every non-gold slot this run plans.

    `annotators` are the known, active, not banned annotator ids (None when the backend cannot
    list them: then only the rate applies, without a per-item cap).
    """
    g = cfg.gold
    gold_items = [r[0] for r in con.execute("SELECT item_id FROM gold ORDER BY item_id").fetchall()]
    if not gold_items or (g.rate == 0 and (g.min_per_annotator == 0 or not annotators)):
        return ASSIGNMENT_COLUMNS.empty_table()
    existing = dict(con.execute(
        "SELECT item_id, count(*) FROM assignments WHERE kind = 'gold' GROUP BY item_id").fetchall())
    n_label = con.execute(
        "SELECT count(*) FROM assignments WHERE kind IN ('label', 'audit')").fetchall()[0][0] + len(work_priorities)
    n_gold = sum(existing.values())
    cap = len(annotators) if annotators else None
    rows: list[dict] = []

    def add(item: str, prio: float, target: str | None) -> None:
        slot = existing.get(item, 0)
        existing[item] = slot + 1
        rows.append({"item_id": item, "kind": "gold", "round": 0, "slot": slot, "priority": prio,
                     "annotator_id": target})

    if g.rate > 0:
        want = math.ceil(g.rate * n_label / (1 - g.rate)) if g.rate < 1 else n_label
        need = max(0, want - n_gold)
        counts = np.array([existing.get(x, 0) for x in gold_items], dtype=np.int64)
        item_idx, slots = _fill_evenly(counts, need, cap)
        prios = _interleaved_priorities(work_priorities, len(item_idx))
        for i, slot, prio in zip(item_idx.tolist(), slots.tolist(), prios):
            existing[gold_items[i]] = slot + 1
            rows.append({"item_id": gold_items[i], "kind": "gold", "round": 0, "slot": slot, "priority": prio,
                         "annotator_id": None})
    if g.min_per_annotator and annotators:
        had = con.execute(
            "SELECT annotator_id, list(DISTINCT item_id) FROM assignments WHERE kind = 'gold' "
            "AND annotator_id IS NOT NULL GROUP BY annotator_id").fetchall()
        seen = {a: set(items) for a, items in had}
        open_work = con.sql("SELECT priority FROM assignments WHERE kind IN ('label', 'audit') "
                            "AND state IN ('pending', 'pushed')").fetchnumpy()["priority"]
        stream = -np.sort(-np.r_[np.asarray(open_work, dtype=np.float64), work_priorities])
        for ann in sorted(annotators):
            mine = seen.get(ann, set())
            # an item already holding a slot per annotator can take no more: one slot would stay unserved
            fresh = sorted((x for x in gold_items if x not in mine and (cap is None or existing.get(x, 0) < cap)),
                           key=lambda x: (existing.get(x, 0), x))
            fresh = fresh[:max(0, g.min_per_annotator - len(mine))]
            for item, prio in zip(fresh, _targeted_priorities(stream, len(fresh), g.rate)):
                add(item, prio, ann)
    if not rows:
        return ASSIGNMENT_COLUMNS.empty_table()
    t = pa.Table.from_pylist(rows)
    con.register("_gold_new", t)
    try:
        out = con.sql(
            f"SELECT {assignment_id_sql('item_id', 'kind', 'round', 'slot')} AS assignment_id, item_id,"
            " $queue AS queue, kind, round, slot, priority, 'pending' AS state, annotator_id FROM _gold_new",
            params={"queue": queue}).to_arrow_table()
    finally:
        con.unregister("_gold_new")
    return out.cast(ASSIGNMENT_COLUMNS)


def plan_assignments(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, queue: str,
                     annotators: Sequence[str] | None = None) -> int:
    """Every new assignment for one dispatch run (work, then gold) into the temp table `PLANNED`
    (`ASSIGNMENT_COLUMNS`); returns how many."""
    n = plan_work(con, cfg, queue)
    _spread_audits(con)
    prios = con.sql(f"SELECT priority FROM {PLANNED}").fetchnumpy()["priority"] if n else np.zeros(0)
    gold = plan_gold(con, cfg, queue, np.asarray(prios, dtype=np.float64), annotators)
    if gold.num_rows:
        con.register("_gold_planned", gold)
        try:
            con.execute(f"INSERT INTO {PLANNED} SELECT * FROM _gold_planned").fetchall()
        finally:
            con.unregister("_gold_planned")
    return n + gold.num_rows
