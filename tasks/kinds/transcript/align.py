"""ROVER's word transition network, built for many clips at once by progressive alignment over integer word ids.

Per clip, the answers are aligned one after the other (Fiscus 1997): the first answer's words are the
network's first columns; each next answer is aligned to the network by edit distance, where a word costs
nothing against a column that already holds it and 1 otherwise, skipping a column costs nothing when some
earlier answer already left it empty (a null arc) and 1 otherwise, and an extra word costs 1 and opens a new
column in which every earlier answer has a null arc. The order of the answers is the caller's: the most
reliable first, so the network's skeleton is the best transcript.

Clips are aligned in batches of similar length, every clip of a batch in lockstep: one dynamic-programming
row over all clips of the batch is a few numpy operations (a row's left-to-right dependency is a running
minimum, `np.minimum.accumulate`), and so is each backtrace step. No Python object per word is made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NULL", "Network", "align_clips"]

NULL = -1
"""A null arc: the answer has no word at that column (a deletion, or the others' insertion)."""
_CELLS = 6_000_000
"""Dynamic-programming cells per batch (clips x answer length x network length): bounds the memory."""
_MAX_BATCH = 4096


@dataclass
class Network:
    """The aligned networks of all clips, one row per (column, answer) cell.

    `clip`, `column` (position in its clip's network) and `slot` (the answer's position in its clip's
    alignment order) say where a cell is; `answer` is the index of the answer it belongs to, `value` its
    word id or `NULL`. Cells are sorted by clip, column, slot; `n_columns` is per clip."""

    clip: np.ndarray
    column: np.ndarray
    slot: np.ndarray
    answer: np.ndarray
    value: np.ndarray
    n_columns: np.ndarray


def _padded(tokens: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    width = int(lengths.max()) if len(lengths) else 0
    out = np.full((len(starts), width), -9, np.int64)
    if width:
        pos = np.arange(width)
        ok = pos[None, :] < lengths[:, None]
        out[ok] = tokens[(starts[:, None] + pos[None, :])[ok]]
    return out


def _align_one(net: np.ndarray, ncols: np.ndarray, s: int, hyp: np.ndarray, hlen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Align answer `s` (`hyp`, [B, L]) to the networks `net` ([B, C, K], slots < s filled); the grown networks."""
    B, C, K = net.shape
    L = hyp.shape[1]
    prev = net[:, :, :s]
    sub = ~(prev[:, None, :, :] == hyp[:, :, None, None]).any(-1)           # [B, L, C]: 1 = substitution
    delc = ~(prev == NULL).any(-1)                                            # [B, C]: skipping costs 1
    cum = np.zeros((B, C + 1), np.int32)
    np.cumsum(delc, axis=1, out=cum[:, 1:])
    D = np.empty((B, L + 1, C + 1), np.int32)
    D[:, 0, :] = cum
    for i in range(1, L + 1):
        a = np.empty((B, C + 1), np.int32)
        a[:, 0] = D[:, i - 1, 0] + 1
        np.minimum(D[:, i - 1, :-1] + sub[:, i - 1, :], D[:, i - 1, 1:] + 1, out=a[:, 1:])
        D[:, i, :] = cum + np.minimum.accumulate(a - cum, axis=1)
    # Backtrace, every clip one step at a time: a word against a column first, then a skip, then an insertion.
    rows = np.arange(B)
    i, j = hlen.astype(np.int64).copy(), ncols.astype(np.int64).copy()
    steps = L + C
    col = np.full((B, steps), -2, np.int64)
    word = np.full((B, steps), NULL, np.int64)
    n = np.zeros(B, np.int64)
    for _ in range(steps):
        act = (i > 0) | (j > 0)
        if not act.any():
            break
        ii, jj = np.maximum(i - 1, 0), np.maximum(j - 1, 0)
        here = D[rows, i, j]
        diag = act & (i > 0) & (j > 0) & (here == D[rows, ii, jj] + sub[rows, ii, jj])
        skip = act & ~diag & (j > 0) & (here == D[rows, i, jj] + delc[rows, jj])
        ins = act & ~diag & ~skip
        t = n
        col[rows[act], t[act]] = np.where(ins[act], -1, jj[act])
        word[rows[act], t[act]] = np.where(skip[act], NULL, hyp[rows, ii][act])
        i = i - (diag | ins)
        j = j - (diag | skip)
        n = n + act
    width = int(n.max()) if B else 0
    grown = np.full((B, max(width, 1), K), NULL, np.int64)
    b, t = np.nonzero(np.arange(steps)[None, :] < n[:, None])
    dest = n[b] - 1 - t                                                      # the backtrace ran right to left
    src = col[b, t]
    keep = src >= 0
    grown[b[keep], dest[keep], :s] = prev[b[keep], src[keep]]
    grown[b, dest, s] = word[b, t]
    return grown, n


def align_clips(answer_clip: np.ndarray, answer_slot: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                tokens: np.ndarray, n_clips: int) -> Network:
    """The networks of `n_clips` clips from their answers' word ids.

    Answer `a` belongs to clip `answer_clip[a]` at alignment position `answer_slot[a]` (0, 1, ... within its
    clip, no gaps); its words are `tokens[starts[a]: starts[a] + lengths[a]]` (ids >= 0)."""
    answer_clip = np.asarray(answer_clip, np.int64)
    answer_slot = np.asarray(answer_slot, np.int64)
    starts, lengths = np.asarray(starts, np.int64), np.asarray(lengths, np.int64)
    tokens = np.asarray(tokens, np.int64)
    k_of = np.bincount(answer_clip, minlength=n_clips)
    # answer index per (clip, slot)
    order = np.lexsort((answer_slot, answer_clip))
    first = np.zeros(n_clips + 1, np.int64)
    np.cumsum(k_of, out=first[1:])
    longest = np.zeros(n_clips, np.int64)
    np.maximum.at(longest, answer_clip, lengths)
    parts: list[tuple[np.ndarray, ...]] = []
    n_columns = np.zeros(n_clips, np.int64)
    for K in np.unique(k_of[k_of > 0]):
        clips = np.flatnonzero(k_of == K)
        clips = clips[np.argsort(longest[clips], kind="stable")]
        lo = 0
        while lo < len(clips):
            span = int(longest[clips[min(lo + _MAX_BATCH, len(clips)) - 1]]) + 1
            size = max(1, min(_MAX_BATCH, _CELLS // max(1, span * span * K)))
            batch = clips[lo: lo + size]
            lo += size
            ans = order[first[batch][:, None] + np.arange(K)[None, :]]          # [B, K] answer ids by slot
            width = int(lengths[ans].sum(axis=1).max())
            net = np.full((len(batch), max(width, 1), K), NULL, np.int64)
            w0 = _padded(tokens, starts[ans[:, 0]], lengths[ans[:, 0]])
            net[:, : w0.shape[1], 0] = np.where(w0 >= 0, w0, NULL)
            ncols = lengths[ans[:, 0]].copy()
            for s in range(1, int(K)):
                hyp = _padded(tokens, starts[ans[:, s]], lengths[ans[:, s]])
                grown, ncols = _align_one(net[:, : max(int(ncols.max()), 1)], ncols, s, hyp, lengths[ans[:, s]])
                net = np.full((len(batch), max(width, 1), K), NULL, np.int64)
                net[:, : grown.shape[1]] = grown
            n_columns[batch] = ncols
            b, c = np.nonzero(np.arange(net.shape[1])[None, :] < ncols[:, None])
            cells_b = np.repeat(b, K)
            cells_c = np.repeat(c, K)
            cells_s = np.tile(np.arange(K), len(b))
            parts.append((batch[cells_b], cells_c, cells_s, ans[cells_b, cells_s], net[cells_b, cells_c, cells_s]))
    if not parts:
        z = np.zeros(0, np.int64)
        return Network(z, z, z, z, z, n_columns)
    clip, column, slot, answer, value = (np.concatenate(x) for x in zip(*parts))
    o = np.lexsort((slot, column, clip))
    return Network(clip[o], column[o], slot[o], answer[o], value[o], n_columns)
