"""Phrase-list and regex span LFs evaluated inside DuckDB: offsets in code points, whole words, case, bad rules."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from tasks.errors import ConfigError
from tasks.kinds.spans.lfs import apply_sql_span_lfs, load_span_lfs
from tasks.kinds.spans.options import SpanOptions

LABELS = ["location", "person", "product"]
TEXTS = {
    "accents": "Zürich et Genève, puis zurich!",
    "emoji": "👨‍👩‍👧 in New York 😀 then new york, NEW YORK.",
    "glued": "Yorkshire, NewYork and York-based; York_x York",
    "nothing": "no entity here",
    "none": None,
}


def _run(tmp_path: Path, lfs: list[dict]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """{(item, lf): [(matched text, label), ...]} from a real DuckDB file, offsets checked against Python slicing."""
    specs = load_span_lfs(SpanOptions.model_validate({"lfs": lfs}), LABELS, tmp_path)
    con = duckdb.connect(str(tmp_path / "state.duckdb"))
    con.execute("CREATE TABLE items (item_id VARCHAR, payload VARCHAR)")
    con.executemany("INSERT INTO items VALUES (?, ?)", list(TEXTS.items()))
    votes = apply_sql_span_lfs(con, specs)
    out = {}
    for r in votes.to_pylist():
        text = TEXTS[r["item_id"]]
        spans = json.loads(r["answer"])
        assert spans == sorted(spans, key=lambda s: (s["start"], s["end"], s["label"]))
        assert r["source_version"] == next(s.version for s in specs if s.source_id == r["source_id"])
        out[(r["item_id"], r["source_id"])] = [(text[s["start"]:s["end"]], s["label"]) for s in spans]
    return out


def test_phrases_case_insensitive_whole_word_with_accents_and_emoji(tmp_path: Path) -> None:
    got = _run(tmp_path, [{"name": "cities", "label": "location", "phrases": ["New York", "York", "Zürich", "Genève"]}])
    assert got[("accents", "lf:cities")] == [("Zürich", "location"), ("Genève", "location")]  # "zurich" lacks the umlaut
    # the ZWJ family emoji is 5 code points and 😀 one: offsets must count code points as Python does
    assert got[("emoji", "lf:cities")] == [("New York", "location"), ("new york", "location"), ("NEW YORK", "location")]
    # "Yorkshire", "NewYork" and "York_x" are glued to other word characters; "York-based" is not
    assert got[("glued", "lf:cities")] == [("York", "location"), ("York", "location")]
    assert ("nothing", "lf:cities") not in got and ("none", "lf:cities") not in got  # abstains, no vote


def test_accent_is_not_folded_and_case_sensitive_option(tmp_path: Path) -> None:
    got = _run(tmp_path, [{"name": "z", "label": "location", "phrases": ["Zürich"], "case_sensitive": True},
                          {"name": "ny", "label": "location", "phrases": ["New York"], "case_sensitive": True}])
    assert got[("accents", "lf:z")] == [("Zürich", "location")]  # "zurich" has no umlaut and no capital
    assert got[("emoji", "lf:ny")] == [("New York", "location")]


def test_regex_and_overlapping_lfs(tmp_path: Path) -> None:
    got = _run(tmp_path, [
        {"name": "capitalised", "label": "person", "regex": r"\p{Lu}\p{Ll}+", "case_sensitive": True},
        {"name": "cities", "label": "location", "phrases": ["New York"]},
        {"name": "substr", "label": "product", "regex": "ork", "whole_word": False},
    ])
    assert got[("accents", "lf:capitalised")] == [("Zürich", "person"), ("Genève", "person")]
    assert got[("emoji", "lf:capitalised")] == [("New", "person"), ("York", "person")]
    assert got[("emoji", "lf:substr")] == [("ork", "product"), ("ork", "product"), ("ORK", "product")]  # inside words, any case
    # two LFs may mark overlapping spans of different types: each keeps its own vote
    assert got[("emoji", "lf:cities")][0] == ("New York", "location")


@pytest.mark.parametrize(("lf", "message"), [
    ({"name": "bad", "label": "location", "regex": "(unclosed"}, "'bad': regex does not compile"),
    ({"name": "empty", "label": "location", "regex": "x*"}, "'empty': the rule matches the empty text"),
    ({"name": "alien", "label": "planet", "phrases": ["Mars"]}, "'alien': label 'planet' is not one of the entity types"),
])
def test_bad_rules_are_config_errors_naming_the_lf(tmp_path: Path, lf: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_span_lfs(SpanOptions.model_validate({"lfs": [lf]}), LABELS, tmp_path)


def test_a_rule_needs_exactly_one_body() -> None:
    with pytest.raises(ValueError, match="give exactly one of phrases, regex, python"):
        SpanOptions.model_validate({"lfs": [{"name": "x", "label": "location", "phrases": ["a"], "regex": "a"}]})
    with pytest.raises(ValueError, match="needs `label`"):
        SpanOptions.model_validate({"lfs": [{"name": "x", "phrases": ["a"]}]})
    with pytest.raises(ValueError, match="repeated: \\['x'\\]"):
        SpanOptions.model_validate({"lfs": [{"name": "x", "label": "a", "phrases": ["a"]}, {"name": "x", "label": "a", "regex": "b"}]})


def test_many_items_one_statement(tmp_path: Path) -> None:
    """Offsets stay right item by item across a larger table (window sums partitioned by item)."""
    con = duckdb.connect(str(tmp_path / "big.duckdb"))
    n = 5000
    con.execute(f"CREATE TABLE items AS SELECT 'i' || i AS item_id, repeat('é ', i % 7) || 'Paris and Paris ' || i AS payload FROM range({n}) t(i)")
    specs = load_span_lfs(SpanOptions.model_validate({"lfs": [{"name": "p", "label": "location", "phrases": ["paris"]}]}), LABELS, tmp_path)
    votes = apply_sql_span_lfs(con, specs)
    assert votes.num_rows == n
    texts = dict(con.execute("SELECT item_id, payload FROM items").fetchall())
    for r in votes.to_pylist():
        spans = json.loads(r["answer"])
        assert [texts[r["item_id"]][s["start"]:s["end"]] for s in spans] == ["Paris", "Paris"]
    assert isinstance(votes, pa.Table)
