"""Speech pre-labeling: how good and how fast is the reference recogniser on the example clips?

    uv run python -m bench.speech_prelabel [--transcripts examples/speech-transcripts] [--segments examples/speech-segments] [--http]

The reference recogniser (`model_server/asr.py`, pocketsphinx with the English model inside its wheel, called
in-process: the endpoint runs the same code) transcribes every clip of the transcripts example. Printed: its
word error rate against the synthesised sentences (jiwer, after the transcript kind's comparison rule), the
share of clips it gets exactly right, the share of its words that are right (what an annotator editing the
draft keeps), and its speed in clips and audio seconds per second of wall time (model load excluded). On the
segments example: the precision and recall of its "speech" regions against the true speech regions at
temporal IoU >= 0.5. With `--http`, the same clips again through `python -m model_server --asr` and the
pre-labeling client (`HttpSpeechModel`, batches of 4, one request at a time), to show what HTTP costs. The
truth files are read only here; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb
import jiwer
import numpy as np
import pyarrow as pa


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "truth" / "labels.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def _transcribe_all(folder: Path, rows: list[dict]) -> tuple[list[dict], float, float]:
    """(the recogniser's answer per clip, wall seconds, audio seconds)."""
    from model_server.asr import Recogniser
    from tasks.ingest.wav import decode_wav

    rec = Recogniser()
    clips = [decode_wav((folder / "data" / "audio" / r["file"]).read_bytes()) for r in rows]
    t0 = time.perf_counter()
    out = [rec.transcribe(samples, duration) for samples, duration in clips]
    return out, time.perf_counter() - t0, sum(d for _, d in clips)


def _scores(truth: list[str], hyp: list[str]) -> dict:
    from tasks.kinds.transcript.drafts import (
        compare_rule,
        kept_words,
        normalised_tokens,
    )
    from tasks.kinds.transcript.options import TranscriptOptions

    rule = compare_rule(TranscriptOptions())
    ref_t, hyp_t = normalised_tokens(pa.array(truth), rule), normalised_tokens(pa.array(hyp), rule)
    hyp_words = sum(len(h) for h in hyp_t)
    return {
        "wer": jiwer.wer([" ".join(t) for t in ref_t], [" ".join(h) for h in hyp_t]),
        "exact": float(np.mean([r == h for r, h in zip(ref_t, hyp_t)])),
        "draft_words_right": sum(kept_words(h, r) for h, r in zip(hyp_t, ref_t)) / max(hyp_words, 1),
    }


def _regions(folder: Path) -> dict:
    from tasks.kinds.boxes.box_sets import explode_sql, iou_sql

    rows = _rows(folder)
    out, _, _ = _transcribe_all(folder, rows)
    con = duckdb.connect()
    to_box = lambda rs: json.dumps([{"x": r["start_s"] * 1000, "y": 0, "w": (r["end_s"] - r["start_s"]) * 1000, "h": 1, "label": r["label"]}
                                    for r in rs if r["label"] == "speech"])
    con.register("_t", pa.table({"k": range(len(rows)), "answer": [to_box(r["answer"]) for r in rows]}))
    con.register("_p", pa.table({"k": range(len(rows)), "answer": [to_box(o["segments"]) for o in out]}))
    con.execute(f"CREATE TABLE t AS {explode_sql('_t', keep='k')}")
    con.execute(f"CREATE TABLE p AS {explode_sql('_p', keep='k')}")
    n_t, n_p = con.execute("SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM p)").fetchone()
    tp_p, tp_t = con.execute(f"SELECT count(DISTINCT (p.k, p.i)), count(DISTINCT (t.k, t.i)) FROM p JOIN t ON p.k = t.k WHERE {iou_sql('p', 't')} >= 0.5").fetchone()
    return {"clips": len(rows), "true_speech_regions": n_t, "predicted": n_p,
            "precision": tp_p / max(n_p, 1), "recall": tp_t / max(n_t, 1)}


def _http(folder: Path, rows: list[dict]) -> tuple[float, list[str]]:
    from schemas.config import ModelConfig
    from tasks.kinds.transcript.http_speech import HttpSpeechModel
    from tests.model_servers import model_servers

    batch = pa.table({"item_id": [r["file"] for r in rows],
                      "uri": [(folder / "data" / "audio" / r["file"]).resolve().as_uri() for r in rows]})
    with model_servers(["--asr"], {"ok": []}, 90, "speech recognition server") as urls, \
            HttpSpeechModel(ModelConfig(name="asr", kind="http", url=urls["ok"], batch_size=4, concurrency=1, timeout_seconds=120), None) as m:
        t0 = time.perf_counter()
        got = m.transcribe(batch)
        return time.perf_counter() - t0, got.column("text").to_pylist()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.speech_prelabel", description=__doc__.splitlines()[0])
    p.add_argument("--transcripts", type=Path, default=Path("examples/speech-transcripts"))
    p.add_argument("--segments", type=Path, default=Path("examples/speech-segments"))
    p.add_argument("--http", action="store_true", help="Also time the clips through the HTTP endpoint and client.")
    a = p.parse_args(argv)

    rows = _rows(a.transcripts)
    out, wall, audio = _transcribe_all(a.transcripts, rows)
    s = _scores([r["answer"]["text"] for r in rows], [o["text"] for o in out])
    print(f"recogniser: pocketsphinx (in-process) on {len(rows)} clips of {a.transcripts} ({audio:.1f} s of audio)")
    print(f"  WER {s['wer']:.3f}   exact clips {s['exact']:.1%}   draft words right {s['draft_words_right']:.1%}")
    print(f"  speed {len(rows) / wall:.2f} clips/s   {audio / wall:.2f} audio s/s   ({wall:.1f} s)")
    if a.http:
        wall_h, texts = _http(a.transcripts, rows)
        same = sum(t == o["text"] for t, o in zip(texts, out))
        print(f"  through HTTP (batches of 4): {len(rows) / wall_h:.2f} clips/s ({wall_h:.1f} s); same text on {same}/{len(rows)} clips")
    r = _regions(a.segments)
    print(f"speech regions on {r['clips']} clips of {a.segments}: precision {r['precision']:.2f} ({r['predicted']} predicted), "
          f"recall {r['recall']:.2f} ({r['true_speech_regions']} true) at temporal IoU >= 0.5")


if __name__ == "__main__":
    main()
