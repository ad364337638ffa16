"""Labeling functions: SQL rules evaluated inside DuckDB and vectorised Python functions over batches.

Every output, abstains included (label NULL), becomes a vote of kind `lf` from `lf:<name>`, keyed by
the LF's version (a hash of its SQL or source code): re-running adds nothing, a changed LF re-labels.
A failing LF (SQL that does not compile, a runtime error, a label outside the label set) is reported
with its name and the first failing item; the other LFs still run, and the failing one stores nothing
from this run. The pre-labeling stage then stops with that report as a user error (exit code 2), since
routing on a partial set of rules would silently change what gets auto-accepted.

Writing a Python LF (in the project folder, declared as `python = "my_lfs:mentions_price"`)::

    from tasks.prelabel.lf import labeling_function

    @labeling_function(name="mentions_price", labels=["spam"])
    def mentions_price(batch):            # a pandas DataFrame: item_id, payload, uri, metadata
        return np.where(batch.payload.str.contains(r"\\$\\d", regex=True), "spam", None)

What an LF's output means depends on the project's answer kind, whose prelabel facet reads it (SQL
values through `lf_sql`, Python outputs through `lf_python`) and turns it into vote columns: one label
or None for single-label projects; for multi-label ones also a set of labels or per-label
present/absent/abstain (see tasks/kinds/choices/prelabel.py).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from schemas.config import ProjectConfig
from tasks.errors import ConfigError
from tasks.prelabel.votes import (
    bulk_vote_writes,
    register_source,
    retire_stale_votes,
    vote_id_sql,
)
from tasks.store import transaction

__all__ = [
    "BATCH_COLUMNS",
    "LFResult",
    "LFSpec",
    "LabelingFunction",
    "apply_python_lfs",
    "apply_sql_lfs",
    "evaluate_python_lf",
    "labeling_function",
    "load_lfs",
    "sql_compile_errors",
]

BATCH_COLUMNS = ["item_id", "payload", "uri", "metadata"]
_REPO_ROOT = Path(__file__).resolve().parents[2]


class LabelingFunction:
    """A Python labeling function: batch in, one label (or None = abstain) per item out."""

    def __init__(self, fn: Callable[[Any], Any], name: str, labels: Sequence[str] | None, input: str) -> None:
        if input not in ("pandas", "arrow", "polars"):
            raise ValueError(f"labeling function {name!r}: input must be 'pandas', 'arrow' or 'polars', got {input!r}")
        self.fn, self.name, self.input = fn, name, input
        self.labels = tuple(labels) if labels else None
        try:
            code = inspect.getsource(fn)
        except (OSError, TypeError):
            code = fn.__code__.co_code.hex() if hasattr(fn, "__code__") else repr(fn)
        self.version = hashlib.sha256(f"{name}\x1f{input}\x1f{code}".encode()).hexdigest()[:16]
        self.__doc__ = fn.__doc__

    def __call__(self, batch: Any) -> Any:
        return self.fn(batch)

    def __repr__(self) -> str:
        return f"LabelingFunction({self.name!r}, version={self.version})"


def labeling_function(
    name: str | None = None, labels: Sequence[str] | None = None, input: str = "pandas"
) -> Callable[[Callable[[Any], Any]], LabelingFunction]:
    """Declare a vectorised labeling function.

    Args:
        name: source name (`lf:<name>`); defaults to the function's name.
        labels: the labels it may emit (its polarity); anything else it returns is rejected.
        input: the batch type it receives: 'pandas' (default), 'arrow' or 'polars'.
    """

    def wrap(fn: Callable[[Any], Any]) -> LabelingFunction:
        return LabelingFunction(fn, name or fn.__name__, labels, input)

    return wrap


@dataclass(frozen=True)
class LFSpec:
    """A configured labeling function, resolved: its kind, code and version."""

    name: str
    kind: str  # sql | python
    code: str  # the SQL expression or 'module:function'
    version: str
    fn: LabelingFunction | None = None
    description: str = ""

    @property
    def source_id(self) -> str:
        return f"lf:{self.name}"


@dataclass
class LFResult:
    """What applying one LF did; `error` says why it was skipped, naming the first failing item."""

    name: str
    kind: str
    version: str
    evaluated: int = 0
    inserted: int = 0
    voted: int = 0
    retired: int = 0
    error: str | None = None
    failed_item: str | None = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def _import_lf(spec: str, name: str, root: Path) -> LabelingFunction:
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ConfigError(f"labeling function {name!r}: python = {spec!r} must look like 'module:function'")
    for p in (str(root), str(_REPO_ROOT)):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(
            f"labeling function {name!r}: cannot import {spec!r} ({type(e).__name__}: {e}); the module must be "
            f"importable from the project folder {root} or the annoflow checkout"
        ) from None
    if isinstance(obj, LabelingFunction):
        return obj
    if callable(obj):
        return LabelingFunction(obj, name, None, "pandas")
    raise ConfigError(f"labeling function {name!r}: {spec!r} is not callable")


def load_lfs(cfg: ProjectConfig) -> list[LFSpec]:
    """Resolve the project's labeling functions (imports the Python ones)."""
    out = []
    for c in cfg.prelabel.labeling_functions:
        if c.sql is not None:
            version = hashlib.sha256(f"sql\x1f{c.sql.strip()}".encode()).hexdigest()[:16]
            out.append(LFSpec(c.name, "sql", c.sql.strip(), version, description=c.description))
        else:
            fn = _import_lf(c.python, c.name, Path(cfg.root))
            if fn.labels:
                unknown = sorted(set(fn.labels) - set(cfg.labels))
                if unknown:
                    raise ConfigError(
                        f"labeling function {c.name!r} declares labels {unknown} outside the label set {cfg.labels}"
                    )
            out.append(LFSpec(c.name, "python", c.python, fn.version, fn, description=c.description or (fn.__doc__ or "").strip()))
    return out


