"""Gold answers from a side file: matched to items, judged, and never changed without a recorded reason.

Gold is what annotators and models are scored against, so a wrong gold label poisons every trust
estimate downstream. Hence: a file that gives one item two different labels stores neither (both
rows are quarantined and named), and a label that differs from the gold already stored is refused
unless the run carries an explicit override reason, in which case each change (item, old, new,
file row, reason) is written to the gold stage run's record in `stage_runs`.

The file is a table (CSV/JSONL/Parquet: `gold.key_field`, `gold.label_field`) or, where the kind has
one, a format of its own (`gold.format`; boxes: COCO instances JSON) that the kind reads into the same
rows (`storage.read_answer_file`); messages name a table's row or the kind's part ("annotations[5]
(id 40)").
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from schemas.config import DataKind, ProjectConfig
from tasks.errors import InputError
from tasks.ingest.normalise import item_id_sql
from tasks.ingest.readers import text_column
from tasks.kinds import kind_of
from tasks.store import project_store, record_stage_run, transaction

__all__ = ["GoldReport", "import_gold", "judge_gold", "key_match_sql", "read_side_file"]

_SHOWN_ERRORS = 5

_PROBLEMS = pa.schema([("source_row", pa.int64()), ("where", pa.string()), ("field", pa.string()), ("reason", pa.string()),
                       ("detail", pa.string()), ("raw", pa.string()), ("line", pa.string())])
"""Gold rows (or parts of a kind's file) refused before judging; `line` is the message the user reads."""


@dataclass
class GoldReport:
    gold_rows: int = 0
    gold_stored: int = 0  # new gold items, plus changes made under an override
    gold_quarantined: int = 0  # rows refused in this run (each once in the quarantine table)
    gold_changed: int = 0
    errors: list[str] = field(default_factory=list)  # rows the user must fix; the CLI exits 2 on any

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _nested(duck_type: str) -> bool:
    return duck_type.endswith("]") or duck_type.startswith(("STRUCT", "MAP"))


def read_side_file(path: Path, what: str = "gold file", json_columns: Sequence[str] = ()) -> pa.Table:
    """A CSV/JSONL/JSON/Parquet side file as a table (plus `_row`: its line, or row for Parquet).

    `json_columns` come back as JSON text whatever the reader made of them (a JSON file's list of span
    objects is read as a list of structs): the cell is then the answer's JSON form for its kind to read."""
    suffix = path.suffix.lower()
    reader = {".csv": "read_csv", ".jsonl": "read_json", ".json": "read_json", ".parquet": "read_parquet"}.get(suffix)
    if reader is None:
        raise InputError(f"{what} {path}: use .csv, .jsonl or .parquet")
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist (paths in annoflow.toml are relative to the project folder)")
    opts = ", all_varchar = true" if reader == "read_csv" else ""
    first = 2 if reader == "read_csv" else 1
    try:
        with duckdb.connect() as con:
            rel = con.sql(f"SELECT * FROM {reader}(?{opts})", params=[str(path)])
            # A column of mixed JSON values comes back as JSON text ('"ham"'): unwrap scalars, keep objects as JSON.
            cols = ", ".join(
                f"CASE WHEN json_type({q}) IN ('OBJECT', 'ARRAY') THEN {q}::VARCHAR ELSE {q} ->> '$' END AS {q}" if str(t) == "JSON"
                else f"to_json({q})::VARCHAR AS {q}" if c in json_columns and _nested(str(t)) else q
                for c, q, t in ((c, '"' + c.replace('"', '""') + '"', t) for c, t in zip(rel.columns, rel.types))
            )
            table = con.sql(f"SELECT {cols} FROM rel").to_arrow_table()
    except duckdb.Error as e:
        raise InputError(f"{what} {path} cannot be read: {str(e).splitlines()[0][:300]}") from None
    return table.append_column("_row", pa.array(range(first, first + table.num_rows), pa.int64()))


def key_match_sql(cfg: ProjectConfig, key_field: str, items: str, keys: str) -> str:
    """Join condition matching rows of a side file (gold, truth) to items by a key column `<keys>.key`.

    A text project keyed by its text field matches by content id (so whitespace and Unicode form do
    not matter); otherwise the key is looked up in the items' metadata (e.g. `file` for media).
    """
    if cfg.data_kind == DataKind.text and key_field == next((s.text_field for s in cfg.sources), "text"):
        return f"{items}.item_id = {item_id_sql(cfg.name, 'text', f'nfc_normalize(trim({keys}.key))')}"
    return f"json_extract_string({items}.metadata, '$.' || '{key_field.replace(chr(39), chr(39) * 2)}') = {keys}.key"


def judge_gold(con: duckdb.DuckDBPyConnection, rows: str, labels: list[str] | None, override: bool) -> pa.Table:
    """One verdict per gold row: `action` store | change | same, or a quarantine `reason` with `detail`.

    `rows` names a relation (source_row, key, label, label_ok, item_id, stored_label). Pure: reads
    only that relation, so the rules are tested on hand-written rows. `labels` None: every answer
    given is known (a structured kind's answers, already checked by the kind, in canonical JSON).
    """
    allowed = json.dumps(labels or []).replace("'", "''")
    con.register("_labels", pa.table({"label": pa.array(labels or [], pa.string())}))
    known = "true" if labels is None else "label IN (SELECT label FROM _labels)"
    try:
        return con.sql(f"""
            WITH r AS (SELECT *, {known} AS known FROM {rows}),
            usable AS (SELECT * FROM r WHERE item_id IS NOT NULL AND label_ok AND known),
            per_item AS (
                SELECT item_id, count(DISTINCT label) AS n_labels,
                       string_agg('''' || label || ''' (row ' || source_row || ')', ', ' ORDER BY source_row) AS seen
                FROM usable GROUP BY item_id),
            judged AS (
                SELECT r.*, p.n_labels, p.seen,
                       CASE WHEN r.item_id IS NULL THEN 'gold_item_unknown'
                            WHEN NOT r.label_ok THEN 'gold_label_not_text'
                            WHEN NOT r.known THEN 'unknown_label'
                            WHEN p.n_labels > 1 THEN 'gold_conflict'
                            WHEN r.stored_label IS NOT NULL AND r.stored_label <> r.label AND NOT {override} THEN 'gold_changed'
                       END AS reason
                FROM r LEFT JOIN per_item p USING (item_id))
            SELECT source_row, key, label, item_id, stored_label, reason,
                   CASE WHEN reason IS NOT NULL THEN NULL
                        WHEN stored_label IS NULL THEN 'store'
                        WHEN stored_label <> label THEN 'change' ELSE 'same' END AS action,
                   CASE reason
                     WHEN 'gold_item_unknown' THEN 'no ingested item matches this key; ingest its source first'
                     WHEN 'gold_label_not_text' THEN 'the label is an object or list, not one of {allowed}'
                     WHEN 'unknown_label' THEN 'label ' || coalesce(label, 'NULL') || ' is not in the label set {allowed}'
                     WHEN 'gold_conflict' THEN 'this item has different labels in the file: ' || seen || '; none is stored'
                     WHEN 'gold_changed' THEN 'stored gold says ''' || stored_label || ''', the file says ''' || label
                          || '''; stored gold is kept (to change it: annoflow ingest --gold-override "why")'
                   END AS detail
            FROM judged ORDER BY source_row
        """).to_arrow_table()
    finally:
        con.unregister("_labels")


def import_gold(cfg: ProjectConfig, override_reason: str | None = None) -> dict:
    """Load the project's gold answers, matching them to items by the key field; see the module docstring."""
    if not cfg.gold.path:
        return GoldReport().as_dict()
    started = time.time()
    path = cfg.path(cfg.gold.path)
    storage = kind_of(cfg).storage
    structured = storage.column == "answer"  # an answer the kind reads from JSON, not a label
    name = str(cfg.gold.path)
    kind_file = storage.read_answer_file(path, cfg.gold.format, cfg)
    if kind_file is not None:  # a format of the kind's own (boxes: COCO): one answer per item already
        key, lab, match_key = "key", "answer", kind_file.key_field
        raw = kind_file.rows.rename_columns(["_row", "_where", key, lab])
        parts = kind_file.problems
        problems = parts.append_column("line", _lines(name, parts.column("where"), parts.column("field"), parts.column("detail")))
    else:
        key = match_key = cfg.gold.key_field
        lab = cfg.gold.label_field
        raw = read_side_file(path, json_columns=[lab] if structured else ())
        missing = [c for c in (key, lab) if c not in raw.column_names]
        if missing and raw.num_rows == 0:  # an empty file reads as one placeholder column: say what is wrong
            raise InputError(f"gold file {path}: no rows (an empty file); add the gold answers or remove gold.path")
        if missing:
            raise InputError(f"gold file {path}: missing column(s) {missing}; found {raw.column_names[:-1]} (see gold.key_field / gold.label_field)")
        raw = raw.append_column("_where", pc.binary_join_element_wise("row", raw.column("_row").cast(pa.string()), " "))
        problems = _PROBLEMS.empty_table()
    keys, _, _ = text_column(raw.column(key))
    match = key_match_sql(cfg, match_key, "i", "g")
    with project_store(cfg) as con:
        if structured:
            checked = _answer_rows(con, cfg, raw.column("_row"), raw.column("_where"), keys, raw.column(lab), lab, match)
            lines = _lines(name, checked.column("where"), pa.array([f"column {lab!r}"] * checked.num_rows, pa.string()),
                           checked.column("detail"))
            problems = pa.concat_tables([problems, checked.append_column("line", lines)])
        else:
            labels, label_problem, _ = text_column(raw.column(lab))
            gold = pa.table({"source_row": raw.column("_row"), "key": keys, "label": labels, "label_ok": pc.is_null(label_problem)})
            con.register("_gold", gold)
            con.execute(
                f"CREATE TEMP TABLE _gold_rows AS SELECT g.source_row, g.key, g.label, g.label_ok AND NOT coalesce("
                f"CASE WHEN json_valid(g.label) THEN json_type(g.label) IN ('OBJECT', 'ARRAY') END, false) AS label_ok,"
                f" i.item_id, s.label AS stored_label"
                f" FROM _gold g LEFT JOIN items i ON {match} LEFT JOIN gold s ON s.item_id = i.item_id"
            )
        verdicts = judge_gold(con, "_gold_rows", None if structured else cfg.labels, override_reason is not None)
        con.register("_v", verdicts)
        con.register("_problems", problems)
        col, value = ("answer", "label::JSON") if structured else ("label", "label")
        with transaction(con):
            stored = con.execute(
                f"INSERT INTO gold (item_id, {col}, origin) SELECT DISTINCT ON (item_id) item_id, {value}, 'file' FROM _v"
                " WHERE action = 'store' ORDER BY item_id, source_row ON CONFLICT (item_id) DO NOTHING"
            ).fetchone()[0]
            changes = con.execute(
                "SELECT DISTINCT ON (item_id) item_id, key, stored_label AS old, label AS new, source_row FROM _v"
                " WHERE action = 'change' ORDER BY item_id, source_row"
            ).fetchall()
            con.execute(
                f"UPDATE gold SET {col} = c.{value}, created_at = now() FROM (SELECT DISTINCT ON (item_id) item_id, label FROM _v"
                " WHERE action = 'change' ORDER BY item_id, source_row) c WHERE gold.item_id = c.item_id"
            )
            invalid = con.execute(
                "INSERT INTO quarantine (quarantine_id, stage, source, source_row, field, reason, detail, raw)"
                " SELECT md5(concat_ws(chr(31), 'gold', ?, source_row::VARCHAR, field, reason)), 'gold', ?, source_row, field,"
                " reason, detail, raw FROM _problems ON CONFLICT DO NOTHING", [name, name],
            ).fetchone()[0]
            quarantined = con.execute(
                "INSERT INTO quarantine (quarantine_id, stage, source, source_row, field, reason, detail, raw)"
                " SELECT md5(concat_ws(chr(31), 'gold', ?, source_row::VARCHAR, reason, coalesce(label, ''))), 'gold', ?, source_row,"
                " CASE WHEN reason = 'gold_item_unknown' THEN ? ELSE ? END, reason, detail, left(key, 500)"
                " FROM _v WHERE reason IS NOT NULL ON CONFLICT DO NOTHING",
                [name, name, match_key, lab],
            ).fetchone()[0]
            n_rows = raw.num_rows + (kind_file.problems.num_rows if kind_file is not None else 0)
            report = GoldReport(n_rows, int(stored) + len(changes), int(quarantined) + int(invalid), len(changes))
            refused = [r for r in verdicts.to_pylist() if r["reason"] in ("gold_conflict", "gold_changed")]
            # A refused answer is named by its row (or the part of the file) and the field at fault; one line per row.
            shown = {r["where"]: r["line"] for r in problems.to_pylist()}
            refused = [{"line": v} for v in shown.values()] + refused
            rows = {r["source_row"] for r in refused if "source_row" in r}
            where = {r: w for r, w in zip(raw.column("_row").to_pylist(), raw.column("_where").to_pylist()) if r in rows}
            report.errors = [r.get("line") or f"{name} {where[r['source_row']]}: item {_short(r['key'])}: {r['detail']}"
                             for r in refused[:_SHOWN_ERRORS]]
            if len(refused) > _SHOWN_ERRORS:
                report.errors.append(f"{name}: {len(refused) - _SHOWN_ERRORS} more gold rows refused; see `annoflow status --quarantine`")
            stats = {**report.as_dict(), "file": name, "override": override_reason,
                     "changes": [{"item_id": i, "key": k, "old": o, "new": n, "row": r} for i, k, o, n, r in changes]}
            record_stage_run(con, "gold", "failed" if refused else "completed", stats, started, cfg=cfg)
        for view in ("_v", "_problems", "_gold"):
            con.unregister(view)
        con.execute("DROP TABLE _gold_rows")
    return report.as_dict()


def _lines(name: str, where: pa.Array, field: pa.Array, detail: pa.Array) -> pa.Array:
    """The message naming each refused row: `<file> <row or part>: <field>: <what is wrong>`."""
    return pc.binary_join_element_wise(pc.binary_join_element_wise(name, where, " "), field, detail, ": ")


def _answer_rows(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, rows: pa.ChunkedArray, where: pa.ChunkedArray,
                 keys: pa.Array, cells: pa.ChunkedArray, lab: str, match: str) -> pa.Table:
    """Gold answers of a structured kind: `_gold_rows` for `judge_gold` (each valid answer in the kind's
    canonical JSON, so equal answers compare equal), and the rows the kind refuses (`source_row, where,
    field, reason, detail, raw`), which `judge_gold` never sees: a refused row stores nothing."""
    storage = kind_of(cfg).storage
    answers, _, _ = text_column(cells)
    con.register("_gold", pa.table({"source_row": rows, "where": where, "key": keys, "answer": answers}))
    found = con.sql(
        f"SELECT g.source_row, g.\"where\", g.key, g.answer, i.item_id, i.payload, i.metadata::VARCHAR AS metadata, s.answer::VARCHAR AS stored_label"
        f" FROM _gold g LEFT JOIN items i ON {match} LEFT JOIN gold s ON s.item_id = i.item_id ORDER BY g.source_row"
    ).to_arrow_table()
    matched = found.filter(pc.is_valid(found.column("item_id")))
    problems = storage.validate(matched.select(["item_id", "answer"]), matched.select(["item_id", "payload", "metadata"]), cfg)
    at = problems.column("row")
    field = pc.if_else(pc.equal(problems.column("field"), "answer"), pa.scalar(lab), problems.column("field"))
    bad = pa.table({"source_row": matched.column("source_row").take(at), "where": matched.column("where").take(at), "field": field,
                    "reason": problems.column("reason"), "detail": problems.column("detail"),
                    "raw": pc.utf8_slice_codeunits(matched.column("answer").take(at), 0, 500)})
    good = matched.filter(pc.invert(pc.is_in(pa.array(range(matched.num_rows), pa.int64()), value_set=at)))
    canonical = storage.to_json(storage.from_json(good.column("answer").combine_chunks()))
    unmatched = found.filter(pc.is_null(found.column("item_id")))
    con.register("_judged", pa.concat_tables([
        good.select(["source_row", "key", "item_id", "stored_label"]).append_column("label", canonical),
        unmatched.select(["source_row", "key", "item_id", "stored_label"]).append_column("label", unmatched.column("answer")),
    ]))
    con.execute("CREATE TEMP TABLE _gold_rows AS SELECT source_row, key, label, true AS label_ok, item_id, stored_label FROM _judged")
    con.unregister("_judged")
    return bad


def _short(key: str | None) -> str:
    k = repr(key)
    return k if len(k) <= 60 else k[:57] + "…'"
