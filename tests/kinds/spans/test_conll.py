"""CoNLL in: sentences become texts with token offsets and spans; bad lines are named, good sentences kept."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tasks.ingest.stage import ingest_source
from tasks.kinds.spans.conll import conll_lines, parse_conll

LABELS = ["person", "location"]
FILE = (
    "-DOCSTART- -X- O O\n\n"
    "Alice\tB-person\nmet\tO\nBob\tB-person\nSmith I-person\n\n"   # lines 3-6
    "bad\n\n"                                                       # line 8: no tag
    "x\tI-location\n\n"                                             # line 10: I- starts an entity
    "Paris\tB-location\nRome\tB-org\n\n"                           # lines 12-13: unknown type
    "in\tO\nNew\tB-location\nYork\tI-location\n\n"                 # lines 15-17
    "Bob\tB-person\nParis\tI-location\n\n"                        # lines 19-20: I- follows another type
    "Jose\u0301 B-person\nwas\tX-person\n"                         # lines 22-23: malformed tag
)


def test_sentences_offsets_and_spans():
    sentences, problems = parse_conll(conll_lines(FILE, 1), LABELS)
    assert sentences.to_pylist() == [
        {"source_row": 3, "payload": "Alice met Bob Smith", "tokens": "[[0,5],[6,9],[10,13],[14,19]]",
         "answer": '[{"start":0,"end":5,"label":"person"},{"start":10,"end":19,"label":"person"}]'},
        {"source_row": 15, "payload": "in New York", "tokens": "[[0,2],[3,6],[7,11]]",
         "answer": '[{"start":3,"end":11,"label":"location"}]'},
    ]
    for s in sentences.to_pylist():  # every recorded offset really is the token in the text
        assert all(s["payload"][a:b].strip() == s["payload"][a:b] != "" for a, b in json.loads(s["tokens"]))
    assert problems.select(["source_row", "field", "reason", "detail"]).to_pylist() == [
        {"source_row": 8, "field": "line", "reason": "malformed_line",
         "detail": 'expected a token and a BIO tag separated by a tab or space, found "bad"; the sentence is not stored'},
        {"source_row": 10, "field": "tag", "reason": "bio_i_without_b",
         "detail": 'tag "I-location" starts an entity (an entity starts with B-location); the sentence is not stored'},
        {"source_row": 13, "field": "tag", "reason": "unknown_label",
         "detail": 'type "org" (tag "B-org") is not in the label set ["person", "location"]; the sentence is not stored'},
        {"source_row": 20, "field": "tag", "reason": "bio_i_without_b",
         "detail": 'tag "I-location" follows "B-person" (an I- tag continues an entity of its own type); the sentence is not stored'},
        {"source_row": 23, "field": "tag", "reason": "malformed_tag",
         "detail": 'tag "X-person" is not O, B-<type> or I-<type>; the sentence is not stored'},
    ]


def test_combining_marks_are_composed_before_offsets_are_counted():
    sentences, problems = parse_conll(conll_lines("Jose\u0301\tB-person\nwins\tO\n", 1), LABELS)
    assert problems.num_rows == 0
    row = sentences.to_pylist()[0]
    assert row["payload"] == "Jos\u00e9 wins"
    assert row["answer"] == '[{"start":0,"end":4,"label":"person"}]'


def _state(cfg) -> dict:
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        return {
            "items": dict(con.execute("SELECT payload, metadata FROM items").fetchall()),
            "gold": dict(con.execute("SELECT i.payload, g.answer FROM gold g JOIN items i USING (item_id)").fetchall()),
            "votes": con.execute("SELECT i.payload, v.source_id, v.source_kind, v.answer FROM votes v JOIN items i USING (item_id)"
                                 " ORDER BY 1").fetchall(),
            "quarantine": con.execute("SELECT source, source_row, field, reason FROM quarantine ORDER BY source_row").fetchall(),
        }


def _project(make_project, tmp_path: Path, **source):
    cfg = make_project(task_kind="spans", labels=LABELS, sources=[{"path": "data/ner.conll", **source}])
    (Path(cfg.root) / "data").mkdir()
    (Path(cfg.root) / "data" / "ner.conll").write_text(FILE)
    return cfg


BAD = [("data/ner.conll", 8, "line", "malformed_line"), ("data/ner.conll", 10, "tag", "bio_i_without_b"),
       ("data/ner.conll", 13, "tag", "unknown_label"), ("data/ner.conll", 20, "tag", "bio_i_without_b"),
       ("data/ner.conll", 23, "tag", "malformed_tag")]


def test_ingest_as_gold(make_project, tmp_path):
    cfg = _project(make_project, tmp_path, annotations="gold")
    [report] = ingest_source(cfg, cfg.sources[0])
    assert (report["format"], report["inserted"], report["quarantined"], report["error"]) == ("conll", 2, 5, None)
    state = _state(cfg)
    assert state["items"] == {"Alice met Bob Smith": '{"tokens":[[0,5],[6,9],[10,13],[14,19]]}',
                              "in New York": '{"tokens":[[0,2],[3,6],[7,11]]}'}
    assert state["gold"] == {"Alice met Bob Smith": '[{"start":0,"end":5,"label":"person"},{"start":10,"end":19,"label":"person"}]',
                             "in New York": '[{"start":3,"end":11,"label":"location"}]'}
    assert state["votes"] == [] and state["quarantine"] == BAD
    # A second run adds nothing and changes nothing.
    ingest_source(cfg, cfg.sources[0])
    assert _state(cfg) == state


def test_ingest_as_votes_of_a_named_source(make_project, tmp_path):
    cfg = _project(make_project, tmp_path, annotations="votes", annotations_source="model:old-tagger")
    ingest_source(cfg, cfg.sources[0])
    state = _state(cfg)
    assert state["gold"] == {}
    assert state["votes"] == [
        ("Alice met Bob Smith", "model:old-tagger", "model", '[{"start":0,"end":5,"label":"person"},{"start":10,"end":19,"label":"person"}]'),
        ("in New York", "model:old-tagger", "model", '[{"start":3,"end":11,"label":"location"}]')]


def test_ingest_without_annotations_stores_items_only(make_project, tmp_path):
    cfg = _project(make_project, tmp_path)
    ingest_source(cfg, cfg.sources[0])
    state = _state(cfg)
    assert len(state["items"]) == 2 and state["gold"] == {} and state["votes"] == []


def test_changed_gold_is_refused_and_kept(make_project, tmp_path):
    cfg = _project(make_project, tmp_path, annotations="gold")
    ingest_source(cfg, cfg.sources[0])
    (Path(cfg.root) / "data" / "ner.conll").write_text("in\tO\nNew\tB-person\nYork\tI-person\n")
    [report] = ingest_source(cfg, cfg.sources[0])
    state = _state(cfg)
    assert state["gold"]["in New York"] == '[{"start":3,"end":11,"label":"location"}]'
    assert ("data/ner.conll", 1, "tag", "gold_changed") in state["quarantine"]
    assert report["quarantined_by_reason"] == {"gold_changed": 1}


def test_tags_need_a_spans_project(make_project, tmp_path):
    from tasks.errors import InputError

    cfg = make_project(labels=LABELS, sources=[{"path": "data/ner.conll", "annotations": "gold"}])
    (Path(cfg.root) / "data").mkdir()
    (Path(cfg.root) / "data" / "ner.conll").write_text(FILE)
    with pytest.raises(InputError, match="a CoNLL file's tags are entity spans, but this project's task_kind is 'single_label'"):
        ingest_source(cfg, cfg.sources[0])


def test_small_blocks_never_split_a_sentence_and_bad_bytes_drop_their_sentence(tmp_path):
    from tasks.ingest.conll import read_conll

    body = "".join(f"w{i}\tB-person\nsaid\tO\nhi\tO\n\n" for i in range(40))
    path = tmp_path / "many.conll"
    path.write_bytes(body.encode() + b"bad\xff\tO\nnext\tO\n\nlast\tB-location\n")
    batches = list(read_conll(path, LABELS, block_bytes=64))
    assert len(batches) > 5  # really read in pieces
    rows = [r for b in batches for r in b.raw.table.to_pylist()]
    assert [r["payload"] for r in rows] == [f"w{i} said hi" for i in range(40)] + ["last"]
    assert [r["source_row"] for r in rows] == [1 + 4 * i for i in range(40)] + [164]
    answers = [a for b in batches for a in b.answers.column("answer").to_pylist()]
    assert answers[7] == '[{"start":0,"end":2,"label":"person"}]' and answers[-1] == '[{"start":0,"end":4,"label":"location"}]'
    bad = [(r.source_row, r.reason) for b in batches for r in b.raw.bad]
    assert bad == [(161, "invalid_encoding")]
