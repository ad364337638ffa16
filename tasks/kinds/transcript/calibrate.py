"""The clip confidence checked on crowds drawn from the fitted model (a parametric bootstrap), and mapped to its worth.

A clip's raw confidence multiplies its columns' posteriors as if each were exact and independent. They are
neither: the profiles are learned by EM from the very answers they then judge, so where one source typed a
word and the others typed nothing, the learned delete and insert rates decide the column more sharply than
the evidence allows; and the alignment itself can put a word in the wrong column. Word by word the error is
small, but a clip multiplies a dozen of them, and the raw clip confidence runs about 0.1 too high.

The check: take a fixed sample of clips, treat their consolidated transcripts as truths, and let each of the
clip's own sources type them again with its learned rates (right, left out, swapped for a word drawn from
the said-word shares, an extra word drawn from the inserted-word shares; vote.py learns both). Consolidate
these synthetic crowds by exactly the same procedure (both passes, EM from the same start), and fit the
shared confidence map (Platt scaling plus the certified tail, tasks/consensus/calibration.py) on whether each
synthetic clip came out exactly right. The map never raises a confidence. Gold is not needed; where gold or
adjudicated clips exist they pin their own networks and teach the profiles the bootstrap draws from.
"""

from __future__ import annotations

import numpy as np

from tasks.consensus.calibration import GoldCalibration, fit_gold_calibration

from . import rover as _rover
from .align import NULL
from .vote import Profiles, Vote

__all__ = ["BOOTSTRAP_CLIPS", "bootstrap_calibration"]

BOOTSTRAP_CLIPS = 4000
"""Synthetic clips the map is fitted on: enough for a smooth map, a fraction of a second to consolidate."""
_MIN_CLIPS = 50


def _draw(p: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(len(p), size=n, p=p / p.sum())


def synthetic_crowd(truth: np.ndarray, truth_len: np.ndarray, a_clip: np.ndarray, a_src: np.ndarray, prof: Profiles,
                    said: np.ndarray, inserted: np.ndarray, rng: np.random.Generator):
    """(starts, lengths, word ids) of answers re-typing their clip's truth (`truth` words, `truth_len` per clip)."""
    off = np.r_[0, np.cumsum(truth_len)]
    n_t = truth_len[a_clip]
    ans_of = np.repeat(np.arange(len(a_clip)), n_t)
    pos = np.arange(int(n_t.sum())) - np.repeat(np.r_[0, np.cumsum(n_t)[:-1]], n_t)
    word = truth[off[a_clip][ans_of] + pos]
    src = a_src[ans_of]
    r = rng.random(len(word))
    acc, drop = prof.accuracy[src], prof.accuracy[src] + prof.delete[src]
    swapped = r >= drop
    word = np.where(swapped, 0, word)
    word[swapped] = _draw(said, int(swapped.sum()), rng)
    typed = r < acc
    typed |= swapped
    # An extra word before the first word and after each word, at the source's insert rate.
    gap_ans = np.r_[np.arange(len(a_clip)), ans_of]
    gap_key = np.r_[np.zeros(len(a_clip)), 2 * pos + 2]
    extra = rng.random(len(gap_ans)) < prof.insert[a_src[gap_ans]]
    ans = np.r_[ans_of[typed], gap_ans[extra]]
    key = np.r_[(2 * pos + 1)[typed], gap_key[extra]]
    ids = np.r_[word[typed], _draw(inserted, int(extra.sum()), rng)]
    order = np.lexsort((key, ans))
    lengths = np.bincount(ans, minlength=len(a_clip)).astype(np.int64)
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    return starts, lengths, ids[order].astype(np.int64)


def bootstrap_calibration(v: Vote, item: np.ndarray, source: np.ndarray, votes: np.ndarray, n_items: int,
                          n_sources: int, warm: Profiles | None, max_iter: int) -> GoldCalibration | None:
    """The map of raw clip confidences to how often a clip that sure came out right on the model's own crowds
    (None when fewer than 50 clips have two voting answers: too few to draw a crowd like this one)."""
    rng = np.random.default_rng(0)
    said_col = v.chosen != NULL
    counts = np.bincount(v.column_clip[said_col], minlength=n_items)
    off = np.r_[0, np.cumsum(counts)]
    words = v.chosen[said_col]
    voting = np.flatnonzero(votes)
    eligible = np.flatnonzero(np.bincount(item[voting], minlength=n_items) >= 2)
    if len(eligible) < _MIN_CLIPS or v.said_share is None:
        return None
    pick = np.sort(rng.choice(eligible, min(BOOTSTRAP_CLIPS, len(eligible)), replace=False))
    renum = np.full(n_items, -1, np.int64)
    renum[pick] = np.arange(len(pick))
    ans = voting[renum[item[voting]] >= 0]
    ans = ans[np.argsort(renum[item[ans]], kind="stable")]
    a_clip, a_src = renum[item[ans]], source[ans]
    t_len = counts[pick]
    t_idx = np.repeat(off[pick], t_len) + np.arange(int(t_len.sum())) - np.repeat(np.r_[0, np.cumsum(t_len)[:-1]], t_len)
    truth = words[t_idx]
    starts, lengths, ids = synthetic_crowd(truth, t_len, a_clip, a_src, v.profiles, v.said_share, v.inserted_share, rng)
    out = _rover.consolidate_ids(a_clip, a_src, starts, lengths, ids, np.zeros(len(ans), bool), len(pick), n_sources,
                                 warm, max_iter)
    got = out.chosen != NULL
    g_len = np.bincount(out.column_clip[got], minlength=len(pick))
    right = g_len == t_len
    # Clips of the right length: compare word by word (both sorted by clip, then position).
    same_t = np.repeat(right, t_len)
    same_g = np.repeat(right, g_len)
    wrong = np.bincount(np.repeat(np.arange(len(pick)), t_len)[same_t], truth[same_t] != out.chosen[got][same_g],
                        minlength=len(pick))
    right &= wrong == 0
    return fit_gold_calibration(out.clip_confidence, right.astype(float))
