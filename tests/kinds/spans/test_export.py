"""Span export formats read back by their consumers (seqeval on the CoNLL, json on the JSONL, pyarrow on the
Parquet), the release gate's span checks and rate change, and seqeval scores, on hand-computed cases.
The whole stage (`annoflow export` on a real project) is tests/kinds/spans/test_export_stage.py."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2

from tasks.kinds import get
from tasks.kinds.spans.evaluate import entity_scores
from tasks.kinds.spans.gate import rate_change

EXPORT = get("spans").export
LABELS = ["person", "location"]


def _answer(*spans):
    return json.dumps([{"start": s, "end": e, "label": lab} for s, e, lab in spans])


ROWS = pa.table({
    "item_id": ["a", "b", "c"],
    "payload": ["Alice met Bob in New York.", "nothing here", "Paris, again!"],
    # "a" as consensus stores it (each span with its lineage); "c" without (an auto-accepted pre-label).
    "answer": [json.dumps([{"start": 0, "end": 5, "label": "person", "confidence": 0.99, "sources": ["human:ann", "human:bob"]},
                           {"start": 10, "end": 13, "label": "person", "confidence": 0.95, "sources": ["human:ann"]},
                           {"start": 17, "end": 25, "label": "location", "confidence": 0.98, "sources": []}]),
               "[]", _answer((0, 5, "location"))],
    "confidence": [0.97, 0.91, 0.88],
    "sources": [["human:ann", "human:bob"], ["human:ann"], ["human:bob", "lf:cities"]],
})
@pytest.fixture
def cfg(make_project):
    return make_project(task_kind="spans", labels=LABELS)


def _exported(cfg, rows: pa.Table) -> pa.Table:
    """The rows as the export stage selects them: the stored JSON answer read by the facet's `select_sql`."""
    with duckdb.connect() as con:
        con.register("l", rows)
        extra = ", split" if "split" in rows.column_names else ""
        return con.sql(f"SELECT item_id, payload, {EXPORT.select_sql(cfg, 'l')}, confidence, sources{extra} FROM l"
                       " ORDER BY item_id").to_arrow_table()


def _write(cfg, rows: pa.Table, out) -> dict:
    src = out / "part-000.parquet"
    out.mkdir(exist_ok=True)
    pq.write_table(_exported(cfg, rows), src)
    return {name: writer([src], out, cfg) for name, writer in EXPORT.formats(cfg).items()}


def test_every_format_read_back_by_its_consumer(cfg, tmp_path):
    files = _write(cfg, ROWS, tmp_path)
    assert {k: [p.name for p in v] for k, v in files.items()} == {
        "conll": ["spans.conll"], "jsonl": ["spans.jsonl"], "token_parquet": ["spans-tokens.parquet"]}
    tag_map = EXPORT.manifest_section(cfg)["tag_map"]
    assert tag_map == {"O": 0, "B-person": 1, "I-person": 2, "B-location": 3, "I-location": 4}

    # CoNLL: sentences of token/tag lines that seqeval scores as a perfect match against the true tags.
    text = files["conll"][0].read_text()
    sentences = [[line.split("\t") for line in block.splitlines()] for block in text.split("\n\n") if block]
    tags = [[t for _, t in s] for s in sentences]
    assert next([w for w, _ in s] for s in sentences) == ["Alice", "met", "Bob", "in", "New", "York", "."]
    truth = [["B-person", "O", "B-person", "O", "B-location", "I-location", "O"], ["O", "O"], ["B-location", "O", "O", "O"]]
    assert tags == truth
    assert f1_score(truth, tags, mode="strict", scheme=IOB2) == 1.0

    # JSONL: spaCy-style records whose spans cut the named entities out of the text.
    records = [json.loads(line) for line in files["jsonl"][0].read_text().splitlines()]
    a = records[0]
    assert [a["text"][s["start"]:s["end"]] for s in a["spans"]] == ["Alice", "Bob", "New York"]
    assert [(s["confidence"], s["sources"]) for s in a["spans"]] == [  # lineage per span, as stored
        (0.99, ["human:ann", "human:bob"]), (0.95, ["human:ann"]), (0.98, [])]
    # A label stored without lineage: each span gets the item's confidence and sources.
    assert records[1]["spans"] == [] and records[2]["spans"] == [
        {"start": 0, "end": 5, "label": "location", "confidence": 0.88, "sources": ["human:bob", "lf:cities"]}]
    assert (a["id"], a["confidence"], a["sources"]) == ("a", 0.97, ["human:ann", "human:bob"])

    # Parquet: tokens + tag ids that map back to the tags through the manifest's tag map.
    table = pq.read_table(files["token_parquet"][0])
    assert json.loads(table.schema.metadata[b"annoflow.tag_map"]) == tag_map
    ids_to_tag = {v: k for k, v in tag_map.items()}
    assert [[ids_to_tag[i] for i in ids] for ids in table.column("tag_ids").to_pylist()] == truth
    row = table.to_pylist()[0]
    assert [row["text"][s:e] for s, e in zip(row["token_start"], row["token_end"])] == row["tokens"]


def test_splits_get_their_own_conll_file(cfg, tmp_path):
    rows = ROWS.append_column("split", pa.array(["train", "test", "train"]))
    files = _write(cfg, rows, tmp_path)
    assert [p.name for p in files["conll"]] == ["spans-test.conll", "spans-train.conll"]
    assert (tmp_path / "formats" / "spans-test.conll").read_text() == "nothing\tO\nhere\tO\n\n"
    assert pq.read_table(files["token_parquet"][0]).column("split").to_pylist() == ["train", "test", "train"]


