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

The synthetic crowds make independent errors at the learned rates, so they are easier than a real crowd
(clips of unequal difficulty, an annotator who gives up part way): on a noisy crowd the map stays a little
too sure at the top and too unsure at the bottom. Gold and adjudicated clips check it on the real crowd:
each is also voted as a held-out copy without its accepted transcript, and a Platt correction of the
bootstrap map (slope and intercept, with a prior at the identity so a few clips cannot wreck it) is fitted
on whether the copies came out right. This one may raise a confidence: it answers to outcomes, not to the
model's own sharpness.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.special import expit, logit

from tasks.consensus.calibration import (
    LOGIT_CLIP,
    GoldCalibration,
    fit_gold_calibration,
    fit_platt,
)

from . import rover as _rover
from .align import NULL
from .vote import Profiles, Vote

__all__ = ["BOOTSTRAP_CLIPS", "apply_correction", "bootstrap_calibration", "exactly_right", "gold_check", "gold_correction", "held_out_copies", "without_copies"]

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
    right = exactly_right(out, truth, t_len)
    return fit_gold_calibration(out.clip_confidence, right.astype(float))


def exactly_right(out: Vote, truth: np.ndarray, t_len: np.ndarray) -> np.ndarray:
    """Per clip of `out`: whether its voted words are exactly `truth` (`t_len` words per clip, in clip order)."""
    n = len(t_len)
    got = out.chosen != NULL
    g_len = np.bincount(out.column_clip[got], minlength=n)
    right = g_len == t_len
    # Clips of the right length: compare word by word (both sorted by clip, then position).
    same_t = np.repeat(right, t_len)
    same_g = np.repeat(right, g_len)
    wrong = np.bincount(np.repeat(np.arange(n), t_len)[same_t], truth[same_t] != out.chosen[got][same_g], minlength=n)
    return right & (wrong == 0)


GOLD_PRIOR_CLIPS = 50.0
"""Pseudo-clips of the prior that holds the gold correction at the identity: 20 gold clips move the bootstrap
map a little, a few hundred mostly have their way (the prior is what keeps a few clips from wrecking it)."""


def gold_correction(bootstrap_confidence: np.ndarray, right: np.ndarray,
                    prior_clips: float = GOLD_PRIOR_CLIPS) -> tuple[float, float]:
    """(a, b) of ``sigmoid(a * logit(c) + b)`` that makes the bootstrap-mapped held-out confidences of gold clips
    match how often they came out right: the maximum a posteriori under a Gaussian prior at the identity (1, 0)
    worth `prior_clips` clips (one Bernoulli clip carries at most 1/4 unit of information about a log-odds).
    The slope matters as much as the level: the real crowd's clips differ in difficulty more than the
    bootstrap's, so its confidences are too spread out as well as too high or low."""
    if len(right) == 0:
        return 1.0, 0.0
    return fit_platt(bootstrap_confidence, right.astype(float), prior_clips, min_slope=0.05)


def apply_correction(confidence: np.ndarray, a: float, b: float) -> np.ndarray:
    if a == 1.0 and b == 0.0:
        return confidence
    return expit(a * logit(np.clip(confidence, LOGIT_CLIP, 1 - LOGIT_CLIP)) + b)


def held_out_copies(item: np.ndarray, pinned: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the voting answers to copy, their copy's clip code, the clips copied in copy order) for every clip with
    an accepted transcript and two voting answers; copies are numbered from `n_items` on. A copy is voted with
    everything else but without its accepted transcript: the same profiles, word shares and alignment as any
    clip, so its confidence is what the clip would have had without gold (held out), and whether it came out
    right checks the map on the real crowd."""
    voting = ~pinned
    clips = np.unique(item[pinned])
    clips = clips[np.bincount(item[voting], minlength=n_items)[clips] >= 2]
    renum = np.full(n_items, -1, np.int64)
    renum[clips] = n_items + np.arange(len(clips))
    rows = np.flatnonzero(voting & (renum[item] >= 0))
    return rows, renum[item[rows]], clips


def without_copies(v: Vote, n_items: int) -> tuple[Vote, Vote]:
    """(the vote of the first `n_items` clips, the vote of the held-out copies numbered from 0)."""
    keep = v.column_clip < n_items
    own = replace(v, chosen=v.chosen[keep], confidence=v.confidence[keep], column_clip=v.column_clip[keep],
                  clip_confidence=v.clip_confidence[:n_items])
    copies = replace(v, chosen=v.chosen[~keep], confidence=v.confidence[~keep],
                     column_clip=v.column_clip[~keep] - n_items, clip_confidence=v.clip_confidence[n_items:])
    return own, copies


def gold_check(copies: Vote, clips: np.ndarray, item: np.ndarray, pinned: np.ndarray, starts: np.ndarray,
               lengths: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per held-out copy (of `clips`, in order): whether it came out exactly the clip's accepted transcript."""
    ref = np.flatnonzero(pinned & np.isin(item, clips))
    ref = ref[np.argsort(item[ref], kind="stable")]
    ref = ref[np.r_[True, item[ref][1:] != item[ref][:-1]]]  # one accepted transcript per clip
    t_len = lengths[ref]
    t_idx = np.repeat(starts[ref], t_len) + np.arange(int(t_len.sum())) - np.repeat(np.r_[0, np.cumsum(t_len)[:-1]], t_len)
    return exactly_right(copies, ids[t_idx], t_len)
