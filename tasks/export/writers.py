"""Writers: the Parquet of record straight from the state database, every other format from that Parquet.

All writers stream inside DuckDB (COPY ... TO), so memory stays bounded whatever the size, and all of
them are deterministic: rows in item_id order, fixed options, no timestamps in the files. The same
state therefore gives byte-identical files, which is what lets two exports share one content hash.

The formats here read any answer column (jsonl, csv) or ask the kind for the part that depends on the
answer (Label Studio's result and config). A format only one kind has (CoNLL for spans, COCO for
boxes) is one writer `(src_files, out_dir, cfg) -> [paths]` in that kind's `export.formats(cfg)`;
`writers_for(cfg)` picks from both by the names in `export.formats`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from schemas.config import ExportFormat, ProjectConfig
from tasks.errors import ConfigError
from tasks.kinds import kind_of

__all__ = [
    "DATA_DIR",
    "FORMATS_DIR",
    "WRITERS",
    "Writer",
    "label_studio_config",
    "parquet_list_sql",
    "reader_connection",
    "register_writer",
    "write_csv",
    "write_jsonl",
    "write_label_studio",
    "write_parquet_of_record",
    "writers_for",
]

DATA_DIR = "data"
FORMATS_DIR = "formats"

Writer = Callable[[list[Path], Path, ProjectConfig], list[Path]]
WRITERS: dict[str, Writer] = {}


def register_writer(name: str) -> Callable[[Writer], Writer]:
    """Decorator adding a format writer; `name` is the value used in `export.formats`."""

    def deco(fn: Writer) -> Writer:
        WRITERS[name] = fn
        return fn

    return deco


def writers_for(cfg: ProjectConfig) -> list[tuple[str, Writer]]:
    """The writers for the configured formats other than the Parquet of record (always written): the
    generic ones registered here, then the kind's own (`kind_of(cfg).export.formats`)."""
    available = {**WRITERS, **kind_of(cfg).export.formats(cfg)}
    out = []
    for fmt in cfg.export.formats:
        name = getattr(fmt, "value", fmt)
        if name == ExportFormat.parquet.value:
            continue
        if name not in available:
            raise ConfigError(f"export.formats: no writer for {name!r} for task_kind {kind_of(cfg).name!r}"
                              f" (available: {sorted(available) + ['parquet']})")
        out.append((name, available[name]))
    return out


def _lit(p: Path | str) -> str:
    return "'" + str(p).replace("'", "''") + "'"


def parquet_list_sql(files: list[Path]) -> str:
    """`read_parquet([...])` over the files in the given order (DuckDB keeps file order when reading)."""
    return "read_parquet([" + ", ".join(_lit(f) for f in files) + "])"


def reader_connection(memory_limit: str = "1GB") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that keeps row order (preserve_insertion_order) so derived files are deterministic."""
    return duckdb.connect(config={"preserve_insertion_order": "true", "memory_limit": memory_limit})


def write_parquet_of_record(
    con: duckdb.DuckDBPyConnection,
    cfg: ProjectConfig,
    out_dir: Path,
    *,
    n_rows: int,
    vote_sources: bool = False,
    on_part: Callable[[int], None] | None = None,
) -> list[Path]:
    """COPY the export rows to zstd Parquet under `out_dir/data/`, one sorted file per item_id range.

    Layout: `data/part-NNN.parquet`, or with splits `data/<split>/part-NNN.parquet`. With splits each
    range is written once to a scratch file and split from there (one pass over the state database).
    `on_part(rows)` is called after each range (progress)."""
    from tasks.export.rows import export_rows_sql, id_ranges

    data = out_dir / DATA_DIR
    data.mkdir(parents=True, exist_ok=True)
    opts = f"FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {cfg.export.zstd_level}"
    files: list[Path] = []
    splits = sorted(cfg.export.splits or {})
    for k, (lo, hi) in enumerate(id_ranges(n_rows, cfg.export.rows_per_file)):
        sql = export_rows_sql(cfg, vote_sources=vote_sources, lo=lo, hi=hi)
        name = f"part-{k:03d}.parquet"
        if not splits:
            target = data / name
            rows = con.execute(f"COPY ({sql}) TO {_lit(target)} ({opts})").fetchall()[0][0]
            files.append(target)
        else:
            scratch = out_dir / "_part.parquet"
            rows = con.execute(f"COPY ({sql}) TO {_lit(scratch)} ({opts})").fetchall()[0][0]
            with reader_connection(cfg.export.memory_limit) as rc:
                for split in splits:
                    target = data / split / name
                    target.parent.mkdir(exist_ok=True)
                    rc.execute(
                        f"COPY (SELECT * FROM {parquet_list_sql([scratch])} WHERE split = ?) TO {_lit(target)} ({opts})", [split]
                    ).fetchall()
                    files.append(target)
            scratch.unlink()
        if on_part:
            on_part(int(rows))
    return sorted(files)


@register_writer(ExportFormat.jsonl.value)
def write_jsonl(src: list[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """One JSON object per line, the same columns as the Parquet (lists as JSON arrays)."""
    target = out_dir / FORMATS_DIR / "labels.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    with reader_connection(cfg.export.memory_limit) as rc:
        rc.execute(f"COPY (SELECT * FROM {parquet_list_sql(src)}) TO {_lit(target)} (FORMAT json)").fetchall()
    return [target]


@register_writer(ExportFormat.csv.value)
def write_csv(src: list[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """CSV with a header; list columns (labels, sources) are JSON arrays in one cell."""
    target = out_dir / FORMATS_DIR / "labels.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    with reader_connection(cfg.export.memory_limit) as rc:
        rel = rc.sql(f"SELECT * FROM {parquet_list_sql(src)} LIMIT 0")
        cols = [
            f"to_json({c})::VARCHAR AS {c}" if str(t).endswith("[]") else c
            for c, t in zip(rel.columns, rel.types)
        ]
        rc.execute(
            f"COPY (SELECT {', '.join(cols)} FROM {parquet_list_sql(src)}) TO {_lit(target)} (FORMAT csv, HEADER true)"
        ).fetchall()
    return [target]


def _ls_data_key(cfg: ProjectConfig) -> str:
    """The key under which a task's `data` holds the content: the data kind's name (text, image, audio)."""
    return cfg.data_kind.value


def label_studio_config(cfg: ProjectConfig) -> str:
    """The labeling config (XML) that `label_studio.json` matches: create the Label Studio project with it."""
    return kind_of(cfg).export.label_studio_config(cfg)


_LS_BATCH = 10_000  # rows per batch when the kind lays out each task's data (memory stays bounded)


def _exported_media(cfg: ProjectConfig) -> Callable[[str], str]:
    """A media URI as the exported task shows it: under a subfolder of `queue.local_files_root` the URL Label
    Studio's local-files storage serves it at (as the queue pushes it); anything else as recorded."""
    from tasks.queues.label_studio import local_files_url

    root = cfg.path(cfg.queue.local_files_root).resolve() if cfg.queue.local_files_root else None
    return lambda uri: (served[0] if (served := local_files_url(uri, root)) is not None else uri)


