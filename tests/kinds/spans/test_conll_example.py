"""The wnut17-ner example: its CoNLL gold goes in through a CoNLL source, and its spans come back out
of the CoNLL export as WNUT17's own token/tag lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.config import load_config
from tasks.ingest.stage import ingest_source
from tasks.kinds import kind_of
from tasks.kinds.spans.export import spans_sql

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "wnut17-ner"


def _truth() -> dict[str, str]:
    rows = [json.loads(line) for line in (EXAMPLE / "truth" / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["text"]: json.dumps(r["spans"], separators=(",", ":")) for r in rows}


def test_example_ingests_items_and_conll_gold(tmp_path):
    project = tmp_path / "wnut17-ner"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".annoflow"))
    cfg = load_config(project)
    reports = [r for src in cfg.sources for r in ingest_source(cfg, src)]
    assert [(r["inserted"], r["quarantined"], r["error"]) for r in reports] == [(600, 0, None), (0, 0, None)]
    truth = _truth()
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        gold = con.execute("SELECT i.payload, g.answer FROM gold g JOIN items i USING (item_id)").fetchall()
        items = pa.table(dict(zip(["item_id", "payload"], map(list, zip(*con.execute("SELECT item_id, payload FROM items").fetchall())))))
    assert len(gold) == 60
    assert all(truth[text] == answer for text, answer in gold)  # gold spans are the true spans, offsets included
    # Every true answer is valid for the project, as its storage facet judges it.
    ids = dict(zip(items.column("payload").to_pylist(), items.column("item_id").to_pylist()))
    answers = pa.table({"item_id": [ids[t] for t in truth], "answer": list(truth.values())})
    assert kind_of(cfg).storage.validate(answers, items, cfg).num_rows == 0


def test_conll_export_gives_back_the_gold_file(tmp_path):
    cfg = load_config(EXAMPLE)
    truth = _truth()
    conll = (EXAMPLE / "gold" / "gold.conll").read_text(encoding="utf-8")
    texts = [" ".join(line.split("\t")[0] for line in block.splitlines()) for block in conll.split("\n\n") if block]
    # A snapshot as the export writes it (spans typed, as the stage's SQL reads them from labels.answer).
    answers = pa.array([truth[t] for t in texts])
    with duckdb.connect() as con:
        con.register("_a", pa.table({"item_id": [f"{i:03d}" for i in range(len(texts))], "payload": texts, "a": answers}))
        rows = con.sql(f"SELECT item_id, payload, {spans_sql('a')} AS spans FROM _a ORDER BY item_id").to_arrow_table()
    pq.write_table(rows, tmp_path / "part-000.parquet")
    (path,) = kind_of(cfg).export.formats(cfg)["conll"]([tmp_path / "part-000.parquet"], tmp_path, cfg)
    assert path.read_text(encoding="utf-8") == conll
