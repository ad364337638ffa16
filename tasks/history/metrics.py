"""What each stage run measures for history: small aggregates over the project's DuckDB tables.

Every function returns an Arrow table of `ROW_SCHEMA` (scope, subject, metric, value, low, high, n)
— the part of a `metric_history` row the run itself does not supply. A stage measures what it can
have changed (collect: judgments and their time; consensus: agreement, accuracy, labels; ...), so a
run costs a few grouped scans, never a copy of votes. Nothing here knows an answer kind by name:
label counts go through the kind's `consensus.label_values_sql`, and whatever numbers a kind's
agreement summary carries that no rule below names are written as `agreement/<key>` rows, so a new
kind's measures (span F1, box IoU) reach the dashboard without a change here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from schemas.config import ProjectConfig
from tasks.history.cost import PAID_KINDS, cost_summary, resolve_rate, source_costs
from tasks.history.names import (
    AGREEMENT,
    ALPHA,
    AUDIT_PRECISION,
    AUTO_ACCEPT_SHARE,
    COST,
    COST_PER_LABEL,
    COST_PER_RESOLVED_ITEM,
    COST_TOTAL,
    GOLD_ACCURACY,
    JUDGMENTS,
    KAPPA,
    LABEL,
    LEASE_EXPIRIES,
    PAIR,
    PROJECT,
    QUEUE_DEPTH,
    SECONDS_PER_JUDGMENT,
    SHARE,
    SOURCE,
    VALUE,
)
from tasks.kinds import kind_of
from tasks.prelabel.routing import wilson_interval
from tasks.review.stats import review_history

__all__ = ["ROW_SCHEMA", "RunContext", "measure", "metrics_for_stage"]

ROW_SCHEMA = pa.schema([("scope", pa.string()), ("subject", pa.string()), ("metric", pa.string()),
                        ("value", pa.float64()), ("low", pa.float64()), ("high", pa.float64()), ("n", pa.int64())])

_PAID = "source_kind IN ('" + "', '".join(PAID_KINDS) + "')"
_DONE = ("resolved", "auto_accepted")
"""Item states that carry a final label (resolved_share)."""
_OPEN = ("pending", "pushed")
"""Assignment states still waiting for an annotator (queue_depth)."""
_AGREEMENT_TAKEN = {"alpha", "low", "high", "per_label", "lowest"}
"""Agreement keys with their own rows (project alpha, label alpha, pair kappa); every other number that
is not a count is generic."""


@dataclass(frozen=True)
class RunContext:
    cfg: ProjectConfig
    run_id: str
    stage: str
    stats: Mapping[str, Any] = field(default_factory=dict)


Row = tuple[str, str, str, float | None, float | None, float | None, int | None]


def _num(x: Any) -> float | None:
    """A finite float or None: history stores no NaN (a missing measure is NULL)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _table(rows: Iterable[Row]) -> pa.Table:
    rows = [r for r in rows if r[3] is not None]
    cols = list(zip(*rows)) if rows else [[] for _ in ROW_SCHEMA]
    return pa.table([pa.array([(_num(x) if i in (3, 4, 5) else x) for x in c], ROW_SCHEMA.field(i).type)
                     for i, c in enumerate(cols)], schema=ROW_SCHEMA)


def _wilson(k: int, n: int) -> tuple[float | None, float | None]:
    return wilson_interval(int(k), int(n)) if n else (None, None)


# -- items, decisions, queue ----------------------------------------------------------------------

