"""The bootstrap behind the clip confidence: synthetic crowds re-type a truth at the learned rates."""

import numpy as np

from tasks.kinds.transcript.calibrate import synthetic_crowd
from tasks.kinds.transcript.vote import Profiles

TRUTH = np.array([5, 6, 7, 8, 1, 2])   # clip 0: 5 6 7 8; clip 1: 1 2
T_LEN = np.array([4, 2])
A_CLIP = np.array([0, 0, 1])
A_SRC = np.array([0, 1, 1])
SAID = np.r_[np.zeros(9), 1.0]          # a swapped word is always 9
INSERTED = np.r_[1.0, np.zeros(9)]      # an extra word is always 0


def _answers(starts, lengths, ids):
    return [ids[s: s + n].tolist() for s, n in zip(starts, lengths)]


def test_a_perfect_source_retypes_the_truth_and_rates_show():
    rng = np.random.default_rng(0)
    perfect = Profiles(np.ones(2), np.zeros(2), np.zeros(2), np.zeros(2))
    assert _answers(*synthetic_crowd(TRUTH, T_LEN, A_CLIP, A_SRC, perfect, SAID, INSERTED, rng)) == [[5, 6, 7, 8]] * 2 + [[1, 2]]
    # Source 0 drops everything; source 1 swaps every word and adds an extra word in every gap.
    odd = Profiles(np.zeros(2), np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.0, 1.0 - 1e-12]))
    got = _answers(*synthetic_crowd(TRUTH, T_LEN, A_CLIP, A_SRC, odd, SAID, INSERTED, rng))
    assert got == [[], [0, 9, 0, 9, 0, 9, 0, 9, 0], [0, 9, 0, 9, 0]]


def test_rates_are_drawn_per_word():
    rng = np.random.default_rng(1)
    truth = np.arange(10, 10 + 4000) % 50 + 10
    prof = Profiles(np.array([0.8]), np.array([0.2]), np.array([0.0]), np.array([0.1]))
    said, inserted = np.r_[np.zeros(60)], np.r_[1.0, np.zeros(59)]
    said[20] = 1.0
    ids = synthetic_crowd(truth, np.array([4000]), np.array([0]), np.array([0]), prof, said, inserted, rng)[2]
    assert 0.77 < (ids != 0).sum() / 4000 < 0.83     # 20% of the words dropped
    assert 0.08 < (ids == 0).sum() / 4001 < 0.12     # 0.1 extra words per gap