def _kind_task_data(rc: duckdb.DuckDBPyConnection, src: list[Path], cfg: ProjectConfig) -> bool:
    """Fill the table `ls_task_data (task_data JSON)`, row for row in the export's order, with the fields the kind adds to a task's data
    (`queue.label_studio_data`, the very function the Label Studio queue pushes with; the item id draws the
    layout, e.g. the candidates' order). False, and no table, for a kind that adds none."""
    data_of = getattr(kind_of(cfg).queue, "label_studio_data", None)
    if data_of is None:
        return False
    media = _exported_media(cfg)
    rc.execute("CREATE TEMP TABLE ls_task_data (task_data JSON)")
    with rc.cursor() as cur, cur.sql(f"SELECT item_id, payload FROM {parquet_list_sql(src)}").to_arrow_reader(
            batch_size=_LS_BATCH) as reader:
        for batch in reader:
            shown = [json.dumps(data_of(p, i, media))
                     for i, p in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)]
            rc.register("ls_part", pa.table({"task_data": shown}))
            rc.execute("INSERT INTO ls_task_data SELECT task_data::JSON FROM ls_part")
            rc.unregister("ls_part")
    return True


@register_writer(ExportFormat.label_studio.value)
def write_label_studio(src: list[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """Label Studio import JSON: a list of tasks `{data, annotations: [{result: [choices]}], meta}`.

    `data` holds the text (or image/audio URI) under the key the labeling config reads plus the item id, and
    for a kind whose config reads several fields of an item (pairwise: `$prompt`, `$left`, `$right`) the
    fields the Label Studio queue pushes, so an imported release shows what the queue shows. The exported
    answer is one annotation whose `result` the kind writes (`label_studio_result_sql`, which may read that
    data as `task_data`); the lineage (method, confidence, votes, agreement, sources, split) goes in the
    task's `meta`. The matching labeling config is `label_studio_config(cfg)` (also written next to the file).
    """
    target = out_dir / FORMATS_DIR / "label_studio.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    key = _ls_data_key(cfg)
    content = "payload" if key == "text" else "uri"
    result = kind_of(cfg).export.label_studio_result_sql(cfg, key)
    with reader_connection(cfg.export.memory_limit) as rc:
        cols = rc.sql(f"SELECT * FROM {parquet_list_sql(src)} LIMIT 0").columns
        split = ", 'split': split" if "split" in cols else ""
        base = f"to_json({{'{key}': {content}, 'item_id': item_id}})"
        if _kind_task_data(rc, src, cfg):
            source = f"{parquet_list_sql(src)} POSITIONAL JOIN ls_task_data"
            data = f"json_merge_patch({base}, task_data)"
        else:
            source, data = parquet_list_sql(src), base
        q = (
            f"SELECT {data} AS data,"
            f" [{{'result': {result}, 'was_cancelled': false, 'ground_truth': false}}] AS annotations,"
            f" {{'item_id': item_id, 'method': method, 'confidence': confidence, 'n_votes': n_votes,"
            f" 'n_human': n_human, 'agreement': agreement, 'sources': sources{split}}} AS meta"
            f" FROM {source}"
        )
        rc.execute(f"COPY ({q}) TO {_lit(target)} (FORMAT json, ARRAY true)").fetchall()
    (out_dir / FORMATS_DIR / "label_studio_config.xml").write_text(label_studio_config(cfg) + "\n", encoding="utf-8")
    return [target, out_dir / FORMATS_DIR / "label_studio_config.xml"]
