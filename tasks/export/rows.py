"""The rows of an export, as one DuckDB query: resolved labels joined with their items, with lineage.

Exported columns (the answer column and its type are the project's kind's: `kind_of(cfg).export`):

    item_id     content-addressed item id (join key back to `items`, `votes`, `gold`)
    split       train / validation / ... (only when `export.splits` is configured)
    kind        text | image | audio
    payload     the text (text items)            uri   the media location (media items)
    <answer>    the resolved answer: `export.column` of the kind (e.g. a label, a sorted label set)
    confidence  posterior / score of the decision, in [0, 1]
    method      auto | <aggregation method> | adjudicated | gold
    n_votes     votes that went into the decision, n_human of them from humans
    agreement   inter-annotator agreement of the item (NULL when not measured)
    sources     contributing source ids, sorted (from `labels.sources`, else from `votes`)

Rows are ordered by item_id (within a file and across files in name order): together with a
fixed writer this makes the same state produce byte-identical files. Timestamps and run ids are left out on purpose, so re-running consensus
without changing any decision does not change the export.
"""

from __future__ import annotations

from schemas.config import ProjectConfig
from tasks.kinds import kind_of

__all__ = ["export_rows_sql", "id_ranges", "needs_vote_sources", "split_sql"]


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def split_sql(splits: dict[str, float], id_expr: str) -> str:
    """A split per item from a uniform number in [0, 1) derived from md5(item id): stable across runs,
    versions and DuckDB releases. Splits take consecutive ranges in the configured order."""
    u = f"(('0x' || left(md5({id_expr}), 8))::UBIGINT / 4294967296.0)"
    cases, edge = [], 0.0
    names = list(splits)
    for name in names[:-1]:
        edge += splits[name]
        cases.append(f"WHEN {u} < {edge!r} THEN {_q(name)}")
    return f"CASE {' '.join(cases)} ELSE {_q(names[-1])} END" if cases else _q(names[-1])


def needs_vote_sources(con) -> bool:
    """Whether some resolved label lacks `sources`, so lineage must be rebuilt from the votes table."""
    return bool(con.execute("SELECT count(*) FROM labels WHERE decision = 'resolved' AND sources IS NULL").fetchone()[0])


def id_ranges(n_rows: int, rows_per_range: int = 1_500_000) -> list[tuple[str | None, str | None]]:
    """Contiguous item_id ranges, each written as its own sorted file: a power of two of them (at most 256)
    so that each holds about `rows_per_range` rows, split on the first two hex digits (item ids are md5 hex;
    other ids still fall in exactly one range). Each range is joined and sorted in memory, so the work per
    step and the memory stay bounded whatever the size, and the files in name order are globally sorted."""
    k = 1
    while k < 256 and n_rows > k * rows_per_range:
        k *= 2
    if k == 1:
        return [(None, None)]
    bounds = [f"{j * 256 // k:02x}" for j in range(1, k)]
    return [(bounds[j - 1] if j else None, bounds[j] if j < len(bounds) else None) for j in range(k)]


def _range_filter(col: str, lo: str | None, hi: str | None) -> str:
    parts = ([f"{col} >= {_q(lo)}"] if lo else []) + ([f"{col} < {_q(hi)}"] if hi else [])
    return " AND ".join(parts) or "true"


def export_rows_sql(cfg: ProjectConfig, *, vote_sources: bool = False, lo: str | None = None, hi: str | None = None) -> str:
    """SELECT producing the export rows with lo <= item_id < hi in item_id order (LEFT JOIN: a missing item
    shows as NULL content, which the gate reports, instead of silently dropping the label)."""
    lab = kind_of(cfg).export.select_sql(cfg, "l")
    split = f"{split_sql(cfg.export.splits, 'l.item_id')} AS split, " if cfg.export.splits else ""
    sources = "list_sort(l.sources)"
    vote_join = ""
    if vote_sources:
        sources = "list_sort(coalesce(l.sources, v.sources, []::VARCHAR[]))"
        vote_join = (
            " LEFT JOIN (SELECT item_id, list(DISTINCT source_id) AS sources FROM votes"
            f" WHERE {_range_filter('item_id', lo, hi)} GROUP BY item_id) v ON v.item_id = l.item_id"
        )
    return (
        f"SELECT l.item_id, {split}i.kind, i.payload, i.uri, {lab}, l.confidence, l.method,"
        f" l.n_votes, l.n_human, l.agreement, {sources} AS sources"
        f" FROM (SELECT * FROM labels WHERE decision = 'resolved' AND {_range_filter('item_id', lo, hi)}) l"
        f" LEFT JOIN (SELECT * FROM items WHERE {_range_filter('item_id', lo, hi)}) i ON i.item_id = l.item_id{vote_join}"
        f" ORDER BY l.item_id"
    )
