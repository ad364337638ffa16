"""Transcript consolidation on simulated crowds: word error rate against the truth, with crowd-kit's ROVER.

Run: ``uv run python -m bench.transcripts`` (two seeds, every shape); ``--scale`` times 300k transcripts
(100k clips x 3) through the consensus facet instead.

Truth: sentences generated from a small grammar written here (a subject, a verb, an object, sometimes a
time or place and a second clause; 5-20 words, number words included), no downloaded text. Each clip is
transcribed by 3 annotators drawn from a pool of 10 (`tasks.kinds.transcript.simulation`): per true word
a substitution (a common English word or another word of the clip), a deletion, or extra words inserted
(fillers, repeats), with case and punctuation typed each their own way. Every pool holds one careless
annotator (15% substitutions, 20% deletions, 0.1 extra words per word, and one clip in three abandoned
part way). Crowd shapes (the other 9 annotators):

- even: all 9 at word accuracy 0.9 (substitutions 6%, deletions 4%, 0.03 insertions per word);
- skewed: 2 at 0.97, 5 at 0.9, 2 at 0.75;
- deleters: 3 at 0.95, 6 who drop 15% of the words (3% substitutions);
- inserters: 3 at 0.95, 6 who add 0.25 extra words per word (3% substitutions);
- noisy: all 9 at 0.8;
- two_careless: 7 at 0.9 and a second careless annotator (two of ten careless).

Gold: `--gold` (default 0.05) of the clips get their true transcript as gold, as a project's gold file
would; every figure is on the other clips. Gold scores no one here (no scoring votes, so no bans): it only
lets ours check its clip confidence map on held-out gold clips.

Methods: ours (the transcript kind's consensus facet, `run_consensus`: sources learned from the crowd,
gold clips pinned); crowd-kit's ROVER (bench/.peers-venv, on the same normalised texts, majority per position);
the best single annotator (each annotator's WER on the clips it did, the lowest of those with 100+
clips), compared with ours on the same clips ("ours there"). WER pools errors over all reference words
(jiwer). Calibration: ECE (10 bins) of the clip confidence (right = the normalised transcript equals the
truth's) and of the word confidences (right = the word is a hit in jiwer's alignment with the truth).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa

from tasks.consensus.calibration import expected_calibration_error
from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings, run_consensus
from tasks.kinds.transcript.normalise import Normaliser
from tasks.kinds.transcript.simulation import (
    COMMON_WORDS,
    TranscriptErrors,
    simulate_transcript,
)
from tasks.kinds.transcript.wer import edit_counts

ROOT = Path(__file__).resolve().parents[1]
PEERS_PY = ROOT / "bench" / ".peers-venv" / "bin" / "python"
NORM = Normaliser()

_SUBJECTS = ("the old man", "a young girl", "my brother", "the teacher", "our neighbour", "the small dog", "her mother",
             "the farmer", "two children", "the captain", "my friend", "the baker", "a tall woman", "his father")
_VERBS = ("walked to", "looked at", "painted", "carried", "found", "bought", "cleaned", "opened", "left", "watched",
          "visited", "closed", "picked up", "sold", "fixed", "remembered")
_OBJECTS = ("the red house", "a wooden chair", "the river bank", "an empty box", "the green door", "three apples",
            "the village school", "a heavy bag", "the kitchen window", "the long road", "a silver key",
            "the garden gate", "twenty letters", "the blue boat", "an old map")
_TAILS = ("in the morning", "after dinner", "before the rain", "with great care", "on sunday", "at half past nine",
          "for three hours", "near the station", "during the storm", "every summer", "without a word",
          "at the end of the day", "last week", "in the evening")
_JOIN = ("and then", "but", "because", "while", "so")

VOCABULARY = tuple(sorted({w for part in (_SUBJECTS, _VERBS, _OBJECTS, _TAILS, _JOIN) for p in part for w in p.split()}
                          | set(COMMON_WORDS)))
"""What a misheard word becomes: the grammar's own words and common English words, so a wrong word is as
long and as plausible as a right one (a vote that prefers long words gains nothing from the simulation)."""
_POOL_CARELESS = TranscriptErrors.careless()
SHAPES: dict[str, list[TranscriptErrors]] = {
    "even": [TranscriptErrors.from_accuracy(0.9)] * 9 + [_POOL_CARELESS],
    "skewed": [TranscriptErrors.from_accuracy(0.97)] * 2 + [TranscriptErrors.from_accuracy(0.9)] * 5
    + [TranscriptErrors.from_accuracy(0.75)] * 2 + [_POOL_CARELESS],
    "deleters": [TranscriptErrors.from_accuracy(0.95)] * 3 + [TranscriptErrors(substitute=0.03, delete=0.15)] * 6
    + [_POOL_CARELESS],
    "inserters": [TranscriptErrors.from_accuracy(0.95)] * 3 + [TranscriptErrors(substitute=0.03, insert=0.25)] * 6
    + [_POOL_CARELESS],
    "noisy": [TranscriptErrors.from_accuracy(0.8)] * 9 + [_POOL_CARELESS],
    "two_careless": [TranscriptErrors.from_accuracy(0.9)] * 8 + [_POOL_CARELESS] * 2,
}


def sentences(n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        parts = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)]
        if rng.random() < 0.6:
            parts.append(rng.choice(_TAILS))
        if rng.random() < 0.35:
            parts += [rng.choice(_JOIN), rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)]
        out.append(" ".join(parts))
    return out


def crowd(truth: list[str], pool: list[TranscriptErrors], rng: random.Random, per_clip: int = 3) -> list[list[tuple[int, str]]]:
    """Per clip: [(annotator, text)] from `per_clip` annotators of the pool."""
    return [[(a, simulate_transcript(t, rng, pool[a], VOCABULARY)) for a in sorted(rng.sample(range(len(pool)), per_clip))]
            for t in truth]


def votes_table(answers: list[list[tuple[int, str]]]) -> pa.Table:
    rows = [(str(i), f"a{a}", json.dumps({"text": t})) for i, per in enumerate(answers) for a, t in per]
    return pa.table({"item_id": [r[0] for r in rows], "source_id": [r[1] for r in rows],
                     "source_kind": ["human"] * len(rows), "answer": [r[2] for r in rows]})


def ours(answers, gold: dict[int, str] | None = None) -> tuple[dict[int, dict], float]:
    """`gold`: accepted transcripts of some clips (clip -> spoken text), as a project's gold file gives them."""
    votes = votes_table(answers)
    empty = pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())})
    g = pa.table({"item_id": [str(i) for i in sorted(gold or {})],
                  "answer": [json.dumps({"text": (gold or {})[i]}) for i in sorted(gold or {})]}, schema=empty.schema)
    settings = ConsensusSettings(classes=(), kind="transcript")
    t0 = time.perf_counter()
    # No scoring votes: gold here only checks the confidence map, it bans no one (the crowds stay comparable).
    out = run_consensus(settings, ConsensusInputs(votes, votes.slice(0, 0), g, empty))
    took = time.perf_counter() - t0
    res = {int(r["item_id"]): {**json.loads(r["answer"]), "confidence": r["confidence"]} for r in out.labels.to_pylist()}
    return res, took


