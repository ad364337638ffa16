"""The release gate: exact facts from DuckDB, per-row expectations in Great Expectations, an HTML report.

Why the split (it is what keeps a 10M-row gate within seconds and a bounded amount of memory):
converting 10M rows to pandas costs ~10 s and several GB, so GE never sees all of them. DuckDB scans
the candidate Parquet once and counts, exactly, the rows violating each per-row check, and computes the
aggregates (missing items, means, gold accuracy, label distribution). GE then validates

* a rows frame: every row when the candidate has at most `validation.sample_rows` rows, otherwise a
  deterministic hash sample of about that many rows PLUS up to `max_examples` violating rows per failing
  check; since every violated check has violating rows in the frame, each GE expectation fails exactly
  when the full candidate violates it (the reported counts are DuckDB's exact counts);
* a one-row facts frame with the exact aggregates, against the thresholds of `cfg.validation`.

What depends on the answer (is it present, in the label set, inside the text; how it compares with
gold; what its distribution counts; aggregates only the kind checks) comes from the project's kind
(`kind_of(cfg).export`); this module runs those checks the same way as its own.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from schemas.config import ProjectConfig
from schemas.expectations import CheckSpec, build_suite, fact_checks, row_checks
from schemas.tables import LABEL_METHODS
from tasks.export.reference import representativeness
from tasks.export.writers import parquet_list_sql
from tasks.kinds import kind_of

__all__ = ["CheckResult", "GateResult", "collect_facts", "label_distribution", "render_html", "rows_frame", "run_gate",
           "shift_checks", "total_variation"]


def _list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _violations(cfg: ProjectConfig, columns: list[str]) -> dict[str, str]:
    """SQL predicate per row check: true on a violating row (the names match schemas.expectations)."""
    kind_checks = {c.name: c.violation for c in kind_of(cfg).export.row_checks(cfg)}
    preds = {
        "item_id_not_null": "item_id IS NULL",
        **kind_checks,
        "confidence_not_null": "confidence IS NULL",
        "confidence_in_range": "confidence < 0 OR confidence > 1 OR isnan(confidence)",
        "content_present": "payload IS NULL AND uri IS NULL",
        "method_known": f"method IS NOT NULL AND NOT list_contains({_list(LABEL_METHODS)}, method)",
        "agreement_in_range": "agreement < -1 OR agreement > 1",
        "not_null_kind": "kind IS NULL",
        "not_null_method": "method IS NULL",
        "not_null_n_votes": "n_votes IS NULL",
        "not_null_n_human": "n_human IS NULL",
        "not_null_sources": "sources IS NULL",
    }
    if "split" in columns:
        preds["not_null_split"] = "split IS NULL"
    return preds


def label_distribution(con: duckdb.DuckDBPyConnection, src: str, cfg: ProjectConfig) -> dict[str, int]:
    """Counts per label as the kind counts them (`export.distribution_sql`: per label occurrence of a set,
    per span type), sorted by label."""
    inner = kind_of(cfg).export.distribution_sql(cfg, src)
    rows = con.execute(f"SELECT l, count(*) FROM ({inner}) GROUP BY l ORDER BY 1 NULLS LAST").fetchall()
    return {str(k): int(v) for k, v in rows}


def total_variation(p: dict[str, int], q: dict[str, int]) -> float:
    """Half the L1 distance between two label distributions given as counts (0 = same, 1 = disjoint)."""
    sp, sq = sum(p.values()), sum(q.values())
    if not sp or not sq:
        return 0.0 if sp == sq else 1.0
    return 0.5 * sum(abs(p.get(k, 0) / sp - q.get(k, 0) / sq) for k in set(p) | set(q))


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, (_plain(v) for v in r))) for r in cur.fetchall()]


def _plain(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return str(v)
    return v


def _adjacent_duplicates(files: list[Path]) -> tuple[int, bool]:
    """Extra copies of item ids in files sorted by item_id, streaming one column (no hash table of 10M ids).

    Returns (extra copies, whether the ids really were sorted); unsorted input makes the count invalid."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    dups, prev, ok = 0, None, True
    for f in files:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=1 << 20, columns=["item_id"]):
            ids = batch.column(0).drop_null()
            if len(ids) == 0:
                continue
            if prev is not None:
                first = ids[0].as_py()
                ok &= prev <= first
                dups += prev == first
            if len(ids) > 1:
                a, b = ids.slice(0, len(ids) - 1), ids.slice(1)
                ok &= not pc.any(pc.greater(a, b)).as_py()
                dups += pc.sum(pc.equal(a, b).cast("int64")).as_py() or 0
            prev = ids[-1].as_py()
    return int(dups), bool(ok)


