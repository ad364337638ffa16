"""Voting in the word transition network, weighted by each source's learned reliability (EM over positions).

Every column of a clip's network (align.py) asks one question: which word was said here, or none? The
candidates are the words the answers put in the column, "no word" (null), and "a word nobody wrote". Each
source has a reliability profile learned from all columns of all clips at once:

    a word w was said:   it types w (`accuracy`), leaves it out (`delete`), or types another word
                         (`substitute`), one of `ALTERNATIVES` equally likely ones;
    nothing was said:    it types a word (`insert`) or nothing.

Two sources agreeing on the same wrong word is therefore rare, as in real transcripts. Where nothing was
said, the first word typed in the column may be any (its "which word" weighs as much on the hypothesis
that the word was said, and cancels) while every further word there is one particular word among
`ALTERNATIVES`. And a column exists only because some answer has a word in it: under "nothing was said"
the cells are seen given that at least one source typed a word, and the all-silent columns, never in the
network, are counted back when the insertion rates are learned. Without these two, "nothing was said,
everyone inserted" explains every disagreement, and EM drifts there.

Which word it is is evidence too: people type fillers ("um", "uh") and repeats where nothing was said, far
more than they say them. EM learns each word's share of the words said and of the words typed where
nothing was, and a candidate word weighs by the ratio (shrunk toward the word's share of all typed words).
Where three sources typed three different words, the real word then beats a filler that the alignment
happened to put in the same column.

EM alternates the column posteriors (E) and each source's expected outcome counts, smoothed by a weak
prior (M). Columns of gold and adjudicated clips are pinned to the accepted transcript's word (it is aligned
into the network first and never votes), so they teach the profiles without being guessed.

The consolidated transcript takes, per column, the word or null with the highest posterior. A word's
confidence is its posterior; a clip's confidence is the probability its whole normalised transcript is
right: the product of its columns' posteriors times the chance that no word was missed by every source
(the expected number of such words is the transcript's length x q / (1 - q), q the product of the clip's
sources' delete rates). That raw product runs high (rover.py maps it, calibrate.py). Everything is
bincounts over the cells: 5M cells take a fraction of a second per
iteration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .align import NULL, Network

__all__ = ["ALTERNATIVES", "Profiles", "Vote", "vote"]

ALTERNATIVES = 10.0
"""How many wrong words a source chooses among when it types a wrong one (see the module docstring)."""
_PRIOR_SAID = np.array([8.0, 1.0, 1.0])   # pseudo-counts of right, deleted, substituted where a word was said
_PRIOR_QUIET = np.array([0.5, 9.5])       # pseudo-counts of inserted, silent where nothing was said
_FLOOR = 1e-4
_SHRINK = 20.0
"""Pseudo-count pulling a word's said / inserted shares toward its typed share (rare words: no evidence)."""


@dataclass
class Profiles:
    """Per source (by code): the probabilities of the model in the module docstring; `accuracy` ranks sources."""

    accuracy: np.ndarray
    delete: np.ndarray
    substitute: np.ndarray
    insert: np.ndarray
    word_prior: float = 0.9

    @classmethod
    def initial(cls, n_sources: int) -> Profiles:
        said, quiet = _PRIOR_SAID / _PRIOR_SAID.sum(), _PRIOR_QUIET / _PRIOR_QUIET.sum()
        return cls(np.full(n_sources, said[0]), np.full(n_sources, said[1]), np.full(n_sources, said[2]),
                   np.full(n_sources, quiet[0]))


@dataclass
class Vote:
    """The outcome per column (`chosen`: word id or NULL, `confidence`: its posterior) and per clip, and the fit."""

    chosen: np.ndarray
    confidence: np.ndarray
    column_clip: np.ndarray
    clip_confidence: np.ndarray
    profiles: Profiles
    n_iter: int
    converged: bool
    said_share: np.ndarray | None = None
    """Per word id: its share of the words said (of the columns voted a word), learned with the profiles."""
    inserted_share: np.ndarray | None = None
    """Per word id: its share of the words typed where nothing was said (fillers, repeats)."""


