"""What changed between two versions, computed by DuckDB over their Parquet files (one full outer join).

Result: items added (in B only), removed (in A only), kept; relabeled items with from -> to counts per
answer pair; confidence changes among kept items; for a kind whose answers have parts (spans), the
parts added, removed and kept per label (`parts`). Answers compare as the text the version's kind gives
them (`export.diff_key_sql`: a label; a set as sorted labels joined by `|`). Reads only item_id, the
answer and confidence from the files, so it stays fast at 10M rows.
"""

from __future__ import annotations

from typing import Any

import duckdb

from schemas.config import ProjectConfig
from tasks import kinds
from tasks.export import versions as V
from tasks.export.writers import parquet_list_sql

__all__ = ["diff_files", "diff_markdown", "diff_versions"]

_EPS = 1e-9


def _kind(files: list, con: duckdb.DuckDBPyConnection, kind: str | None) -> str:
    """A version's kind: named in its manifest, else the kind whose answer column the files carry (files
    diffed without a manifest)."""
    if kind is None:
        cols = set(con.sql(f"SELECT * FROM {parquet_list_sql(files)} LIMIT 0").columns)
        kind = next((n for n in kinds.names() if kinds.get(n).export.column in cols), None)
        if kind is None:
            raise ValueError(f"no answer column of a known kind in {files[0]} (columns {sorted(cols)})")
    return kind


def _unit_changes(con: duckdb.DuckDBPyConnection, a_files: list, b_files: list, ua: str, ub: str) -> dict[str, Any]:
    """Parts of answers (e.g. spans) added and removed between the versions, in total and per label, over
    items in both versions and items in only one (all of whose parts count as added or removed)."""
    q = f"""
    WITH a AS (SELECT item_id, unnest({ua}) AS u FROM {parquet_list_sql(a_files)}),
         b AS (SELECT item_id, unnest({ub}) AS u FROM {parquet_list_sql(b_files)}),
         j AS (SELECT coalesce(a.u.label, b.u.label) AS label, a.item_id IS NOT NULL AS in_a, b.item_id IS NOT NULL AS in_b
               FROM a FULL OUTER JOIN b ON a.item_id = b.item_id AND a.u.unit = b.u.unit)
    SELECT label, count(*) FILTER (WHERE in_b AND NOT in_a), count(*) FILTER (WHERE in_a AND NOT in_b),
           count(*) FILTER (WHERE in_a AND in_b)
    FROM j GROUP BY label ORDER BY label NULLS LAST"""
    rows = con.execute(q).fetchall()
    return {"added": sum(r[1] for r in rows), "removed": sum(r[2] for r in rows), "kept": sum(r[3] for r in rows),
            "by_label": {str(k): {"added": ad, "removed": rm, "kept": kp} for k, ad, rm, kp in rows}}


def _facet(kind: str) -> Any:
    return kinds.get(kind).export


