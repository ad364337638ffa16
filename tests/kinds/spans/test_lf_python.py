"""Python span LFs: imported from the project folder, their output checked; a bad one is named with its item."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from tasks.errors import ConfigError
from tasks.kinds.spans.lfs import apply_python_span_lfs, load_span_lfs
from tasks.kinds.spans.options import SpanOptions

LABELS = ["location", "person"]
ITEMS = pa.table({"item_id": ["a", "b", "c", "d"],
                  "payload": ["Zoë met @Ann in Genève 🌍", "@bob 👨‍👩‍👧 @Élodie", "nobody", None]})

CODE = r'''
import re
from tasks.kinds.spans.lfs import span_labeling_function

@span_labeling_function(name="handles", labels=["person"])
def handles(text):
    """@-mentions are people."""
    return [(m.start(), m.end(), "person") for m in re.finditer(r"@\w+", text)]

def plain_caps(text):
    return [(m.start(), m.end(), "location") for m in re.finditer(r"\b[A-Z]\w+", text)]

def too_long(text):
    return [(0, len(text) + 1, "person")] if "bob" in text else []

def wrong_type(text):
    return [(0, 1, "planet")] if text.startswith("Z") else []

def wrong_shape(text):
    return [(0, 1)] if "nobody" in text else []

def raises(text):
    if "@bob" in text:
        raise KeyError("boom")
    return []

def reversed_(text):
    return [(3, 1, "person")] if "nobody" in text else []
'''


@pytest.fixture
def module(tmp_path: Path) -> str:
    name = f"span_lfs_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(CODE), encoding="utf-8")
    return name


def _specs(tmp_path: Path, module: str, *fns: str) -> list:
    return load_span_lfs(SpanOptions.model_validate({"lfs": [{"name": f, "python": f"{module}:{f}"} for f in fns]}), LABELS, tmp_path)


def test_python_lfs_vote_spans_in_code_points(tmp_path: Path, module: str) -> None:
    specs = _specs(tmp_path, module, "handles", "plain_caps")
    assert specs[0].name == "handles" and specs[0].fn.labels == ("person",)
    votes, errors = apply_python_span_lfs(ITEMS, specs, LABELS)
    assert errors == []
    text = dict(zip(ITEMS.column("item_id").to_pylist(), ITEMS.column("payload").to_pylist()))
    got = {(r["item_id"], r["source_id"]): [text[r["item_id"]][s["start"]:s["end"]] for s in json.loads(r["answer"])]
           for r in votes.to_pylist()}
    assert got == {("a", "lf:handles"): ["@Ann"], ("b", "lf:handles"): ["@bob", "@Élodie"],
                   ("a", "lf:plain_caps"): ["Zoë", "Ann", "Genève"]}
    assert set(votes.column("source_version").to_pylist()) == {s.version for s in specs}


@pytest.mark.parametrize(("fn", "item", "why"), [
    ("too_long", "b", "ends after the text"),
    ("wrong_type", "a", "has a type outside"),
    ("wrong_shape", "c", "expected (start: int, end: int, label: str)"),
    ("raises", "b", "raised KeyError"),
    ("reversed_", "c", "has start >= end"),
])
def test_bad_output_is_reported_with_lf_and_item_and_others_kept(tmp_path: Path, module: str, fn: str, item: str, why: str) -> None:
    votes, errors = apply_python_span_lfs(ITEMS, _specs(tmp_path, module, "handles", fn), LABELS)
    assert [(e.name, e.item_id) for e in errors] == [(fn, item)]
    assert f"{fn!r}" in errors[0].message and f"item {item}" in errors[0].message and why in errors[0].message
    assert set(votes.column("source_id").to_pylist()) == {"lf:handles"}  # the bad LF stores nothing, the good one all


def test_declared_labels_outside_the_set_and_bad_imports(tmp_path: Path, module: str) -> None:
    with pytest.raises(ConfigError, match="declares types \\['person'\\] outside"):
        load_span_lfs(SpanOptions.model_validate({"lfs": [{"name": "h", "python": f"{module}:handles"}]}), ["location", "org"], tmp_path)
    with pytest.raises(ConfigError, match="cannot import 'nope_mod:f'"):
        load_span_lfs(SpanOptions.model_validate({"lfs": [{"name": "h", "python": "nope_mod:f"}]}), LABELS, tmp_path)