def _null_counts(files: list[Path]) -> dict[str, int | None]:
    """Exact null count per top-level scalar column from the Parquet footers (None when a footer lacks it)."""
    import pyarrow.parquet as pq

    out: dict[str, int | None] = {}
    for f in files:
        md = pq.ParquetFile(f).metadata
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            for i in range(rg.num_columns):
                col = rg.column(i)
                name = col.path_in_schema
                if "." in name:  # a list's leaf: null lists and null elements are not told apart here
                    continue
                st = col.statistics
                n = st.null_count if st is not None and st.has_null_count else None
                prev = out.get(name, 0)
                out[name] = None if prev is None or n is None else prev + n
    return out


def collect_facts(
    con: duckdb.DuckDBPyConnection, files: list[Path], cfg: ProjectConfig, parent: dict | None,
    reference: dict | None = None, passed_over: list[str] = (),
) -> dict[str, Any]:
    """Exact facts about the candidate: violation counts per row check, aggregates, examples.

    `con` is the state database (for the resolved labels and gold); `parent` is the parent manifest and
    `reference` the manifest the label shift is measured against (tasks/export/reference.py), with
    `passed_over` saying why newer versions in the lineage were not used.
    Files from the exporter are sorted by item_id: with splits each split's files are, so duplicates are
    counted per split; rows sharing an id across splits still show as a mismatch between the id multisets.
    """
    src = parquet_list_sql(files)
    columns = con.sql(f"SELECT * FROM {src} LIMIT 0").columns
    preds = _violations(cfg, columns)
    # "col IS NULL" checks whose column has no null in any footer are exact zeros without a scan
    # (this skips reading the payload, the widest column).
    nulls = _null_counts(files)

    def provably_zero(pred: str) -> bool:
        cols = re.findall(r"(\w+) IS NULL", pred)
        if not cols or re.sub(r"\w+ IS NULL|\s|AND", "", pred):
            return False
        return any(nulls.get(c) == 0 for c in cols) if " AND " in pred else nulls.get(cols[0]) == 0

    scanned = {n: p for n, p in preds.items() if not provably_zero(p)}
    counts = "".join(f", count(*) FILTER (WHERE {p}) AS {n}" for n, p in scanned.items())
    fingerprint = "count(item_id), sum(hash(item_id)::HUGEINT), bit_xor(hash(item_id))"
    agg = con.execute(
        f"SELECT count(*), avg(confidence), avg(agreement), count(agreement), count(*) FILTER (WHERE n_human > 0),"
        f" {fingerprint}{counts} FROM {src}"
    ).fetchone()
    n_rows, mean_conf, mean_agr, n_agr, human_rows = agg[:5]
    cand_fp = agg[5:8]
    violations = dict.fromkeys(preds, 0) | {n: int(c) for n, c in zip(scanned, agg[8:])}
    n_items = con.execute("SELECT count(*) FROM items").fetchone()[0]
    v = cfg.validation
    ex = v.max_examples
    groups = {}
    for f in files:
        groups.setdefault(f.parent, []).append(f)
    dup_counts = [_adjacent_duplicates(g) for g in groups.values()]
    if all(ok for _, ok in dup_counts):
        extra_copies = sum(d for d, _ in dup_counts)
    else:  # not written by the exporter: count exactly with a hash aggregate
        extra_copies = con.execute(f"SELECT count(item_id) - count(DISTINCT item_id) FROM {src}").fetchone()[0]
    violations["item_once"] = int(extra_copies)
    examples: dict[str, list[dict]] = {}
    if violations["item_once"]:
        examples["item_once"] = _records(
            con, f"SELECT item_id, count(*) AS copies FROM {src} WHERE item_id IS NOT NULL GROUP BY ALL HAVING count(*) > 1"
            f" ORDER BY item_id LIMIT {ex}")
    # Every resolved item exactly once: compare the id multisets by fingerprint (count, sum and xor of
    # 64-bit hashes); only on a mismatch pay for the exact anti-joins that count and show the culprits.
    res_fp = con.execute(f"SELECT {fingerprint} FROM labels WHERE decision = 'resolved'").fetchone()
    missing = unexpected = 0
    resolved = "(SELECT DISTINCT item_id FROM labels WHERE decision = 'resolved')"
    if tuple(res_fp) != tuple(cand_fp):
        anti = "SELECT {a}.item_id FROM {A} {a} WHERE NOT EXISTS (SELECT 1 FROM {B} {b} WHERE {b}.item_id = {a}.item_id)"
        q_missing = anti.format(a="r", A=resolved, b="c", B=src)
        q_extra = anti.format(a="c", A=f"(SELECT DISTINCT item_id FROM {src} WHERE item_id IS NOT NULL)", b="r", B=resolved)
        missing = con.execute(f"SELECT count(*) FROM ({q_missing})").fetchone()[0]
        unexpected = con.execute(f"SELECT count(*) FROM ({q_extra})").fetchone()[0]
        if missing:
            examples["resolved_items_present"] = _records(con, f"{q_missing} ORDER BY 1 LIMIT {ex}")
        if unexpected:
            examples["only_resolved_items"] = _records(con, f"{q_extra} ORDER BY 1 LIMIT {ex}")
    gm = kind_of(cfg).export.gold_match(cfg)
    gold_from = f"FROM {src} c JOIN gold g ON g.item_id = c.item_id WHERE c.method <> 'gold' AND {gm.present}"
    gold_n, gold_correct = con.execute(f"SELECT count(*), count(*) FILTER (WHERE {gm.correct}) {gold_from}").fetchone()
    if gold_n > gold_correct:
        examples["min_gold_accuracy"] = _records(
            con, f"SELECT c.item_id, {gm.exported} AS exported, {gm.gold} AS gold, c.method, c.confidence {gold_from}"
            f" AND NOT ({gm.correct}) ORDER BY c.item_id LIMIT {ex}")
    dist = label_distribution(con, src, cfg)
    ref_dist = (reference or {}).get("label_distribution")
    shift = total_variation(dist, ref_dist) if ref_dist is not None else None
    if ref_dist is not None:
        n_p, n_c = sum(ref_dist.values()) or 1, sum(dist.values()) or 1
        examples["max_label_shift"] = [
            {"label": k, "reference_share": round(ref_dist.get(k, 0) / n_p, 4), "candidate_share": round(dist.get(k, 0) / n_c, 4)}
            for k in sorted(set(dist) | set(ref_dist))
        ]
    if mean_conf is not None and mean_conf < v.min_mean_confidence:
        examples["min_mean_confidence"] = _records(
            con, f"SELECT item_id, confidence, method FROM {src} ORDER BY confidence, item_id LIMIT {ex}")
    if n_agr and mean_agr < v.min_agreement:
        examples["min_agreement"] = _records(
            con, f"SELECT item_id, agreement, n_votes, n_human FROM {src} WHERE agreement IS NOT NULL"
            f" ORDER BY agreement, item_id LIMIT {ex}")
    # A kind's check shows first what it found wrong in the row (its frame columns), then the row.
    said = {c.name: "".join(f"{sql} AS {col}, " for col, sql in c.frame_columns.items())
            for c in kind_of(cfg).export.row_checks(cfg)}
    for name, pred in preds.items():
        if violations[name]:
            head = f"item_id, {said[name]}* EXCLUDE (item_id)" if said.get(name) else "*"
            examples[name] = _records(con, f"SELECT {head} FROM {src} WHERE {pred} ORDER BY item_id NULLS FIRST LIMIT {ex}")
    kind_facts = kind_of(cfg).export.fact_checks(con, src, cfg, reference)
    for fc in kind_facts:
        if fc.examples:
            examples[fc.name] = [dict(r) for r in fc.examples]
    facts = {
        "n_rows": int(n_rows),
        "n_expected": int(res_fp[0]),
        "missing_items": int(missing),
        "unexpected_items": int(unexpected),
        "mean_confidence": mean_conf,
        "mean_agreement": mean_agr,
        "n_agreement": int(n_agr),
        "gold_n": int(gold_n),
        "gold_correct": int(gold_correct),
        "gold_accuracy": (gold_correct / gold_n) if gold_n else None,
        "label_distribution": dist,
        "parent": (parent or {}).get("version"),
        "shift_reference": (reference or {}).get("version"),
        "shift_passed_over": list(passed_over),
        "label_shift": shift,
        "representativeness": representativeness(int(n_rows), int(n_items), int(human_rows)),
        "violations": violations,
        "examples": examples,
        "columns": columns,
        "predicates": preds,
    }
    if kind_facts:  # absent for kinds without any (choices), so their reports stay as they were
        facts["kind_facts"] = [{k: v for k, v in asdict(fc).items() if k != "examples"} for fc in kind_facts]
    # Each kind aggregate is a fact of its own, under its check's name (the facts frame's column).
    clash = [fc.name for fc in kind_facts if fc.name in facts]
    if clash:
        raise ValueError(f"kind {kind_of(cfg).name!r}: fact check names {clash} clash with the gate's own facts")
    return facts | {fc.name: fc.observed for fc in kind_facts}