def diff_files(a_files: list, b_files: list, *, memory_limit: str = "1GB", examples: int = 5,
               kinds: tuple[str | None, str | None] = (None, None)) -> dict[str, Any]:
    """Diff two sets of export Parquet files (see the module docstring for the fields); `kinds` names each
    side's answer kind (from its manifest) when known."""
    with duckdb.connect(config={"memory_limit": memory_limit, "preserve_insertion_order": "false"}) as con:
        ka, kb = _kind(a_files, con, kinds[0]), _kind(b_files, con, kinds[1])
        la, lb = _facet(ka).diff_key_sql(), _facet(kb).diff_key_sql()
        ua, ub = _facet(ka).diff_units_sql(), _facet(kb).diff_units_sql()
        units = _unit_changes(con, a_files, b_files, ua, ub) if ua and ub else None
        q = f"""
        WITH a AS (SELECT item_id, {la} AS label, confidence FROM {parquet_list_sql(a_files)}),
             b AS (SELECT item_id, {lb} AS label, confidence FROM {parquet_list_sql(b_files)}),
             j AS (SELECT a.item_id IS NOT NULL AS in_a, b.item_id IS NOT NULL AS in_b, coalesce(a.item_id, b.item_id) AS item_id,
                          a.label AS la, b.label AS lb, b.confidence - a.confidence AS dc
                   FROM a FULL OUTER JOIN b ON a.item_id = b.item_id)
        SELECT in_a, in_b, la, lb, count(*) AS n,
               count(*) FILTER (WHERE abs(dc) > {_EPS}) AS n_conf_changed,
               count(*) FILTER (WHERE dc > {_EPS}) AS n_up, count(*) FILTER (WHERE dc < -{_EPS}) AS n_down,
               sum(dc) AS sum_dc, sum(abs(dc)) AS sum_abs_dc, max(abs(dc)) AS max_abs_dc,
               min(item_id) AS example
        FROM j GROUP BY ALL ORDER BY n DESC, la NULLS FIRST, lb NULLS FIRST
        """
        groups = con.execute(q).fetchall()
    added = removed = kept = relabeled = 0
    pairs, added_by, removed_by = [], {}, {}
    n_changed = n_up = n_down = 0
    sum_dc = sum_abs = 0.0
    max_abs = 0.0
    ex_added, ex_removed = [], []
    for in_a, in_b, la_, lb_, n, nc, up, down, sdc, sadc, madc, example in groups:
        if in_a and in_b:
            kept += n
            n_changed += nc
            n_up += up
            n_down += down
            sum_dc += sdc or 0.0
            sum_abs += sadc or 0.0
            max_abs = max(max_abs, madc or 0.0)
            if la_ != lb_:
                relabeled += n
                pairs.append({"from": la_, "to": lb_, "count": n, "example": example})
        elif in_b:
            added += n
            added_by[str(lb_)] = added_by.get(str(lb_), 0) + n
            if len(ex_added) < examples:
                ex_added.append(example)
        else:
            removed += n
            removed_by[str(la_)] = removed_by.get(str(la_), 0) + n
            if len(ex_removed) < examples:
                ex_removed.append(example)
    pairs.sort(key=lambda p: (-p["count"], str(p["from"]), str(p["to"])))
    return {
        "added": added,
        "removed": removed,
        "kept": kept,
        "relabeled": relabeled,
        "unchanged_label": kept - relabeled,
        "added_by_label": dict(sorted(added_by.items())),
        "removed_by_label": dict(sorted(removed_by.items())),
        "relabel_pairs": pairs,
        "confidence": {
            "changed": n_changed,
            "increased": n_up,
            "decreased": n_down,
            "mean_delta": (sum_dc / kept) if kept else 0.0,
            "mean_abs_delta": (sum_abs / kept) if kept else 0.0,
            "max_abs_delta": max_abs,
        },
        "examples": {"added": ex_added, "removed": ex_removed},
        **({"parts": units} if units is not None else {}),
    }


def diff_versions(cfg: ProjectConfig, a: str | None, b: str | None) -> dict[str, Any]:
    """Diff version `a` (older) against `b` (newer); either may be `latest`."""
    va, vb = V.resolve_version(cfg, a), V.resolve_version(cfg, b)
    ma, mb = V.read_manifest(cfg, va), V.read_manifest(cfg, vb)
    out = diff_files(V.data_files(cfg, va), V.data_files(cfg, vb), memory_limit=cfg.export.memory_limit,
                     kinds=(ma.get("task_kind"), mb.get("task_kind")))
    return {"a": va, "b": vb, "a_rows": ma["row_counts"]["total"], "b_rows": mb["row_counts"]["total"],
            "same_content": ma["content_hash"] == mb["content_hash"], **out}


def diff_markdown(d: dict[str, Any], max_pairs: int = 50) -> str:
    """The diff as a Markdown report (Prefect artifact, README examples)."""
    c = d["confidence"]
    lines = [
        f"# Export diff {d['a']} → {d['b']}",
        "",
        "| | items |",
        "|---|---:|",
        f"| rows in {d['a']} | {d['a_rows']:,} |",
        f"| rows in {d['b']} | {d['b_rows']:,} |",
        f"| added | {d['added']:,} |",
        f"| removed | {d['removed']:,} |",
        f"| relabeled | {d['relabeled']:,} |",
        f"| confidence changed | {c['changed']:,} (up {c['increased']:,}, down {c['decreased']:,}) |",
        "",
        f"Mean confidence change {c['mean_delta']:+.4f}, mean absolute {c['mean_abs_delta']:.4f}, max {c['max_abs_delta']:.4f}.",
    ]
    if "parts" in d:  # a kind whose answers have parts: what changed inside them
        p = d["parts"]
        lines += ["", f"Answer parts: {p['added']:,} added, {p['removed']:,} removed, {p['kept']:,} kept.",
                  "", "| label | added | removed | kept |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {v['added']:,} | {v['removed']:,} | {v['kept']:,} |" for k, v in p["by_label"].items()]
    if d["relabel_pairs"]:
        lines += ["", "| from | to | items | example item |", "|---|---|---:|---|"]
        lines += [f"| {p['from']} | {p['to']} | {p['count']:,} | `{p['example']}` |" for p in d["relabel_pairs"][:max_pairs]]
    return "\n".join(lines) + "\n"
