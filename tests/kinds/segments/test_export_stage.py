"""`annoflow export` on a segments project, end to end on a real DuckDB file and a real Prefect API.

WAV clips (a constant level each) are written under tmp_path and ingested by the real ingest stage (which records each
clip's duration); resolved answers are written to `labels.answer` as consensus writes them: each region with
its confidence and sources, except auto-accepted ones. The release is read back (RTTM by the reader gold
import uses, the region Parquet by pyarrow); then a region past its clip's end and a planted shift in regions
per clip are held by the gate with messages naming the item and the check.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from annoflow_cli.main import app
from tasks.export import versions as V
from tasks.ingest.stage import ingest_source
from tasks.kinds.segments.columns import EXPORT_SEGMENTS_TYPE
from tasks.kinds.segments.rttm import read_rttm
from tests.conftest import write_project

LABELS = ["alice", "bob", "music"]
FORMATS = ["parquet", "rttm", "regions"]
N_CLIPS = 20
RATE = 8000


def _clip(k: int) -> tuple[float, list[dict]]:
    """Duration and true regions of clip k: one to three regions inside it."""
    duration = 2.0 + 0.25 * (k % 4)
    regions = [{"start_s": 0.1 * (k % 3), "end_s": 1.0, "label": LABELS[k % 3]}]
    if k % 2:
        regions.append({"start_s": 1.2, "end_s": duration - 0.2, "label": "bob"})
    return duration, regions


@pytest.fixture
def project(tmp_path: Path):
    root = tmp_path / "meetings"
    folder = root / "data" / "clips"
    folder.mkdir(parents=True)
    for k in range(N_CLIPS):
        with wave.open(str(folder / f"clip-{k:02d}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(k.to_bytes(2, "little") * int(_clip(k)[0] * RATE))  # a level per clip: no two files alike
    cfg = write_project(root, name="meetings", data_kind="audio", task_kind="segments", labels=LABELS,
                        sources=[{"path": "data/clips", "format": "folder", "name": "clips"}],
                        export={"formats": FORMATS})
    for src in cfg.sources:
        assert not any(r["error"] for r in ingest_source(cfg, src))
    from tasks.store import open_store

    answers = {}
    with open_store(cfg.db_path) as con:
        rows = []
        for item_id, uri in con.execute("SELECT item_id, uri FROM items ORDER BY item_id").fetchall():
            k = int(Path(uri).stem.split("-")[1])
            answers[item_id] = (k, _clip(k)[1])
            auto = k % 5 == 0
            stored = answers[item_id][1] if auto else [
                {**r, "confidence": 0.8, "sources": ["human:ann", "human:bob"]} for r in answers[item_id][1]]
            rows.append([item_id, json.dumps(stored), 0.9, "auto" if auto else "adjudicated", 3, 0 if auto else 3,
                         0.75, ["human:ann", "human:bob"]])
        con.executemany("INSERT INTO labels (item_id, answer, confidence, method, decision, n_votes, n_human, agreement, sources)"
                        " VALUES (?, ?::JSON, ?, ?, 'resolved', ?, ?, ?, ?)", rows)
    return cfg, answers


def _export(cfg, *extra: str):
    return CliRunner().invoke(app, ["export", "--config", cfg.root, "--json", *extra])


def test_segments_export_end_to_end(prefect_harness, project) -> None:
    from tasks.store import open_store

    cfg, answers = project
    res = _export(cfg)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert (out["status"], out["version"], out["n_rows"]) == ("published", "v0001", N_CLIPS)
    m = V.read_manifest(cfg, "v0001")
    assert (m["task_kind"], m["label_column"]) == ("segments", "segments")
    assert m["answer"]["match_iou"] == 0.5 and m["answer"]["allow_overlap"] is False
    counts: dict[str, int] = {}
    for _, regions in answers.values():
        for r in regions:
            counts[r["label"]] = counts.get(r["label"], 0) + 1
    assert m["label_distribution"] == dict(sorted(counts.items()))
    checks = m["validation"]["checks"]
    for name in ("segments_present", "clip_duration_known", "segment_start_before_end", "segments_inside_clip",
                 "segment_labels_in_set", "segment_confidence_in_range"):
        assert checks[name]["success"] is True, name
    assert checks["max_segment_rate_change"]["success"] is None  # a first version: nothing to compare with

    vdir = V.version_dir(cfg, "v0001")
    data = pq.read_table(sorted((vdir / "data").rglob("*.parquet")))
    assert data.schema.field("segments").type == EXPORT_SEGMENTS_TYPE
    by_file = {f: (d, s) for f, d, s in zip(data["file"].to_pylist(), data["duration_s"].to_pylist(), data["segments"].to_pylist())}
    assert by_file["clip-03.wav"][0] == pytest.approx(_clip(3)[0])
    # RTTM: the file ids are the clips' paths; every region comes back as it was stored.
    back = read_rttm(vdir / "formats" / "segments.rttm")
    got = dict(zip(back.rows["key"].to_pylist(), map(json.loads, back.rows["answer"].to_pylist())))
    assert got["clip-03.wav"] == sorted(_clip(3)[1], key=lambda r: (r["start_s"], r["end_s"]))
    assert len(got) == N_CLIPS and back.problems.num_rows == 0
    regions = pq.read_table(vdir / "formats" / "segments.parquet").to_pylist()
    assert len(regions) == sum(counts.values())
    assert {r["confidence"] for r in regions} == {0.8, 0.9}  # auto-accepted clips carry the clip's confidence

    # A region past its clip's end (2.0 s) is held, naming the item and the region.
    with open_store(cfg.db_path) as con:
        (item_id,) = con.execute("SELECT item_id FROM items WHERE json_extract_string(metadata, '$.file') = 'clip-00.wav'").fetchone()
        con.execute("UPDATE labels SET answer = ?::JSON WHERE item_id = ?",
                    [json.dumps([{"start_s": 1.5, "end_s": 2.6, "label": "alice"}]), item_id])
    res = _export(cfg)
    assert res.exit_code == 2 and "segments_inside_clip" in res.output and item_id in res.output
    assert "segments[0]: ends at 2.6 s, past the clip's end (2.0 s)" in res.output


def test_a_shift_in_regions_per_clip_is_held_and_can_be_accepted(prefect_harness, project) -> None:
    from tasks.store import open_store

    cfg, answers = project
    assert _export(cfg).exit_code == 0
    with open_store(cfg.db_path) as con:  # every bob region vanishes
        for item_id, (_, regions) in answers.items():
            kept = [r for r in regions if r["label"] != "bob"]
            con.execute("UPDATE labels SET answer = ?::JSON WHERE item_id = ?", [json.dumps(kept), item_id])
    res = _export(cfg)
    assert res.exit_code == 2 and "max_segment_rate_change" in res.output and "--accept-shift" in res.output
    res = _export(cfg, "--accept-shift", "bob moved to another project")
    assert res.exit_code == 0, res.output


def test_an_exported_rttm_loads_back_as_gold(prefect_harness, project) -> None:
    from tasks.ingest.gold import import_gold
    from tasks.store import open_store

    cfg, answers = project
    assert _export(cfg).exit_code == 0
    rttm = V.version_dir(cfg, "v0001") / "formats" / "segments.rttm"
    with rttm.open("a", encoding="utf-8") as f:  # a turn that cannot be read: its clip gives no gold
        f.write("SPEAKER clip-01.wav 1 0.5 -1 <NA> <NA> bob <NA> <NA>\n")
    gold_cfg = write_project(Path(cfg.root), name="meetings", data_kind="audio", task_kind="segments", labels=LABELS,
                             sources=[{"path": "data/clips", "format": "folder", "name": "clips"}],
                             export={"formats": FORMATS}, gold={"path": str(rttm), "format": "rttm"})
    report = import_gold(gold_cfg)
    with open_store(cfg.db_path) as con:
        gold = dict(con.execute("SELECT i.item_id, g.answer::VARCHAR FROM gold g JOIN items i USING (item_id)").fetchall())
    assert len(gold) == N_CLIPS - 1 and report["gold_stored"] == N_CLIPS - 1
    # The refused line, and its clip left out, each named for the user (a user mistake: exit 2 in the CLI).
    assert report["gold_quarantined"] == 2 and len(report["errors"]) == 2
    assert report["errors"][0].endswith("line 31: duration: file id 'clip-01.wav': duration -1 is not positive")
    assert "file id 'clip-01.wav' is left out: its turn on line 31 was refused" in report["errors"][1]
    for item_id, (k, regions) in answers.items():
        if k != 1:
            assert json.loads(gold[item_id]) == sorted(regions, key=lambda r: (r["start_s"], r["end_s"]))
