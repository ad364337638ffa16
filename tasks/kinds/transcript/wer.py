"""Word error rates: sources against accepted transcripts (gold scoring) and annotators against each other.

Counts come from `jiwer` (hits, substitutions, deletions, insertions of each pair of normalised texts); an
empty reference, which jiwer refuses, scores every hypothesis word as an insertion. A source's WER pools its
errors over the reference words of all its scored clips, with a 95% interval from a Poisson bootstrap over
clips (clips differ in length and difficulty, so the clip is the unit that varies). The shared ban rule reads
word-level accuracy, hits / (hits + substitutions + deletions + insertions) (jiwer's 1 - MER, which stays in
[0, 1] where WER does not), through `tasks.consensus.scoring.score_table`.

Agreement between two annotators is their symmetric WER: the word edit distance between their transcripts
(rapidfuzz's Levenshtein, the engine under jiwer, called directly since only the distance is needed) over
the mean of their lengths, pooled over the clips both transcribed.
"""

from __future__ import annotations

from collections.abc import Sequence

import jiwer
import numpy as np
import pyarrow as pa
from rapidfuzz.distance import Levenshtein

__all__ = ["BOOTSTRAP", "edit_counts", "pairwise_wer", "wer_by_source"]

BOOTSTRAP = 200
_STR = pa.string()


def edit_counts(refs: Sequence[str], hyps: Sequence[str]) -> np.ndarray:
    """[n, 4] hits, substitutions, deletions, insertions of each (reference, hypothesis) pair of normalised texts."""
    out = np.zeros((len(refs), 4), np.int64)
    full = [k for k, r in enumerate(refs) if r]
    for k, h in enumerate(hyps):
        if not refs[k]:
            out[k, 3] = len(h.split()) if h else 0
    if full:
        res = jiwer.process_words([refs[k] for k in full], [hyps[k] or "" for k in full])
        for k, chunks in zip(full, res.alignments):
            for ch in chunks:
                r, h = ch.ref_end_idx - ch.ref_start_idx, ch.hyp_end_idx - ch.hyp_start_idx
                if ch.type == "equal":
                    out[k, 0] += r
                elif ch.type == "substitute":
                    out[k, 1] += r
                elif ch.type == "delete":
                    out[k, 2] += r
                else:
                    out[k, 3] += h
    return out


def _interval(errors: np.ndarray, words: np.ndarray, group: np.ndarray, n_groups: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """95% Poisson-bootstrap interval of errors / words per group (rows are clips)."""
    rng = np.random.default_rng(seed)
    low, high = np.full(n_groups, np.nan), np.full(n_groups, np.nan)
    if not len(errors):
        return low, high
    w = rng.poisson(1.0, size=(BOOTSTRAP, len(errors)))
    for g in range(n_groups):
        m = group == g
        e = (w[:, m] * errors[m]).sum(axis=1)
        n = (w[:, m] * words[m]).sum(axis=1)
        ok = n > 0
        if ok.any():
            low[g], high[g] = np.quantile(e[ok] / n[ok], [0.025, 0.975])
    return low, high


def wer_by_source(source: pa.Array, counts: np.ndarray) -> pa.Table:
    """Per source: scored clips, hits / substitutions / deletions / insertions, WER with its interval,
    and word accuracy (hits over all edit operations, the ban rule's measure)."""
    enc = source.cast(_STR).dictionary_encode()
    idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    m = len(enc.dictionary)
    tot = np.stack([np.bincount(idx, counts[:, c], minlength=m) for c in range(4)], axis=1) if m else np.zeros((0, 4))
    ref_words = tot[:, 0] + tot[:, 1] + tot[:, 2]
    errors = tot[:, 1] + tot[:, 2] + tot[:, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        wer = np.where(ref_words > 0, errors / np.where(ref_words > 0, ref_words, 1), np.nan)
    low, high = _interval(counts[:, 1:].sum(axis=1).astype(float), counts[:, :3].sum(axis=1).astype(float), idx, m)
    return pa.table({"source_id": enc.dictionary, "n_clips": pa.array(np.bincount(idx, minlength=m).astype(np.int64)),
                     "hits": pa.array(tot[:, 0].astype(np.int64)), "substitutions": pa.array(tot[:, 1].astype(np.int64)),
                     "deletions": pa.array(tot[:, 2].astype(np.int64)), "insertions": pa.array(tot[:, 3].astype(np.int64)),
                     "wer": pa.array(wer, mask=np.isnan(wer)), "wer_low": pa.array(low, mask=np.isnan(low)),
                     "wer_high": pa.array(high, mask=np.isnan(high))})


def pairwise_wer(item: np.ndarray, source: np.ndarray, source_ids: Sequence[str], texts: Sequence[str]) -> dict:
    """JSON-ready symmetric WER per pair of sources that transcribed the same clips, their mean, the pooled one.

    `item`, `source`: codes per answer; `texts`: the answers' normalised texts."""
    item, source = np.asarray(item, np.int64), np.asarray(source, np.int64)
    order = np.lexsort((source, item))
    a_list, b_list = [], []
    starts = np.flatnonzero(np.r_[True, item[order][1:] != item[order][:-1]]) if len(order) else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(order)]
    for s0, e0 in zip(starts, ends):
        g = order[s0:e0]
        for x in range(len(g)):
            for y in range(x + 1, len(g)):
                if source[g[x]] != source[g[y]]:
                    a_list.append(g[x])
                    b_list.append(g[y])
    if not a_list:
        return {"n_pairs": 0, "n_items": 0, "wer": None, "mean_pair_wer": None, "pairs": []}
    a, b = np.array(a_list), np.array(b_list)
    words = [t.split() if t else [] for t in texts]
    errors = np.array([Levenshtein.distance(words[x], words[y]) for x, y in zip(a, b)], np.float64)
    la = np.array([len(words[x]) for x in a], np.float64)
    lb = np.array([len(words[y]) for y in b], np.float64)
    sa, sb = np.minimum(source[a], source[b]), np.maximum(source[a], source[b])
    n_src = len(source_ids)
    keys, pair = np.unique(sa * n_src + sb, return_inverse=True)
    err = np.bincount(pair, errors, minlength=len(keys))
    length = np.bincount(pair, (la + lb) / 2, minlength=len(keys))
    clips = np.bincount(pair, minlength=len(keys))
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(length > 0, err / np.where(length > 0, length, 1), 0.0)
    rows = [{"source_a": source_ids[int(k // n_src)], "source_b": source_ids[int(k % n_src)], "n_items": int(n),
             "wer": round(float(x), 6)} for k, n, x in zip(keys, clips, w)]
    rows.sort(key=lambda r: (-r["wer"], r["source_a"], r["source_b"]))
    total = float(length.sum())
    return {"n_pairs": len(keys), "n_items": len(np.unique(item[a])),
            "wer": round(float(err.sum()) / total, 6) if total else 0.0,
            "mean_pair_wer": round(float(w.mean()), 6), "pairs": rows}
