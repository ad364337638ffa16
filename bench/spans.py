"""Span consolidation benchmark: simulated NER crowds on WNUT17 sentences, ours vs the standard baselines.

Run: ``uv run python -m bench.spans`` (prints one table per crowd shape; ``--sentences N`` for a quicker
run, ``--scale`` for the 1M-vote timing and peak memory instead). Sentences and true spans are read from
``../shared/datasets/wnut17`` (never copied into the repository). Simulated annotators
(tasks/kinds/spans/simulation.py) answer every sentence 3-5 times; methods are scored by seqeval's
entity-level strict F1 against the true spans:

- ours: span-level Dawid-Skene (tasks/kinds/spans/consolidate.py), no gold;
- token MV: majority vote of the BIO tags per token;
- token DS: crowd-kit 1.4.2's DawidSkene per token (in bench/.peers-venv, as bench/peers/ runs it);
- span MV: a span is kept when more than half of its sentence's annotators marked exactly it;
- best single: the annotator of the pool with the highest F1 on the sentences they answered.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
from seqeval.metrics import f1_score

from tasks.consensus.calibration import expected_calibration_error
from tasks.kinds.spans.consolidate import SpanConsensusSettings, consolidate_spans
from tasks.kinds.spans.simulation import SpanErrors, simulate_spans
from tasks.kinds.spans.storage import SPANS_TYPE
from tasks.kinds.spans.tokens import bio_tags, spans_from_bio, tokenize

ROOT = Path(__file__).resolve().parents[1]
WNUT = ROOT.parent / "shared" / "datasets" / "wnut17"
PEERS_PY = ROOT / "bench" / ".peers-venv" / "bin" / "python"
LABELS = ("corporation", "creative-work", "group", "location", "person", "product")


def load_wnut(files=("emerging.dev.conll", "emerging.test.annotated")) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """Sentences as (text joined by single spaces, true character spans)."""
    out = []
    for name in files:
        words, tags = [], []
        for line in (WNUT / name).read_text(encoding="utf-8").splitlines() + [""]:
            if line.strip():
                w, t = line.split("\t") if "\t" in line else line.rsplit(" ", 1)
                words.append(w.strip())
                tags.append(t.strip())
                continue
            if words:
                offsets, pos = [], 0
                for w in words:
                    offsets.append((pos, pos + len(w)))
                    pos += len(w) + 1
                out.append((" ".join(words), spans_from_bio(tags, offsets)))
                words, tags = [], []
    return out


def crowd_pool(shape: str, rng: random.Random, n: int = 12) -> list[SpanErrors]:
    u = rng.uniform
    if shape == "boundary-heavy":
        return [SpanErrors(miss=u(.03, .1), bounds=u(.2, .45), wrong_type=u(.02, .08), spurious=u(.05, .15)) for _ in range(n)]
    if shape == "miss-heavy":
        return [SpanErrors(miss=u(.25, .5), bounds=u(.03, .1), wrong_type=u(.02, .08), spurious=u(.05, .15)) for _ in range(n)]
    if shape == "spurious-heavy":
        return [SpanErrors(miss=u(.03, .1), bounds=u(.03, .1), wrong_type=u(.02, .08), spurious=u(.4, 1.0)) for _ in range(n)]
    if shape == "wrong-type-heavy":
        return [SpanErrors(miss=u(.03, .1), bounds=u(.03, .1), wrong_type=u(.2, .45), spurious=u(.05, .15)) for _ in range(n)]
    if shape == "with-spammers":
        good = [SpanErrors(miss=u(.05, .2), bounds=u(.05, .2), wrong_type=u(.05, .15), spurious=u(.1, .3)) for _ in range(n - 4)]
        return good + [SpanErrors(spurious=u(.8, 1.5), spammer=True) for _ in range(4)]
    raise ValueError(shape)


SHAPES = ("boundary-heavy", "miss-heavy", "spurious-heavy", "wrong-type-heavy", "with-spammers")


def simulate(sentences, pool, rng):
    """Per sentence: [(annotator index, spans)] from 3-5 distinct annotators of the pool."""
    out = []
    for text, truth in sentences:
        who = rng.sample(range(len(pool)), rng.randint(3, 5))
        out.append([(a, simulate_spans(truth, text, LABELS, rng, pool[a])) for a in who])
    return out


def tags_of(spans, tokens):
    return bio_tags(spans, tokens)


def token_mv(tok, answers):
    tags = [bio_tags(sp, tok) for _, sp in answers]
    best = []
    for col in zip(*tags):
        c = Counter(col).most_common()
        top = c[0][1]
        best.append("O" if any(t == "O" and n == top for t, n in c) else c[0][0])
    return spans_from_bio(best, tok)


def span_mv(answers):
    c = Counter(s for _, sp in answers for s in sp)
    keep = sorted((s for s, n in c.items() if n > len(answers) / 2), key=lambda s: -c[s])
    out = []
    for s in keep:
        if not any(s[0] < e and b < s[1] for b, e, _ in out):
            out.append(s)
    return sorted(out)


def ours(crowd, settings, sentences=None):
    ids, srcs, ans = [], [], []
    for i, answers in enumerate(crowd):
        for a, sp in answers:
            ids.append(str(i))
            srcs.append(f"a{a}")
            ans.append([{"start": s, "end": e, "label": lb} for s, e, lb in sp])
    votes = pa.table({"item_id": ids, "source_id": srcs, "source_kind": ["human"] * len(ids),
                      "answer": pa.array(ans, SPANS_TYPE)})
    t0 = time.perf_counter()
    texts = None if sentences is None else pa.table({"item_id": [str(i) for i in range(len(sentences))],
                                                     "payload": [t for t, _ in sentences]})
    res = consolidate_spans(votes, settings, texts=texts)
    took = time.perf_counter() - t0
    by_id = dict(zip(res.items["item_id"].to_pylist(), zip(res.items["spans"].to_pylist(),
                                                          res.items["span_confidence"].to_pylist(),
                                                          res.items["confidence"].to_pylist())))
    spans, span_conf, item_conf = [], [], []
    for i in range(len(crowd)):
        sp, sc, ic = by_id.get(str(i), ([], [], 1.0))
        spans.append(sorted((d["start"], d["end"], d["label"]) for d in sp))
        span_conf.append(dict(zip(((d["start"], d["end"], d["label"]) for d in sp), sc)))
        item_conf.append(ic)
    return spans, span_conf, item_conf, took, res.iterations


def token_ds(sentences, toks, crowd) -> list | None:
    if not PEERS_PY.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "votes.csv"
        rows = ["task,worker,label"]
        for i, answers in enumerate(crowd):
            for a, sp in answers:
                rows += [f"{i}:{k},a{a},{t}" for k, t in enumerate(bio_tags(sp, toks[i]))]
        path.write_text("\n".join(rows) + "\n")
        out = subprocess.run([str(PEERS_PY), str(ROOT / "bench" / "peers" / "token_ds.py"), str(path)],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(out.stderr[-500:], file=sys.stderr)
            return None
    pred = json.loads(out.stdout)
    return [spans_from_bio([pred.get(f"{i}:{k}", "O") for k in range(len(toks[i]))], toks[i]) for i in range(len(crowd))]


def f1(pred, truth, toks) -> float:
    return f1_score([bio_tags(t, tk) for t, tk in zip(truth, toks)], [bio_tags(p, tk) for p, tk in zip(pred, toks)])


def run_shape(shape, sentences, toks, seed, settings):
    rng = random.Random(seed)
    pool = crowd_pool(shape, rng)
    crowd = simulate(sentences, pool, rng)
    truth = [t for _, t in sentences]
    res = {}
    spans, span_conf, item_conf, took, iters = ours(crowd, settings, sentences)
    res["ours"] = f1(spans, truth, toks)
    res["token MV"] = f1([token_mv(tk, a) for tk, a in zip(toks, crowd)], truth, toks)
    ds = token_ds(sentences, toks, crowd)
    res["token DS (crowd-kit)"] = f1(ds, truth, toks) if ds is not None else float("nan")
    res["span MV"] = f1([span_mv(a) for a in crowd], truth, toks)
    per = defaultdict(lambda: ([], [], []))
    for i, answers in enumerate(crowd):
        for a, sp in answers:
            per[a][0].append(sp)
            per[a][1].append(truth[i])
            per[a][2].append(toks[i])
    singles = {a: f1(p, t, tk) for a, (p, t, tk) in per.items()}
    res["best single"] = max(singles.values())
    # Calibration: a span's confidence vs whether it is a true span; an item's vs whether its whole answer is.
    sc, sok = [], []
    for conf, t in zip(span_conf, truth):
        ts = set(t)
        for s, c in conf.items():
            sc.append(c)
            sok.append(s in ts)
    item_ok = [set(p) == set(t) for p, t in zip(spans, truth)]
    cal = {"span_ece": expected_calibration_error(np.array(sc), np.array(sok, float)),
           "item_ece": expected_calibration_error(np.array(item_conf), np.array(item_ok, float)),
           "n_spans": len(sc), "seconds": took, "iterations": iters}
    return res, cal


def scale_votes(n_items: int, n_annot: int, seed: int = 0) -> pa.Table:
    """Synthetic votes at scale, built in Arrow: each item has 0-2 true spans; annotators miss, clip and invent."""
    rng = np.random.default_rng(seed)
    n_true = rng.choice([0, 1, 1, 2], n_items)
    t_item = np.repeat(np.arange(n_items), n_true)
    t_start = _segment_pos(n_true) * 20 + rng.integers(0, 5, len(t_item))
    t_len = rng.integers(3, 12, len(t_item))
    t_lab = rng.integers(0, len(LABELS), len(t_item))
    items, srcs, starts, ends, labs = [], [], [], [], []
    for a in range(n_annot):
        src = rng.integers(0, 50, n_items) + 50 * a
        keep = rng.random(len(t_item)) > 0.1
        shift = np.where(rng.random(len(t_item)) < 0.1, 1, 0)
        lab = np.where(rng.random(len(t_item)) < 0.05, rng.integers(0, len(LABELS), len(t_item)), t_lab)
        sp = rng.random(n_items) < 0.15
        items += [t_item[keep], np.flatnonzero(sp)]
        srcs += [src[t_item[keep]], src[sp]]
        starts += [t_start[keep], np.full(sp.sum(), 60)]
        ends += [(t_start + t_len + shift)[keep], np.full(sp.sum(), 66)]
        labs += [lab[keep], rng.integers(0, len(LABELS), sp.sum())]
        if a == 0:
            a_items = [np.arange(n_items)]
            a_srcs = [src]
        else:
            a_items.append(np.arange(n_items))
            a_srcs.append(src)
    it, sr = np.concatenate(items), np.concatenate(srcs)
    st, en, lb = np.concatenate(starts), np.concatenate(ends), np.concatenate(labs)
    ai, asr = np.concatenate(a_items), np.concatenate(a_srcs)
    # One answer row per (item, annotator): spans grouped by (item, source).
    akey = ai * 1000 + asr
    skey = it * 1000 + sr
    order_a = np.argsort(akey, kind="stable")
    akey_sorted = akey[order_a]
    o = np.argsort(skey, kind="stable")
    counts = np.bincount(np.searchsorted(akey_sorted, skey[o]), minlength=len(akey_sorted))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    structs = pa.StructArray.from_arrays(
        [pa.array(st[o], pa.int32()), pa.array(en[o], pa.int32()),
         pa.array(np.asarray(LABELS, dtype=object)[lb[o]], pa.string())], names=["start", "end", "label"])
    answers = pa.ListArray.from_arrays(pa.array(offsets), structs, type=SPANS_TYPE)
    return pa.table({"item_id": pa.array((akey_sorted // 1000).astype(str)),
                     "source_id": pa.array(np.char.add("s", (akey_sorted % 1000).astype(str))),
                     "source_kind": pa.array(np.full(len(akey_sorted), "human")), "answer": answers})


def _segment_pos(sizes):
    return np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)


def run_scale(n_items: int) -> None:
    votes = scale_votes(n_items, 3)
    n_spans = len(pa.compute.list_flatten(votes["answer"]))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    res = consolidate_spans(votes, SpanConsensusSettings(labels=LABELS))
    took = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scale: {n_items} items x 3 annotators = {votes.num_rows} answers, {n_spans} span votes; "
          f"consolidated in {took:.1f}s ({res.iterations} EM iterations); peak RSS {peak:.0f} MB "
          f"(after building the votes: {rss0:.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=0, help="use the first N sentences (default: all dev+test)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--scale", action="store_true", help="time 1M span votes instead")
    ap.add_argument("--scale-items", type=int, default=340_000)
    args = ap.parse_args()
    if args.scale:
        run_scale(args.scale_items)
        return
    sentences = load_wnut()
    if args.sentences:
        sentences = sentences[:args.sentences]
    toks = [tokenize(t) for t, _ in sentences]
    settings = SpanConsensusSettings(labels=LABELS)
    if not PEERS_PY.exists():
        print("PEERS MISSING: bench/.peers-venv not found; token DS not run (see bench/consensus.py)")
    print(f"WNUT17 dev+test: {len(sentences)} sentences, {sum(len(t) for _, t in sentences)} true spans; "
          "3-5 simulated annotators per sentence from a pool of 12; entity-level strict F1 (seqeval)")
    cols = ("ours", "token MV", "token DS (crowd-kit)", "span MV", "best single")
    print(f"{'crowd shape':18s}" + "".join(f"{c:>22s}" for c in cols) + f"{'margin':>8s}{'span ECE':>10s}{'item ECE':>10s}{'ours s':>8s}")
    for i, shape in enumerate(args.shapes.split(",")):
        res, cal = run_shape(shape, sentences, toks, args.seed + i, settings)
        best_base = max(v for k, v in res.items() if k != "ours" and not np.isnan(v))
        print(f"{shape:18s}" + "".join(f"{res[c]:22.3f}" for c in cols)
              + f"{res['ours'] - best_base:+8.3f}{cal['span_ece']:10.3f}{cal['item_ece']:10.3f}{cal['seconds']:8.2f}",
              flush=True)


if __name__ == "__main__":
    main()
