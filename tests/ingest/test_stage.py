"""The ingest stage against a real DuckDB file: idempotency, quarantine reasons, media, HTTP, gold."""

from __future__ import annotations

import json
import struct
import threading
import wave
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from schemas.config import SourceConfig
from tasks.errors import InputError, RequestRefusedError
from tasks.ingest.stage import import_gold, ingest_source, register_project
from tasks.store import open_store


def _query(cfg, sql: str) -> list[tuple]:
    with open_store(cfg.db_path) as con:
        return con.execute(sql).fetchall()


def _ingest_all(cfg) -> list[dict]:
    register_project(cfg)
    return [r for s in cfg.sources for r in ingest_source(cfg, s)]


def test_reingest_adds_nothing(make_project) -> None:
    cfg = make_project()
    (Path(cfg.root) / "data").mkdir()
    (Path(cfg.root) / "data" / "a.jsonl").write_text("".join(json.dumps({"text": f"t{i}"}) + "\n" for i in range(100)))
    first = _ingest_all(cfg)
    second = _ingest_all(cfg)
    assert (first[0]["inserted"], second[0]["inserted"], second[0]["duplicates"]) == (100, 0, 100)
    assert _query(cfg, "SELECT count(*), count(DISTINCT item_id) FROM items") == [(100, 100)]


def test_mixed_file_ingests_good_rows_and_explains_bad_ones(make_project) -> None:
    cfg = make_project(ingest={"max_payload_bytes": 50})
    data = Path(cfg.root) / "data"
    data.mkdir()
    lines = [
        '{"text": "good one", "author": "a"}',
        "{not json",
        '{"author": "no text"}',
        '{"text": "   "}',
        '{"text": {"nested": true}}',
        json.dumps({"text": "x" * 60}),
        '{"text": "good two"}',
        '{"text": "good one"}',
    ]
    (data / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    report = _ingest_all(cfg)[0]
    assert (report["rows"], report["inserted"], report["duplicates"], report["quarantined"]) == (8, 2, 1, 5)
    rows = _query(cfg, "SELECT source_row, reason, field FROM quarantine ORDER BY source_row")
    assert rows == [
        (2, "malformed_json", None),
        (3, "missing_payload", "text"),
        (4, "empty_payload", "text"),
        (5, "payload_not_text", "text"),
        (6, "payload_too_large", "text"),
    ]
    assert _query(cfg, "SELECT json_extract_string(metadata, '$.author') FROM items WHERE payload = 'good one'") == [("a",)]
    _ingest_all(cfg)
    assert _query(cfg, "SELECT count(*) FROM quarantine") == [(5,)], "re-running does not repeat quarantine rows"


def test_csv_and_parquet_sources(make_project) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cfg = make_project(sources=[{"path": "data/a.csv"}, {"path": "data/b.parquet", "text_field": "body"}])
    data = Path(cfg.root) / "data"
    data.mkdir()
    (data / "a.csv").write_text("text,video\nshared text,1\nonly csv,2\nbroken,row,here\n")
    pq.write_table(pa.table({"body": ["shared text", "only parquet"]}), data / "b.parquet")
    reports = _ingest_all(cfg)
    assert [r["inserted"] for r in reports] == [2, 1]
    assert _query(cfg, "SELECT reason, source_row FROM quarantine") == [("malformed_csv", 4)]


def _png(path: Path, value: int) -> None:
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)


