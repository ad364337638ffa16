"""How good the current labels are against a file of true labels (examples ship one; real projects
use a held-out set): accuracy overall and per labeling method, and how much human work was spent."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from schemas.config import ProjectConfig
from tasks.ingest.stage import key_match_sql, read_side_file

__all__ = ["evaluate_labels", "work_summary"]


def evaluate_labels(
    con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, truth_path: Path, key_field: str = "text", label_field: str = "label"
) -> dict:
    """Accuracy of resolved labels on the items the truth file knows, overall and by method."""
    truth = read_side_file(truth_path, "truth file")
    truth = truth.select([key_field, label_field]).rename_columns(["key", "truth"]).cast(
        pa.schema([("key", pa.string()), ("truth", pa.string())])
    )
    con.register("_truth", truth)
    try:
        rows = con.execute(
            f"""
            WITH t AS (SELECT DISTINCT i.item_id, t.truth FROM _truth t JOIN items i ON {key_match_sql(cfg, key_field, 'i', 't')})
            SELECT coalesce(l.method, '(unresolved)') AS method, count(*) AS n,
                   count(*) FILTER (WHERE l.label = t.truth) AS correct
            FROM t LEFT JOIN labels l ON l.item_id = t.item_id AND l.decision = 'resolved'
            GROUP BY ALL ORDER BY n DESC
            """
        ).fetchall()
    finally:
        con.unregister("_truth")
    by_method = {m: {"items": n, "accuracy": round(c / n, 4)} for m, n, c in rows}
    resolved = [(n, c) for m, n, c in rows if m != "(unresolved)"]
    n_res, c_res = sum(n for n, _ in resolved), sum(c for _, c in resolved)
    return {
        "items_with_truth": sum(n for _, n, _ in rows),
        "resolved_with_truth": n_res,
        "accuracy": round(c_res / n_res, 4) if n_res else None,
        "by_method": by_method,
    }


def work_summary(con: duckdb.DuckDBPyConnection) -> dict:
    """Human judgments spent and where the labels came from."""
    items = con.execute("SELECT count(*) FROM items").fetchone()[0]
    human = con.execute("SELECT count(*) FROM votes WHERE source_kind IN ('human', 'adjudicator')").fetchone()[0]
    resolved, auto, humans_touched = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE method = 'auto'),"
        " count(*) FILTER (WHERE n_human > 0) FROM labels WHERE decision = 'resolved'"
    ).fetchone()
    return {
        "items": items,
        "resolved": resolved,
        "auto_accepted": auto,
        "auto_accepted_share": round(auto / items, 4) if items else None,
        "human_judgments": human,
        "human_judgments_per_item": round(human / items, 3) if items else None,
        "human_judgments_per_human_labeled_item": round(human / humans_touched, 3) if humans_touched else None,
        "unresolved": items - resolved,
    }
