"""Ingest stage: stream each source into the items table batch by batch, quarantining what is bad.

`ingest_source` and `import_gold` are plain functions (tests and other flows call them directly);
the `@task` shells below them add retries for transient errors only.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
from prefect import task

from schemas.config import DataKind, ProjectConfig, SourceConfig
from schemas.tables import Items, Quarantine, check
from tasks.errors import InputError
from tasks.ingest.media import read_folder
from tasks.ingest.normalise import (
    ITEM_SCHEMA,
    QUARANTINE_SCHEMA,
    item_id_sql,
    normalise_media,
    normalise_text,
)
from tasks.ingest.readers import BadRow, read_csv, read_jsonl, read_parquet
from tasks.ingest.sources import LocalSource, resolve_source
from tasks.prefetch import prefetch
from tasks.progress import track
from tasks.retries import STAGE_TASK
from tasks.store import insert_missing, project_store, record_stage_run, transaction

__all__ = ["ingest_source", "import_gold", "key_match_sql", "read_side_file", "register_project", "ingest_source_task", "import_gold_task"]



def register_project(cfg: ProjectConfig) -> None:
    """Record the project and its config hash; a database belongs to one project."""
    with project_store(cfg) as con:
        row = con.execute("SELECT name FROM projects").fetchall()
        others = [r[0] for r in row if r[0] != cfg.name]
        if others:
            raise InputError(
                f"{cfg.db_path} holds project {others[0]!r}, not {cfg.name!r}: set state.dir or state.database "
                "in annoflow.toml to give this project its own database"
            )
        con.execute(
            "INSERT INTO projects (name, config_hash, config) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " config_hash = excluded.config_hash, config = excluded.config, updated_at = now()",
            [cfg.name, cfg.config_hash(), cfg.model_dump_json(exclude={"root"})],
        )


def _bad_rows_table(source: str, bad: list[BadRow]) -> pa.Table:
    return pa.table(
        {
            "source": [source] * len(bad),
            "source_row": [b.source_row for b in bad],
            "field": [b.field for b in bad],
            "reason": [b.reason for b in bad],
            "detail": [b.detail for b in bad],
            "raw": [b.raw for b in bad],
        },
        schema=QUARANTINE_SCHEMA,
    )


def _batches(local: LocalSource, cfg: ProjectConfig, src: SourceConfig) -> Iterator[tuple[pa.Table, pa.Table, int]]:
    """(items, rejects, bytes consumed) per batch, whatever the source format."""
    if local.format == "folder":
        for mb in read_folder(local.path, cfg.data_kind.value, cfg.ingest.max_media_bytes):
            items = normalise_media(mb.table, project=cfg.name, kind=cfg.data_kind.value, source=local.name)
            yield items, _bad_rows_table(local.name, mb.bad), mb.bytes_read
        return
    if cfg.data_kind != DataKind.text:
        raise InputError(
            f"source {local.name}: a {cfg.data_kind.value} project reads media from a folder; "
            f"point the source at the folder of files (tabular sources are for text projects)"
        )
    readers = {"jsonl": read_jsonl, "csv": read_csv, "parquet": read_parquet}
    try:
        stream = readers[local.format](local.path, src.text_field)
        for rb in stream:
            items, rejects = normalise_text(
                rb.table, project=cfg.name, source=local.name, text_field=src.text_field, max_bytes=cfg.ingest.max_payload_bytes
            )
            bad = _bad_rows_table(local.name, rb.bad)
            yield items, pa.concat_tables([rejects, bad]) if bad.num_rows else rejects, rb.bytes_read
    except (pa.ArrowInvalid, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise InputError(f"source {local.name}: {e}") from None
        whole = _bad_rows_table(local.name, [BadRow(None, "unreadable_file", f"{local.format} reader failed: {e}"[:500])])
        yield ITEM_SCHEMA.empty_table(), whole, 0


def _checked(batches: Iterator[tuple[pa.Table, pa.Table, int]], name: str) -> Iterator[tuple[pa.Table, pa.Table, int]]:
    for items, rejects, nbytes in batches:
        check(items, Items, f"ingest {name}")
        check(rejects, Quarantine, f"ingest {name} (quarantine)")
        yield items, rejects, nbytes


def _write(con, items: pa.Table, rejects: pa.Table) -> tuple[int, int]:
    with transaction(con):
        inserted = insert_missing(con, "items", items, ["item_id"])
        if rejects.num_rows:
            con.register("_rejects", rejects)
            con.execute(
                "INSERT INTO quarantine (quarantine_id, stage, source, source_row, field, reason, detail, raw)"
                " SELECT md5(concat_ws(chr(31), 'ingest', source, coalesce(source_row::VARCHAR, ''), reason, coalesce(raw, ''))),"
                " 'ingest', source, source_row, field, reason, detail, raw FROM _rejects ON CONFLICT DO NOTHING"
            )
            con.unregister("_rejects")
    return inserted, rejects.num_rows


def ingest_source(cfg: ProjectConfig, src: SourceConfig) -> list[dict]:
    """Ingest one configured source (several files for a glob); returns one report row per file."""
    reports = []
    for local in resolve_source(src, cfg):
        started = time.time()
        total = local.path.stat().st_size if local.format != "folder" else None
        stats = Counter()
        reasons: Counter = Counter()
        with (
            project_store(cfg, memory_limit=cfg.ingest.memory_limit) as con,
            track(f"ingest {local.name}", total) as bar,
        ):
            for items, rejects, nbytes in prefetch(_checked(_batches(local, cfg, src), local.name)):
                inserted, nbad = _write(con, items, rejects)
                stats["rows"] += items.num_rows + nbad
                stats["inserted"] += inserted
                stats["duplicates"] += items.num_rows - inserted
                stats["quarantined"] += nbad
                reasons.update(rejects.column("reason").to_pylist())
                bar.advance(nbytes)
            seconds = time.time() - started
            report = {"source": local.name, "format": local.format, **dict(stats), "quarantined_by_reason": dict(reasons),
                      "seconds": round(seconds, 3), "rows_per_s": round(stats["rows"] / seconds) if seconds else None}
            for k in ("rows", "inserted", "duplicates", "quarantined"):
                report.setdefault(k, 0)
            record_stage_run(con, "ingest", "completed", report, started)
        reports.append(report)
    return reports


def read_side_file(path: Path, what: str = "gold file") -> pa.Table:
    import duckdb

    suffix = path.suffix.lower()
    reader = {".csv": "read_csv", ".jsonl": "read_json", ".json": "read_json", ".parquet": "read_parquet"}.get(suffix)
    if reader is None:
        raise InputError(f"{what} {path}: use .csv, .jsonl or .parquet")
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist (paths in annoflow.toml are relative to the project folder)")
    opts = ", all_varchar = true" if reader == "read_csv" else ""
    with duckdb.connect() as con:
        return con.sql(f"SELECT * FROM {reader}(?{opts})", params=[str(path)]).to_arrow_table()


def key_match_sql(cfg: ProjectConfig, key_field: str, items: str, keys: str) -> str:
    """Join condition matching rows of a side file (gold, truth) to items by a key column `<keys>.key`.

    A text project keyed by its text field matches by content id (so whitespace and Unicode form do
    not matter); otherwise the key is looked up in the items' metadata (e.g. `file` for media).
    """
    if cfg.data_kind == DataKind.text and key_field == next((s.text_field for s in cfg.sources), "text"):
        return f"{items}.item_id = {item_id_sql(cfg.name, 'text', f'nfc_normalize(trim({keys}.key))')}"
    return f"json_extract_string({items}.metadata, '$.' || '{key_field.replace(chr(39), chr(39) * 2)}') = {keys}.key"


def import_gold(cfg: ProjectConfig) -> dict:
    """Load the project's gold answers, matching them to items by the key field; unknowns are quarantined."""
    if not cfg.gold.path:
        return {"gold_rows": 0, "gold_stored": 0, "gold_quarantined": 0}
    path = cfg.path(cfg.gold.path)
    gold = read_side_file(path)
    key, lab = cfg.gold.key_field, cfg.gold.label_field
    missing = [c for c in (key, lab) if c not in gold.column_names]
    if missing:
        raise InputError(f"gold file {path}: missing column(s) {missing}; found {gold.column_names} (see gold.key_field / gold.label_field)")
    gold = gold.select([key, lab]).rename_columns(["key", "label"]).cast(pa.schema([("key", pa.string()), ("label", pa.string())]))
    gold = gold.append_column("source_row", pa.array(range(2, gold.num_rows + 2), pa.int64()))
    match = key_match_sql(cfg, key, "i", "g")
    name = str(cfg.gold.path)
    with project_store(cfg) as con:
        con.register("_gold", gold)
        con.register("_labels", pa.table({"label": cfg.labels}))
        matched = con.sql(
            f"SELECT g.source_row, g.key, g.label, i.item_id, g.label IN (SELECT label FROM _labels) AS known"
            f" FROM _gold g LEFT JOIN items i ON {match}"
        ).to_arrow_table()
        con.register("_m", matched)
        with transaction(con):
            stored = con.execute(
                "INSERT INTO gold (item_id, label, origin) SELECT DISTINCT ON (item_id) item_id, label, 'file' FROM _m"
                " WHERE item_id IS NOT NULL AND known ON CONFLICT (item_id) DO UPDATE SET label = excluded.label"
            ).fetchone()[0]
            allowed = json.dumps(cfg.labels).replace("'", "''")
            quarantined = con.execute(
                f"INSERT INTO quarantine (quarantine_id, stage, source, source_row, field, reason, detail, raw)"
                f" SELECT md5(concat_ws(chr(31), 'gold', ?, source_row::VARCHAR)), 'gold', ?, source_row,"
                f" CASE WHEN item_id IS NULL THEN ? ELSE ? END,"
                f" CASE WHEN item_id IS NULL THEN 'gold_item_unknown' ELSE 'unknown_label' END,"
                f" CASE WHEN item_id IS NULL THEN 'no ingested item matches this key; ingest its source first'"
                f"      ELSE 'label ' || coalesce(label, 'NULL') || ' is not in the label set {allowed}' END,"
                f" left(key, 500) FROM _m WHERE item_id IS NULL OR NOT known ON CONFLICT DO NOTHING",
                [name, name, key, lab],
            ).fetchone()[0]
        con.unregister("_m")
    return {"gold_rows": gold.num_rows, "gold_stored": int(stored), "gold_quarantined": int(quarantined)}


@task(name="ingest-source", **STAGE_TASK)
def ingest_source_task(cfg: ProjectConfig, src: SourceConfig) -> list[dict]:
    return ingest_source(cfg, src)


@task(name="import-gold", **STAGE_TASK)
def import_gold_task(cfg: ProjectConfig) -> dict:
    return import_gold(cfg)
