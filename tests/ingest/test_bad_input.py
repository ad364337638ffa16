"""Readers and gold rules on hostile inputs: a bad row costs that row, never the file or a neighbour."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.config import SourceConfig
from tasks.errors import InputError
from tasks.ingest.csvfile import read_csv
from tasks.ingest.gold import judge_gold
from tasks.ingest.readers import UnusableFile, read_json_array, read_jsonl, read_parquet
from tasks.ingest.stage import ingest_source, register_project
from tasks.ingest.textfile import text_blocks


def _rows(batches):
    batches = list(batches)
    rows = pa.concat_tables([b.table for b in batches]).to_pylist()
    return [(r["source_row"], r["payload"]) for r in rows], [(b.source_row, b.reason) for x in batches for b in x.bad]


def test_invalid_utf8_byte_costs_its_line_only(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_bytes(b'{"text": "one"}\n{"text": "b\xffd"}\n{"text": "three \xc3\xa9"}\n{"text": "x\xe9"}\n')
    rows, bad = _rows(read_jsonl(f, "text"))
    assert rows == [(1, "one"), (3, "three é")]
    assert bad == [(2, "invalid_encoding"), (4, "invalid_encoding")]


def test_invalid_bytes_found_in_every_block(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    lines = [json.dumps({"text": f"row {i}"}).encode() for i in range(300)]
    lines[10] = lines[250] = b'{"text": "\xfe"}'
    f.write_bytes(b"\n".join(lines) + b"\n")
    rows, bad = _rows(read_jsonl(f, "text", block_bytes=700))
    assert [r for r, _ in rows] == [i for i in range(1, 301) if i not in (11, 251)]
    assert bad == [(11, "invalid_encoding"), (251, "invalid_encoding")]


def test_depth_is_checked_before_parsing_and_strings_do_not_count(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    brackets_in_text = json.dumps({"text": "[" * 500 + "{" * 500})
    deep = '{"text": "deep", "a": ' + "[" * 50_000 + "]" * 50_000 + "}"
    f.write_text(f"{brackets_in_text}\n{deep}\n{{\"text\": \"ok\", \"m\": [[1]]}}\n")
    started = time.perf_counter()
    rows, bad = _rows(read_jsonl(f, "text", max_depth=64))
    assert time.perf_counter() - started < 5
    assert [r for r, _ in rows] == [1, 3] and bad == [(2, "nested_too_deep")]


def test_gzip_bom_and_utf16_are_read(tmp_path: Path) -> None:
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(b'\xef\xbb\xbf{"text": "zipped"}\n'))
    assert _rows(read_jsonl(gz, "text"))[0] == [(1, "zipped")]
    u16 = tmp_path / "b.csv"
    u16.write_bytes("text,n\nnaïve,1\n".encode("utf-16"))
    assert _rows(read_csv(u16, "text"))[0] == [(2, "naïve")]
    no_bom = tmp_path / "c.csv"
    no_bom.write_bytes("text,n\nplain,1\n".encode("utf-16-le"))
    with pytest.raises(UnusableFile, match="utf-16-le"):
        list(read_csv(no_bom, "text"))
    latin = tmp_path / "d.csv"
    latin.write_bytes("text\ncafé\n".encode("cp1252"))
    assert _rows(read_csv(latin, "text", encoding="cp1252"))[0] == [(2, "café")]


def test_csv_unclosed_quote_costs_one_line(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text('text,n\na,1\n"never closed,2\nc,3\nd says "hi",4\ne,5\n')
    rows, bad = _rows(read_csv(f, "text"))
    assert rows == [(2, "a"), (4, "c"), (5, 'd says "hi"'), (6, "e")]
    assert bad == [(3, "malformed_csv")]


def test_csv_unclosed_quote_at_the_end(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text('text,n\na,1\nb,2\n"open to the end,3\n')
    assert _rows(read_csv(f, "text")) == ([(2, "a"), (3, "b")], [(4, "malformed_csv")])


def test_csv_quoted_value_across_a_block_boundary(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    body = "".join(f"row {i},{i}\n" for i in range(40)) + '"spans\nthree\nlines",40\n' + "".join(f"row {i},{i}\n" for i in range(41, 80))
    f.write_text("text,n\n" + body)
    rows, bad = _rows(read_csv(f, "text", block_bytes=64))
    assert bad == [] and len(rows) == 80
    assert (42, "spans\nthree\nlines") in rows and rows[-1] == (83, "row 79")


def test_csv_header_problems_refuse_the_file(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("text,label,text\na,b,c\n")
    with pytest.raises(UnusableFile, match="names column 'text' twice"):
        list(read_csv(f, "text"))
    f.write_text("body;label\na;b\n")
    with pytest.raises(UnusableFile, match="no column 'text'.*'body', 'label'"):
        list(read_csv(f, "text"))
    f.write_text("text;label\nhello, world;b\n")
    assert _rows(read_csv(f, "text"))[0] == [(2, "hello, world")]


def test_json_array_elements_are_rows(tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_text('[{"text": "a"}, "not an object", {"text": "c", "n": 3}]')
    rows, bad = _rows(read_json_array(f, "text"))
    assert rows == [(1, "a"), (3, "c")] and bad == [(2, "malformed_json")]


def test_parquet_dictionary_binary_and_numbers(tmp_path: Path) -> None:
    f = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": pa.array(["x", "y", "x"]).dictionary_encode()}), f)
    assert _rows(read_parquet(f, "text"))[0] == [(1, "x"), (2, "y"), (3, "x")]
    pq.write_table(pa.table({"text": pa.array([b"ok", b"\xff", None], pa.binary())}), f)
    batch = next(iter(read_parquet(f, "text")))
    assert batch.table.column("payload").to_pylist() == ["ok", None, None]
    assert batch.table.column("problem").to_pylist() == [None, "invalid_encoding", None]
    pq.write_table(pa.table({"text": pa.array([7, 8], pa.int32())}), f)
    batch = next(iter(read_parquet(f, "text")))
    assert batch.table.column("payload").to_pylist() == ["7", "8"] and batch.numeric_payloads == 2


def test_text_blocks_never_open_a_fifo(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UnusableFile, match="not a regular file"):
        list(text_blocks(tmp_path / "pipe"))


def _verdicts(rows: list[tuple], override: bool = False) -> list[tuple]:
    con = duckdb.connect()
    con.register("rows", pa.table(list(zip(*rows)), names=["source_row", "key", "label", "label_ok", "item_id", "stored_label"]))
    out = judge_gold(con, "rows", ["ham", "spam"], override)
    return [(r["source_row"], r["reason"] or r["action"]) for r in out.to_pylist()]


def test_gold_rules() -> None:
    rows = [
        (2, "a", "spam", True, "i1", None),  # new
        (3, "b", "ham", True, "i2", None),  # conflicts with row 5
        (4, "c", "spam", True, "i3", "ham"),  # contradicts stored gold
        (5, " b", "spam", True, "i2", None),
        (6, "d", None, False, "i4", None),  # label was an object
        (7, "e", "maybe", True, "i5", None),
        (8, "f", "ham", True, None, None),
        (9, "g", "ham", True, "i6", "ham"),  # unchanged
        (10, "a", "spam", True, "i1", None),  # same answer twice is fine
    ]
    assert _verdicts(rows) == [(2, "store"), (3, "gold_conflict"), (4, "gold_changed"), (5, "gold_conflict"),
                               (6, "gold_label_not_text"), (7, "unknown_label"), (8, "gold_item_unknown"), (9, "same"), (10, "store")]
    assert dict(_verdicts(rows, override=True))[4] == "change"


@pytest.fixture
def silent_server() -> tuple[str, list]:
    """Accepts connections and never sends a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list = []

    def hold() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=hold, daemon=True).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", held
    sock.close()
    for c in held:
        c.close()


