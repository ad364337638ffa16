"""`annoflow simulate-crowd` on a spans project (WNUT17 sentences) against the real app: with accuracy 1
every answer the crowd submits through the app's HTTP API, once collected, is exactly the true spans."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tasks.collect import collect
from tasks.dispatch import dispatch
from tasks.ingest.stage import ingest_source
from tests.conftest import ADMIN_TOKEN, write_project

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "wnut17-ner"
N = 40


def test_a_perfect_simulated_crowd_answers_the_true_spans(tmp_path: Path, fresh_app, monkeypatch) -> None:
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", ADMIN_TOKEN)
    root = tmp_path / "ner"
    (root / "data").mkdir(parents=True)
    lines = (EXAMPLE / "data" / "sentences.jsonl").read_text(encoding="utf-8").splitlines()[:N]
    (root / "data" / "sentences.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = write_project(root, name="ner-crowd", task_kind="spans",
                        labels=["person", "location", "group", "corporation", "product", "creative-work"],
                        sources=[{"path": "data/sentences.jsonl", "format": "jsonl", "text_field": "text"}],
                        answer={"allow_overlap": False, "snap_to_tokens": True, "tokenizer": "whitespace"},
                        queue={"url": fresh_app.url}, overlap={"policy": "fixed", "initial": 2, "max": 2},
                        gold={"rate": 0.0, "min_per_annotator": 0})
    assert ingest_source(cfg, cfg.sources[0])[0]["inserted"] == N
    assert dispatch(cfg)["created"] == 2 * N
    truth_file = EXAMPLE / "truth" / "labels.jsonl"
    run = subprocess.run([shutil.which("annoflow") or "annoflow", "simulate-crowd", "--config", str(root / "annoflow.toml"),
                          "--truth", str(truth_file), "--label-column", "spans", "--accuracy", "1", "--annotators", "3", "--spammers", "0",
                          "--experts", "0", "--json"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "ANNOFLOW_QUEUE_TOKEN": ADMIN_TOKEN})
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["simulation"] is True and report["submitted"] == 2 * N and report["failures"] == []
    assert report["items_without_truth"] == 0
    c = collect(cfg)
    assert (c["stored"], c["quarantined"]) == (2 * N, 0), c
    truth = {row["text"]: row["spans"] for row in map(json.loads, truth_file.read_text(encoding="utf-8").splitlines())}
    stored = stored_answers_all(cfg)
    assert len(stored) == 2 * N and {t for t, _ in stored} == set(truth) & {json.loads(x)["text"] for x in lines}
    wrong = [(t, a, truth[t]) for t, a in stored if a != truth[t]]
    assert wrong == []
    assert sum(bool(a) for _, a in stored) > N // 2  # most sentences have entities: not a run of empty answers


def stored_answers_all(cfg) -> list[tuple[str, list]]:
    """(text, answer) for every human vote (two per sentence here)."""
    from tasks.store import open_store

    with open_store(cfg.db_path) as con:
        rows = con.execute("SELECT i.payload, v.answer::VARCHAR FROM votes v JOIN items i USING (item_id)"
                           " WHERE v.source_kind = 'human'").fetchall()
    return [(p, json.loads(a)) for p, a in rows]
