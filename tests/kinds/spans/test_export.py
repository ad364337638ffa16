"""Span exports read back by their consumers (seqeval on the CoNLL, json on the JSONL, pyarrow on the Parquet),
span lineage, the release gate's span checks, and seqeval scores on hand-computed cases."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2

from tasks.kinds import get

EXPORT = get("spans").export
LABELS = ["person", "location"]


def _answer(*spans):
    return json.dumps([{"start": s, "end": e, "label": lab} for s, e, lab in spans])


ROWS = pa.table({
    "item_id": ["a", "b", "c"],
    "payload": ["Alice met Bob in New York.", "nothing here", "Paris, again!"],
    "answer": [_answer((0, 5, "person"), (10, 13, "person"), (17, 25, "location")), "[]", _answer((0, 5, "location"))],
    "confidence": [0.97, 0.91, 0.88],
    "sources": [["human:ann", "human:bob"], ["human:ann"], ["human:bob", "lf:cities"]],
})
VOTES = pa.table({
    "item_id": ["a", "a", "b", "c", "c"],
    "source_id": ["human:ann", "human:bob", "human:ann", "human:bob", "lf:cities"],
    "answer": [_answer((0, 5, "person"), (10, 13, "person"), (17, 21, "location")),
               _answer((0, 5, "person"), (17, 25, "location")), "[]", _answer((0, 5, "location")), _answer((0, 5, "location"))],
})


@pytest.fixture
def cfg(make_project):
    return make_project(task_kind="spans", labels=LABELS)


def test_every_format_read_back_by_its_consumer(cfg, tmp_path):
    files, section = EXPORT.write(ROWS, tmp_path, cfg, votes=VOTES)
    assert sorted(p.name for p in files) == ["spans-tokens.parquet", "spans.conll", "spans.jsonl"]
    assert section["tag_map"] == {"O": 0, "B-person": 1, "I-person": 2, "B-location": 3, "I-location": 4}
    assert section["span_counts"] == {"location": 2, "person": 2} and section["tokenizer"] == "words"

    # CoNLL: sentences of token/tag lines that seqeval scores as a perfect match against the true tags.
    sentences = [[line.split("\t") for line in block.splitlines()] for block in (tmp_path / "spans.conll").read_text().split("\n\n") if block]
    tags = [[t for _, t in s] for s in sentences]
    assert next([w for w, _ in s] for s in sentences) == ["Alice", "met", "Bob", "in", "New", "York", "."]
    truth = [["B-person", "O", "B-person", "O", "B-location", "I-location", "O"], ["O", "O"], ["B-location", "O", "O", "O"]]
    assert tags == truth
    assert f1_score(truth, tags, mode="strict", scheme=IOB2) == 1.0

    # JSONL: spaCy-style records whose spans cut the named entities out of the text, with lineage per span.
    records = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    a = records[0]
    assert [a["text"][s["start"]:s["end"]] for s in a["spans"]] == ["Alice", "Bob", "New York"]
    assert [s["sources"] for s in a["spans"]] == [["human:ann", "human:bob"], ["human:ann"], ["human:bob"]]
    assert records[1]["spans"] == [] and records[2]["spans"][0]["sources"] == ["human:bob", "lf:cities"]
    assert (a["id"], a["confidence"], a["sources"]) == ("a", 0.97, ["human:ann", "human:bob"])

    # Parquet: tokens + tag ids that map back to the tags through the manifest's tag map.
    table = pq.read_table(tmp_path / "spans-tokens.parquet")
    assert json.loads(table.schema.metadata[b"annoflow.tag_map"]) == section["tag_map"]
    ids_to_tag = {v: k for k, v in section["tag_map"].items()}
    assert [[ids_to_tag[i] for i in ids] for ids in table.column("tag_ids").to_pylist()] == truth
    row = table.to_pylist()[0]
    assert [row["text"][s:e] for s, e in zip(row["token_start"], row["token_end"])] == row["tokens"]


def test_splits_get_their_own_conll_file(cfg, tmp_path):
    rows = ROWS.append_column("split", pa.array(["train", "test", "train"]))
    files, _ = EXPORT.write(rows, tmp_path, cfg)
    assert sorted(p.name for p in files if p.suffix == ".conll") == ["spans-test.conll", "spans-train.conll"]
    assert (tmp_path / "spans-test.conll").read_text() == "nothing\tO\nhere\tO\n\n"


def test_whitespace_tokenizer_keeps_the_original_tokens(make_project, tmp_path):
    cfg = make_project(task_kind="spans", labels=LABELS, answer={"tokenizer": "whitespace"})
    EXPORT.write(ROWS, tmp_path, cfg)
    first = (tmp_path / "spans.conll").read_text().split("\n\n")[0].splitlines()
    assert first[-2:] == ["New\tB-location", "York.\tI-location"]


def test_gate_passes_clean_rows_and_names_every_bad_span(cfg):
    checks = {c["name"]: c for c in EXPORT.gate_checks(ROWS, cfg)}
    assert {k: c["success"] for k, c in checks.items()} == {
        "spans_well_formed": True, "spans_inside_text": True, "spans_start_before_end": True,
        "span_types_in_label_set": True, "span_overlaps_allowed": True, "span_type_shift": None}
    bad = pa.table({"item_id": ["x", "y", "z"], "payload": ["short", "Bob Bobson", "two words"],
                    "answer": [_answer((0, 9, "person")), _answer((0, 3, "person"), (2, 10, "person")), _answer((4, 3, "org"))]})
    checks = {c["name"]: c for c in EXPORT.gate_checks(bad, cfg, {"span_counts": {"person": 10}})}
    assert checks["spans_inside_text"]["success"] is False and checks["spans_inside_text"]["unexpected_count"] == 1
    assert checks["spans_inside_text"]["examples"][0]["detail"] == (
        'item "x", gold: spans[0].end = 9 is past the end of the text (5 characters)')
    assert checks["span_overlaps_allowed"]["examples"][0]["item_id"] == "y"
    assert checks["spans_start_before_end"]["examples"][0]["field"] == "spans[0].end"
    assert checks["span_types_in_label_set"]["success"] is True  # the reversed span is reported first; one fault a span
    assert checks["span_type_shift"]["observed"] == 0.25  # person 10 -> person 3, org 1


def test_type_shift_against_the_previous_version(cfg):
    same = EXPORT.gate_checks(ROWS, cfg, {"span_counts": {"person": 20, "location": 20}})[-1]
    assert (same["observed"], same["success"]) == (0.0, True)
    moved = EXPORT.gate_checks(ROWS, cfg, {"span_counts": {"person": 9, "location": 1}})[-1]
    assert (moved["observed"], moved["success"]) == (0.4, False)
    assert moved["note"] == "person: 9 -> 2; location: 1 -> 2"


def test_entity_scores_hand_computed(cfg):
    texts = ROWS.select(["item_id", "payload"])
    truth = ROWS.select(["item_id", "answer"])
    predicted = pa.table({"item_id": ["a", "b"],
                          "answer": [_answer((0, 5, "person"), (10, 13, "location"), (17, 21, "location")), _answer((0, 7, "person"))]})
    s = EXPORT.evaluate(truth, predicted, texts, cfg)
    # a: Alice right, Bob wrong type, "New" a boundary error; b: one spurious span. 1 right of 4 predicted, of 3 true.
    assert (s["precision"], s["recall"], s["f1"]) == (0.25, 0.3333, round(2 * 0.25 * (1 / 3) / (0.25 + 1 / 3), 4))
    assert s["per_type"]["person"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}  # Alice right, "nothing" spurious
    assert (s["items"], s["items_without_prediction"]) == (2, 1)
    perfect = EXPORT.evaluate(truth, truth, texts, cfg)
    assert (perfect["f1"], perfect["items"]) == (1.0, 3)
