"""Segment export formats read back by their consumers (the RTTM reader gold import uses, pyarrow on the region
Parquet), the release gate's segment checks, gold match and rate change, and segment F1, on hand-computed
cases. Rows are written as the export stage selects them: the stored JSON answer and the item's metadata
read by the facet's `select_sql`."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.kinds import get
from tasks.kinds.segments.columns import EXPORT_SEGMENTS_TYPE
from tasks.kinds.segments.evaluate import segment_f1
from tasks.kinds.segments.gate import rate_change
from tasks.kinds.segments.rttm import read_rttm

EXPORT = get("segments").export
LABELS = ["alice", "bob", "music"]


def _seg(s, e, label, **extra):
    return {"start_s": s, "end_s": e, "label": label, **extra}


# "a" as consensus stores it (each region with its lineage and a text); "c" without (an auto-accepted
# pre-label); "b" no regions.
ANSWERS = {
    "a": [_seg(4.5, 6.0, "bob", confidence=0.81, sources=["human:ann"]),
          _seg(0.25, 2.0, "alice", confidence=0.97, sources=["human:bob", "human:ann"], text="hello")],
    "b": [],
    "c": [_seg(0.0, 10.0, "music")],
}
CLIPS = {"a": ("clips/a one.wav", 8.0), "b": ("clips/b.wav", 3.5), "c": ("c.wav", 10.0)}


@pytest.fixture
def cfg(make_project):
    return make_project(data_kind="audio", task_kind="segments", labels=LABELS)


def _rows(answers, clips=CLIPS) -> tuple[pa.Table, pa.Table]:
    ids = sorted(answers)
    labels = pa.table({"item_id": ids,
                       "answer": [a if isinstance(a, str) else json.dumps(a) for a in (answers[i] for i in ids)],
                       "confidence": [round(0.9 - 0.05 * k, 2) for k in range(len(ids))],
                       "method": ["segment_fusion"] * len(ids), "sources": [["human:ann", "human:bob"]] * len(ids)})
    items = pa.table({"item_id": ids, "uri": [f"file:///data/{i}.wav" for i in ids],
                      "metadata": [json.dumps({"file": clips[i][0], "duration_s": clips[i][1], "sample_rate": 16000})
                                   if i in clips else "{}" for i in ids]})
    return labels, items


def _exported(cfg, labels: pa.Table, items: pa.Table) -> pa.Table:
    with duckdb.connect() as con:
        con.register("l", labels)
        con.register("i", items)
        return con.sql(f"SELECT l.item_id, 'audio' AS kind, NULL::VARCHAR AS payload, i.uri, {EXPORT.select_sql(cfg, 'l')},"
                       " l.confidence, l.method, 3 AS n_votes, 2 AS n_human, 0.8 AS agreement, l.sources"
                       " FROM l JOIN i USING (item_id) ORDER BY l.item_id").to_arrow_table()


def _write(cfg, table: pa.Table, out: Path) -> dict[str, list[Path]]:
    out.mkdir(exist_ok=True)
    src = out / "part-000.parquet"
    pq.write_table(table, src)
    return {name: writer([src], out, cfg) for name, writer in EXPORT.formats(cfg).items()}


def test_snapshot_columns_carry_each_region_with_its_lineage(cfg):
    t = _exported(cfg, *_rows(ANSWERS))
    assert t.schema.field("segments").type == EXPORT_SEGMENTS_TYPE == EXPORT.arrow_type(cfg)
    assert t.column("duration_s").to_pylist() == [8.0, 3.5, 10.0]
    assert t.column("file").to_pylist() == ["clips/a one.wav", "clips/b.wav", "c.wav"]
    a, b, c = t.column("segments").to_pylist()
    assert a == [_seg(0.25, 2.0, "alice", text="hello", confidence=0.97, sources=["human:ann", "human:bob"]),
                 _seg(4.5, 6.0, "bob", text=None, confidence=0.81, sources=["human:ann"])]  # in time order
    assert b == [] and c == [_seg(0.0, 10.0, "music", text=None, confidence=None, sources=None)]


def test_rttm_reads_back_as_the_same_answers(cfg, tmp_path):
    files = _write(cfg, _exported(cfg, *_rows(ANSWERS)), tmp_path / "v")
    (path,) = files["rttm"]
    assert path.relative_to(tmp_path / "v").as_posix() == "formats/segments.rttm"
    assert path.read_text().splitlines() == [
        "SPEAKER clips/a_one.wav 1 0.250 1.750 <NA> <NA> alice <NA> <NA>",
        "SPEAKER clips/a_one.wav 1 4.500 1.500 <NA> <NA> bob <NA> <NA>",
        "SPEAKER c.wav 1 0.000 10.000 <NA> <NA> music <NA> <NA>"]
    back = read_rttm(path)
    assert back.problems.num_rows == 0
    assert dict(zip(back.rows["key"].to_pylist(), map(json.loads, back.rows["answer"].to_pylist()))) == {
        "c.wav": [_seg(0.0, 10.0, "music")], "clips/a_one.wav": [_seg(0.25, 2.0, "alice"), _seg(4.5, 6.0, "bob")]}
    again = _write(cfg, _exported(cfg, *_rows(ANSWERS)), tmp_path / "w")["rttm"][0]
    assert again.read_bytes() == path.read_bytes()  # the same snapshot, the same bytes


def test_region_parquet_has_one_row_per_region_with_its_confidence(cfg, tmp_path):
    (path,) = _write(cfg, _exported(cfg, *_rows(ANSWERS)), tmp_path / "v")["regions"]
    rows = pq.read_table(path).to_pylist()
    assert [(r["item_id"], r["start_s"], r["end_s"], r["label"], r["text"], r["confidence"], r["sources"], r["clip_confidence"])
            for r in rows] == [
        ("a", 0.25, 2.0, "alice", "hello", 0.97, ["human:ann", "human:bob"], 0.9),
        ("a", 4.5, 6.0, "bob", None, 0.81, ["human:ann"], 0.9),
        # no region lineage recorded: the clip's confidence and sources stand
        ("c", 0.0, 10.0, "music", None, 0.8, ["human:ann", "human:bob"], 0.8)]
    assert rows[0]["duration_s"] == 8.0 and rows[0]["file"] == "clips/a one.wav" and rows[0]["method"] == "segment_fusion"


def _violations(cfg, table: pa.Table) -> dict[str, list[str]]:
    """Per check: the items it holds, and the frame column saying why (as the gate reports them)."""
    out = {}
    with duckdb.connect() as con:
        con.register("r", table)
        for chk in EXPORT.row_checks(cfg):
            frame = next(iter(chk.frame_columns.values()), "NULL")
            out[chk.name] = con.sql(f"SELECT item_id, {frame} FROM r WHERE {chk.violation} ORDER BY item_id").fetchall()
    return out


def test_gate_row_checks_name_each_bad_region(cfg):
    bad = {"ok": [_seg(0, 1, "alice")], "rev": [_seg(0, 1, "alice"), _seg(3.0, 2.0, "bob")],
           "out": [_seg(7.5, 8.2, "bob")], "edge": [_seg(-0.04, 8.04, "bob")], "lab": [_seg(0, 1, "carol")],
           "conf": [_seg(0, 1, "bob", confidence=1.5)], "none": "not json", "nodur": [_seg(0, 1, "bob")]}
    clips = {k: (f"{k}.wav", 8.0) for k in bad if k != "nodur"}
    v = _violations(cfg, _exported(cfg, *_rows(bad, clips)))
    assert v["segments_present"] == [("none", None)]
    assert v["clip_duration_known"] == [("nodur", "duration_s = unknown: not a recorded clip length")]
    assert v["segment_start_before_end"] == [("rev", "segments[1]: starts at 3.0 s and ends at 2.0 s")]
    assert v["segments_inside_clip"] == [("out", "segments[0]: ends at 8.2 s, past the clip's end (8.0 s)")]  # edge: within tolerance
    assert v["segment_labels_in_set"] == [("lab", 'segments[0]: label "carol" is not in the label set')]
    assert v["segment_confidence_in_range"] == [("conf", "segments[0]: confidence = 1.5 is outside [0, 1]")]
    assert v["segments_well_formed"] == []


def test_gold_match_and_diff_keys(cfg):
    gm = EXPORT.gold_match(cfg)
    exported = _exported(cfg, *_rows({"a": [_seg(1.0, 3.0, "bob")], "b": [_seg(1.0, 3.0, "bob")],
                                      "c": [_seg(1.0, 3.0, "bob")], "d": []}, {k: (f"{k}.wav", 8.0) for k in "abcd"}))
    # a: IoU of [1, 3] with [1.2, 3.2] = 1.8 / 2.2 = 0.82 -> right; b: [2.2, 4] -> 0.8 / 3 = 0.27 -> wrong;
    # c: right place, other label -> wrong; d: nothing, gold nothing -> right.
    gold = pa.table({"item_id": list("abcd"), "answer": [json.dumps(g) for g in (
        [_seg(1.2, 3.2, "bob")], [_seg(2.2, 4.0, "bob")], [_seg(1.0, 3.0, "alice")], [])]})
    with duckdb.connect() as con:
        con.register("c", exported)
        con.register("g", gold)
        got = con.sql(f"SELECT c.item_id, {gm.correct} FROM c JOIN g USING (item_id) WHERE {gm.present} ORDER BY 1").fetchall()
        keys = con.sql(f"SELECT {EXPORT.diff_key_sql()}, {EXPORT.diff_units_sql()} FROM c ORDER BY item_id").fetchall()
    assert got == [("a", True), ("b", False), ("c", False), ("d", True)]
    assert keys[0] == ('[{"start_s":1.0,"end_s":3.0,"label":"bob"}]', [{"unit": "bob 1.000-3.000", "label": "bob"}])


def test_segment_rate_change_against_the_reference_version():
    ref = {"label_distribution": {"alice": 100, "bob": 50, "music": 4}, "row_counts": {"total": 100}}
    assert rate_change({"alice": 20}, 10, None, 0.5).observed is None  # a first version: nothing to measure
    grown = rate_change({"alice": 200, "bob": 100, "music": 8}, 200, ref, 0.5)  # twice the clips, same rates
    assert grown.observed == 0.0
    moved = rate_change({"alice": 100, "bob": 10}, 100, ref, 0.5)  # bob 0.5 -> 0.1 per clip: -80%
    assert moved.observed == pytest.approx(0.8)
    top = moved.examples[0]
    assert top["label"] == "bob" and top["reference_per_clip"] == 0.5 and top["candidate_per_clip"] == 0.1
    everything = {r["label"]: r for r in moved.examples}["(all labels)"]
    assert everything["reference_regions"] == 154 and everything["candidate_regions"] == 110


def test_segment_f1_by_hand_and_the_evaluate_facet(cfg):
    truth = pa.array([json.dumps([_seg(0, 2, "alice"), _seg(3, 5, "bob")]), json.dumps([])])
    pred = pa.array([json.dumps([_seg(0.1, 2, "alice"), _seg(3, 3.9, "bob")]), json.dumps([_seg(1, 2, "music")])])
    # clip 1: alice IoU 0.95 hit, bob [3, 3.9] vs [3, 5] IoU 0.45 < 0.5 miss; clip 2: one invented region.
    # TP 1 of 3 predicted and 2 true: precision 1/3, recall 1/2, F1 = 2 x 1 / (3 + 2) = 0.4.
    got = segment_f1(pred, truth, LABELS, 0.5)
    assert (got["tp"], got["precision"], got["recall"], got["f1"]) == (1, 0.3333, 0.5, 0.4)
    with duckdb.connect() as con:
        con.execute("CREATE TABLE labels (item_id VARCHAR, answer JSON, method VARCHAR, decision VARCHAR)")
        con.execute("INSERT INTO labels VALUES ('x', ?, 'segment_fusion', 'resolved'), ('y', ?, 'gold', 'resolved')",
                    [pred[0].as_py(), pred[1].as_py()])
        res = EXPORT.evaluate(con, cfg, pa.table({"item_id": ["x", "y", "z"], "truth": [truth[0].as_py(), truth[1].as_py(), "[]"]}))
    assert res["metric"] == "f1" and res["f1"] == 0.4 and res["items_with_truth"] == 3 and res["resolved_with_truth"] == 2
    # clip x alone: TP 1 of 2 predicted and 2 true -> F1 = 2 x 1 / (2 + 2) = 0.5
    assert res["by_method"]["segment_fusion"]["f1"] == 0.5
    assert res["by_method"]["(unresolved)"]["items"] == 1