def _to_input(batch: pa.Table, kind: str) -> Any:
    if kind == "arrow":
        return batch
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(batch)
    return batch.to_pandas()


def evaluate_python_lf(lf: LabelingFunction, batch: pa.Table, labels: Sequence[str], kind: Any) -> tuple[pa.Array | None, str | None, str | None]:
    """Run one LF on a batch: (votes as the kind's scratch column, None, None) or (None, error, first failing item id).

    `kind` is the project kind's prelabel facet, which reads the LF's output. Raising on the batch is
    narrowed down by bisection to the first item it raises on.
    """
    try:
        out, mentioned = kind.lf_python(lf(_to_input(batch, lf.input)), batch)
    except Exception as e:  # noqa: BLE001  (an LF is user code: any error is reported, never fatal for the others)
        item, err = _first_failing(lf, batch, kind)
        err = err or e
        where = f" on item {item}" if item else " on the batch (no single item fails alone)"
        return None, f"labeling function {lf.name!r} raised {type(err).__name__}: {err}{where}", item
    allowed = set(lf.labels or labels) & set(labels)
    flat = pc.list_flatten(mentioned)
    bad = pc.fill_null(pc.invert(pc.is_in(flat, value_set=pa.array(sorted(allowed), pa.string()))), False)
    if pc.any(bad).as_py():
        at = pc.index(bad, True).as_py()
        i = pc.list_parent_indices(mentioned)[at].as_py()
        item, got = batch.column("item_id")[i].as_py(), flat[at].as_py()
        what = "its declared labels" if lf.labels else "the label set"
        return None, (
            f"labeling function {lf.name!r} returned label {got!r} for item {item}, which is not in {what} "
            f"{sorted(allowed)}; its votes were not stored"
        ), item
    return out, None, None


