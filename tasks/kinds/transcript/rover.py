"""ROVER over normalised transcripts: tokens to word ids, the networks (align.py), the weighted vote (vote.py).

Pure and columnar: answers come as codes and an Arrow column of normalised texts, results go back as Arrow
columns, so the consensus facet and the benchmark call the same code on 300k transcripts without a Python
object per word.

Two passes: the first aligns the answers of a fixed sample of clips in source order and learns the sources'
profiles; the second re-aligns every clip's answers most reliable first (the network's skeleton is then the best transcript, which is
what progressive alignment needs) and votes again from the learned profiles. An accepted transcript
(gold, adjudication) of a clip always goes first and pins the truth (vote.py). The clips' raw confidences
are then mapped to what they are worth on crowds drawn from the fitted model (calibrate.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import calibrate as _calibrate
from .align import NULL, align_clips
from .vote import Profiles, Vote, vote

__all__ = ["RoverResult", "rover", "tokenise"]

_STR = pa.string()
FIRST_PASS_CLIPS = 20_000
"""Clips the first pass learns the profiles from (a fixed random sample): the second pass refines them on all."""


@dataclass
class RoverResult:
    """Per clip: the consolidated normalised text, its words and their confidences, the clip's confidence."""

    text: pa.Array
    words: pa.Array
    word_confidence: pa.Array
    confidence: np.ndarray
    profiles: Profiles
    n_iter: int
    converged: bool


def tokenise(normalised: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
    """(starts, lengths, word ids, vocabulary) of normalised texts (null or "" has no words)."""
    t = pc.fill_null(normalised.cast(_STR), "")
    toks = pc.utf8_split_whitespace(t)
    n = pc.list_value_length(toks).to_numpy(zero_copy_only=False).astype(np.int64)
    empty = pc.equal(t, "").to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(toks)
    keep = pc.not_equal(flat, "")
    flat = flat.filter(keep)
    lengths = np.where(empty, 0, n)
    starts = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:]) if len(lengths) > 1 else None
    enc = flat.dictionary_encode() if len(flat) else pa.array([], _STR).dictionary_encode()
    return starts, lengths, enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary


def _slots(item: np.ndarray, pinned: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Each answer's position in its clip's alignment order: the accepted transcript, then by `rank` (low first)."""
    order = np.lexsort((rank, ~pinned, item))
    first = np.r_[True, item[order][1:] != item[order][:-1]] if len(order) else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    slot = np.empty(len(order), np.int64)
    slot[order] = np.arange(len(order)) - start
    return slot


def consolidate_ids(item: np.ndarray, source: np.ndarray, starts: np.ndarray, lengths: np.ndarray, ids: np.ndarray,
                    pinned: np.ndarray, n_items: int, n_sources: int, warm: Profiles | None, max_iter: int) -> Vote:
    """Both passes over answers given as word ids (`ids[starts[a]: starts[a] + lengths[a]]` for answer a)."""
    votes = ~pinned
    prof = warm
    if prof is None:
        # First pass on a fixed sample of clips (enough to learn every profile), in source order.
        pick = np.zeros(n_items, bool)
        pick[np.random.default_rng(0).permutation(n_items)[:FIRST_PASS_CLIPS]] = True
        sub = pick[item]
        renum = np.cumsum(pick) - 1
        net = align_clips(renum[item[sub]], _slots(renum[item[sub]], pinned[sub], source[sub]), starts[sub], lengths[sub],
                          ids, int(pick.sum()))
        prof = vote(net, renum[item[sub]], source[sub], n_sources, votes[sub], int(pick.sum()), max_iter=max_iter).profiles
    rank = np.argsort(np.argsort(-prof.accuracy, kind="stable"), kind="stable")
    net = align_clips(item, _slots(item, pinned, rank[source] * n_sources + source), starts, lengths, ids, n_items)
    return vote(net, item, source, n_sources, votes, n_items, warm=prof, max_iter=max_iter)


def rover(item: np.ndarray, source: np.ndarray, normalised: pa.Array, pinned: np.ndarray, n_items: int,
          n_sources: int, warm: Profiles | None = None, max_iter: int = 50, calibrate: bool = True) -> RoverResult:
    """Consolidate the answers (`item`, `source` codes per answer; `pinned`: accepted transcripts, which
    vote not but fix the truth) of `n_items` clips. `warm`: profiles of a previous run, in source codes.
    `calibrate`: map the clips' confidences through the self-check (calibrate.py)."""
    item = np.asarray(item, np.int64)
    source = np.asarray(source, np.int64)
    pinned = np.asarray(pinned, bool)
    starts, lengths, ids, vocab = tokenise(normalised)
    # Clips with an accepted transcript are also voted as held-out copies, without it (calibrate.py).
    rows, copy_item, gold_clips = (_calibrate.held_out_copies(item, pinned, n_items) if calibrate
                                   else (np.zeros(0, np.int64),) * 3)
    v = consolidate_ids(np.r_[item, copy_item], np.r_[source, source[rows]], np.r_[starts, starts[rows]],
                        np.r_[lengths, lengths[rows]], ids, np.r_[pinned, np.zeros(len(rows), bool)],
                        n_items + len(gold_clips), n_sources, warm, max_iter)
    v, copies = _calibrate.without_copies(v, n_items)
    clip_conf = v.clip_confidence
    if calibrate:
        cal = _calibrate.bootstrap_calibration(v, item, source, ~pinned, n_items, n_sources, warm, max_iter)
        clip_conf = cal.apply(clip_conf) if cal is not None else clip_conf
        if len(gold_clips):
            # The held-out copies check the bootstrap map on the real crowd and correct it where gold says so.
            g_conf = copies.clip_confidence if cal is None else cal.apply(copies.clip_confidence)
            g_right = _calibrate.gold_check(copies, gold_clips, item, pinned, starts, lengths, ids)
            clip_conf = _calibrate.apply_correction(clip_conf, *_calibrate.gold_correction(g_conf, g_right))
    said = v.chosen != NULL
    clip_of_word = v.column_clip[said]
    offsets = np.zeros(n_items + 1, np.int32)
    np.cumsum(np.bincount(clip_of_word, minlength=n_items), out=offsets[1:])
    words = pa.ListArray.from_arrays(pa.array(offsets), pc.take(vocab, pa.array(v.chosen[said])) if len(vocab) else pa.array([], _STR))
    conf = pa.ListArray.from_arrays(pa.array(offsets), pa.array(np.round(v.confidence[said], 4)))
    text = pc.binary_join(words, " ")
    return RoverResult(text, words, conf, clip_conf, v.profiles, v.n_iter, v.converged)
