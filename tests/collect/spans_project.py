"""A small spans (NER) project in a real DuckDB, for the queue tests: items, a machine suggestion, truth.

Shared by the collect, browser, Label Studio and simulated-crowd tests, so each one dispatches the
same kind of work: text items whose best machine vote (an LF's spans) becomes the task's pre-label.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.config import ProjectConfig
from tasks.store import open_store
from tests.conftest import ADMIN_TOKEN, seed_items, write_project

WNUT = Path(__file__).resolve().parents[2] / "examples" / "wnut17-ner"

TYPES = ["person", "location", "org"]
TEXTS = [
    "Ana flew from São Paulo to New York with Reuters staff .",
    "Zoë 👩‍💻 met Bob at Acme in Berlin .",
    "nothing to see here , just words .",
]


def spans_of(text: str, *marks: tuple[str, str]) -> list[dict[str, Any]]:
    """`[{start, end, label}]` for each (phrase, type), the phrase found in `text` (code-point offsets)."""
    out = []
    for phrase, label in marks:
        start = text.index(phrase)
        out.append({"start": start, "end": start + len(phrase), "label": label})
    return sorted(out, key=lambda s: (s["start"], s["end"], s["label"]))


TRUTH = {
    TEXTS[0]: spans_of(TEXTS[0], ("Ana", "person"), ("São Paulo", "location"), ("New York", "location"),
                       ("Reuters", "org")),
    TEXTS[1]: spans_of(TEXTS[1], ("Zoë", "person"), ("Bob", "person"), ("Acme", "org"), ("Berlin", "location")),
    TEXTS[2]: [],
}


def spans_project(root: Path, name: str, queue: dict[str, Any], **overrides: Any) -> ProjectConfig:
    """A spans project writing to its own DuckDB under `root`; one slot per item unless overridden."""
    data: dict[str, Any] = dict(task_kind="spans", labels=TYPES, queue=queue,
                                answer={"allow_overlap": False, "snap_to_tokens": True, "tokenizer": "words"},
                                overlap={"policy": "fixed", "initial": 1, "max": 1}, gold={"rate": 0.0})
    data.update(overrides)
    return write_project(root / name, name=name, **data)


def seed_spans(cfg: ProjectConfig, texts: list[str], suggestions: dict[str, list[dict]] | None = None, *,
               state: str = "queued", audit: bool = False, gold: dict[str, list[dict]] | None = None) -> list[str]:
    """Items for `texts` (in `state`); each text in `suggestions` gets that LF vote (its spans) in `votes`,
    each text in `gold` that known answer in `gold.answer`."""
    ids = seed_items(cfg, texts, state=state, audit=audit)
    with open_store(cfg.db_path) as con:
        for text, item in zip(texts, ids):
            if suggestions and text in suggestions:
                con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, answer, confidence)"
                            " VALUES (?, ?, 'lf:names', 'lf', ?::JSON, 0.7)",
                            [f"lf-names-{item}", item, json.dumps(suggestions[text])])
            if gold and text in gold:
                con.execute("INSERT INTO gold (item_id, answer, origin) VALUES (?, ?::JSON, 'file')",
                            [item, json.dumps(gold[text])])
    return ids


def stored_answers(cfg: ProjectConfig) -> dict[str, list[dict]]:
    """payload -> the stored human answer (votes.answer parsed), for every human vote."""
    with open_store(cfg.db_path) as con:
        rows = con.execute("SELECT i.payload, v.answer::VARCHAR FROM votes v JOIN items i USING (item_id)"
                           " WHERE v.source_kind = 'human' ORDER BY v.vote_id").fetchall()
    return {p: json.loads(a) for p, a in rows}


def wnut_project(root: Path, name: str, queue_url: str, n: int, **overrides: Any) -> tuple[ProjectConfig, list[str]]:
    """A spans project over the first `n` WNUT17 sentences (two annotators each, no gold), ingested and
    dispatched to the app at `queue_url`; returns the config and the sentences' JSONL lines."""
    from tasks.dispatch import dispatch
    from tasks.ingest.stage import ingest_source

    (root / "data").mkdir(parents=True)
    lines = (WNUT / "data" / "sentences.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    (root / "data" / "sentences.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = write_project(root, name=name, task_kind="spans",
                        labels=["person", "location", "group", "corporation", "product", "creative-work"],
                        sources=[{"path": "data/sentences.jsonl", "format": "jsonl", "text_field": "text"}],
                        answer={"allow_overlap": False, "snap_to_tokens": True, "tokenizer": "whitespace"},
                        queue={"url": queue_url}, overlap={"policy": "fixed", "initial": 2, "max": 2},
                        gold={"rate": 0.0, "min_per_annotator": 0}, **overrides)
    assert ingest_source(cfg, cfg.sources[0])[0]["inserted"] == n
    assert dispatch(cfg)["created"] == 2 * n
    return cfg, lines


def simulate_wnut_crowd(root: Path, accuracy: float) -> dict[str, Any]:
    """`annoflow simulate-crowd` (3 annotators answering from the WNUT17 truth) on the project at `root`."""
    import os
    import shutil
    import subprocess

    run = subprocess.run([shutil.which("annoflow") or "annoflow", "simulate-crowd", "--config", str(root / "annoflow.toml"),
                          "--truth", str(WNUT / "truth" / "labels.jsonl"), "--label-column", "spans", "--accuracy",
                          str(accuracy), "--annotators", "3", "--spammers", "0", "--experts", "0", "--json"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "ANNOFLOW_QUEUE_TOKEN": ADMIN_TOKEN})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])