def _first_failing(lf: LabelingFunction, batch: pa.Table, kind: Any) -> tuple[str | None, Exception | None]:
    lo, hi, err = 0, batch.num_rows, None
    if hi == 0:
        return None, None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            part = batch.slice(lo, mid - lo)
            kind.lf_python(lf(_to_input(part, lf.input)), part)
            lo = mid
        except Exception as e:  # noqa: BLE001  (user code)
            hi, err = mid, e
    try:
        one = batch.slice(lo, 1)
        kind.lf_python(lf(_to_input(one, lf.input)), one)
    except Exception as e:  # noqa: BLE001  (user code)
        return batch.column("item_id")[lo].as_py(), e
    return None, err


def _prepare(con: duckdb.DuckDBPyConnection, specs: list[LFSpec]) -> list[LFResult]:
    results = []
    with transaction(con):
        for s in specs:
            register_source(con, s.source_id, "lf", s.name, s.version)
            results.append(LFResult(s.name, s.kind, s.version, retired=retire_stale_votes(con, s.source_id, s.version)))
    return results


def _sources_without_votes(con: duckdb.DuckDBPyConnection, source_ids: list[str]) -> set[str]:
    """Sources holding no vote yet: their votes need no dedupe in this run (batches are disjoint)."""
    have = {r[0] for r in con.execute(
        "SELECT DISTINCT source_id FROM votes WHERE source_id IN (SELECT unnest(?::VARCHAR[]))", [source_ids]
    ).fetchall()}
    return set(source_ids) - have


def _drop_failed(con: duckdb.DuckDBPyConnection, results: list[LFResult], run_id: str | None) -> None:
    """A failing LF keeps nothing of this run (not even the batches before it failed); what earlier runs of
    the same version stored stays, so a failed run changes no stored vote."""
    for r in results:
        if r.error:
            con.execute("DELETE FROM votes WHERE source_id = ? AND run_id IS NOT DISTINCT FROM ?", [f"lf:{r.name}", run_id]).fetchall()
            r.inserted = r.evaluated = r.voted = 0


def sql_compile_errors(con: duckdb.DuckDBPyConnection, specs: list[LFSpec]) -> dict[str, str]:
    """Why each SQL LF that does not bind against the items table fails, by name (reads nothing)."""
    errors = {}
    for s in specs:
        if s.kind != "sql":
            continue
        try:
            con.execute(f"SELECT ({s.code})::VARCHAR FROM items LIMIT 0").fetchall()
        except duckdb.Error as e:
            errors[s.name] = f"labeling function {s.name!r}: SQL does not compile: {str(e).splitlines()[0]}"
    return errors


def _todo_batches(con: duckdb.DuckDBPyConnection, source_ids: list[str], batch_rows: int) -> int:
    """Temp table `_todo(item_id, b)` of items missing a vote from any of the sources; returns batch count."""
    con.execute("DROP TABLE IF EXISTS _todo")
    con.execute(
        "CREATE TEMP TABLE _todo AS SELECT item_id, (row_number() OVER () - 1) // ? AS b FROM ("
        # one vote per (source, item) exists at most (older versions are retired first), so count(*) suffices
        " SELECT i.item_id FROM items i LEFT JOIN (SELECT item_id, count(*) AS n FROM votes"
        "  WHERE source_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY item_id) v ON v.item_id = i.item_id"
        " WHERE coalesce(v.n, 0) < ?)",
        [batch_rows, source_ids, len(source_ids)],
    )
    n = con.execute("SELECT count(*), coalesce(max(b) + 1, 0) FROM _todo").fetchall()[0]
    return int(n[1])