def crowdkit_rover(answers) -> dict[int, str] | None:
    if not PEERS_PY.exists():
        return None
    flat = normalised([t for per in answers for _, t in per])
    data = {"answers": [[str(i), f"a{a}", flat[k]] for k, (i, a) in enumerate((i, a) for i, per in enumerate(answers) for a, _ in per)]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(data, f)
    r = subprocess.run([str(PEERS_PY), str(ROOT / "bench" / "peers" / "run_text_peers.py"), f.name],
                       capture_output=True, text=True, check=True)
    Path(f.name).unlink()
    return {int(k): v for k, v in json.loads(r.stdout).items()}


def normalised(texts: list[str]) -> list[str]:
    return NORM.normalise(pa.array(texts, pa.string())).to_pylist()


def wer(truth: list[str], hyp: dict[int, str], clips: list[int] | None = None) -> float:
    """Pooled WER of normalised `hyp` texts against normalised `truth` on `clips` (all by default)."""
    clips = list(range(len(truth))) if clips is None else clips
    c = edit_counts([truth[i] for i in clips], [hyp.get(i, "") for i in clips])
    return float(c[:, 1:].sum() / max(c[:, :3].sum(), 1))


def best_single(truth: list[str], answers, ours_text: dict[int, str], scored: set[int]) -> tuple[float, float, str]:
    """(the best annotator's WER on its `scored` clips, ours on the same clips, who): each annotator saw other clips."""
    by: dict[int, dict[int, str]] = {}
    flat = normalised([t for per in answers for _, t in per])
    k = 0
    for i, per in enumerate(answers):
        for a, _ in per:
            if i in scored:
                by.setdefault(a, {})[i] = flat[k]
            k += 1
    own = {a: wer(truth, d, sorted(d)) for a, d in by.items() if len(d) >= 100}
    best = min(own, key=own.get)
    return own[best], wer(truth, ours_text, sorted(by[best])), f"a{best}"


def calibration(truth: list[str], res: dict[int, dict], scored: list[int]) -> tuple[float, float]:
    """ECE of the clip confidence (whole normalised transcript right) and of the word confidences (a hit)."""
    clip_c, clip_ok, word_c, word_ok = [], [], [], []
    import jiwer

    for i in scored:
        t = truth[i]
        r = res[i]
        ref = t
        words = [w["word"] for w in r.get("words", [])]
        hyp = " ".join(words)
        clip_c.append(r["confidence"])
        clip_ok.append(hyp == ref)
        hit = np.zeros(len(words), bool)
        if ref and words:
            for ch in jiwer.process_words(ref, hyp).alignments[0]:
                if ch.type == "equal":
                    hit[ch.hyp_start_idx: ch.hyp_end_idx] = True
        word_c += [w["confidence"] for w in r.get("words", [])]
        word_ok += hit.tolist()
    return (expected_calibration_error(np.array(clip_c), np.array(clip_ok, float)),
            expected_calibration_error(np.array(word_c), np.array(word_ok, float)))


def run_shape(shape: str, n_clips: int, seed: int, gold_share: float = 0.0) -> dict:
    rng = random.Random(seed * 1000 + zlib.crc32(shape.encode()) % 997)
    spoken = sentences(n_clips, rng)
    answers = crowd(spoken, SHAPES[shape], rng)
    truth = normalised(spoken)
    # A gold share of the clips (their own generator, so the crowd is the same with or without gold); every
    # figure below is on the other clips (gold clips are right by fiat, whatever the method).
    picked = random.Random(seed * 7919 + 1).sample(range(n_clips), round(gold_share * n_clips))
    gold = {i: spoken[i] for i in picked}
    scored = [i for i in range(n_clips) if i not in gold]
    res, took = ours(answers, gold)
    ours_text = {i: " ".join(w["word"] for w in r.get("words", [])) for i, r in res.items()}
    out = {"ours": wer(truth, ours_text, scored)}
    ck = crowdkit_rover(answers)
    out["crowd-kit ROVER"] = wer(truth, dict(zip(ck, normalised(list(ck.values())))), scored) if ck is not None else float("nan")
    out["best single"], out["ours there"], out["who"] = best_single(truth, answers, ours_text, set(scored))
    out["clip_ece"], out["word_ece"] = calibration(truth, res, scored)
    out["seconds"] = took
    return out


# -- scale ------------------------------------------------------------------------------------------
def run_scale(n_clips: int, per_clip: int = 3) -> None:
    rng = random.Random(7)
    truth = sentences(n_clips, rng)
    pool = SHAPES["skewed"]
    answers = crowd(truth, pool, rng, per_clip)
    votes = votes_table(answers)
    del answers
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    empty = pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())})
    settings = ConsensusSettings(classes=(), kind="transcript")
    t0, c0 = time.perf_counter(), time.process_time()
    out = run_consensus(settings, ConsensusInputs(votes, votes.slice(0, 0), empty, empty))
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    load = os.getloadavg()[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scale: {n_clips:,} clips x {per_clip} annotators = {votes.num_rows:,} transcripts; consolidated in {took:.1f}s "
          f"wall, {cpu:.1f}s CPU (load average {load:.1f} on {os.cpu_count()} cores; {out.fit['n_iter']} EM iterations "
          f"in the second pass), {out.labels.num_rows:,} labels rows; peak RSS {peak:.0f} MB (after building the "
          f"votes: {rss0:.0f} MB); floor 30 s: {'met' if took <= 30 else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=2000)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--gold", type=float, default=0.05, help="share of clips with a gold transcript (0: none)")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--scale", action="store_true", help="time 300k transcripts (100k clips x 3 annotators)")
    ap.add_argument("--scale-clips", type=int, default=100_000)
    args = ap.parse_args()
    if args.scale:
        run_scale(args.scale_clips)
        return
    if not PEERS_PY.exists():
        print("PEERS MISSING: bench/.peers-venv not found; crowd-kit's ROVER not run (see bench/peers/)")
    cols = ("ours", "crowd-kit ROVER", "best single", "ours there")
    print(f"Generated sentences: {args.clips} clips per run, 3 of 10 simulated annotators each, {args.gold:.0%} of them"
          " with gold (figures on the others); WER against the truth (lower is better)")
    print(f"{'crowd shape':14s}{'seed':>5s}" + "".join(f"{c:>17s}" for c in cols)
          + f"{'best is':>8s}{'clip ECE':>9s}{'word ECE':>9s}{'ours s':>8s}")
    fails = set()
    for shape in args.shapes.split(","):
        for seed in (int(x) for x in args.seeds.split(",")):
            r = run_shape(shape, args.clips, seed, args.gold)
            if r["ours"] > r["crowd-kit ROVER"] or r["ours there"] > r["best single"]:
                fails.add(shape)
            print(f"{shape:14s}{seed:5d}" + "".join(f"{r[c]:17.4f}" for c in cols)
                  + f"{r['who']:>8s}{r['clip_ece']:9.3f}{r['word_ece']:9.3f}{r['seconds']:8.2f}", flush=True)
    print("floor (ours <= crowd-kit ROVER and <= the best single annotator on its clips, every shape and seed): "
          + ("met" if not fails else f"NOT met on {', '.join(sorted(fails))}"))
    sys.exit(0)


if __name__ == "__main__":
    main()