def test_http_source_that_never_answers_fails_within_its_timeout(make_project, silent_server) -> None:
    url, held = silent_server
    cfg = make_project(sources=[{"path": f"{url}/data.jsonl", "timeout_seconds": 0.5}])
    register_project(cfg)
    started = time.perf_counter()
    with pytest.raises(InputError, match="stopped answering for 0.5 s"):
        ingest_source(cfg, cfg.sources[0])
    assert time.perf_counter() - started < 10 and held


def test_a_file_that_gives_nothing_is_an_error_and_others_still_ingest(make_project) -> None:
    cfg = make_project(sources=[{"path": "data/*"}])
    data = Path(cfg.root) / "data"
    data.mkdir()
    (data / "a.csv").write_text("text,label\n")
    (data / "b.jsonl").write_text('{"text": 5}\n{"text": "five"}\n')
    register_project(cfg)
    header_only, good = ingest_source(cfg, SourceConfig(path="data/*"))
    assert "no rows found" in header_only["error"] and header_only["inserted"] == 0
    assert good["error"] is None and good["inserted"] == 2 and "1 row holds a number" in good["notices"][0]


def test_a_gzip_file_cut_short_keeps_the_rows_before_the_cut(tmp_path: Path) -> None:
    rows = "".join(f'{{"text": "zipped row {i}"}}\n' for i in range(20_000)).encode()
    blob = gzip.compress(rows)
    f = tmp_path / "a.jsonl.gz"
    f.write_bytes(blob[: len(blob) // 2])
    kept = []
    with pytest.raises(UnusableFile, match="cut short"):
        for batch in read_jsonl(f, "text", block_bytes=1 << 20):
            kept += batch.table.column("payload").to_pylist()
    assert 1_000 < len(kept) < 20_000 and kept == [f"zipped row {i}" for i in range(len(kept))]


def test_csv_numbers_in_the_text_column_are_counted_for_a_notice(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("text,label\n12,x\n 3.5 ,y\nword 7,z\n")
    batch = next(iter(read_csv(f, "text")))
    assert batch.table.column("payload").to_pylist() == ["12", " 3.5 ", "word 7"] and batch.numeric_payloads == 2