def test_whitespace_tokenizer_keeps_the_original_tokens(make_project, tmp_path):
    cfg = make_project(task_kind="spans", labels=LABELS, answer={"tokenizer": "whitespace"})
    files = _write(cfg, ROWS, tmp_path)
    first = files["conll"][0].read_text().split("\n\n")[0].splitlines()
    assert first[-2:] == ["New\tB-location", "York.\tI-location"]


def _checked(cfg, rows: pa.Table) -> dict[str, list]:
    """Per row check: (item_id, what its frame column says) of every violating row."""
    table = _exported(cfg, rows)
    out = {}
    with duckdb.connect() as con:
        con.register("r", table)
        for c in EXPORT.row_checks(cfg):
            said = next(iter(c.frame_columns.values()), "NULL")
            out[c.name] = con.execute(f"SELECT item_id, {said} FROM r WHERE {c.violation} ORDER BY item_id").fetchall()
    return out


def test_row_checks_pass_clean_rows_and_name_every_bad_span(cfg):
    assert _checked(cfg, ROWS) == {c.name: [] for c in EXPORT.row_checks(cfg)}
    bad = pa.table({"item_id": ["v", "w", "x", "y", "z"], "payload": ["oops", "five", "short", "Bob Bobson", "two words"],
                    "answer": ["not json", '[{"start": "a", "end": 2, "label": "person"}]', _answer((0, 9, "person")),
                               _answer((0, 3, "person"), (2, 10, "person")), _answer((4, 3, "org"))],
                    "confidence": [0.9] * 5, "sources": [["human:ann"]] * 5})
    got = _checked(cfg, bad)
    assert got["spans_present"] == [("v", None)]
    assert got["spans_well_formed"] == [("w", "spans[0] has a missing or non-integer start, end or label")]
    assert got["spans_inside_text"] == [("x", "spans[0].end = 9 is past the end of the text (5 characters)")]
    assert got["span_overlaps_allowed"] == [("y", 'spans[1] 2-10 "person" overlaps spans[0] (0-3)')]
    assert got["spans_start_before_end"] == [("z", "spans[0].end = 3 is not after start 4")]
    assert got["span_types_in_label_set"] == [("z", 'spans[0].label = "org" is not in the label set')]


def test_overlaps_allowed_but_never_a_repeat(make_project):
    cfg = make_project(task_kind="spans", labels=LABELS, answer={"allow_overlap": True})
    rows = pa.table({"item_id": ["y", "z"], "payload": ["Bob Bobson", "Bob Bobson"],
                     "answer": [_answer((0, 3, "person"), (0, 10, "person")), _answer((0, 3, "person"), (0, 3, "person"))],
                     "confidence": [0.9] * 2, "sources": [["human:ann"]] * 2})
    assert _checked(cfg, rows)["span_overlaps_allowed"] == [("z", 'spans[1] 0-3 "person" repeats spans[0]')]


def test_span_rate_change_against_the_reference_version():
    ref = {"label_distribution": {"person": 40, "location": 20, "product": 2}, "row_counts": {"total": 100}}
    assert rate_change({"person": 20}, 50, None, 0.5).observed is None  # a first version: nothing to measure
    same = rate_change({"person": 20, "location": 10, "product": 4}, 50, ref, 0.5)
    assert same.observed == 0.0 and same.max_value == 0.5  # product 0.02 -> 0.08 per item: too few spans to judge
    moved = rate_change({"person": 8, "location": 10}, 50, ref, 0.5)
    assert moved.observed == 0.6 and moved.acceptable  # person 0.4 -> 0.16 per item
    assert moved.examples[0] == {"label": "person", "reference_spans": 40, "reference_per_item": 0.4, "candidate_spans": 8,
                                 "candidate_per_item": 0.16, "change": 0.6, "judged": True}


def test_entity_scores_hand_computed():
    texts = ROWS.select(["item_id", "payload"])
    truth = ROWS.select(["item_id", "answer"])
    predicted = pa.table({"item_id": ["a", "b"],
                          "answer": [_answer((0, 5, "person"), (10, 13, "location"), (17, 21, "location")), _answer((0, 7, "person"))]})
    s = entity_scores(truth, predicted, texts)
    # a: Alice right, Bob wrong type, "New" a boundary error; b: one spurious span. 1 right of 4 predicted, of 3 true.
    assert (s["precision"], s["recall"], s["f1"]) == (0.25, 0.3333, round(2 * 0.25 * (1 / 3) / (0.25 + 1 / 3), 4))
    assert s["per_type"]["person"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}  # Alice right, "nothing" spurious
    assert (s["items"], s["items_without_prediction"]) == (2, 1)
    perfect = entity_scores(truth, truth, texts)
    assert (perfect["f1"], perfect["items"]) == (1.0, 3)


def test_export_formats_are_the_kinds(make_project):
    from tasks.errors import ConfigError

    cfg = make_project(task_kind="spans", labels=LABELS, export={"formats": ["parquet", "conll", "token_parquet", "csv"]})
    assert cfg.export.formats == ["parquet", "conll", "token_parquet", "csv"]
    with pytest.raises(ConfigError, match=r"export.formats: 'coco' is not a format of task_kind 'spans' \(available: "
                                          r"parquet, jsonl, csv, label_studio, conll, token_parquet\)"):
        make_project(task_kind="spans", labels=LABELS, export={"formats": ["coco"]})
    with pytest.raises(ConfigError, match="'conll' is not a format of task_kind 'single_label'"):
        make_project(export={"formats": ["conll"]})
