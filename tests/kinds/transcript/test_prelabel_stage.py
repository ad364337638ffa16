"""Transcript and segments projects through the real pre-labeling stage with the reference recogniser (a real
`python -m model_server --asr`): every clip drafted, a clip it cannot decode quarantined by name, nothing
auto-accepted that gold does not vouch for, per-model figures in lf-report."""

from __future__ import annotations

import json
import shutil
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest

from tasks.ingest.stage import ingest_source, register_project
from tasks.prelabel.stage import apply_model, combine_and_route, lf_report
from tests.conftest import write_project
from tests.model_servers import model_servers

EXAMPLES = Path(__file__).parents[3] / "examples"


@pytest.fixture(scope="module")
def asr() -> Iterator[str]:
    with model_servers(["--asr"], {"ok": []}, 90, "speech recognition server") as urls:
        yield urls["ok"]


def _project(root: Path, example: str, kind: str, labels: list[str], url: str, n: int, gold_every: int) -> tuple:
    """(config, file -> true answer) of a project of the example's first `n` clips (added to whatever
    `root/audio` holds), every `gold_every`-th of them gold, pre-labeled by the recogniser at `url`."""
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    truth = {}
    for line in (EXAMPLES / example / "truth" / "labels.jsonl").read_text(encoding="utf-8").splitlines()[:n]:
        row = json.loads(line)
        shutil.copy(EXAMPLES / example / "data" / "audio" / row["file"], audio / row["file"])
        truth[row["file"]] = row["answer"]
    cfg = write_project(root, name=f"speech-{uuid.uuid4().hex[:8]}", data_kind="audio", task_kind=kind, labels=labels,
                        sources=[{"path": "audio", "format": "folder", "name": "clips"}],
                        prelabel={"models": [{"name": "sphinx", "kind": "http", "url": url, "batch_size": 4, "concurrency": 1,
                                              "timeout_seconds": 120}]})
    register_project(cfg)
    for src in cfg.sources:
        ingest_source(cfg, src)
    con = duckdb.connect(str(cfg.db_path))
    try:
        ids = {uri.rsplit("/", 1)[1]: i for i, uri in con.execute("SELECT item_id, uri FROM items").fetchall()}
        con.executemany("INSERT INTO gold (item_id, answer, origin) VALUES (?, ?::JSON, 'file')",
                        [(ids[f], json.dumps(a)) for f, a in list(truth.items())[::gold_every]])
    finally:
        con.close()
    return cfg, truth


def test_transcript_stage_drafts_every_clip_and_quarantines_one_it_cannot_decode(tmp_path: Path, asr: str) -> None:
    root = tmp_path / "p"
    (root / "audio").mkdir(parents=True)
    # passes ingest (an Ogg signature), but the recogniser reads WAV only: set aside at pre-labeling, named
    (root / "audio" / "voice.ogg").write_bytes(b"OggS\x00\x02" + bytes(200))
    # the first clip again as 24-bit PCM: converted by the recogniser, heard the same
    with wave.open(str(EXAMPLES / "speech-transcripts" / "data" / "audio" / "clip_00.wav")) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int32) << 8
    with wave.open(str(root / "audio" / "deep.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(3)
        w.setframerate(16_000)
        w.writeframes(np.stack([x & 0xFF, (x >> 8) & 0xFF, (x >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes())
    cfg, truth = _project(root, "speech-transcripts", "transcript", ["speech", "no_speech"], asr, 12, 3)
    report = apply_model(cfg, cfg.prelabel.models[0])
    assert report["inserted"] == len(truth) + 1 and report["quarantined"] == 1, report
    assert "could not decode item" in report["first_problem"] and "(voice.ogg)" in report["first_problem"]
    con = duckdb.connect(str(cfg.db_path), read_only=True)
    try:
        [(reason,)] = con.execute("SELECT reason FROM quarantine").fetchall()
        assert "undecodable_audio" in reason or "voice.ogg" in reason, reason
        texts = dict(con.execute("SELECT i.uri, v.answer->>'text' FROM votes v JOIN items i USING (item_id)").fetchall())
    finally:
        con.close()
    by_file = {u.rsplit("/", 1)[1]: t for u, t in texts.items()}
    assert by_file["deep.wav"] == by_file["clip_00.wav"]
    routed = combine_and_route(cfg)
    assert routed["gold"] == 4 and routed["with_machine_vote"] == len(truth) + 1
    # drafts are rarely right word for word: nothing is auto-accepted without gold evidence that it would be right
    assert routed["auto"] + routed["audit"] == 0 and routed["human"] == len(truth) + 2 - 4
    [row] = lf_report(cfg)
    assert row["source_id"] == "model:sphinx" and row["coverage"] > 0.9 and 0 < row["more"]["WER"] < 1.2


def test_segments_stage_votes_the_recognisers_speech_regions_and_refuses_labels_outside_the_project(tmp_path: Path, asr: str) -> None:
    cfg, truth = _project(tmp_path / "p", "speech-segments", "segments", ["speech", "noise"], asr, 8, 2)
    report = apply_model(cfg, cfg.prelabel.models[0])
    assert report["inserted"] == 8 and report["quarantined"] == 0, report
    routed = combine_and_route(cfg)
    assert routed["gold"] == 4 and routed["with_machine_vote"] == 8
    con = duckdb.connect(str(cfg.db_path), read_only=True)
    try:
        pre = con.execute("SELECT answer::VARCHAR, probs::VARCHAR FROM prelabels").fetchall()
    finally:
        con.close()
    for answer, probs in pre:
        regions = json.loads(answer)
        assert all(r["label"] == "speech" and 0 <= r["start_s"] < r["end_s"] for r in regions)
        assert len(json.loads(probs)) == len(regions)
    [row] = lf_report(cfg)
    assert row["n_gold"] > 0 and row["more"]["gold regions"] == sum(len(truth[f]) for f in list(truth)[::2])
    # a project whose labels do not include the recogniser's "speech" is refused before anything is asked
    other = write_project(tmp_path / "q", name=f"speakers-{uuid.uuid4().hex[:8]}", data_kind="audio", task_kind="segments",
                          labels=["speaker_a", "speaker_b"], sources=[{"path": "audio", "format": "folder"}],
                          prelabel={"models": [{"name": "sphinx", "kind": "http", "url": asr}]})
    register_project(other)
    from tasks.errors import TerminalError

    with pytest.raises(TerminalError, match=r"labels segments \['speech'\], outside the label set"):
        apply_model(other, other.prelabel.models[0])
