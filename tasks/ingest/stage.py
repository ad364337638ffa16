"""Ingest stage: stream each source into the items table batch by batch, quarantining what is bad.

`ingest_source` and `import_gold` (in `tasks.ingest.gold`) are plain functions (tests and other flows
call them directly); the `@task` shells below them add retries for transient errors only.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pyarrow as pa
from prefect import task

from schemas.config import DataKind, ProjectConfig, SourceConfig
from schemas.tables import Items, Quarantine, check
from tasks.errors import InputError
from tasks.ingest.conll import check_conll_source, read_conll, store_annotations
from tasks.ingest.csvfile import read_csv
from tasks.ingest.gold import import_gold, key_match_sql, read_side_file
from tasks.ingest.media import read_folder
from tasks.ingest.normalise import (
    ITEM_SCHEMA,
    QUARANTINE_SCHEMA,
    normalise_media,
    normalise_text,
)
from tasks.ingest.readers import (
    BadRow,
    RawBatch,
    UnusableFile,
    read_json_array,
    read_jsonl,
    read_parquet,
    starts_with_array,
)
from tasks.ingest.sources import LocalSource, resolve_source
from tasks.kinds import kind_of
from tasks.prefetch import prefetch
from tasks.progress import track
from tasks.retries import STAGE_TASK
from tasks.store import insert_missing, project_store, record_stage_run, transaction

__all__ = ["import_gold", "import_gold_task", "ingest_source", "ingest_source_task", "key_match_sql", "read_side_file", "register_project"]



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


def _reader(local: LocalSource, cfg: ProjectConfig, src: SourceConfig) -> Iterator[RawBatch]:
    fmt, field = local.format, src.text_field
    if fmt == "json" and starts_with_array(local.path):
        return read_json_array(local.path, field, max_depth=cfg.ingest.max_json_depth)
    if fmt in ("json", "jsonl"):
        return read_jsonl(local.path, field, encoding=src.encoding, max_depth=cfg.ingest.max_json_depth)
    if fmt == "csv":
        return read_csv(local.path, field, delimiter=src.delimiter, encoding=src.encoding)
    return read_parquet(local.path, field)


def _batches(local: LocalSource, cfg: ProjectConfig, src: SourceConfig) -> Iterator[tuple[pa.Table, pa.Table, int, int, pa.Table | None]]:
    """(items, rejects, bytes consumed, numeric payloads, existing answers or None) per batch, whatever the source format."""
    if local.format == "folder":
        for mb in read_folder(local.path, cfg.data_kind.value, cfg.ingest.max_media_bytes):
            items = normalise_media(mb.table, project=cfg.name, kind=cfg.data_kind.value, source=local.name)
            yield items, _bad_rows_table(local.name, mb.bad), mb.bytes_read, 0, None
        return
    if cfg.data_kind != DataKind.text:
        raise InputError(
            f"source {local.name}: a {cfg.data_kind.value} project reads media from a folder; "
            f"point the source at the folder of files (tabular sources are for text projects)"
        )
    try:
        if local.format == "conll":
            check_conll_source(cfg, src, local.name)
            for cb in read_conll(local.path, cfg.labels, encoding=src.encoding):
                items, rejects = normalise_text(cb.raw.table, project=cfg.name, source=local.name, text_field="text",
                                                max_bytes=cfg.ingest.max_payload_bytes)
                bad = _bad_rows_table(local.name, cb.raw.bad)
                yield items, pa.concat_tables([rejects, bad]) if bad.num_rows else rejects, cb.raw.bytes_read, 0, cb.answers
            return
        item_rows = getattr(kind_of(cfg).storage, "item_rows", None)
        for rb in _reader(local, cfg, src):
            raw, refused = item_rows(rb.table, src.text_field, local.name, local.path.parent) if item_rows else (rb.table, None)
            items, rejects = normalise_text(
                raw, project=cfg.name, source=local.name, text_field=src.text_field, max_bytes=cfg.ingest.max_payload_bytes
            )
            if refused is not None and refused.num_rows:
                rejects = pa.concat_tables([rejects, refused.cast(rejects.schema)])
            bad = _bad_rows_table(local.name, rb.bad)
            yield items, pa.concat_tables([rejects, bad]) if bad.num_rows else rejects, rb.bytes_read, rb.numeric_payloads, None
    except FileNotFoundError as e:
        raise InputError(f"source {local.name}: {e}") from None
    except (pa.ArrowInvalid, OSError) as e:
        raise UnusableFile(f"{local.name}: the {local.format} reader failed: {e}"[:500]) from None


def _checked(batches: Iterator[tuple[pa.Table, pa.Table, int, int, pa.Table | None]], name: str
             ) -> Iterator[tuple[pa.Table, pa.Table, int, int, pa.Table | None]]:
    for items, rejects, nbytes, numeric, answers in batches:
        check(items, Items, f"ingest {name}")
        check(rejects, Quarantine, f"ingest {name} (quarantine)")
        yield items, rejects, nbytes, numeric, answers


def _write(con, items: pa.Table, rejects: pa.Table, annotate: Callable[[Any, pa.Table], pa.Table] | None = None) -> tuple[int, pa.Table]:
    """Store one batch in one transaction: items, the answers they came with (`annotate`), quarantined rows.
    Returns (items inserted, every row quarantined, including answers `annotate` refused)."""
    with transaction(con):
        inserted = insert_missing(con, "items", items, ["item_id"])
        if annotate is not None:
            refused = annotate(con, items)
            rejects = pa.concat_tables([rejects, refused.cast(rejects.schema)]) if refused.num_rows else rejects
        if rejects.num_rows:
            con.register("_rejects", rejects)
            con.execute(
                "INSERT INTO quarantine (quarantine_id, stage, source, source_row, field, reason, detail, raw)"
                " SELECT md5(concat_ws(chr(31), 'ingest', source, coalesce(source_row::VARCHAR, ''), reason, coalesce(raw, ''))),"
                " 'ingest', source, source_row, field, reason, detail, raw FROM _rejects ON CONFLICT DO NOTHING"
            )
            con.unregister("_rejects")
    return inserted, rejects


def _verdict(name: str, fmt: str, stats: Counter, reasons: Counter, numeric: int, text_field: str) -> tuple[str | None, list[str]]:
    """(error, notices) for one file: a file that gave nothing usable is an error the user must hear about."""
    notices = []
    if numeric:
        rows = f"{numeric:,} rows hold" if numeric != 1 else "1 row holds"
        notices.append(f"{name}: {rows} a number in {text_field!r}, stored as its text "
                       "(if that is not the text to label, set text_field on this source)")
    if not stats["rows"] and not stats["quarantined"]:
        if fmt == "folder":
            return f"{name}: no files found in the folder (hidden files are skipped); nothing was stored from it", notices
        return f"{name}: no rows found (the file is empty or holds only a header); nothing was stored from it", notices
    if stats["quarantined"] == stats["rows"]:
        top = ", ".join(f"{k} {v:,}" for k, v in reasons.most_common(3))
        return (f"{name}: none of its {stats['rows']:,} rows could be stored ({top}); "
                "see `annoflow status --quarantine`"), notices
    return None, notices


def ingest_source(cfg: ProjectConfig, src: SourceConfig) -> list[dict]:
    """Ingest one configured source (several files for a glob); returns one report row per file.

    A file that cannot be read at all, or gives no storable row, is reported with an `error` (and
    recorded in quarantine when unreadable); the other files of the source are still ingested.
    """
    reports = []
    for local in resolve_source(src, cfg):
        started = time.time()
        total = local.path.stat().st_size if local.format != "folder" and local.path.is_file() else None
        stats: Counter = Counter()
        reasons: Counter = Counter()
        numeric = 0
        error = None
        with (
            project_store(cfg, memory_limit=cfg.ingest.memory_limit) as con,
            track(f"ingest {local.name}", total) as bar,
        ):
            try:
                for items, rejects, nbytes, n_numeric, answers in prefetch(_checked(_batches(local, cfg, src), local.name)):
                    annotate = None if answers is None else partial(store_annotations, cfg=cfg, src=src, name=local.name, answers=answers)
                    inserted, refused = _write(con, items, rejects, annotate)
                    stats["rows"] += items.num_rows + rejects.num_rows
                    stats["inserted"] += inserted
                    stats["duplicates"] += items.num_rows - inserted
                    stats["quarantined"] += refused.num_rows
                    numeric += n_numeric
                    reasons.update(refused.column("reason").to_pylist())
                    bar.advance(nbytes)
            except UnusableFile as e:
                error = str(e)
                _write(con, ITEM_SCHEMA.empty_table(), _bad_rows_table(local.name, [BadRow(None, "unreadable_file", error[:500])]))
                reasons["unreadable_file"] += 1
                stats["quarantined"] += 1
            verdict, notices = _verdict(local.name, local.format, stats, reasons, numeric, src.text_field)
            seconds = time.time() - started
            report = {"source": local.name, "format": local.format, **dict(stats), "quarantined_by_reason": dict(reasons),
                      "seconds": round(seconds, 3), "rows_per_s": round(stats["rows"] / seconds) if seconds else None,
                      "error": error or verdict, "notices": notices}
            for k in ("rows", "inserted", "duplicates", "quarantined"):
                report.setdefault(k, 0)
            record_stage_run(con, "ingest", "failed" if report["error"] else "completed", report, started, cfg=cfg)
        reports.append(report)
    return reports


@task(name="ingest-source", **STAGE_TASK)
def ingest_source_task(cfg: ProjectConfig, src: SourceConfig) -> list[dict]:
    return ingest_source(cfg, src)


@task(name="import-gold", **STAGE_TASK)
def import_gold_task(cfg: ProjectConfig, override_reason: str | None = None) -> dict:
    return import_gold(cfg, override_reason)