def items(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> pa.Table:
    """The funnel: items per state, per label decision, and the share that carries a final label."""
    by_state = con.execute("SELECT state, count(*) FROM items GROUP BY state").fetchall()
    total = sum(n for _, n in by_state)
    done = sum(n for s, n in by_state if s in _DONE)
    rows: list[Row] = [("project", "", "items_total", total, None, None, total),
                       ("project", "", "resolved_share", done / total if total else None, None, None, total)]
    rows += [("state", s, "items", n, None, None, n) for s, n in by_state]
    rows += [("decision", d, "items", n, None, None, n)
             for d, n in con.execute("SELECT decision, count(*) FROM labels GROUP BY decision").fetchall()]
    return _table(rows)


def queue(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> pa.Table:
    """Open assignments (waiting or out with an annotator) and the queue's lease expiries so far."""
    depth = con.execute("SELECT count(*) FROM assignments WHERE state IN ('" + "', '".join(_OPEN) + "')").fetchall()[0][0]
    rows: list[Row] = [(PROJECT, "", QUEUE_DEPTH, depth, None, None, depth)]
    if ctx.stats.get("lease_expiries") is not None:  # only a queue that counts them reports them
        rows.append((PROJECT, "", LEASE_EXPIRIES, ctx.stats["lease_expiries"], None, None, None))
    return _table(rows)


# -- judgments (collect) -------------------------------------------------------------------------

_RUN_JUDGMENTS = f"""
SELECT coalesce(source_id, '') AS source_id, count(*) AS n, count(duration_ms) AS timed,
       quantile_cont(duration_ms / 1000.0, [0.25, 0.5, 0.75]) AS q
FROM votes WHERE run_id = $run AND {_PAID}
GROUP BY GROUPING SETS ((), (source_id))
"""


def judgments(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> pa.Table:
    """This run's human judgments and their time (median, quartiles as low/high), overall and per source."""
    rows: list[Row] = []
    for sid, n, timed, q in con.execute(_RUN_JUDGMENTS, {"run": ctx.run_id}).fetchall():
        scope = SOURCE if sid else PROJECT
        rows.append((scope, sid, JUDGMENTS, n, None, None, n))
        if timed:
            rows.append((scope, sid, SECONDS_PER_JUDGMENT, q[1], q[0], q[2], timed))
    if not any(r[0] == "project" for r in rows):
        rows.append(("project", "", "judgments", 0, None, None, 0))
    total = con.execute(f"SELECT count(*) FROM votes WHERE {_PAID}").fetchall()[0][0]
    rows.append(("project", "", "judgments_total", total, None, None, total))
    return _table(rows)


# -- sources (consensus) ---------------------------------------------------------------------------

def sources(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> pa.Table:
    """Each source's standing after consensus: accuracy on gold (Wilson), learned accuracy, agreement."""
    rows: list[Row] = []
    for sid, n, n_gold, acc, lo, hi, learned, agree in con.execute(
            "SELECT source_id, n_votes, n_gold, gold_accuracy, gold_low, gold_high, learned_accuracy,"
            " agreement_with_consensus FROM source_stats").fetchall():
        rows += [("source", sid, "judgments_total", n, None, None, n),
                 (SOURCE, sid, GOLD_ACCURACY, acc, lo, hi, n_gold),
                 ("source", sid, "learned_accuracy", learned, None, None, n),
                 ("source", sid, "agreement_with_consensus", agree, None, None, n)]
    return _table(rows)


# -- agreement (consensus) -------------------------------------------------------------------------

def _is_evidence(key: str) -> bool:
    """Keys with rows of their own, or counts (`n_votes`, `n_pairs`, `n_boot`) that are evidence, not agreement."""
    return key in _AGREEMENT_TAKEN or key.startswith("n_")


def agreement_rows(agreement: Mapping[str, Any]) -> list[Row]:
    """Rows from a consensus outcome's agreement summary, whatever the kind put in it.

    alpha (+ interval) is the project's; per-label alphas go to `label/<label>`, annotator pairs to
    `pair/<a|b>`; every other number — top level or one dict down (`span_f1.strict`) — becomes
    `agreement/<key>`, counts (`n_*`) aside: they are the evidence, not a measure."""
    n_items = agreement.get("n_items")
    rows: list[Row] = [(PROJECT, "", ALPHA, agreement.get("alpha"), _num(agreement.get("low")),
                        _num(agreement.get("high")), n_items)]
    for r in agreement.get("per_label") or []:
        if isinstance(r, Mapping) and r.get("label") is not None:
            rows.append((LABEL, str(r["label"]), ALPHA, r.get("alpha"), None, None,
                         r.get("n_items", r.get("n_votes"))))
    pairs = agreement.get("pairs")
    for p in (pairs.get("lowest") or []) if isinstance(pairs, Mapping) else []:
        if isinstance(p, Mapping) and p.get("source_a") and p.get("source_b"):
            rows.append((PAIR, f"{p['source_a']}|{p['source_b']}", KAPPA, p.get("kappa"), None, None,
                         p.get("n_shared")))
    for key, v in agreement.items():
        if _is_evidence(key):
            continue
        if isinstance(v, Mapping):
            rows += [(AGREEMENT, f"{key}.{k2}", VALUE, v2, None, None, v.get("n_items", n_items))
                     for k2, v2 in v.items() if not _is_evidence(k2) and _num(v2) is not None]
        elif _num(v) is not None:
            rows.append((AGREEMENT, key, VALUE, v, None, None, n_items))
    return rows


def consensus(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> pa.Table:
    """Agreement of the stored consensus outcome (also on a run that found its inputs unchanged)."""
    got = con.execute("SELECT agreement FROM consensus_state ORDER BY updated_at DESC LIMIT 1").fetchall()
    agreement = json.loads(got[0][0]) if got and got[0][0] else {}
    return _table(agreement_rows(agreement) if isinstance(agreement, Mapping) else [])


# -- labels ----------------------------------------------------------------------------------------

def _resolved_labels(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig) -> list[tuple[str, int]]:
    values = kind_of(cfg).consensus.label_values_sql
    return con.execute(f"SELECT lab, count(*) FROM (SELECT unnest({values}) AS lab FROM labels"
                       " WHERE decision = 'resolved') GROUP BY lab ORDER BY lab").fetchall()


def labels(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> pa.Table:
    """The label distribution of resolved items (as the kind counts labels: a set's members, span types)."""
    counts = [(str(lab), n) for lab, n in _resolved_labels(con, ctx.cfg) if lab is not None]
    total = sum(n for _, n in counts)
    return _table([r for lab, n in counts for r in (("label", lab, "resolved", n, None, None, n),
                                                    (LABEL, lab, SHARE, n / total, None, None, total))])


# -- cost ------------------------------------------------------------------------------------------

def _vote_totals(con: duckdb.DuckDBPyConnection, by_assignment: bool) -> pa.Table:
    """Votes and judgment time per source (and kind of assignment, only when rates depend on it)."""
    task = "coalesce(a.kind, 'label')" if by_assignment else "'label'"
    join = ("LEFT JOIN (SELECT assignment_id, any_value(kind) AS kind FROM assignments GROUP BY 1) a"
            " ON a.assignment_id = v.assignment_id") if by_assignment else ""
    return con.sql(f"SELECT v.source_id, any_value(v.source_kind) AS source_kind, {task} AS task,"
                   " count(*) AS judgments, coalesce(sum(v.duration_ms), 0)::DOUBLE AS ms"
                   f" FROM votes v {join} GROUP BY v.source_id, task").to_arrow_table()


def _machine_spend(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """What model runs spent on their own (an LLM's tokens at its prices), summed per source from each run's record."""
    return dict(con.execute(
        "SELECT 'model:' || substr(stage, 16) AS source_id, sum(TRY_CAST(stats ->> 'cost' AS DOUBLE)) FROM stage_runs"
        " WHERE stage LIKE 'prelabel.model.%' AND TRY_CAST(stats ->> 'cost' AS DOUBLE) > 0 GROUP BY 1").fetchall())


def cost(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> pa.Table:
    """Spend so far per source and per resolved item/label, and the saving against fixed overlap."""
    cfg = ctx.cfg
    per_source = source_costs(_vote_totals(con, bool(cfg.cost.assignments)), cfg.cost, kind_of(cfg).name, _machine_spend(con))
    resolved = con.execute("SELECT count(*) FROM labels WHERE decision = 'resolved'").fetchall()[0][0]
    n_labels = sum(n for _, n in _resolved_labels(con, cfg))
    n_fixed = cfg.cost.fixed_overlap or cfg.overlap.max
    s = cost_summary(per_source, resolved, n_labels, n_fixed,
                     resolve_rate(cfg.cost, "", "label", kind_of(cfg).name)[0])
    rows: list[Row] = [(SOURCE, sid, COST, c, None, None, n) for sid, c, n in zip(
        per_source.column("source_id").to_pylist(), per_source.column("cost").to_pylist(),
        per_source.column("judgments").to_pylist())]
    rows += [(PROJECT, "", COST_TOTAL, s.total, None, None, s.human_judgments),
             ("project", "", "cost_human", s.human, None, None, s.human_judgments),
             ("project", "", "cost_machine", s.machine, None, None, None),
             (PROJECT, "", COST_PER_RESOLVED_ITEM, s.per_resolved_item, None, None, resolved),
             (PROJECT, "", COST_PER_LABEL, s.per_label, None, None, n_labels),
             ("project", "", "cost_fixed_overlap", s.fixed_overlap_cost, None, None, s.fixed_overlap),
             ("project", "", "cost_saved", s.saved, None, None, resolved)]
    return _table(rows)


# -- prelabel --------------------------------------------------------------------------------------

def prelabel_lfs(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> pa.Table:
    """What each labeling function did in this run: items evaluated and votes cast."""
    rows: list[Row] = []
    for r in ctx.stats.get("lfs") or []:
        sid = f"lf:{r['name']}"
        rows += [("lf", sid, "evaluated", r.get("evaluated"), None, None, r.get("evaluated")),
                 ("lf", sid, "votes", r.get("voted"), None, None, r.get("evaluated"))]
    return _table(rows)


def prelabel_model(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> pa.Table:
    """What one model did in this run: items predicted and votes written."""
    sid = f"model:{ctx.stage.removeprefix('prelabel.model.')}"
    predicted = ctx.stats.get("predicted") or 0  # a skipped run (too few labels to train) predicted nothing
    rows: list[Row] = [("model", sid, "predicted", predicted, None, None, predicted),
                       ("model", sid, "votes", ctx.stats.get("inserted") or 0, None, None, predicted)]
    if "calls" in ctx.stats:  # a language model: what the run asked and paid (tasks/prelabel/llm_stage.py)
        calls = ctx.stats.get("calls") or 0
        rows += [("model", sid, m, ctx.stats.get(m) or 0, None, None, calls) for m in ("calls", "input_tokens", "output_tokens")]
        rows += [("model", sid, "spend", ctx.stats.get("cost") or 0.0, None, None, calls),
                 ("model", sid, "set_aside", ctx.stats.get("quarantined") or 0, None, None, calls)]
    return _table(rows)


def prelabel_route(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> pa.Table:
    """Auto-accept share, audit precision (Wilson), calibration (ECE on gold) and the combiner's learned
    accuracy of each LF and model, all from the routing report."""
    st = ctx.stats
    lo, hi = (st.get("audit_precision_interval") or [None, None])[:2]
    rows: list[Row] = [
        (PROJECT, "", AUTO_ACCEPT_SHARE, st.get("auto_accept_share"), None, None, st.get("routable")),
        (PROJECT, "", AUDIT_PRECISION, st.get("audit_precision"), lo, hi, st.get("audited")),
        ("project", "", "model_ece", st.get("ece"), None, None, st.get("gold")),
        ("project", "", "prelabel_gold_accuracy", st.get("gold_accuracy"), None, None, st.get("gold")),
    ]
    rows += [(_machine_scope(sid), sid, "learned_accuracy", acc, None, None, None)
             for sid, acc in (st.get("source_accuracy") or {}).items()]
    return _table(rows)


def _machine_scope(source_id: str) -> str:
    return "model" if source_id.startswith("model:") else "lf"


def prelabel_sources(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> pa.Table:
    """Each LF's and model's coverage, conflict and gold accuracy (Wilson) from the kind's LF analysis
    (`prelabel.lf_summary`, recorded by `lf_report`: measured once, by the prelabel flow or `lf-report`)."""
    rows: list[Row] = []
    for r in ctx.stats.get("sources") or []:
        scope, sid = ("model" if r.get("kind") == "model" else "lf"), r["source_id"]
        rows += [(scope, sid, "coverage", r.get("coverage"), None, None, r.get("votes")),
                 (scope, sid, "conflict", r.get("conflict"), None, None, r.get("votes")),
                 (scope, sid, "gold_accuracy", r.get("gold_accuracy"), r.get("gold_acc_low"), r.get("gold_acc_high"),
                  r.get("n_gold"))]
    return _table(rows)


# -- which stage measures what ---------------------------------------------------------------------

Measure = Callable[[duckdb.DuckDBPyConnection, RunContext], pa.Table]

_BY_STAGE: dict[str, tuple[Measure, ...]] = {
    "ingest": (items,),
    "gold": (items,),
    "prelabel.lfs": (prelabel_lfs,),
    "prelabel.route": (items, prelabel_route),
    "prelabel.lf_report": (prelabel_sources,),
    "dispatch": (items, queue),
    "collect": (judgments, queue, cost, review_history),
    "consensus": (items, sources, consensus, labels, cost, review_history),
    "export": (items, labels, cost),
}


def metrics_for_stage(stage: str) -> tuple[Measure, ...]:
    """The measures of a stage; a stage this table does not know (a new one) records the item funnel."""
    if stage.startswith("prelabel.model."):
        return (prelabel_model, cost)
    return _BY_STAGE.get(stage, (items,))


def measure(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> pa.Table:
    """Every row a stage run writes, unique by (scope, subject, metric)."""
    return pa.concat_tables([m(con, ctx) for m in metrics_for_stage(ctx.stage)])
