"""What people said about the exported items: their comment threads and guideline questions, per version.

A label's lineage is its votes and method (the rows' `sources`, `annoflow trace`); the threads are the
rest of it: why a reviewer rejected an answer, the adjudicator's note, the guideline question an item
raised and how the owner answered it. Each version holds them for the items it exports, as
`lineage/comments.parquet` (listed in the manifest's files, outside the content hash, which covers the
labels only: a new comment alone does not make a new version). No comment on any exported item: no file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from tasks.export.writers import parquet_list_sql

__all__ = ["COMMENTS_FILE", "comments_of", "write_comment_lineage"]

COMMENTS_FILE = Path("lineage") / "comments.parquet"
_COLUMNS = ("item_id, comment_id, kind, author, body, reply_to, created_at, resolved_at, resolved_by, resolution")


def comments_of(con: duckdb.DuckDBPyConnection, item_id: str) -> list[dict]:
    """One item's thread, oldest first (for `annoflow trace`)."""
    cur = con.execute(f"SELECT {_COLUMNS} FROM comments WHERE item_id = ? ORDER BY created_at, comment_id", [item_id])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def write_comment_lineage(con: duckdb.DuckDBPyConnection, files: list[Path], root: Path) -> list[Path]:
    """Write the threads of the items in `files` (the export's Parquet of record) under `root`; the files written."""
    exported = f"(SELECT item_id FROM {parquet_list_sql(files)})"
    if not con.execute(f"SELECT count(*) FROM comments WHERE item_id IN {exported}").fetchone()[0]:
        return []
    out = root / COMMENTS_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    target = str(out).replace("'", "''")
    con.execute(f"COPY (SELECT {_COLUMNS} FROM comments WHERE item_id IN {exported}"
                f" ORDER BY item_id, created_at, comment_id) TO '{target}' (FORMAT parquet)")
    return [out]
