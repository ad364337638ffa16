"""Gold files of a spans project: each row's answer is the spans JSON, checked by the kind; bad rows are
quarantined and named by file, row and field, good rows stored in `gold.answer`, stored gold kept."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.ingest.stage import import_gold, ingest_source
from tasks.store import open_store

TEXTS = ["Alice met Bob", "Paris again", "nothing here", "Rome or Oslo"]


def _project(make_project, gold_name: str, gold_text: str):
    cfg = make_project(task_kind="spans", labels=["person", "location"], gold={"path": gold_name, "label_field": "spans"})
    root = Path(cfg.root)
    (root / "data").mkdir()
    (root / "data" / "a.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    (root / gold_name).write_text(gold_text, encoding="utf-8")
    for src in cfg.sources:
        ingest_source(cfg, src)
    return cfg


def _gold(cfg) -> dict[str, list]:
    with open_store(cfg.db_path) as con:
        rows = con.execute("SELECT i.payload, g.answer::VARCHAR FROM gold g JOIN items i USING (item_id) ORDER BY 1").fetchall()
    return {p: json.loads(a) for p, a in rows}


def _span(s: int, e: int, label: str) -> dict:
    return {"start": s, "end": e, "label": label}


def test_span_gold_from_jsonl(make_project) -> None:
    lines = [
        {"text": "Alice met Bob", "spans": [_span(10, 13, "person"), _span(0, 5, "person")]},  # stored sorted
        {"text": "Paris again", "spans": [_span(0, 40, "location")]},                            # past the end
        {"text": "nothing here", "spans": []},                                                   # "no entities"
        {"text": "Rome or Oslo", "spans": [_span(0, 4, "city")]},                                # unknown type
        {"text": "never ingested", "spans": []},
    ]
    cfg = _project(make_project, "gold.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    report = import_gold(cfg)
    assert (report["gold_rows"], report["gold_stored"], report["gold_quarantined"]) == (5, 2, 3)
    assert _gold(cfg) == {"Alice met Bob": [_span(0, 5, "person"), _span(10, 13, "person")], "nothing here": []}
    assert report["errors"][0].startswith("gold.jsonl row 2: column 'spans': item ")
    assert report["errors"][0].endswith("spans[0].end = 40 is past the end of the text (11 characters)")
    assert "gold.jsonl row 4" in report["errors"][1] and 'spans[0].label = "city" is not in the label set' in report["errors"][1]
    with open_store(cfg.db_path) as con:
        q = con.execute("SELECT source_row, field, reason FROM quarantine WHERE stage = 'gold' ORDER BY 1").fetchall()
    assert q == [(2, "spans[0].end", "span_outside_text"), (4, "spans[0].label", "unknown_label"), (5, "text", "gold_item_unknown")]


def test_span_gold_from_csv_keeps_stored_gold_unless_overridden(make_project) -> None:
    cell = json.dumps([_span(0, 5, "location")]).replace('"', '""')
    cfg = _project(make_project, "gold.csv", f'text,spans\nParis again,"{cell}"\nRome or Oslo,not json\n')
    report = import_gold(cfg)
    assert (report["gold_stored"], report["gold_quarantined"]) == (1, 1) and "is not valid JSON" in report["errors"][0]
    assert _gold(cfg) == {"Paris again": [_span(0, 5, "location")]}

    moved = json.dumps([_span(0, 5, "person")]).replace('"', '""')
    (Path(cfg.root) / "gold.csv").write_text(f'text,spans\nParis again,"{moved}"\n', encoding="utf-8")
    refused = import_gold(cfg)
    assert refused["gold_changed"] == 0 and "stored gold is kept" in refused["errors"][0]
    assert _gold(cfg) == {"Paris again": [_span(0, 5, "location")]}
    changed = import_gold(cfg, override_reason="a reviewer retyped it")
    assert changed["gold_changed"] == 1 and _gold(cfg) == {"Paris again": [_span(0, 5, "person")]}
