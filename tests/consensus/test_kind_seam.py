"""The consensus stage writes a structured kind's answer into its column (that it names no kind is
tests/kinds/test_seam.py's check)."""

import json

import numpy as np
import pyarrow as pa

from schemas.tables import Labels, check
from tasks.store import open_store


def _outcome_labels(answers: list[str | None], decisions: list[str]) -> pa.Table:
    from tasks.consensus.pipeline import ConsensusSettings, labels_table

    n = len(answers)
    s = ConsensusSettings(classes=("person", "place"), kind="spans", target_confidence=0.9, max_overlap=3)
    ids = pa.array([f"i{j}" for j in range(n)])
    conf = np.array([0.95 if d == "resolved" else 0.5 for d in decisions])
    n_h = np.array([1 if d == "resolved" else 3 for d in decisions])
    t = labels_table(s, "answer", ids, pa.array(answers, pa.string()), conf, np.full(n, "dawid_skene", object),
                     np.zeros(n, bool), n_h, n_h, n_h.astype(float), pa.array([["human:a"]] * n, pa.list_(pa.string())))
    return s, t


def test_stage_writes_a_structured_answer_into_the_answer_column(make_project) -> None:
    """A structured kind's labels table carries `answer` (JSON): the stage stores it there, not in label(s)."""
    from tasks.consensus.pipeline import ConsensusOutcome
    from tasks.consensus.stage import write_outcome

    cfg = make_project(task_kind="spans", labels=["person", "place"])
    spans = json.dumps([{"start": 0, "end": 5, "label": "person"}])
    s, labels = _outcome_labels([spans, "[]"], ["resolved", "adjudicate"])
    assert list(labels.column_names[:2]) == ["item_id", "answer"] and "label" not in labels.column_names
    assert labels["decision"].to_pylist() == ["resolved", "adjudicate"]  # the shared rule: 3 humans spent, 0.5
    check(labels, Labels, "labels")
    empty = pa.table({"source_id": pa.array([], pa.string())})
    out = ConsensusOutcome(labels, empty.append_column("kind", pa.array([], pa.string())).slice(0, 0),
                           empty.append_column("evidence", pa.array([], pa.string())), {}, {}, {})
    with open_store(cfg.db_path) as con:
        con.executemany("INSERT INTO items (item_id, kind, payload, source, state) VALUES (?, 'text', 'Alice went', 't', 'new')",
                        [["i0"], ["i1"]])
        assert write_outcome(con, s, out, 1, "r1") == {"labels_written": 2}
        rows = con.execute("SELECT item_id, label, labels, answer::VARCHAR, decision FROM labels ORDER BY 1").fetchall()
        states = con.execute("SELECT state FROM items ORDER BY item_id").fetchall()
        assert write_outcome(con, s, out, 1, "r2") == {"labels_written": 0}  # the same answers: nothing rewritten
        _s, moved = _outcome_labels([json.dumps([{"start": 0, "end": 4, "label": "person"}]), "[]"],
                                    ["resolved", "adjudicate"])
        assert write_outcome(con, s, ConsensusOutcome(moved, *[getattr(out, f) for f in
                                                               ("source_stats", "new_bans", "agreement", "params",
                                                                "fit")]), 1, "r3") == {"labels_written": 1}
        changed = con.execute("SELECT json_extract(answer, '$[0].end')::INT, run_id FROM labels WHERE item_id = 'i0'").fetchall()
    assert [(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows] == [
        ("i0", None, None, [{"start": 0, "end": 5, "label": "person"}], "resolved"),
        ("i1", None, None, [], "adjudicate")]
    assert states == [("resolved",), ("adjudicate",)]
    assert changed == [(4, "r3")]