def _schema(con: duckdb.DuckDBPyConnection, src: str) -> tuple[list[str], list[str]]:
    rel = con.sql(f"SELECT * FROM {src} LIMIT 0")
    return rel.columns, [str(t) for t in rel.types]


def rows_frame(con: duckdb.DuckDBPyConnection, files: list[Path], cfg: ProjectConfig, facts: dict) -> tuple[Any, str]:
    """The pandas frame GE checks row by row, and the mode ('all rows' or 'sample + violators')."""
    src = parquet_list_sql(files)[:-1] + ", filename = true, file_row_number = true)"
    n = facts["n_rows"]
    limit = cfg.validation.sample_rows
    if n <= limit:
        where, mode = "true", f"all {n:,} rows"
    else:
        m = max(2, n // limit)
        parts = [f"hash(item_id) % {m} = 0"]
        ex = cfg.validation.max_examples
        ids_twice = (
            f"item_id IN (SELECT item_id FROM {src} GROUP BY item_id HAVING count(*) > 1 ORDER BY item_id LIMIT {ex})"
        )
        for name, pred in facts["predicates"].items():
            if facts["violations"].get(name):
                parts.append(f"(filename, file_row_number) IN (SELECT (filename, file_row_number) FROM {src}"
                             f" WHERE {pred} ORDER BY filename, file_row_number LIMIT {ex})")
        if facts["violations"].get("item_once"):
            parts.append(ids_twice)
        where = " OR ".join(f"({p})" for p in parts)
        mode = f"hash sample of ~{n // m:,} of {n:,} rows + every check's violating rows (exact counts from DuckDB)"
    extra = "".join(f", {sql} AS {name}" for c in kind_of(cfg).export.row_checks(cfg) for name, sql in c.frame_columns.items())
    # Nested columns (lists, structs) go to GE as JSON text: GE hashes each batch's DataFrame and falls back
    # to pickling every cell when a column holds lists (seconds per 100k rows); row checks on an answer's
    # inside read the kind's frame columns instead.
    nested = [c for c, t in zip(*_schema(con, src)) if t.endswith("]") or t.startswith(("STRUCT", "MAP", "UNION"))]
    replace = f" REPLACE ({', '.join(f'to_json({c})::VARCHAR AS {c}' for c in nested)})" if nested else ""
    table = con.sql(
        f"SELECT * EXCLUDE (filename, file_row_number){replace},"
        f" (payload IS NOT NULL OR uri IS NOT NULL) AS has_content{extra}"
        f" FROM {src} WHERE {where} ORDER BY filename, file_row_number"
    ).to_arrow_table()
    return table.to_pandas(), mode


@dataclass
class CheckResult:
    name: str
    description: str
    frame: str
    success: bool | None  # None = skipped
    observed: Any = None
    threshold: Any = None
    unexpected_count: int | None = None
    examples: list[dict] = field(default_factory=list)
    note: str = ""


@dataclass
class GateResult:
    success: bool
    mode: str
    checks: list[CheckResult]
    facts: dict[str, Any]
    ge_statistics: dict[str, Any]

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.success is False]

    def summary(self) -> dict[str, Any]:
        """What the manifest keeps: outcome, mode and one line per check."""
        return {
            "success": self.success,
            "mode": self.mode,
            "checks": {c.name: {"success": c.success, "observed": c.observed, "threshold": c.threshold,
                                "unexpected_count": c.unexpected_count, **({"note": c.note} if c.note else {})}
                       for c in self.checks},
            "great_expectations": self.ge_statistics,
        }

    def to_json(self) -> str:
        return json.dumps({"summary": self.summary(), "checks": [asdict(c) for c in self.checks],
                           "facts": {k: v for k, v in self.facts.items() if k not in ("examples", "predicates")}},
                          indent=2, default=str)

    def failure_message(self, limit: int = 3) -> str:
        lines = []
        for c in self.failed:
            count = f", {c.unexpected_count:,} row(s)" if c.unexpected_count else ""
            lines.append(f"  - {c.name}: {c.description} (observed {_fmt(c.observed)}{count})")
            for r in c.examples[:limit]:
                lines.append("      e.g. " + json.dumps({k: v for k, v in r.items() if k not in ("payload",)}, default=str)[:240])
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _facts_frame(facts: dict) -> Any:
    import pandas as pd

    keys = ["missing_items", "unexpected_items", "mean_confidence", "mean_agreement", "gold_accuracy", "label_shift",
            *(k["name"] for k in facts.get("kind_facts", ()))]
    return pd.DataFrame([{k: (float(facts[k]) if facts[k] is not None else None) for k in keys}])