def apply_sql_lfs(
    con: duckdb.DuckDBPyConnection, specs: list[LFSpec], labels: Sequence[str], *, kind: Any, batch_rows: int,
    run_id: str | None, on_batch: Callable[[int], None] | None = None,
) -> list[LFResult]:
    """Evaluate every SQL LF inside DuckDB, all rules in one statement per batch of items (`kind`: the prelabel facet)."""
    specs = [s for s in specs if s.kind == "sql"]
    if not specs:
        return []
    import time

    t0 = time.perf_counter()
    results = _prepare(con, specs)
    by_name = {r.name: r for r in results}
    broken = sql_compile_errors(con, specs)  # bind errors (unknown column, bad function) before any work
    for name, why in broken.items():
        by_name[name].error = why
    live = [s for s in specs if s.name not in broken]
    nb = _todo_batches(con, [s.source_id for s in live], batch_rows) if live else 0
    empty = _sources_without_votes(con, [s.source_id for s in live])
    allowed = list(labels)
    for b in range(nb):
        live = _sql_batch(con, live, b, allowed, by_name, run_id, empty, kind)
        if on_batch:
            on_batch(b)
    con.execute("DROP TABLE IF EXISTS _todo").fetchall()
    con.execute("DROP TABLE IF EXISTS _lfout").fetchall()
    _drop_failed(con, results, run_id)
    for r in results:
        r.seconds = round(time.perf_counter() - t0, 3)
    return results


def _sql_batch(
    con: duckdb.DuckDBPyConnection, live: list[LFSpec], b: int, allowed: list[str], by_name: dict[str, LFResult], run_id: str | None,
    empty: set[str], kind: Any,
) -> list[LFSpec]:
    def evaluate(specs: list[LFSpec]) -> None:
        cols = ", ".join(f"{kind.lf_sql(s.code)} AS lf_{k}" for k, s in enumerate(specs))
        con.execute("DROP TABLE IF EXISTS _lfout")
        con.execute(
            f"CREATE TEMP TABLE _lfout AS SELECT items.item_id, {cols} FROM items"
            f" WHERE items.item_id IN (SELECT item_id FROM _todo WHERE b = {int(b)})"
        )

    try:
        evaluate(live)
    except duckdb.Error:  # a runtime error in one rule: find it, report it, evaluate the rest together
        ok = []
        for s in live:
            try:
                evaluate([s])
                ok.append(s)
            except duckdb.Error as e:
                by_name[s.name].error = f"labeling function {s.name!r} failed in DuckDB: {str(e).splitlines()[0]}"
        live = ok
        if not live:
            return live
        evaluate(live)
    n = con.execute("SELECT count(*) FROM _lfout").fetchall()[0][0]
    keep = []
    for k, s in enumerate(live):
        bad = con.execute(
            f"SELECT item_id, bad FROM (SELECT item_id, list_filter({kind.lf_labels_sql(f'lf_{k}')},"
            " lambda l: l IS NOT NULL AND NOT list_contains(?::VARCHAR[], l))[1] AS bad FROM _lfout) WHERE bad IS NOT NULL LIMIT 1",
            [allowed],
        ).fetchall()
        if bad:
            bad = bad[0]
            by_name[s.name].error = (
                f"labeling function {s.name!r} returned label {bad[1]!r} for item {bad[0]}, which is not in the label set "
                f"{allowed}; its votes were not stored"
            )
            by_name[s.name].failed_item = bad[0]
        else:
            keep.append((k, s))
    _write_votes(con, keep, n, by_name, run_id, empty, kind, allowed)
    return [s for _, s in keep]


