"""SIMULATION ONLY: the true answers a simulated crowd labels from, keyed by what an annotator is shown.

A truth file (an example's `truth/labels.csv` or `.jsonl`) names items the way its gold file does: by their text,
or by a metadata field such as `file` for images and audio. The app never shows item ids or file
names, so each item's true answer is keyed here by what the page shows of it (`shown_key`): the text
of a text item, the digest of the file of an image or audio item. Answers come from the kind's column
(`storage.column`: `label`, `labels` or `answer`), JSON text where the file holds a structured answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb
import orjson
import pyarrow as pa

from schemas.config import DataKind, ProjectConfig
from tasks.errors import InputError
from tasks.ingest.gold import key_match_sql, read_side_file
from tasks.kinds import kind_of
from tasks.queues.simulated_crowd import media_digest, shown_key

__all__ = ["TruthTable", "default_truth_file", "read_truth", "truth_key_column"]


def default_truth_file(cfg: ProjectConfig) -> Path:
    """The project's `truth/labels.*` (CSV for label answers, JSONL where answers are structured);
    `truth/labels.csv` when there is none, for the caller's message."""
    found = sorted(cfg.path("truth").glob("labels.*"))
    return found[0] if found else cfg.path("truth/labels.csv")


def truth_key_column(cfg: ProjectConfig) -> str:
    """The truth file's column naming items: the one the project's gold file uses (`gold.key_field`)."""
    return cfg.gold.key_field


class TruthTable(dict):
    """`shown key → true answer (JSON form)`; called on a task (as `run_simulated_crowd`'s `truth`) it
    looks the task up and counts the tasks it does not know (`unknown`: report it, they are answered
    from no truth). `missing`: rows of the file naming no item of the project. `metadata`: shown key → the
    item's metadata JSON (an image's width and height), for `payload`."""

    missing: int = 0
    unknown: int = 0
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metadata: dict[str, str] = {}

    def payload(self, task: dict[str, Any]) -> str | None:
        """What a simulated annotator reads of the item besides its answer: the task's text, or for a media
        item (whose page shows no text) its metadata as recorded at ingest, which the app does not send."""
        return task.get("payload") or self.metadata.get(shown_key(task))

    def __call__(self, task: dict[str, Any]) -> Any:
        value = self.get(shown_key(task))
        if value is None:
            self.unknown += 1  # threads may race here: a count for the report, not an invariant
        return value


def _file_of(uri: str, root: Path) -> Path:
    path = Path(unquote(urlparse(uri).path) if uri.startswith("file://") else uri)
    return path if path.is_absolute() else root / path


def read_truth(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, path: Path, key_column: str | None = None,
               answer_column: str | None = None) -> TruthTable:
    """SIMULATION: the truth file at `path` as `shown key → answer` for the project's items in `con`."""
    kind = kind_of(cfg)
    key_column = key_column or truth_key_column(cfg)
    table = read_side_file(path, "truth file")
    if answer_column is None:  # the stored column, else the one the kind's exports name it
        answer_column = next((c for c in (kind.storage.column, getattr(kind.export, "column", None))
                              if c in table.column_names), kind.storage.column)
    for col in (key_column, answer_column):
        if col not in table.column_names:
            raise InputError(f"truth file {path}: no column {col!r} (it has {', '.join(table.column_names)}); "
                             "pass the right one (--key-column / --label-column)")
    con.register("_truth", pa.table({"key": table[key_column].cast(pa.string()), "_n": pa.array(range(table.num_rows))}))
    try:
        rows = con.execute(
            f"SELECT t._n, i.payload, i.uri, i.metadata::VARCHAR FROM _truth t JOIN items i ON {key_match_sql(cfg, key_column, 'i', 't')}"
            " ORDER BY t._n").fetchall()
    finally:
        con.unregister("_truth")
    answers = table[answer_column].to_pylist()
    structured = not pa.types.is_string(kind.storage.arrow_type)
    out = TruthTable()
    by_media = cfg.data_kind != DataKind.text
    for n, payload, uri, metadata in rows:
        value: Any = answers[n]
        if structured and isinstance(value, str):
            value = orjson.loads(value)
        if by_media:
            if not uri:
                continue
            key = uri if uri.startswith(("http://", "https://")) else media_digest(_file_of(uri, Path(cfg.root)).read_bytes())
        else:
            key = (payload or "").strip()
        out.setdefault(key, value)
        if by_media and metadata:
            out.metadata.setdefault(key, metadata)
    out.missing = table.num_rows - len({r[0] for r in rows})
    return out
