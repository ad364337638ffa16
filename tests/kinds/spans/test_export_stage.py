"""`annoflow export` on a spans project, end to end on a real DuckDB file and a real Prefect API.

The state is the WNUT17 example's: its sentences and CoNLL gold ingested by the real ingest stage,
then resolved answers written to `labels.answer` as the consensus stage writes them (method,
confidence, votes, agreement, sources), from the example's true spans with known damage (every
tenth post with entities loses its last span), so the F1 to expect is known independently.
"""

from __future__ import annotations

import json
import shutil
import time
import tomllib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import tomli_w
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2
from typer.testing import CliRunner

from annoflow_cli.main import app
from schemas.config import ProjectConfig, load_config
from tasks.evaluate import evaluate_labels
from tasks.export import versions as V
from tasks.ingest.stage import ingest_source
from tasks.kinds.spans.export import EXPORT_SPANS_TYPE
from tasks.kinds.spans.tokens import bio_tags, tokenize
from tasks.store import open_store

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "wnut17-ner"
FORMATS = ["parquet", "conll", "jsonl", "token_parquet", "label_studio", "csv"]


def _spans(answer: list[dict]) -> list[tuple[int, int, str]]:
    return [(s["start"], s["end"], s["label"]) for s in answer]


@pytest.fixture
def ner(tmp_path: Path) -> tuple[ProjectConfig, dict[str, list[dict]], dict[str, list[dict]]]:
    """(config, true spans by item, exported spans by item) of the ingested example with resolved answers."""
    root = tmp_path / "wnut17-ner"
    for part in ("data", "gold", "truth"):
        shutil.copytree(EXAMPLE / part, root / part)
    data = tomllib.loads((EXAMPLE / "annoflow.toml").read_text(encoding="utf-8"))
    data["export"] = {"formats": FORMATS}
    (root / "annoflow.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
    cfg = load_config(root)
    for src in cfg.sources:
        assert not any(r["error"] for r in ingest_source(cfg, src))
    truth_by_text = {r["text"]: r["spans"] for r in map(json.loads, (root / "truth" / "labels.jsonl").read_text().splitlines())}
    with open_store(cfg.db_path) as con:
        items = con.execute("SELECT item_id, payload FROM items ORDER BY item_id").fetchall()
        truth = {i: truth_by_text[p] for i, p in items}
        answers, rows = {}, []
        damaged = 0
        for k, (item_id, _) in enumerate(items):
            spans = truth[item_id]
            if spans and (damaged := damaged + 1) % 10 == 0:
                spans = spans[:-1]
            answers[item_id] = spans
            # Consensus stores each span's lineage; an auto-accepted pre-label has none (the item's stands in).
            stored = spans if k % 7 == 0 else [
                {**sp, "confidence": round(0.6 + 0.05 * j, 4), "sources": ["human:ann", "human:bob"] if j % 2 == 0 else ["lf:cities"]}
                for j, sp in enumerate(spans)]
            rows.append([item_id, json.dumps(stored), 0.9 + 0.01 * (k % 10), "auto" if k % 7 == 0 else "span_dawid_skene",
                         3, 0 if k % 7 == 0 else 3, 0.8, ["human:ann", "human:bob", "lf:cities"]])
        con.executemany("INSERT INTO labels (item_id, answer, confidence, method, decision, n_votes, n_human, agreement, sources)"
                        " VALUES (?, ?::JSON, ?, ?, 'resolved', ?, ?, ?, ?)", rows)
        assert con.execute("SELECT count(*) FROM gold WHERE answer IS NOT NULL").fetchone()[0] == 60
    return cfg, truth, answers


def _conll(path: Path) -> list[list[tuple[str, str]]]:
    return [[tuple(line.split("\t")) for line in block.splitlines()] for block in path.read_text(encoding="utf-8").split("\n\n") if block]


def test_spans_export_end_to_end(prefect_harness, ner) -> None:
    cfg, truth, answers = ner
    runner, opt = CliRunner(), ["--config", cfg.root]

    started = time.perf_counter()
    res = runner.invoke(app, ["export", *opt, "--json"])
    seconds = time.perf_counter() - started
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert (out["status"], out["version"], out["n_rows"]) == ("published", "v0001", len(truth))
    print(f"spans export of the example ({len(truth)} posts, {len(FORMATS)} formats): {seconds:.1f} s wall "
          f"(timings {out['timings']})")

    m = V.read_manifest(cfg, "v0001")
    assert (m["task_kind"], m["label_column"]) == ("spans", "spans")
    assert sorted(m["formats"]) == sorted(FORMATS)
    tag_map = m["answer"]["tag_map"]
    assert m["answer"]["tokenizer"] == "whitespace" and tag_map["O"] == 0 and len(tag_map) == 1 + 2 * len(cfg.labels)
    counts: dict[str, int] = {}
    for spans in answers.values():
        for s in spans:
            counts[s["label"]] = counts.get(s["label"], 0) + 1
    assert m["label_distribution"] == dict(sorted(counts.items()))
    checks = m["validation"]["checks"]
    assert all(checks[c]["success"] for c in ("spans_inside_text", "span_overlaps_allowed", "span_types_in_label_set"))
    assert checks["min_gold_accuracy"]["success"] is True  # the 60 CoNLL gold posts, exact match
    assert checks["max_span_rate_change"]["success"] is None  # a first version: nothing to compare with

    # Every file read back by its consumer.
    vdir = V.version_dir(cfg, "v0001") / "formats"
    ids = sorted(answers)  # the snapshot's order
    tokens_of = {i: tokenize(t, "whitespace") for i, t in zip(ids, (r["text"] for r in map(json.loads, (vdir / "spans.jsonl").read_text().splitlines())))}
    true_tags = [bio_tags(_spans(truth[i]), tokens_of[i]) for i in ids]
    sentences = _conll(vdir / "spans.conll")
    exported_tags = [[t for _, t in s] for s in sentences if s]
    assert len(sentences) == len(ids) - sum(1 for i in ids if not tokens_of[i])
    expected_f1 = f1_score(true_tags, exported_tags, mode="strict", scheme=IOB2)  # seqeval on the CoNLL file
    assert 0.9 < expected_f1 < 1.0  # the damage shows, and only it

    records = [json.loads(line) for line in (vdir / "spans.jsonl").read_text(encoding="utf-8").splitlines()]
    bare = [[{k: sp[k] for k in ("start", "end", "label")} for sp in r["spans"]] for r in records]
    assert [r["id"] for r in records] == ids and bare == [answers[i] for i in ids]
    # Lineage per span: the stored confidence and sources, else (auto labels) the item's own.
    with open_store(cfg.db_path) as con:
        method = dict(con.execute("SELECT item_id, method FROM labels").fetchall())
    lineage = [[(sp["confidence"], sp["sources"]) for sp in r["spans"]] for r in records]
    assert lineage == [[(round(0.6 + 0.05 * j, 4), ["human:ann", "human:bob"] if j % 2 == 0 else ["lf:cities"])
                        if method[r["id"]] != "auto" else (r["confidence"], r["sources"]) for j in range(len(r["spans"]))]
                       for r in records]
    assert any(method[r["id"]] == "auto" and r["spans"] for r in records)  # both kinds of row are exercised
    assert all(r["sources"] == ["human:ann", "human:bob", "lf:cities"] for r in records)
    # The Parquet of record carries the same spans with their lineage, typed.
    snap = pq.read_table(V.data_files(cfg, "v0001"), columns=["item_id", "spans"])
    assert snap.schema.field("spans").type == EXPORT_SPANS_TYPE
    assert snap.column("spans").to_pylist() == [r["spans"] for r in records]
    assert all(r["text"][s["start"]:s["end"]] for r in records for s in r["spans"])

    table = pq.read_table(vdir / "spans-tokens.parquet")
    assert json.loads(table.schema.metadata[b"annoflow.tag_map"]) == tag_map
    back = {v: k for k, v in tag_map.items()}
    assert [[back[t] for t in row] for row in table.column("tag_ids").to_pylist()] == [bio_tags(_spans(answers[i]), tokens_of[i]) for i in ids]

    ls = json.loads((vdir / "label_studio.json").read_text(encoding="utf-8"))
    first = next(t for t in ls if t["annotations"][0]["result"])
    region = first["annotations"][0]["result"][0]
    assert region["type"] == "labels" and region["value"]["text"] == first["data"]["text"][region["value"]["start"]:region["value"]["end"]]
    assert "<Labels" in (vdir / "label_studio_config.xml").read_text()

    # `annoflow evaluate`-style: the kind's metric against the example's truth file, per method.
    with open_store(cfg.db_path) as con:
        q = evaluate_labels(con, cfg, Path(cfg.root) / "truth" / "labels.jsonl", "text", "spans")
    assert q["metric"] == "f1" and q["f1"] == round(expected_f1, 4)
    assert q["resolved_with_truth"] == len(ids) and set(q["by_method"]) == {"auto", "span_dawid_skene"}

    # A span past the end of its text is blocked, named by item and field; nothing is published.
    bad = ids[3]
    text_len = len(records[3]["text"])
    with open_store(cfg.db_path) as con:
        con.execute("UPDATE labels SET answer = ?::JSON WHERE item_id = ?",
                    [json.dumps([{"start": 0, "end": text_len + 4, "label": "person"}]), bad])
    res = runner.invoke(app, ["export", *opt])
    assert res.exit_code == 2, res.output
    assert "spans_inside_text" in res.output and bad in res.output
    assert f"spans[0].end = {text_len + 4} is past the end of the text ({text_len} characters)" in res.output
    assert V.read_latest(cfg.export_dir) == "v0001"

    # A second version: the bad span fixed, three posts' first span retyped and one span added.
    changed = [i for i in ids if answers[i]][:3]
    with open_store(cfg.db_path) as con:
        con.execute("UPDATE labels SET answer = ?::JSON WHERE item_id = ?", [json.dumps(answers[bad]), bad])
        for i in changed:
            spans = [dict(answers[i][0], label="group" if answers[i][0]["label"] != "group" else "person"), *answers[i][1:]]
            con.execute("UPDATE labels SET answer = ?::JSON WHERE item_id = ?", [json.dumps(spans), i])
        plus = next(i for i in ids if not answers[i] and len(tokens_of[i]) > 1)
        s, e = tokens_of[plus][0]
        con.execute("UPDATE labels SET answer = ?::JSON WHERE item_id = ?", [json.dumps([{"start": s, "end": e, "label": "product"}]), plus])
    res = runner.invoke(app, ["export", *opt, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["version"] == "v0002"
    assert V.read_manifest(cfg, "v0002")["validation"]["checks"]["max_span_rate_change"]["success"] is True

    res = runner.invoke(app, ["export", "diff", "v0001", "v0002", *opt, "--json"])
    d = json.loads(res.output)
    assert d["relabeled"] == 4 and d["added"] == d["removed"] == 0
    parts = d["parts"]
    assert (parts["added"], parts["removed"]) == (4, 3)  # three retyped spans (one in, one out each) + one new
    assert parts["by_label"]["product"]["added"] >= 1
    assert sum(v["kept"] for v in parts["by_label"].values()) == sum(counts.values()) - 3
    res = runner.invoke(app, ["export", "diff", "v0001", "v0002", *opt])
    assert res.exit_code == 0 and "Answer parts: 4 added, 3 removed" in res.output
    res = runner.invoke(app, ["export", "show", "v0002", *opt])
    assert res.exit_code == 0 and "max_span_rate_change" in res.output and "spans_inside_text" in res.output
    res = runner.invoke(app, ["export", "trace", plus, *opt])
    assert res.exit_code == 0 and json.loads(res.output)["exported"]["spans"] == [
        {"start": s, "end": e, "label": "product", "confidence": 0.9 + 0.01 * (ids.index(plus) % 10),
         "sources": ["human:ann", "human:bob", "lf:cities"]}]  # stored without lineage: the item's


def test_a_collapse_of_one_type_is_held_until_accepted(prefect_harness, ner) -> None:
    cfg, _, answers = ner
    runner, opt = CliRunner(), ["--config", cfg.root]
    assert runner.invoke(app, ["export", *opt]).exit_code == 0
    with open_store(cfg.db_path) as con:  # every person span gone outside gold: per-item person rate down ~90%
        gold = {r[0] for r in con.execute("SELECT item_id FROM gold").fetchall()}
        for i, spans in answers.items():
            if i in gold:
                continue
            con.execute("UPDATE labels SET answer = ?::JSON WHERE item_id = ?",
                        [json.dumps([s for s in spans if s["label"] != "person"]), i])
    res = runner.invoke(app, ["export", *opt])
    assert res.exit_code == 2 and "max_span_rate_change" in res.output and "--accept-shift" in res.output
    res = runner.invoke(app, ["export", *opt, "--accept-shift", "person spans moved to a separate project"])
    assert res.exit_code == 0, res.output
    accepted = V.read_manifest(cfg, "v0002")["shift_accepted"]
    assert accepted["reason"] == "person spans moved to a separate project" and "max_span_rate_change" in accepted["checks"]
