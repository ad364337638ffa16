"""Diff on hand-made versions: exact added / removed / relabeled pairs / confidence changes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.export.diff import diff_files, diff_markdown, diff_versions
from tasks.export.stage import export
from tests.export.conftest import iid, seed_state, set_labels


def _version(path: Path, rows: list[tuple[str, str, float]]) -> list[Path]:
    path.mkdir(parents=True, exist_ok=True)
    f = path / "labels.parquet"
    pq.write_table(pa.table({"item_id": [r[0] for r in rows], "label": [r[1] for r in rows],
                             "confidence": [r[2] for r in rows]}), f)
    return [f]


def test_diff_hand_made(tmp_path: Path) -> None:
    a = _version(tmp_path / "a", [("1", "ham", 0.9), ("2", "ham", 0.9), ("3", "spam", 0.8), ("4", "spam", 0.7), ("5", "ham", 0.6)])
    b = _version(tmp_path / "b", [("1", "ham", 0.9), ("2", "spam", 0.95), ("3", "ham", 0.9), ("4", "ham", 0.7), ("6", "spam", 0.5),
                                  ("7", "ham", 0.5)])
    d = diff_files(a, b)
    assert (d["added"], d["removed"], d["kept"], d["relabeled"], d["unchanged_label"]) == (2, 1, 4, 3, 1)
    assert d["added_by_label"] == {"ham": 1, "spam": 1} and d["removed_by_label"] == {"ham": 1}
    pairs = {(p["from"], p["to"]): p["count"] for p in d["relabel_pairs"]}
    assert pairs == {("spam", "ham"): 2, ("ham", "spam"): 1}
    assert d["relabel_pairs"][0] == {"from": "spam", "to": "ham", "count": 2, "example": "3"}
    c = d["confidence"]
    assert (c["changed"], c["increased"], c["decreased"]) == (2, 2, 0)
    assert abs(c["mean_delta"] - (0.05 + 0.1) / 4) < 1e-9 and abs(c["max_abs_delta"] - 0.1) < 1e-9
    assert sorted(d["examples"]["added"]) == ["6", "7"] and d["examples"]["removed"] == ["5"]


def test_diff_multi_label_sets(tmp_path: Path) -> None:
    def ver(p: Path, rows):
        p.mkdir()
        pq.write_table(pa.table({"item_id": [r[0] for r in rows], "labels": [r[1] for r in rows], "confidence": [1.0] * len(rows)}),
                       p / "l.parquet")
        return [p / "l.parquet"]

    a = ver(tmp_path / "a", [("1", ["x", "y"]), ("2", ["x"])])
    b = ver(tmp_path / "b", [("1", ["y", "x"]), ("2", ["x", "z"])])
    d = diff_files(a, b)
    assert d["relabeled"] == 1 and d["relabel_pairs"][0]["from"] == "x" and d["relabel_pairs"][0]["to"] == "x|z"


def test_diff_between_exported_versions(make_project) -> None:
    cfg = make_project()
    seed_state(cfg, 30)
    export(cfg)
    set_labels(cfg, f"UPDATE labels SET label = 'spam', confidence = 0.99 WHERE item_id IN ('{iid(0)}', '{iid(2)}')")
    set_labels(cfg, f"UPDATE labels SET decision = 'needs_more' WHERE item_id = '{iid(5)}'")
    set_labels(cfg, f"UPDATE labels SET decision = 'resolved' WHERE item_id = '{iid(30)}'")
    export(cfg)
    d = diff_versions(cfg, "v0001", "latest")
    assert (d["a"], d["b"], d["added"], d["removed"], d["relabeled"]) == ("v0001", "v0002", 1, 1, 2)
    assert d["relabel_pairs"] == [{"from": "ham", "to": "spam", "count": 2, "example": min(iid(0), iid(2))}]
    assert d["confidence"]["changed"] == 2 and not d["same_content"]
    md = diff_markdown(d)
    assert "| ham | spam | 2 |" in md
    json.dumps(d)  # JSON-ready
