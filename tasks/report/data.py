"""The series behind the quality dashboard and the HTML report, computed in DuckDB, JSON-ready.

Every view reads only generic tables (items, votes, labels, sources, source_stats, export_versions,
metric_history, annotator_events), never a kind's columns, so every answer kind is covered as it is.
History is a long table: a view selects metrics by name (and for agreement, by scope alone), so a
new kind's metric, or a new agreement coefficient, shows up as one more series without a change here.

Votes are aggregated where they live (DuckDB): per day and per source, with quantiles of
`duration_ms`; Python only ever sees one row per source, day, run or version.

A series is `{"name", "x": [epoch ms], "y": [...], "low": [...] | None, "high": [...] | None,
"n": [...]}`; `low`/`high` are interval bounds (Wilson for accuracies, bootstrap for alpha, quartiles
for times), as `metric_history` stores them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import duckdb

from tasks.history import names as m

__all__ = [
    "SAMPLE_ROWS",
    "STATE_ORDER",
    "accuracy_over_time",
    "agreement_over_time",
    "audit_precision",
    "cost_over_time",
    "dashboard_data",
    "funnel",
    "headline",
    "judgments_per_day",
    "label_drift",
    "leaderboard",
    "queue_depth",
    "throughput",
    "time_per_item",
    "vote_counts",
    "vote_times",
    "vote_views",
]

# Pipeline order of item states (migration 001); a state not listed here is shown after them.
STATE_ORDER = ("new", "prelabeled", "queued", "auto_accepted", "resolved", "adjudicate")
_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
_QUANTILE_NAMES = ("p10", "p25", "median", "p75", "p90")
SAMPLE_ROWS = 1_000_000


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}


def _series(con: duckdb.DuckDBPyConnection, where: str, params: list[Any], name_sql: str) -> list[dict[str, Any]]:
    """History rows matching `where`, one series per distinct `name_sql`, points in time order.

    Lists are built by DuckDB (`list(... ORDER BY measured_at)`), so Python handles one row per series;
    values are rounded to 5 decimals (a plot needs no more, and the page's data shrinks by half).
    """
    rows = con.execute(
        f"""SELECT {name_sql} AS name,
                   list(epoch_ms(measured_at) ORDER BY measured_at), list(round(value, 5) ORDER BY measured_at),
                   list(round(low, 5) ORDER BY measured_at), list(round(high, 5) ORDER BY measured_at), list(n ORDER BY measured_at),
                   max(measured_at) AS last
            FROM metric_history WHERE {where} GROUP BY ALL HAVING count(*) > 0 ORDER BY name""", params).fetchall()
    out = []
    for name, x, y, low, high, n, _ in rows:
        bands = any(v is not None for v in low) or any(v is not None for v in high)
        out.append({"name": name, "x": x, "y": y, "low": low if bands else None, "high": high if bands else None, "n": n})
    return out


def _named(scope_col: str = "subject", metric: bool = False) -> str:
    """A series name: the subject ('' = the whole project), with the metric when several are mixed."""
    subj = f"CASE WHEN {scope_col} = '' THEN 'all' ELSE {scope_col} END"
    return f"metric || CASE WHEN {scope_col} = '' THEN '' ELSE ' · ' || {scope_col} END" if metric else subj


def judgments_per_day(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Human judgments per UTC day, counted from the votes themselves (exact)."""
    rows = con.execute(
        """SELECT epoch_us(created_at) // 86400000000 * 86400000 AS d, count(*) FROM votes
           WHERE source_kind = 'human' GROUP BY d ORDER BY d""").fetchall()
    return {"name": "judgments per day", "x": [r[0] for r in rows], "y": [r[1] for r in rows]}


def throughput(con: duckdb.DuckDBPyConnection, per_day: dict[str, Any], history: bool = True) -> dict[str, Any]:
    """`judgments_per_day` beside the judgments of each stage run (history `judgments`)."""
    per_run = _series(con, "scope = ? AND subject = '' AND metric = ?", [m.PROJECT, m.JUDGMENTS],
                      "'judgments per run'") if history else []
    return {"per_day": per_day, "per_run": per_run[0] if per_run else None}


def vote_views(con: duckdb.DuckDBPyConnection, memo: dict[str, Any] | None = None) -> tuple[list, dict, dict]:
    """`vote_counts`, `vote_times` and `judgments_per_day`: the only views that scan the votes.

    With a `memo` (the app keeps one per project) they are computed again only when the votes changed:
    collect appends (the count grows), pre-labelling replaces machine votes (the newest time moves).
    The key costs a few milliseconds (DuckDB answers count and min/max from table metadata and zone maps).
    """
    key = con.execute("SELECT count(*), min(created_at), max(created_at) FROM votes").fetchall()[0]
    if memo is not None and memo.get("key") == key:
        return memo["views"]
    counts = vote_counts(con)
    views = (counts, vote_times(con, counts), judgments_per_day(con))
    if memo is not None:
        memo.update(key=key, views=views)
    return views


def queue_depth(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Open work and expired leases over time, whichever scope (project or one queue) recorded them."""
    return _series(con, "scope = ? AND metric IN (?, ?)", [m.PROJECT, m.QUEUE_DEPTH, m.LEASE_EXPIRIES], _named(metric=True))


def vote_counts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """Exact judgments per source (every kind of source) as (source_id, kind, judgments), busiest first."""
    return con.execute("""SELECT source_id, any_value(source_kind), count(*) AS judgments FROM votes
                          GROUP BY source_id ORDER BY judgments DESC, source_id""").fetchall()


def vote_times(con: duckdb.DuckDBPyConnection, counts: list[tuple[str, str, int]],
               sample_rows: int = SAMPLE_ROWS) -> dict[str, dict[str, float]]:
    """Seconds per judgment of each human source: p10, p25, median, p75, p90.

    Up to `sample_rows` votes the quantiles are exact. Beyond, they come from a fixed-seed sample of
    about `sample_rows` votes (DuckDB's block sample: it reads only the sampled blocks, so the cost
    stays flat as votes grow); a human source of `counts` the sample missed (few votes) gets exact
    quantiles of its own. At a million sampled votes a quantile's rank is off by well under 0.1%.
    """
    total = sum(c[2] for c in counts)
    pct = 100.0 * sample_rows / total if total > sample_rows else None
    timed = "source_kind = 'human' AND duration_ms >= 0"

    def quantiles(source: str, where: str, params: list[Any] | None = None) -> dict[str, dict[str, float]]:
        rows = con.execute(f"SELECT source_id, quantile_cont(duration_ms, {list(_QUANTILES)}) FROM {source} "
                           f"WHERE {where} GROUP BY source_id", params or []).fetchall()
        return {sid: {k: round(v / 1000, 3) for k, v in zip(_QUANTILE_NAMES, q)} for sid, q in rows}

    if pct is None:
        return quantiles("votes", timed)
    out = quantiles(f"votes TABLESAMPLE {pct:.6f}% (system, 14)", timed)
    missed = [sid for sid, kind, _ in counts if kind == "human" and sid not in out]
    if missed:
        out.update(quantiles("votes", f"{timed} AND list_contains(?, source_id)", [missed]))
    return out


def time_per_item(counts: list[tuple[str, str, int]], times: dict[str, dict[str, float]],
                  limit: int = 40) -> list[dict[str, Any]]:
    """The time distribution of the `limit` busiest human sources (the plot's rows), with their judgments."""
    return [{"source": sid, "n": n, **times[sid]} for sid, _, n in counts if sid in times][:limit]


def _busiest(con: duckdb.DuckDBPyConnection, metric: str, top: int) -> list[str]:
    """The sources with the most evidence in their latest `metric` row, humans first."""
    return [r[0] for r in con.execute(
        """SELECT h.subject FROM metric_history h LEFT JOIN sources s ON s.source_id = h.subject
           WHERE h.scope = ? AND h.metric = ?
           GROUP BY h.subject, s.kind ORDER BY (s.kind = 'human') DESC, arg_max(h.n, h.measured_at) DESC NULLS LAST, h.subject
           LIMIT ?""", [m.SOURCE, metric, top]).fetchall()]


def accuracy_over_time(con: duckdb.DuckDBPyConnection, top: int = 8) -> list[dict[str, Any]]:
    """Gold accuracy with its interval per source, for the `top` sources with the most gold evidence."""
    subjects = _busiest(con, m.GOLD_ACCURACY, top)
    if not subjects:
        return []
    return _series(con, "scope = ? AND metric = ? AND list_contains(?, subject)", [m.SOURCE, m.GOLD_ACCURACY, subjects],
                   "subject")


def agreement_over_time(con: duckdb.DuckDBPyConnection, limit: int = 12) -> list[dict[str, Any]]:
    """The project's alpha (with its interval), then every coefficient a kind recorded under scope
    'agreement' (`fleiss`, `span_f1.strict`, a new kind's own: each its own series, named by its key),
    then alpha per label; at most `limit` series, so a project with many labels keeps the kind's ones."""
    series = _series(con, "(scope IN (?, ?) AND metric = ?) OR (scope = ? AND metric = ?)",
                     [m.PROJECT, m.LABEL, m.ALPHA, m.AGREEMENT, m.VALUE],
                     f"CASE WHEN scope = '{m.AGREEMENT}' THEN subject ELSE {_named(metric=True)} END")
    rank = {m.ALPHA: 0}
    return sorted(series, key=lambda s: rank.get(s["name"], 2 if s["name"].startswith(m.ALPHA + " · ") else 1))[:limit]


def audit_precision(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    """Precision of auto-accepted labels as measured by human audits, and the share auto-accepted."""
    return {"precision": _series(con, "metric = ? AND scope IN (?, ?)", [m.AUDIT_PRECISION, m.PROJECT, m.LABEL], _named()),
            "share": _series(con, "metric = ? AND scope = ?", [m.AUTO_ACCEPT_SHARE, m.PROJECT], "'auto-accepted share'")}


def cost_over_time(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Cost per label and per resolved item (project), and per label value where history has it."""
    return _series(con, "metric IN (?, ?) AND scope IN (?, ?)",
                   [m.COST_PER_LABEL, m.COST_PER_RESOLVED_ITEM, m.PROJECT, m.LABEL], _named(metric=True))


def label_drift(con: duckdb.DuckDBPyConnection, pending: dict[str, Any] | None = None) -> dict[str, Any]:
    """Label shares of each export version (manifest `label_distribution`) and the total-variation
    distance of each version from the one before it (half the sum of absolute share differences).

    `pending` (`{"version", "label_distribution"}`) is a version being exported that is not recorded yet.
    """
    versions = [(v, json.loads(m).get("label_distribution") or {}) for v, m in con.execute(
        "SELECT version, CAST(manifest AS VARCHAR) FROM export_versions ORDER BY created_at, version").fetchall()]
    if pending:
        versions.append((pending["version"], pending.get("label_distribution") or {}))
    labels = sorted({k for _, d in versions for k in d})
    shares = []
    for _, d in versions:
        total = sum(d.values()) or 1
        shares.append([d.get(k, 0) / total for k in labels])
    tvd = [None] + [round(sum(abs(a - b) for a, b in zip(p, q)) / 2, 4) for p, q in pairwise(shares)]
    return {"versions": [v for v, _ in versions], "labels": labels,
            "shares": {k: [round(s[i], 4) for s in shares] for i, k in enumerate(labels)},
            "counts": [sum(d.values()) for _, d in versions], "tvd": tvd}


def funnel(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Items by state now (pipeline order) and labels by decision."""
    states = dict(con.execute("SELECT state, count(*) FROM items GROUP BY state").fetchall())
    order = [s for s in STATE_ORDER if s in states] + sorted(set(states) - set(STATE_ORDER))
    decisions = dict(con.execute("SELECT decision, count(*) FROM labels GROUP BY decision ORDER BY decision").fetchall())
    return {"states": order, "counts": [states[s] for s in order], "total": sum(states.values()), "decisions": decisions}


def leaderboard(con: duckdb.DuckDBPyConnection, has: set[str], counts: list[tuple[str, str, int]],
                times: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per source that voted: judgments, gold accuracy with interval, agreement, seconds per
    judgment (median), cost, the trend of gold accuracy over history, flags, paused and banned, and the
    latest behaviour event (`annotator_events`: a rule's flag or pause, a re-qualification, a manual action) with its reason.

    `has` is the set of tables present (a database from before migration 006 has no history);
    `counts` and `times` are `vote_counts` and `vote_times` (votes are read once for every view).
    """
    hist = "metric_history" in has
    events = "annotator_events" in has
    paused = "paused" in _columns(con, "sources")
    sql = f"""
        WITH h AS ({f'''SELECT subject AS source_id,
                   arg_max(value, measured_at) FILTER (WHERE metric = '{m.COST}') AS cost,
                   arg_min(value, measured_at) FILTER (WHERE metric = '{m.GOLD_ACCURACY}') AS acc_first,
                   arg_max(value, measured_at) FILTER (WHERE metric = '{m.GOLD_ACCURACY}') AS acc_last,
                   count(*) FILTER (WHERE metric = '{m.GOLD_ACCURACY}') AS acc_points
                FROM metric_history WHERE scope = '{m.SOURCE}' GROUP BY subject''' if hist else
                "SELECT NULL::VARCHAR AS source_id, NULL::DOUBLE AS cost, NULL::DOUBLE AS acc_first, NULL::DOUBLE AS acc_last, 0 AS acc_points LIMIT 0"}),
        e AS ({'''SELECT source_id, count(*) FILTER (WHERE action = 'flag') AS flags,
                   string_agg(DISTINCT rule, ', ' ORDER BY rule) FILTER (WHERE action = 'flag') AS rules,
                   arg_max(action, created_at) AS last_action, arg_max(reason, created_at) AS last_reason
                FROM annotator_events GROUP BY source_id''' if events else
                "SELECT NULL::VARCHAR AS source_id, 0 AS flags, NULL::VARCHAR AS rules, NULL::VARCHAR AS last_action,"
                " NULL::VARCHAR AS last_reason LIMIT 0"}),
        ids AS (SELECT unnest(?) AS source_id)
        SELECT ids.source_id, s.kind, st.gold_accuracy, st.gold_low, st.gold_high, st.n_gold,
               st.agreement_with_consensus, st.learned_accuracy, h.cost,
               CASE WHEN h.acc_points > 1 THEN h.acc_last - h.acc_first END,
               coalesce(e.flags, 0), e.rules, {'coalesce(s.paused, false)' if paused else 'false'}, coalesce(s.banned, false),
               e.last_action, e.last_reason
        FROM ids LEFT JOIN sources s USING (source_id) LEFT JOIN source_stats st USING (source_id)
             LEFT JOIN h USING (source_id) LEFT JOIN e USING (source_id)"""
    keys = ("source", "kind", "gold_accuracy", "gold_low", "gold_high", "n_gold", "agreement", "learned_accuracy", "cost",
            "accuracy_trend", "flags", "flag_rules", "paused", "banned", "last_action", "last_reason")
    facts = {r[0]: dict(zip(keys, r)) for r in con.execute(sql, [[c[0] for c in counts]]).fetchall()}
    return [{**facts[sid], "kind": facts[sid]["kind"] or kind, "judgments": n,
             "seconds_per_judgment": times.get(sid, {}).get("median")} for sid, kind, n in counts]


def _last(series: list[dict[str, Any]], name: str = "all") -> dict[str, Any] | None:
    for s in series:
        if s["name"] == name and s["y"]:
            i = len(s["y"]) - 1
            return {"value": s["y"][i], "low": (s["low"] or [None] * (i + 1))[i], "high": (s["high"] or [None] * (i + 1))[i]}
    return None


def headline(data: dict[str, Any]) -> dict[str, Any]:
    """The few numbers shown above the plots, taken from the views (never computed twice)."""
    f = data["funnel"]
    board = data["leaderboard"]
    agreement = data["agreement"]
    return {
        "items": f["total"],
        "resolved_share": (f["counts"][f["states"].index("resolved")] / f["total"]) if "resolved" in f["states"] and f["total"] else None,
        "human_judgments": sum(b["judgments"] for b in board if b["kind"] == "human"),
        "annotators": sum(1 for b in board if b["kind"] == "human"),
        "flagged": sum(1 for b in board if b["flags"]),
        "paused": sum(1 for b in board if b["paused"]),
        "agreement": ({"name": agreement[0]["name"], **_last(agreement, agreement[0]["name"])} if agreement else None),
        "audit_precision": _last(data["audit"]["precision"]),
        "cost_per_label": _last(data["cost"], "cost_per_label"),
        "queue_depth": _last(data["queue"], "queue_depth"),
    }


def dashboard_data(con: duckdb.DuckDBPyConnection, *, project: str | None = None,
                   pending_version: dict[str, Any] | None = None, memo: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every view of the dashboard for the project in `con` (read-only is enough); `memo`: see `vote_views`."""
    has = _tables(con)
    hist = "metric_history" in has
    if project is None and "projects" in has:
        rows = con.execute("SELECT name FROM projects ORDER BY updated_at DESC LIMIT 1").fetchall()
        project = rows[0][0] if rows else None
    counts, times, per_day = vote_views(con, memo)
    runs = con.execute("SELECT count(DISTINCT run_id), max(measured_at) FROM metric_history").fetchall()[0] if hist else (0, None)
    data: dict[str, Any] = {
        "project": project,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "history_runs": runs[0],
        "last_measured_at": runs[1].isoformat() if runs[1] else None,
        "throughput": throughput(con, per_day, hist),
        "queue": queue_depth(con) if hist else [],
        "time_per_item": time_per_item(counts, times),
        "accuracy": accuracy_over_time(con) if hist else [],
        "agreement": agreement_over_time(con) if hist else [],
        "audit": audit_precision(con) if hist else {"precision": [], "share": []},
        "cost": cost_over_time(con) if hist else [],
        "drift": label_drift(con, pending_version),
        "funnel": funnel(con),
        "leaderboard": leaderboard(con, has, counts, times),
    }
    data["headline"] = headline(data)
    return data

