"""ROVER on hand-computed alignments and votes (align.py, vote.py, rover.py)."""

import numpy as np
import pyarrow as pa

from tasks.kinds.transcript.align import NULL, align_clips
from tasks.kinds.transcript.rover import rover, tokenise


def _network(clips: list[list[str]]) -> list[list[tuple[str, ...]]]:
    """The networks of `clips` (answers aligned in the order given) as rows of words ("-" = null arc)."""
    item = np.array([c for c, answers in enumerate(clips) for _ in answers])
    slot = np.array([s for answers in clips for s in range(len(answers))])
    starts, lengths, ids, vocab = tokenise(pa.array([a for answers in clips for a in answers]))
    net = align_clips(item, slot, starts, lengths, ids, len(clips))
    words = vocab.to_pylist()
    out = []
    for c, answers in enumerate(clips):
        vals = net.value[net.clip == c].reshape(-1, len(answers))
        out.append([tuple("-" if v == NULL else words[v] for v in row) for row in vals])
        assert net.n_columns[c] == len(vals)
    return out


def test_progressive_alignment_by_hand():
    # Clip 0. Network from "the cat sat": [the] [cat] [sat].
    #   + "the cat sat down": three matches (cost 0) and "down" as an extra word (cost 1) opening a column in
    #     which the first answer has a null arc.
    #   + "a cat sat": "a" against {the} is a substitution (1), cat and sat match (0), and the last column
    #     {-, down} is skipped for free since it already holds a null arc: total 1, no other path as cheap.
    # Clip 1. "hello world" + "hello there world": "there" is an insertion between the two matches.
    # Clip 2. "x" + "" (an empty transcript): the empty answer skips the column (a null arc).
    # Clip 3. "a b" + "b c": a/b then b/c costs 2 (two substitutions); skip a, match b, insert c costs 2 too;
    #   the backtrace prefers a word against a column, so the substitution path is taken.
    assert _network([["the cat sat", "the cat sat down", "a cat sat"], ["hello world", "hello there world"],
                     ["x", ""], ["a b", "b c"]]) == [
        [("the", "the", "a"), ("cat", "cat", "cat"), ("sat", "sat", "sat"), ("-", "down", "-")],
        [("hello", "hello"), ("-", "there"), ("world", "world")],
        [("x", "-")],
        [("a", "b"), ("b", "c")],
    ]


def test_a_word_matches_any_word_already_in_its_column():
    # After "red car" + "big car" the first column holds {red, big}; "big car" aligns "big" into it for free,
    # "red" or "big" alike, where a plain pairwise alignment with the first answer would count a substitution.
    assert _network([["red car", "big car", "big car"]]) == [[("red", "big", "big"), ("car", "car", "car")]]


def _run(clips, pinned=None, n_sources=None):
    item = np.array([c for c, answers in enumerate(clips) for _ in answers])
    source = np.array([s for answers in clips for s, _ in answers])
    texts = pa.array([t for answers in clips for _, t in answers])
    pin = np.zeros(len(item), bool) if pinned is None else np.asarray(pinned)
    return rover(item, source, texts, pin, len(clips), n_sources or int(source.max()) + 1)


def test_majority_where_sources_are_alike_and_null_arcs_drop_insertions():
    r = _run([[(0, "the cat sat"), (1, "the cat sat"), (2, "the bat sat")],
              [(0, "hello world"), (1, "hello there world"), (2, "hello world")],
              [(0, "one two"), (1, "one two"), (2, "one two")]])
    assert r.text.to_pylist() == ["the cat sat", "hello world", "one two"]
    conf = r.word_confidence.to_pylist()
    assert conf[0][1] < conf[2][1]                 # "cat" carried 2 of 3, "two" 3 of 3
    assert 0 < r.confidence[0] < r.confidence[2] <= 1


def test_learned_reliability_breaks_a_three_way_split():
    # Source 0 is always right; sources 1 and 2 each get one word wrong per clip (never the same word), so
    # every clip's majority is right and EM learns that 0 is the one to trust. In the last clip all three
    # disagree on the middle word: the reliable source's word wins, whichever id the words have.
    rng = np.random.default_rng(0)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    clips = []
    for _ in range(60):
        truth = list(rng.choice(words, 5, replace=False))
        a, b = truth.copy(), truth.copy()
        i, j = rng.choice(5, 2, replace=False)
        a[i], b[j] = "kilo", "lima"
        clips.append([(0, " ".join(truth)), (1, " ".join(a)), (2, " ".join(b))])
    clips.append([(0, "mike zulu oscar"), (1, "mike alpha oscar"), (2, "mike bravo oscar")])
    r = _run(clips)
    assert r.text.to_pylist()[-1] == "mike zulu oscar"
    assert r.profiles.accuracy[0] > r.profiles.accuracy[1] and r.profiles.accuracy[0] > r.profiles.accuracy[2]


def test_an_accepted_transcript_pins_its_clip_and_teaches_the_profiles():
    # Source 1 is wrong on every clip with a gold transcript; the gold answers (pinned, not voting) make its
    # learned accuracy the lowest, though it agrees with source 2 against source 0 there.
    clips, pinned = [], []
    for k in range(20):
        clips.append([(0, f"w{k} a b"), (1, f"w{k} x b"), (2, f"w{k} x b"), (0, f"w{k} a b")])
        pinned += [False, False, False, True]
    r = _run(clips, pinned, n_sources=3)
    assert r.text.to_pylist()[0] == "w0 a b"
    assert r.profiles.accuracy[0] > max(r.profiles.accuracy[1], r.profiles.accuracy[2])
