"""A new flow in a few lines, composed from annoflow's stages: send back to people every released
label that a confident model now disagrees with.

    uv run python examples/flows/relabel_disagreements.py examples/youtube-spam

It reads the latest published version, compares it with the model's stored votes, marks the
disagreements as needing one more human vote (adaptive overlap adds a slot, or adjudication once
the item has had `overlap.max`), and runs the dispatch stage. The next collect + consensus (the
`collect-loop` deployment does both every few minutes) settles them, and the nightly export
publishes the corrected version.
"""

from __future__ import annotations

import sys

from prefect import flow

from flows.common import project_config
from flows.dispatch import dispatch_flow
from tasks.export.versions import load_version
from tasks.store import open_store, transaction


@flow(name="relabel-disagreements", log_prints=True)
def relabel_disagreements(project_dir: str = ".", model: str = "tfidf-logreg", min_confidence: float = 0.9,
                          dispatch: bool = True) -> dict:
    """Items whose released label the model contradicts with at least `min_confidence` go back to people."""
    cfg = project_config(project_dir, None)
    released = load_version(cfg).to_table(columns=["item_id", "label"])
    with open_store(cfg.db_path) as con, transaction(con):
        con.register("released", released)
        ids = [r[0] for r in con.execute(
            "SELECT DISTINCT v.item_id FROM votes v JOIN released r USING (item_id)"
            " WHERE v.source_id = ? AND v.label <> r.label AND v.confidence >= ?"
            " AND v.item_id NOT IN (SELECT item_id FROM gold)",
            [f"model:{model}", min_confidence],
        ).fetchall()]
        con.execute("UPDATE labels SET decision = 'needs_more' WHERE item_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
        con.execute("UPDATE items SET state = 'queued', priority = 1.0 WHERE item_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
    print(f"{len(ids)} released labels contradicted by model:{model} at >= {min_confidence}")
    return {"disagreements": len(ids), "item_ids": ids, "dispatch": dispatch_flow(project_dir=cfg.root) if dispatch and ids else None}


if __name__ == "__main__":
    relabel_disagreements(sys.argv[1] if len(sys.argv) > 1 else ".")