def _context() -> Any:
    """An in-memory GE context: no files, no data-docs site, no progress bars."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def _validate(ctx: Any, frame: Any, checks: list[CheckSpec], name: str) -> dict[str, dict]:
    """Run `checks` on `frame` in GE context `ctx`; returns GE's result per check name."""
    suite = ctx.suites.add(build_suite(f"annoflow-{name}", checks))
    batch = (
        ctx.data_sources.add_pandas(f"candidate-{name}")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    res = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5}).to_json_dict()
    out = {r["expectation_config"]["meta"]["check"]: r for r in res["results"]}
    out["_statistics"] = res["statistics"]
    return out


def shift_checks(facts: dict) -> set[str]:
    """The checks `--accept-shift` may accept: the label shift, and the kind's aggregates marked acceptable."""
    return {"max_label_shift"} | {k["name"] for k in facts.get("kind_facts", ()) if k.get("acceptable")}


def run_gate(frame: Any, mode: str, facts: dict, cfg: ProjectConfig, accept_shift: str | None = None) -> GateResult:
    """Validate the rows frame and the facts with Great Expectations; combine with DuckDB's exact counts.

    `accept_shift` (the user's reason) turns a failed shift check (`shift_checks`) into a pass noted as
    accepted; the caller records the acceptance in the manifest. No other check can be accepted."""
    rchecks = row_checks(cfg, has_split="split" in facts["columns"])
    fchecks, skipped = fact_checks(cfg, facts)
    ctx = _context()
    r_res = _validate(ctx, frame, rchecks, "rows")
    f_res = _validate(ctx, _facts_frame(facts), fchecks, "facts")
    results: list[CheckResult] = []
    examples = facts["examples"]
    for spec in rchecks:
        ge = r_res[spec.name]
        exact = facts["violations"].get(spec.name, 0)
        ok = bool(ge["success"]) and exact == 0
        note = "" if ok or ge["success"] is False else "violations found outside the GE frame by DuckDB's exact scan"
        observed = f"{exact:,} of {facts['n_rows']:,} rows violate" if exact else "no violating row"
        results.append(CheckResult(spec.name, spec.description, "rows", ok, observed, spec.threshold, exact,
                                   examples.get(spec.name, []) if not ok else [], note))
    acceptable = shift_checks(facts)
    for spec in fchecks:
        ge = f_res[spec.name]
        col = spec.kwargs["column"]
        ok = bool(ge["success"])
        note = ""
        if not ok and spec.name in acceptable and accept_shift:
            ok, note = True, f"accepted: {accept_shift}"
        results.append(CheckResult(spec.name, spec.description, "facts", ok, _plain(facts[col]), spec.threshold,
                                   int(facts[col]) if col.endswith("_items") else None,
                                   examples.get(spec.name, []) if not ok else [], note))
    for name, why in skipped.items():
        results.append(CheckResult(name, why, "facts", None, None, None, None, [], "skipped: " + why))
    results.sort(key=lambda c: c.success is not False)  # failures first in every report; the rest keep their order
    stats = {"rows": r_res["_statistics"], "facts": f_res["_statistics"], "rows_frame": mode}
    return GateResult(all(c.success is not False for c in results), mode, results, facts, stats)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        v = f"{v:.4f}"
    elif isinstance(v, (list, tuple, dict)):
        v = json.dumps(v, default=str)
    s = "" if v is None else str(v)
    return html.escape(s if len(s) <= 200 else s[:197] + "...")