def vote(net: Network, answer_clip: np.ndarray, source: np.ndarray, n_sources: int, votes: np.ndarray, n_clips: int,
         warm: Profiles | None = None, max_iter: int = 50, tol: float = 1e-3) -> Vote:
    """Vote every column of `net`. Answer a belongs to clip `answer_clip[a]`; `source[a]` is its source code;
    `votes[a]` is False for an accepted transcript (gold, adjudication) aligned into the network: its cells
    pin their column instead of voting."""
    # Columns: one id per (clip, column); cells are sorted by clip, column, slot.
    key = net.clip * (int(net.n_columns.max(initial=0)) + 1) + net.column
    new_col = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, bool)
    col = np.cumsum(new_col) - 1
    n_cols = int(col[-1]) + 1 if len(col) else 0
    column_clip = net.clip[new_col]
    is_vote = votes[net.answer]
    v_col, v_val, v_src = col[is_vote], net.value[is_vote], source[net.answer[is_vote]]
    word = v_val != NULL
    # Word candidates: distinct (column, word) among the votes and the pins.
    pin = ~is_vote
    p_col, p_val = col[pin], net.value[pin]
    ck = np.concatenate([v_col[word] * (1 << 31) + v_val[word], p_col[p_val != NULL] * (1 << 31) + p_val[p_val != NULL]])
    cands, inv = np.unique(ck, return_inverse=True)
    cand_col = cands >> 31
    cand_val = cands & ((1 << 31) - 1)
    cell_cand = np.full(len(v_col), -1, np.int64)
    cell_cand[word] = inv[: int(word.sum())]
    pinned_cand = inv[int(word.sum()):]
    # The pinned truth per column: 0 = not pinned, 1 = null, 2 = word (candidate index in pin_cand).
    pinned = np.zeros(n_cols, np.int8)
    pin_cand = np.full(n_cols, -1, np.int64)
    pinned[p_col] = np.where(p_val == NULL, 1, 2)
    pin_cand[p_col[p_val != NULL]] = pinned_cand
    prof = warm if warm is not None and len(warm.accuracy) == n_sources else Profiles.initial(n_sources)
    n_c = len(cands)
    seg_start = np.flatnonzero(np.r_[True, cand_col[1:] != cand_col[:-1]]) if n_c else np.zeros(0, np.int64)
    seg_col = cand_col[seg_start]
    converged = False
    it = 0
    pc_ = pinned > 0
    extra_words = np.maximum(np.bincount(v_col[word], minlength=n_cols) - 1, 0) * np.log(ALTERNATIVES)
    n_vocab = int(max(v_val.max(initial=-1), cand_val.max(initial=-1))) + 1
    typed_w = v_val[word]
    base_w = np.bincount(typed_w, minlength=n_vocab) / max(int(word.sum()), 1)   # how often each word is typed
    said_as = np.zeros(n_c)                # log P(w | a word said) - log P(w | a word inserted), per candidate
    said_w = ins_w = base_w
    for it in range(1, max_iter + 1):
        right, dropped = np.log(prof.accuracy)[v_src], np.log(prof.delete)[v_src]
        swapped = np.log(prof.substitute / ALTERNATIVES)[v_src]
        ins = prof.insert[v_src]
        # Likewise a word every source left out is in no column: under "a word was said" the cells are seen
        # given that not every source dropped it.
        lost = np.minimum(np.exp(np.bincount(v_col, dropped, minlength=n_cols)), 1 - 1e-12)
        base = np.bincount(v_col, np.where(word, swapped, dropped), minlength=n_cols) - np.log1p(-lost)
        quiet = np.minimum(np.exp(np.bincount(v_col, np.log1p(-ins), minlength=n_cols)), 1 - 1e-12)
        null_ll = (np.bincount(v_col, np.where(word, np.log(ins), np.log1p(-ins)), minlength=n_cols) - extra_words
                   - np.log1p(-quiet) + np.log(1 - prof.word_prior))
        cand_ll = (base[cand_col] + np.bincount(cell_cand[word], (right - swapped)[word], minlength=n_c)
                   + np.log(prof.word_prior) + said_as)
        other_ll = base + np.log(prof.word_prior)
        top = np.maximum(null_ll, other_ll)
        if n_c:  # candidates are sorted by column: one reduceat gives each column's best
            top[seg_col] = np.maximum(top[seg_col], np.maximum.reduceat(cand_ll, seg_start))
        cand_p = np.exp(cand_ll - top[cand_col])
        null_p = np.exp(null_ll - top)
        other_p = np.exp(other_ll - top)
        z = null_p + other_p + np.bincount(cand_col, cand_p, minlength=n_cols)
        cand_p /= z[cand_col]
        null_p /= z
        other_p /= z
        if pc_.any():  # pins: the accepted transcript's word (or null) is the truth
            cand_p[pinned[cand_col] > 0] = 0.0
            null_p[pc_] = (pinned[pc_] == 1).astype(float)
            other_p[pc_] = 0.0
            cand_p[pin_cand[pinned == 2]] = 1.0
        # M: each source's expected outcomes; the unseen columns count too: q / (1 - q) of them per seen one,
        # all-silent where nothing was said, all-dropped where a word was.
        p_null = null_p[v_col]
        p_right = np.where(word, cand_p[np.maximum(cell_cand, 0)], 0.0)

        def total(x):
            return np.bincount(v_src, x, minlength=n_sources)

        unseen = (1 - p_null) * lost[v_col] / (1 - lost[v_col])   # the words every source dropped, per cell
        said = np.stack([total(p_right), total(np.where(word, 0.0, 1 - p_null) + unseen),
                         total(np.where(word, 1 - p_null - p_right, 0.0))], axis=1) + _PRIOR_SAID
        said = np.clip(said / said.sum(axis=1, keepdims=True), _FLOOR, 1 - _FLOOR)
        typed = total(np.where(word, p_null, 0.0)) + _PRIOR_QUIET[0]
        insert = np.clip(typed / (total(p_null / (1 - quiet[v_col])) + _PRIOR_QUIET.sum()), _FLOOR, 1 - _FLOOR)
        # Which words are said and which are typed where nothing was (fillers, repeats): each word's share of
        # the said words over its share of the inserted ones, both shrunk toward how often it is typed at all.
        said_w = (np.bincount(cand_val, cand_p, minlength=n_vocab) + _SHRINK * base_w) / (cand_p.sum() + _SHRINK)
        ins_w = (np.bincount(typed_w, p_null[word], minlength=n_vocab) + _SHRINK * base_w) / (p_null[word].sum() + _SHRINK)
        said_as = np.log((said_w[cand_val] + 1e-12) / (ins_w[cand_val] + 1e-12))   # + 1e-12: words only gold has
        new = Profiles(said[:, 0], said[:, 1], said[:, 2], insert,
                       float(np.clip((n_cols - null_p.sum() + 1) / (n_cols + 2), 0.05, 0.995)))
        moved = max(float(np.abs(new.accuracy - prof.accuracy).max(initial=0)),
                    float(np.abs(new.insert - prof.insert).max(initial=0)))
        prof = new
        if moved < tol:
            converged = True
            break
    # Decision per column: the likeliest of its words and null ("a word nobody wrote" cannot be written).
    best_word = np.full(n_cols, -1.0)
    if n_c:
        best_word[seg_col] = np.maximum.reduceat(cand_p, seg_start)
    is_best = cand_p == best_word[cand_col]
    best_cand = np.full(n_cols, -1, np.int64)
    idx = np.flatnonzero(is_best)
    best_cand[cand_col[idx[::-1]]] = idx[::-1]          # the first candidate (smallest word id) on ties
    take_word = (best_cand >= 0) & (best_word > null_p)
    chosen = np.where(take_word, cand_val[np.maximum(best_cand, 0)], NULL)
    confidence = np.where(take_word, best_word, null_p)
    # Clip confidence: every column right, and no word every source missed.
    log_conf = np.bincount(column_clip, np.log(np.maximum(confidence, 1e-300)), minlength=n_clips)
    n_words = np.bincount(column_clip, take_word.astype(float), minlength=n_clips)
    ans_clip = np.asarray(answer_clip, np.int64)
    voted = np.flatnonzero(votes)
    log_q = np.bincount(ans_clip[voted], np.log(prof.delete[source[voted]]), minlength=n_clips)
    q = np.exp(log_q)
    missed = np.maximum(n_words, 1.0) * q / np.maximum(1 - q, 1e-12)
    clip_conf = np.exp(log_conf - missed)
    return Vote(chosen, confidence, column_clip, clip_conf, prof, it, converged, said_w, ins_w)
