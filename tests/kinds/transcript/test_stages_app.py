"""Transcripts through every stage with the built-in app: generated WAV clips ingested by the `annoflow`
command, dispatched to a real app on 127.0.0.1, answered over the app's HTTP API by three simulated
annotators (one careless), collected, consolidated by ROVER in the real DuckDB stage (word and clip
confidences, gold WER per source) and exported as a speech manifest and Parquet that are read back."""

from __future__ import annotations

import hashlib
import json
import wave
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
import tomli_w
from typer.testing import CliRunner

from annoflow_cli.main import app as cli
from annotation_app.process import start_app
from tasks.http import make_client

pytestmark = pytest.mark.slow
TOKEN = "transcript-stages-token"
RATE = 8000
SENTENCES = [
    "the birch canoe slid on the smooth planks",
    "glue the sheet to the dark blue background",
    "it is easy to tell the depth of a well",
    "these days a chicken leg is a rare dish",
    "rice is often served in round bowls",
    "the juice of lemons makes fine punch",
    "the box was thrown beside the parked truck",
    "the hogs were fed chopped corn and garbage",
    "four hours of steady work faced us",
    "a large size in stockings is hard to sell",
]
GOLD = {0, 1, 2}


def _write_project(root: Path, url: str) -> dict[str, str]:
    """Ten clips (a tone of its own each: no two files alike) and their transcripts by file name."""
    folder = root / "data" / "clips"
    folder.mkdir(parents=True)
    truth = {}
    for k, sentence in enumerate(SENTENCES):
        t = np.arange(int((1.0 + 0.1 * k) * RATE)) / RATE
        with wave.open(str(folder / f"clip_{k:02d}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes((0.4 * np.sin(2 * np.pi * (300 + 50 * k) * t) * 32767).astype("<i2").tobytes())
        truth[f"clip_{k:02d}.wav"] = sentence
    (root / "gold").mkdir()
    (root / "gold" / "gold.jsonl").write_text("".join(
        json.dumps({"file": f"clip_{k:02d}.wav", "answer": {"text": SENTENCES[k].capitalize() + "."}}) + "\n"
        for k in sorted(GOLD)), encoding="utf-8")
    (root / "annoflow.toml").write_text(tomli_w.dumps({
        "name": "read-aloud", "data_kind": "audio", "task_kind": "transcript", "labels": [],
        "sources": [{"path": "data/clips", "format": "folder", "name": "clips"}],
        "overlap": {"policy": "fixed", "initial": 3, "max": 3},
        "gold": {"path": "gold/gold.jsonl", "key_field": "file", "label_field": "answer", "rate": 0.3,
                 "min_per_annotator": 3},
        "consensus": {"target_confidence": 0.6},
        "export": {"formats": ["parquet", "speech_manifest", "transcript_parquet"]},
        "queue": {"url": url},
    }), encoding="utf-8")
    return truth


def _cli(project: Path, *args: str) -> dict[str, Any]:
    out = CliRunner().invoke(cli, [*args, "--config", str(project), "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout.strip().splitlines()[-1])


def _answer_all(client: httpx.Client, pid: str, by_digest: dict[str, str], say) -> list[str]:
    done = []
    while (task := client.post(f"/api/annotate/{pid}/next").json()["task"]) is not None:
        name = by_digest[hashlib.sha256(client.get(task["media_url"]).content).hexdigest()]
        r = client.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                        json={"client_id": f"c-{task['lease_id']}", "answer": {"text": say(name)}})
        assert r.status_code == 200, r.text
        done.append(name)
    return done


def test_transcripts_through_every_stage_with_the_app(prefect_harness, tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "read-aloud"
    app = start_app(tmp_path / "app.sqlite", TOKEN, media_roots=[project], log=tmp_path / "app.log")
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", TOKEN)
    truth = _write_project(project, app.url)
    by_digest = {hashlib.sha256((project / "data" / "clips" / f).read_bytes()).hexdigest(): f for f in truth}
    gold_files = {f"clip_{k:02d}.wav" for k in GOLD}
    plain = set(truth) - gold_files
    db = project / ".annoflow" / "annoflow.duckdb"

    def careful(name: str) -> str:  # as said, typed with capitals and a full stop (normalised away)
        return truth[name].capitalize() + "."

    def second(name: str) -> str:  # one word misheard on every other clip
        words = truth[name].split()
        if int(name[5:7]) % 2:
            words[2] = "uh"
        return " ".join(words)

    def careless(name: str) -> str:  # half the words dropped, a filler added
        return " ".join(truth[name].split()[::2] + ["um"])

    clients: list[httpx.Client] = []
    try:
        ingest = _cli(project, "ingest")
        assert ingest["sources"][0]["inserted"] == len(truth) and ingest["gold"]["gold_stored"] == len(GOLD), ingest
        with make_client(app.url, TOKEN, retries=1) as admin:
            crowd = {}
            for aid in ("ann-a", "ann-b", "ann-careless"):
                token = admin.post("/api/annotators", json={"annotator_id": aid, "roles": []}).json()["token"]
                crowd[aid] = make_client(app.url, token, retries=1, backoff=0.05)
            clients += crowd.values()
            sent = _cli(project, "dispatch")
            assert sent["pushed"] == sent["created"] >= 3 * len(plain), sent
            pid = admin.get("/api/projects").json()[0]["project_id"]

        # A transcript holding a control character (text decoded in the wrong encoding) is refused, naming the field.
        c = crowd["ann-careless"]
        task = c.post(f"/api/annotate/{pid}/next").json()["task"]
        r = httpx.post(f"{app.url}/api/annotate/leases/{task['lease_id']}/submit", headers=c.headers,
                       json={"client_id": "bad", "answer": {"text": "caf\x01e"}}, timeout=30)
        assert r.status_code == 422 and "answer.text" in r.json()["message"], r.text

        says = {"ann-a": careful, "ann-b": second, "ann-careless": careless}
        answered = {aid: _answer_all(cl, pid, by_digest, says[aid]) for aid, cl in crowd.items()}
        for aid, files in answered.items():
            assert len(files) == len(set(files)) and set(files) >= plain, (aid, files)
        got = _cli(project, "collect")
        assert got["stored"] == sum(map(len, answered.values())) and got["quarantined"] == 0, got
        _cli(project, "consensus")

        with duckdb.connect(str(db), read_only=True) as con:
            labels = {Path(uri).name: (json.loads(a), c, m) for uri, a, c, m in con.execute(
                "SELECT i.uri, l.answer, l.confidence, l.method FROM labels l JOIN items i USING (item_id)").fetchall()}
            stats = {s.removeprefix("human:"): json.loads(c) for s, c in con.execute(
                "SELECT source_id, confusion FROM source_stats").fetchall()}
            agreement = json.loads(con.execute("SELECT agreement FROM consensus_state").fetchone()[0])
        assert set(labels) == set(truth)
        for f in gold_files:
            assert labels[f][2] == "gold" and labels[f][0]["text"] == careful(f), labels[f]
        for f in plain:  # the two careful voices outvote the careless one word by word
            answer, conf, method = labels[f]
            assert method == "rover" and answer["text"].lower().rstrip(".") == truth[f], (f, answer)
            assert 0 < conf <= 1 and len(answer["words"]) == len(truth[f].split())
            assert all(0 < w["confidence"] <= 1 for w in answer["words"]), answer
        # On the misheard clips the disputed word is less sure than the words everyone agrees on.
        odd = labels["clip_05.wav"][0]["words"]
        assert odd[2]["confidence"] < min(w["confidence"] for i, w in enumerate(odd) if i != 2), odd
        # Gold WER per source: the careful annotator makes no error, the careless one many.
        assert stats["ann-a"]["gold"]["wer"] == 0 and stats["ann-careless"]["gold"]["wer"] > 0.4, stats
        assert stats["ann-a"]["gold"]["n_clips"] >= 3
        assert agreement["pairwise_wer"] is not None, agreement

        out = _cli(project, "export")
        assert out["status"] == "published" and out["n_rows"] == len(truth), out
        version = Path(out["path"])
        manifest = version / "formats" / "manifest.jsonl"
        rows = [json.loads(x) for x in manifest.read_text(encoding="utf-8").splitlines()]
        assert {Path(r["audio_filepath"]).name for r in rows} == set(truth)
        for r in rows:
            name = Path(r["audio_filepath"]).name
            assert Path(r["audio_filepath"]).read_bytes() == (project / "data" / "clips" / name).read_bytes()
            assert r["duration"] == pytest.approx(1.0 + 0.1 * int(name[5:7]), abs=1e-3)
            assert r["text"].lower().rstrip(".") == truth[name], r
        table = pq.read_table(version / "formats" / "transcripts.parquet").to_pylist()
        assert len(table) == len(truth) and all(0 < r["confidence"] <= 1 for r in table), table[:2]
        assert {r["text"].lower().rstrip(".") for r in table} == set(truth.values())
    finally:
        for cl in clients:
            cl.close()
        app.stop()
