"""The transcript export facet over a real DuckDB file: the snapshot column, the speech manifest read back,
the transcript Parquet, the release gate's row checks and its WER check against gold and audits."""

import json
from types import SimpleNamespace

import duckdb
import pyarrow.parquet as pq
import pytest

from tasks.kinds import get
from tasks.kinds.transcript.options import TranscriptOptions

EXPORT = get("transcript").export


def _cfg(**opts):
    return SimpleNamespace(answer_options=TranscriptOptions(**opts), answer=opts)


def _answer(text, words=None):
    value = {"text": text}
    if words is not None:
        value["words"] = [{"word": w, "confidence": c} for w, c in words]
    return json.dumps(value)


@pytest.fixture()
def store(tmp_path):
    con = duckdb.connect(str(tmp_path / "state.duckdb"))
    con.execute("CREATE TABLE items (item_id VARCHAR, uri VARCHAR, metadata JSON)")
    con.execute("CREATE TABLE labels (item_id VARCHAR, answer JSON, confidence DOUBLE, method VARCHAR, decision VARCHAR,"
                " sources VARCHAR[])")
    con.execute("CREATE TABLE gold (item_id VARCHAR, answer JSON)")
    con.execute("CREATE TABLE prelabels (item_id VARCHAR, route VARCHAR)")
    con.execute("CREATE TABLE votes (item_id VARCHAR, source_id VARCHAR, source_kind VARCHAR, answer JSON)")
    clips = [
        ("c1", "file:///data/clips/one%20a.wav", {"duration_s": 2.5}, _answer("Twenty-one cats.", [("21", 0.9), ("cats", 0.8)]), 0.72, "rover"),
        ("c2", "file:///data/clips/two.wav", {"duration_s": 1.25}, _answer("hello there"), 1.0, "gold"),
        ("c3", "file:///data/clips/three.wav", {"duration_s": 3}, _answer("the dog ran"), 0.97, "auto"),
        ("c4", "file:///data/clips/four.wav", {}, _answer("", [("x", 1.5)]), 0.6, "rover"),
    ]
    for item, uri, meta, ans, conf, method in clips:
        con.execute("INSERT INTO items VALUES (?, ?, ?)", [item, uri, json.dumps(meta)])
        con.execute("INSERT INTO labels VALUES (?, ?, ?, ?, 'resolved', ['a', 'b'])", [item, ans, conf, method])
    con.execute("INSERT INTO gold VALUES ('c1', ?), ('c2', ?)", [_answer("twenty one cats"), _answer("hello there")])
    con.execute("INSERT INTO prelabels VALUES ('c3', 'audit')")
    con.execute("INSERT INTO votes VALUES ('c3', 'ann', 'human', ?)", [_answer("the dog sat")])
    snap = tmp_path / "rows.parquet"
    cfg = _cfg()
    con.execute(f"COPY (SELECT l.item_id, i.uri, l.confidence, l.method, l.sources, {EXPORT.select_sql(cfg, 'l')}"
                f" FROM labels l JOIN items i USING (item_id) ORDER BY l.item_id) TO '{snap}' (FORMAT parquet)")
    yield con, snap, tmp_path
    con.close()


def test_snapshot_column_has_the_declared_type(store):
    _, snap, _ = store
    table = pq.read_table(snap)
    assert table.schema.field("transcript").type == EXPORT.arrow_type(_cfg())
    rows = {r["item_id"]: r["transcript"] for r in table.to_pylist()}
    assert rows["c1"] == {"text": "Twenty-one cats.", "words": [{"word": "21", "confidence": 0.9},
                                                              {"word": "cats", "confidence": 0.8}], "duration_s": 2.5}
    assert rows["c2"]["words"] is None and rows["c3"]["duration_s"] == 3.0 and rows["c4"]["duration_s"] is None


def test_speech_manifest_reads_back_one_line_per_clip(store):
    _, snap, out = store
    [path] = EXPORT.formats(_cfg())["speech_manifest"]([snap], out, _cfg())
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"audio_filepath": "/data/clips/one a.wav", "duration": 2.5, "text": "Twenty-one cats."}
    assert [set(x) for x in lines] == [{"audio_filepath", "duration", "text"}] * 4
    assert [x["text"] for x in lines] == ["Twenty-one cats.", "hello there", "the dog ran", ""]


def test_transcript_parquet_has_normalised_text_and_word_confidences(store):
    _, snap, out = store
    [path] = EXPORT.formats(_cfg())["transcript_parquet"]([snap], out, _cfg())
    rows = pq.read_table(path).to_pylist()
    assert [r["normalised"] for r in rows] == ["21 cats", "hello there", "the dog ran", ""]
    assert rows[0]["word_confidence"] == [0.9, 0.8] and rows[0]["words"] == ["21", "cats"]
    assert rows[0]["confidence"] == 0.72 and rows[0]["sources"] == ["a", "b"]


def test_row_checks_catch_empty_transcripts_and_bad_word_confidences(store):
    con, snap, _ = store
    src = f"read_parquet('{snap}')"
    def violations(cfg):
        return {c.name: con.execute(f"SELECT list(item_id ORDER BY item_id) FROM {src} WHERE coalesce({c.violation}, false)").fetchone()[0]
                for c in EXPORT.row_checks(cfg)}
    v = violations(_cfg())
    assert v["transcript_present"] is None and v["transcript_not_empty"] == ["c4"]
    assert v["word_confidence_in_range"] == ["c4"] and v["transcript_length"] is None
    assert "transcript_not_empty" not in violations(_cfg(allow_empty=True))
    assert violations(_cfg(max_chars=12))["transcript_length"] == ["c1"]


def test_wer_of_gold_and_audits_gates_the_release(store):
    con, snap, _ = store
    src = f"read_parquet('{snap}')"
    # c1 against gold: "21 cats" both (the numbers rule makes "Twenty-one" and "twenty one" equal): 0 errors of 2.
    # c2 was exported as gold: not scored. c3, an audited auto-accept, against its human transcript
    # "the dog sat": 1 substitution of 3. Pooled: 1 / 5.
    [check] = EXPORT.fact_checks(con, src, _cfg(max_audit_wer=0.1), None)
    assert (check.name, check.observed, check.max_value) == ("max_audit_wer", 0.2, 0.1)
    assert check.examples[0]["item_id"] == "c3" and check.examples[0]["reference"] == "audit"
    [ok] = EXPORT.fact_checks(con, src, _cfg(max_audit_wer=0.25), None)
    assert ok.observed <= ok.max_value and not ok.examples


def test_gold_match_and_diff_key(store):
    con, snap, _ = store
    gm = EXPORT.gold_match(_cfg())
    got = con.execute(f"SELECT c.item_id, {gm.correct} FROM read_parquet('{snap}') c JOIN gold g USING (item_id)"
                      f" WHERE {gm.present} ORDER BY 1").fetchall()
    assert got == [("c1", True), ("c2", True)]   # "Twenty-one cats." and "twenty one cats": case, hyphen, stop
    keys = con.execute(f"SELECT {EXPORT.diff_key_sql()} FROM read_parquet('{snap}') ORDER BY item_id").fetchall()
    assert keys[0] == ("twenty one cats",)