def render_html(result: GateResult, title: str) -> str:
    """A self-contained HTML page of the gate result (no scripts, no network)."""
    f = result.facts
    status = "PASSED" if result.success else "FAILED"
    colour = "#1a7f37" if result.success else "#cf222e"
    rows = []
    for c in result.checks:
        mark = {True: "&#10004; pass", False: "&#10008; FAIL", None: "&ndash; skipped"}[c.success]
        rows.append(
            f"<tr class='{'fail' if c.success is False else ''}'><td><code>{_cell(c.name)}</code></td><td>{mark}</td>"
            f"<td>{_cell(c.description)}</td><td>{_cell(c.observed)}</td><td>{_cell(c.threshold)}</td><td>{_cell(c.note)}</td></tr>"
        )
    details = []
    for c in result.checks:
        if c.success is False and c.examples:
            cols = list(c.examples[0])
            head = "".join(f"<th>{_cell(k)}</th>" for k in cols)
            body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(k))}</td>" for k in cols) + "</tr>" for r in c.examples)
            details.append(f"<h3><code>{_cell(c.name)}</code>: example rows</h3><table><tr>{head}</tr>{body}</table>")
    dist = "".join(f"<tr><td>{_cell(k)}</td><td>{v:,}</td></tr>" for k, v in f["label_distribution"].items())
    facts_rows = "".join(
        f"<tr><td>{k}</td><td>{_cell(f.get(k))}</td></tr>"
        for k in ("n_rows", "n_expected", "missing_items", "unexpected_items", "mean_confidence", "mean_agreement",
                  "n_agreement", "gold_n", "gold_correct", "gold_accuracy", "parent", "shift_reference", "label_shift")
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}tr.fail td{{background:#ffebe9}}
.status{{color:{colour};font-weight:bold}}</style></head><body>
<h1>{html.escape(title)}: <span class="status">{status}</span></h1>
<p>Rows checked by Great Expectations: {html.escape(result.mode)}. Counts of violating rows and the aggregate facts are exact
(computed by DuckDB over the whole candidate).</p>
<h2>Expectations</h2>
<table><tr><th>check</th><th>result</th><th>expectation</th><th>observed</th><th>threshold</th><th>note</th></tr>{''.join(rows)}</table>
{''.join(details)}
<h2>Facts</h2><table>{facts_rows}</table>
<h2>Label distribution</h2><table><tr><th>label</th><th>rows</th></tr>{dist}</table>
</body></html>
"""