def test_image_folder(make_project, tmp_path: Path) -> None:
    cfg = make_project(data_kind="image", sources=[{"path": "images"}], ingest={"max_media_bytes": 10_000})
    images = Path(cfg.root) / "images"
    (images / "sub").mkdir(parents=True)
    _png(images / "a.png", 10)
    _png(images / "sub" / "copy-of-a.png", 10)
    _png(images / "b.png", 200)
    (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (images / "notes.txt").write_text("not an image")
    (images / "huge.png").write_bytes(b"\0" * 20_000)
    outside = tmp_path / "secret.png"
    _png(outside, 99)
    (images / "escape.png").symlink_to(outside)
    report = _ingest_all(cfg)[0]
    assert report["inserted"] == 2 and report["duplicates"] == 1
    reasons = dict(_query(cfg, "SELECT raw, reason FROM quarantine"))
    assert reasons == {
        "corrupt.png": "corrupt_media",
        "notes.txt": "unsupported_file_type",
        "huge.png": "media_too_large",
        "escape.png": "outside_source_folder",
    }
    uri, checksum, meta = _query(cfg, "SELECT uri, checksum, metadata FROM items WHERE metadata->>'file' = 'b.png'")[0]
    assert uri.startswith("file://") and uri.endswith("b.png") and len(checksum) == 64
    assert json.loads(meta)["width"] == 8
    assert _query(cfg, "SELECT count(*) FROM items WHERE payload IS NOT NULL") == [(0,)], "media bytes are never stored"


def _wav(path: Path, frames: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(frames, dtype=np.int16).tobytes())


def test_audio_folder(make_project) -> None:
    cfg = make_project(data_kind="audio", sources=[{"path": "audio"}])
    audio = Path(cfg.root) / "audio"
    audio.mkdir()
    _wav(audio / "ok.wav", 4000)
    _wav(audio / "empty.wav", 0)
    (audio / "fake.mp3").write_bytes(b"this is no mp3")
    report = _ingest_all(cfg)[0]
    assert report["inserted"] == 1
    assert _query(cfg, "SELECT reason FROM quarantine ORDER BY reason") == [("corrupt_media",), ("corrupt_media",)]
    assert json.loads(_query(cfg, "SELECT metadata FROM items")[0][0])["duration_s"] == 0.5


def _riff(path: Path, tag: int, channels: int, rate: int, bits: int, data: bytes, extensible: bool = False) -> None:
    """A WAV file written by hand: `wave` writes integer PCM only."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * block, block, bits)
    if extensible:  # cbSize, valid bits, channel mask, then the sub-format GUID whose first two bytes are the tag
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + bytes(14)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_audio_folder_reads_float_and_extensible_wavs_as_the_recogniser_does(make_project) -> None:
    cfg = make_project(data_kind="audio", sources=[{"path": "audio"}])
    audio = Path(cfg.root) / "audio"
    audio.mkdir()
    _riff(audio / "float.wav", 3, 1, 16000, 32, np.zeros(8000, "<f4").tobytes())
    _riff(audio / "stereo64.wav", 3, 2, 44100, 64, np.zeros(2 * 44100, "<f8").tobytes(), extensible=True)
    _riff(audio / "ext24.wav", 1, 1, 8000, 24, bytes(3 * 2000), extensible=True)
    _riff(audio / "alaw.wav", 6, 1, 8000, 8, bytes(4000))
    report = _ingest_all(cfg)[0]
    assert report["inserted"] == 3
    meta = {m["file"]: m for (m,) in ((json.loads(r[0]),) for r in _query(cfg, "SELECT metadata FROM items"))}
    assert {f: (m["sample_rate"], m["channels"], m["duration_s"]) for f, m in meta.items()} == {
        "float.wav": (16000, 1, 0.5), "stereo64.wav": (44100, 2, 1.0), "ext24.wav": (8000, 1, 0.25)}
    ((reason, detail),) = _query(cfg, "SELECT reason, detail FROM quarantine")
    assert reason == "corrupt_media" and "alaw.wav: not a readable WAV file: unsupported WAV encoding A-law" in detail


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "served"
    root.mkdir()

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/error"):
                self.send_error(503, "temporarily down")
                return
            super().do_GET()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_http_source_streams_to_state_and_ingests(make_project, http_dir) -> None:
    url, root = http_dir
    (root / "remote.jsonl").write_text('{"text": "from the web"}\n{oops\n')
    cfg = make_project(sources=[{"path": f"{url}/remote.jsonl"}])
    report = _ingest_all(cfg)[0]
    assert (report["source"], report["inserted"], report["quarantined"]) == (f"{url}/remote.jsonl", 1, 1)
    with pytest.raises(RequestRefusedError, match="404"):
        ingest_source(cfg, SourceConfig(path=f"{url}/missing.jsonl"))


def test_missing_path_is_a_clear_input_error(make_project) -> None:
    cfg = make_project(sources=[{"path": "data/nothing-*.jsonl"}])
    with pytest.raises(InputError, match="matched no files"):
        _ingest_all(cfg)
    with pytest.raises(InputError, match="cannot tell the format"):
        (Path(cfg.root) / "data.bin").write_text("x")
        ingest_source(cfg, SourceConfig(path="data.bin"))


def test_gold_matches_items_and_quarantines_unknowns(make_project) -> None:
    cfg = make_project(gold={"path": "gold.csv"})
    (Path(cfg.root) / "data").mkdir()
    (Path(cfg.root) / "data" / "a.jsonl").write_text('{"text": "buy now"}\n{"text": "nice song"}\n')
    (Path(cfg.root) / "gold.csv").write_text("text,label\n buy now ,spam\nnice song,maybe\nnever ingested,ham\n")
    _ingest_all(cfg)
    result = import_gold(cfg)
    assert result == {"gold_rows": 3, "gold_stored": 1, "gold_quarantined": 2, "gold_changed": 0, "errors": []}
    assert _query(cfg, "SELECT g.label, i.payload FROM gold g JOIN items i USING (item_id)") == [("spam", "buy now")]
    assert sorted(r[0] for r in _query(cfg, "SELECT reason FROM quarantine WHERE stage = 'gold'")) == ["gold_item_unknown", "unknown_label"]


def test_one_database_per_project(make_project) -> None:
    cfg = make_project()
    register_project(cfg)
    other = cfg.model_copy(update={"name": "another"})
    with pytest.raises(InputError, match="holds project 'test-project'"):
        register_project(other)


def test_unreadable_file_is_quarantined_whole_and_others_still_ingest(make_project) -> None:
    cfg = make_project(sources=[{"path": "data/bad.parquet"}, {"path": "data/good.jsonl"}])
    data = Path(cfg.root) / "data"
    data.mkdir()
    (data / "bad.parquet").write_bytes(b"not parquet at all")
    (data / "good.jsonl").write_text('{"text": "fine"}\n')
    bad, good = _ingest_all(cfg)
    assert (bad["inserted"], bad["quarantined"], good["inserted"]) == (0, 1, 1)
    reason, row, detail = _query(cfg, "SELECT reason, source_row, detail FROM quarantine")[0]
    assert (reason, row) == ("unreadable_file", None) and "not a readable Parquet file" in detail
    assert "not a readable Parquet file" in bad["error"] and good["error"] is None


def test_gold_conflicts_are_refused_and_changes_need_a_recorded_override(make_project) -> None:
    cfg = make_project(gold={"path": "gold.csv"})
    (Path(cfg.root) / "data").mkdir()
    (Path(cfg.root) / "data" / "a.jsonl").write_text('{"text": "buy now"}\n{"text": "nice song"}\n{"text": "hello"}\n')
    gold = Path(cfg.root) / "gold.csv"
    gold.write_text("text,label\nbuy now,spam\nnice song,ham\nhello,ham\nhello,spam\n")
    _ingest_all(cfg)
    first = import_gold(cfg)
    assert (first["gold_stored"], first["gold_quarantined"]) == (2, 2)
    assert [e.split(": item")[0] for e in first["errors"]] == ["gold.csv row 4", "gold.csv row 5"]
    assert "'ham' (row 4), 'spam' (row 5)" in first["errors"][0]

    gold.write_text("text,label\nbuy now,ham\nnice song,ham\n")
    refused = import_gold(cfg)
    assert refused["gold_changed"] == 0 and "stored gold says 'spam'" in refused["errors"][0]
    assert _query(cfg, "SELECT g.label FROM gold g JOIN items i USING (item_id) WHERE i.payload = 'buy now'") == [("spam",)]

    changed = import_gold(cfg, override_reason="reviewed by the lead")
    assert (changed["gold_changed"], changed["errors"]) == (1, [])
    assert _query(cfg, "SELECT g.label FROM gold g JOIN items i USING (item_id) WHERE i.payload = 'buy now'") == [("ham",)]
    record = json.loads(_query(cfg, "SELECT stats FROM stage_runs WHERE stage = 'gold' ORDER BY started_at DESC LIMIT 1")[0][0])
    assert record["override"] == "reviewed by the lead"
    assert [(c["key"], c["old"], c["new"], c["row"]) for c in record["changes"]] == [("buy now", "spam", "ham", 2)]
