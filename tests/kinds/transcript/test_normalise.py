"""The comparison rule: what "the same words" means for consensus, agreement, gold WER and the gate."""

import pyarrow as pa
import pytest

from tasks.kinds.transcript.normalise import (
    Normaliser,
    digits_to_words,
    normaliser,
    words_to_digits,
)


@pytest.mark.parametrize(("typed", "compared"), [
    ("Twenty-one cats, sir!", "21 cats sir"),
    ("21 cats sir", "21 cats sir"),
    ("one hundred and five", "105"),
    ("two thousand twenty", "2020"),
    ("nineteen eighty four", "19 84"),            # a year said in pairs stays two numbers
    ("one two three", "1 2 3"),                   # digits read out one by one
    ("I don't know 'quoted' 3.5 1,000,000.", "i don't know quoted 3.5 1000000"),
    ("Cafe\u0301  ONE\ttwo", "caf\u00e9 1 2"),     # NFC: e + combining accent is one letter
    ("it\u2019s fine", "it's fine"),              # a curly apostrophe is an apostrophe
    ("a hundred and", "a hundred and"),           # no number without a leading count
    ("", ""),
])
def test_default_rule(typed, compared):
    assert Normaliser().one(typed) == compared


def test_numbers_as_words_and_kept():
    assert Normaliser(numbers="words").one("I have 21 cats and 1000000 dogs, 3.5 kg") == \
        "i have twenty one cats and one million dogs 3.5 kg"
    assert Normaliser(numbers="keep").one("Twenty-one 21") == "twenty one 21"


def test_case_and_punctuation_can_be_kept():
    assert Normaliser(lowercase=False).one("Twenty One Cats") == "21 Cats"
    assert Normaliser(strip_punctuation=False, numbers="keep").one("Hi, there!") == "hi, there!"


def test_words_and_digits_round_trip():
    for n in (0, 7, 13, 40, 99, 100, 105, 999, 1000, 2020, 99_999, 1_000_001, 123_456_789):
        assert words_to_digits(digits_to_words(n)) == str(n)


def test_column_wise_equals_one_by_one_and_keeps_nulls():
    texts = ["Twenty one", None, "no numbers here", "It's 5 o'clock", ""]
    col = Normaliser().normalise(pa.array(texts, pa.string())).to_pylist()
    assert col == [None if t is None else Normaliser().one(t) for t in texts]
    assert col[1] is None


def test_rule_from_options_and_bad_mode():
    assert normaliser({"numbers": "keep", "lowercase": False}) == Normaliser(lowercase=False, numbers="keep")
    with pytest.raises(ValueError, match="numbers"):
        Normaliser(numbers="roman")