def _write_votes(
    con: duckdb.DuckDBPyConnection, keep: list[tuple[int, LFSpec]], n: int, by_name: dict[str, LFResult], run_id: str | None,
    empty: set[str], kind: Any, labels: Sequence[str],
) -> None:
    """Store the columns `lf_<k>` of the temp relation `_lfout(item_id, lf_0, ...)` as votes, in one transaction."""
    if not keep:
        return

    def answer(k: int, s: LFSpec) -> str:
        polarity = [c for c in labels if s.fn is None or not s.fn.labels or c in s.fn.labels]
        return ", ".join(f"{sql} AS {col}" for col, sql in kind.lf_vote_sql(f"lf_{k}", polarity).items())

    columns = ", ".join(kind.lf_vote_sql("lf_0", list(labels)))
    # one projection per LF, glued with UNION ALL: much cheaper than unnesting a list of structs
    select = " UNION ALL ".join(
        "SELECT " + vote_id_sql(f"'{s.source_id}'", f"'{s.version}'", "item_id") + f" AS vote_id, item_id, '{s.source_id}' AS source_id,"
        f" 'lf' AS source_kind, '{s.version}' AS source_version, {answer(k, s)}, $run AS run_id, $now AS created_at FROM _lfout"
        for k, s in keep
    )
    counts = con.execute("SELECT " + ", ".join(f"count(lf_{k})" for k, _ in keep) + " FROM _lfout").fetchall()[0]
    insert = f"INSERT INTO votes (vote_id, item_id, source_id, source_kind, source_version, {columns}, run_id, created_at) "
    params = {"run": run_id, "now": datetime.now(UTC)}
    fresh = [s for _, s in keep if s.source_id in empty]
    with bulk_vote_writes(con), transaction(con):
        if len(fresh) == len(keep):  # the common case, new LFs or new items: nothing to dedupe against
            con.execute(insert + select, params).fetchall()
            inserted = {s.source_id: n for _, s in keep}
        else:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _lfnew AS SELECT * FROM (" + select + ") n"
                " WHERE NOT EXISTS (SELECT 1 FROM votes v WHERE v.source_id = n.source_id AND v.item_id = n.item_id"
                " AND v.vote_id = n.vote_id)",
                params,
            ).fetchall()
            con.execute(insert + "SELECT * FROM _lfnew").fetchall()
            inserted = dict(con.execute("SELECT source_id, count(*) FROM _lfnew GROUP BY source_id").fetchall())
            con.execute("DROP TABLE _lfnew").fetchall()
    for (k, s), nvoted in zip(keep, counts):
        r = by_name[s.name]
        r.evaluated += int(n)
        r.voted += int(nvoted)
        r.inserted += int(inserted.get(s.source_id, 0))


def apply_python_lfs(
    con: duckdb.DuckDBPyConnection, specs: list[LFSpec], labels: Sequence[str], *, kind: Any, batch_rows: int,
    run_id: str | None, on_batch: Callable[[int], None] | None = None,
) -> list[LFResult]:
    """Run each Python LF over batches of the items missing its vote; one transaction per batch."""
    specs = [s for s in specs if s.kind == "python"]
    if not specs:
        return []
    import time

    t0 = time.perf_counter()
    results = _prepare(con, specs)
    by_name = {r.name: r for r in results}
    nb = _todo_batches(con, [s.source_id for s in specs], batch_rows)
    empty = _sources_without_votes(con, [s.source_id for s in specs])
    live = list(specs)
    for b in range(nb):
        batch = con.sql(
            f"SELECT {', '.join('items.' + c for c in BATCH_COLUMNS)} FROM items"
            f" WHERE items.item_id IN (SELECT item_id FROM _todo WHERE b = {int(b)})"
        ).to_arrow_table()
        cols: dict[str, pa.Array] = {"item_id": batch.column("item_id")}
        keep = []
        for s in list(live):
            out, err, item = evaluate_python_lf(s.fn, batch, labels, kind)
            if err:
                by_name[s.name].error, by_name[s.name].failed_item = err, item
                live.remove(s)
                continue
            cols[f"lf_{len(keep)}"] = out
            keep.append((len(keep), s))
        if keep:
            con.register("_lfout", pa.table(cols))
            try:
                _write_votes(con, keep, batch.num_rows, by_name, run_id, empty, kind, labels)
            finally:
                con.unregister("_lfout")
        if on_batch:
            on_batch(b)
    con.execute("DROP TABLE IF EXISTS _todo")
    _drop_failed(con, results, run_id)
    for r in results:
        r.seconds = round(time.perf_counter() - t0, 3)
    return results
