"""How good the current labels are against a file of true answers (examples ship one; real projects
use a held-out set): the kind's metric (`export.evaluate`: accuracy for choices, entity-level F1 for
spans) overall and per labeling method, and how much human work was spent."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from schemas.config import ProjectConfig
from tasks.ingest.stage import key_match_sql, read_side_file
from tasks.kinds import kind_of

__all__ = ["evaluate_labels", "work_summary"]


def evaluate_labels(
    con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, truth_path: Path, key_field: str = "text",
    label_field: str | None = None,
) -> dict:
    """The kind's quality metric of resolved answers on the items the truth file knows, overall and by method.

    The truth file's rows are matched to items here (by `key_field`, as ingest matches side files); the
    answer cell (`label_field`, as text; by default the column the kind's exports name it, else `answer`, else
    `label`) is the kind's to read and score (`kind_of(cfg).export.evaluate`)."""
    kind = kind_of(cfg)
    # `answer`: the column every structured kind stores its JSON in, the name truth files of those kinds use too.
    candidates = [label_field] if label_field else list(dict.fromkeys([kind.export.column, "answer", "label"]))
    truth = read_side_file(truth_path, "truth file", json_columns=candidates)
    label_field = next((c for c in candidates if c in truth.column_names), candidates[0])
    truth = truth.select([key_field, label_field]).rename_columns(["key", "truth"]).cast(
        pa.schema([("key", pa.string()), ("truth", pa.string())])
    )
    con.register("_truth_file", truth)
    try:
        matched = con.sql(
            f"SELECT DISTINCT i.item_id, t.truth FROM _truth_file t JOIN items i ON {key_match_sql(cfg, key_field, 'i', 't')}"
            " ORDER BY i.item_id"
        ).to_arrow_table()
    finally:
        con.unregister("_truth_file")
    return kind.export.evaluate(con, cfg, matched)


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
