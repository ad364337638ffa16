"""Span labeling functions: phrase lists and regular expressions evaluated inside DuckDB, and Python functions.

Declared in annoflow.toml under the spans kind's options::

    [[answer.lfs]]
    name = "cities"
    label = "location"
    phrases = ["New York", "Zürich"]        # or: regex = "[A-Z][a-z]+ville"
    case_sensitive = false                  # default
    whole_word = true                       # default: "Yorkshire" is not "York"

    [[answer.lfs]]
    name = "handles"
    python = "my_lfs:handles"               # a function text -> [(start, end, label), ...]

Offsets come from DuckDB itself: DuckDB 2.0 has no regex function returning match positions, but
`regexp_split_to_array` (the text between matches) and `regexp_extract_all` (the matches) partition
the text in order, so a match starts at the summed lengths (`length` counts code points, as Python
indexes strings) of everything before it — list sums in one expression per rule, no per-row Python. Whole-word matching
cannot use `\\b` (RE2's is ASCII-only: it sees a boundary inside "Zürich"), so the pattern is widened
with any letters/digits glued to it and a match is kept only if the widened text is exactly the rule's
match. An LF that finds nothing in an item abstains there (no vote): an LF marks one kind of evidence,
its silence is not "no entities".

A vote is `(item_id, source_id "lf:<name>", source_version, answer)` with `answer` the kind's JSON form
(sorted by start, end, label). Bad output (a span outside its text, start >= end, a type outside the
label set, a malformed value) is a `SpanLFError` naming the LF and the item; that LF's votes are dropped,
the others' kept, and the stage reports the errors as a user error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from tasks.errors import ConfigError
from tasks.prelabel.lf import LabelingFunction, _import_lf

from .options import SpanLF, SpanOptions

__all__ = [
    "SPAN_ROWS_SCHEMA",
    "SPAN_VOTES_SCHEMA",
    "SpanLFError",
    "SpanLFSpec",
    "SpanLabelingFunction",
    "apply_python_span_lfs",
    "apply_sql_span_lfs",
    "load_span_lfs",
    "span_labeling_function",
    "span_lf_sql",
    "span_votes",
]

SPAN_ROWS_SCHEMA = pa.schema([("item_id", pa.string()), ("source_id", pa.string()), ("start", pa.int64()),
                              ("end", pa.int64()), ("label", pa.string())])
"""One row per proposed span (the exploded form every span computation here works on)."""

SPAN_VOTES_SCHEMA = pa.schema([("item_id", pa.string()), ("source_id", pa.string()), ("source_version", pa.string()),
                               ("answer", pa.string())])
"""One vote per (item, LF) that found something; `answer` is the kind's JSON form."""

_WORD = r"[\pL\pN_]*"


class SpanLabelingFunction(LabelingFunction):
    """A Python span LF: one text in, its spans `(start, end, label)` out (an empty list abstains). Versioned,
    named and imported like the classification LFs of `tasks/prelabel/lf.py`; only the call differs: called
    with a text it answers for it, called with a batch of items (what the LF stage passes) it answers for
    each item's payload, in order."""

    def __init__(self, fn: Callable[[str], Any], name: str, labels: Sequence[str] | None) -> None:
        super().__init__(fn, name, labels, "arrow")

    def __call__(self, batch: Any) -> Any:
        if isinstance(batch, str):
            return self.fn(batch)
        return [[] if t is None else self.fn(t) for t in batch.column("payload").to_pylist()]


def span_labeling_function(name: str | None = None, labels: Sequence[str] | None = None) -> Callable[[Callable], SpanLabelingFunction]:
    """Declare a Python span LF; `labels` (its polarity) are the types it may emit, anything else is an error."""

    def wrap(fn: Callable[[str], Any]) -> SpanLabelingFunction:
        return SpanLabelingFunction(fn, name or fn.__name__, labels)

    return wrap


@dataclass(frozen=True)
class SpanLFSpec:
    """A configured span LF, resolved: `pattern` (RE2, flags included) finds candidates and `keep` is what a
    candidate must fully match to count (the rule itself when whole-word widening is on)."""

    name: str
    kind: str  # "sql" | "python"
    version: str
    label: str | None = None
    pattern: str | None = None
    keep: str | None = None
    fn: SpanLabelingFunction | None = None

    @property
    def source_id(self) -> str:
        return f"lf:{self.name}"


@dataclass(frozen=True)
class SpanLFError:
    name: str
    item_id: str | None
    message: str


def _import(spec: str, name: str, root: Path) -> SpanLabelingFunction:
    """Imported as the classification LFs are (same rules, same errors); a plain function is wrapped."""
    fn = _import_lf(spec, name, root)
    return fn if isinstance(fn, SpanLabelingFunction) else SpanLabelingFunction(fn.fn, name, fn.labels)


def _sql_spec(lf: SpanLF, con: duckdb.DuckDBPyConnection) -> SpanLFSpec:
    if lf.phrases is not None:
        phrases = sorted({p for p in lf.phrases if p.strip()}, key=lambda p: (-len(p), p))  # longest first: RE2 alternation is leftmost-first
        escaped = con.execute("SELECT list_transform(?::VARCHAR[], lambda x: regexp_escape(x))", [phrases]).fetchone()[0]
        core = "(?:" + "|".join(escaped) + ")"
    else:
        core = "(?:" + lf.regex + ")"
    flags = "" if lf.case_sensitive else "(?i)"
    pattern = flags + (f"{_WORD}{core}{_WORD}" if lf.whole_word else core)
    try:
        empty = con.execute("SELECT regexp_full_match('', ?)", [flags + core]).fetchone()[0]
    except duckdb.Error as e:
        raise ConfigError(f"span labeling function {lf.name!r}: regex does not compile: {str(e).splitlines()[0]}") from None
    if empty:
        raise ConfigError(f"span labeling function {lf.name!r}: the rule matches the empty text, so it would mark nothing; make it "
                          "match at least one character")
    version = hashlib.sha256(f"spansql\x1f{lf.label}\x1f{pattern}".encode()).hexdigest()[:16]
    return SpanLFSpec(lf.name, "sql", version, lf.label, pattern, flags + core if lf.whole_word else None)


def load_span_lfs(options: SpanOptions, labels: Sequence[str], root: Path) -> list[SpanLFSpec]:
    """Resolve the project's span LFs (compiles the rules in DuckDB, imports the Python ones); a rule naming a type
    outside `labels` or not compiling is a `ConfigError` naming the LF."""
    con = duckdb.connect()
    out = []
    for lf in options.lfs:
        if lf.label is not None and lf.label not in labels:
            raise ConfigError(f"span labeling function {lf.name!r}: label {lf.label!r} is not one of the entity types {list(labels)}")
        if lf.python is not None:
            fn = _import(lf.python, lf.name, root)
            unknown = sorted(set(fn.labels or ()) - set(labels))
            if unknown:
                raise ConfigError(f"span labeling function {lf.name!r} declares types {unknown} outside the entity types {list(labels)}")
            out.append(SpanLFSpec(lf.name, "python", fn.version, fn=fn))
        else:
            out.append(_sql_spec(lf, con))
    con.close()
    return out


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def span_lf_sql(spec: SpanLFSpec, payload: str = "payload") -> str:
    """A phrase/regex LF as one DuckDB expression over an item's text: its spans as the kind's JSON text, NULL
    (abstain) where it finds none. Offsets from split pieces + matches (see module doc), summed per match with
    list functions, so the LF stage evaluates it beside the other rules in one statement over a batch."""
    pat = _lit(spec.pattern)
    keep = f"list_filter(found, lambda s: regexp_full_match(s.tok, {_lit(spec.keep)}))" if spec.keep else "found"
    found = (
        f"list_transform([{{'p': regexp_split_to_array({payload}, {pat}), 'm': regexp_extract_all({payload}, {pat})}}],"
        " lambda x: list_transform(x.m, lambda tok, i: {'start': coalesce(list_sum(list_transform(x.p[1:i], lambda q: length(q))), 0)"
        " + coalesce(list_sum(list_transform(x.m[1:i - 1], lambda q: length(q))), 0), 'tok': tok}))[1]"
    )
    spans = (f"list_transform({keep.replace('found', found, 1)}, lambda s: {{'start': s.start, 'end': s.start + length(s.tok),"
             f" 'label': {_lit(spec.label)}}})")
    return f"CASE WHEN regexp_matches({payload}, {pat}) THEN nullif(to_json({spans})::VARCHAR, '[]') END"


def span_votes(con: duckdb.DuckDBPyConnection, rows: str, versions: dict[str, str]) -> pa.Table:
    """Group span rows (a relation with `SPAN_ROWS_SCHEMA` columns) into one JSON vote per (item, source)."""
    if not versions:
        return SPAN_VOTES_SCHEMA.empty_table()
    version_of = " ".join(f"WHEN {_lit(s)} THEN {_lit(v)}" for s, v in versions.items())
    t = con.sql(
        f"SELECT item_id, source_id, CASE source_id {version_of} END AS source_version,"
        " to_json(list({'start': start, 'end': \"end\", 'label': label} ORDER BY start, \"end\", label))::VARCHAR AS answer"
        f" FROM ({rows}) GROUP BY item_id, source_id ORDER BY item_id, source_id"
    ).to_arrow_table()
    return t.cast(SPAN_VOTES_SCHEMA)


def apply_sql_span_lfs(con: duckdb.DuckDBPyConnection, specs: Sequence[SpanLFSpec], items: str = "items") -> pa.Table:
    """Evaluate every phrase/regex LF over `items(item_id, payload)` in one DuckDB statement; returns votes."""
    specs = [s for s in specs if s.kind == "sql"]
    if not specs:
        return SPAN_VOTES_SCHEMA.empty_table()
    answers = ", ".join(f"{span_lf_sql(s)} AS a{k}" for k, s in enumerate(specs))
    votes = " UNION ALL ".join(f"SELECT item_id, {_lit(s.source_id)} AS source_id, {_lit(s.version)} AS source_version, a{k} AS answer"
                               f" FROM _answers WHERE a{k} IS NOT NULL" for k, s in enumerate(specs))
    t = con.sql(f"WITH _answers AS (SELECT item_id, {answers} FROM {items} WHERE payload IS NOT NULL) {votes}"
                " ORDER BY item_id, source_id").to_arrow_table()
    return t.cast(SPAN_VOTES_SCHEMA)


def _bad_value(out: Any) -> str | None:
    if not isinstance(out, (list, tuple)):
        return f"returned {type(out).__name__}, expected a list of (start, end, label)"
    for k, sp in enumerate(out):
        if not (isinstance(sp, (list, tuple)) and len(sp) == 3 and isinstance(sp[0], (int, np.integer))
                and isinstance(sp[1], (int, np.integer)) and isinstance(sp[2], str)):
            return f"span {k} is {sp!r}, expected (start: int, end: int, label: str)"
    return None


def apply_python_span_lfs(
    items: pa.Table, specs: Sequence[SpanLFSpec], labels: Sequence[str]
) -> tuple[pa.Table, list[SpanLFError]]:
    """Run each Python span LF over `items(item_id, payload)`; returns (votes of the LFs without errors, errors).

    The LF is called once per text (it is user code on one string); its outputs are checked together, in
    numpy, against the texts' lengths and the allowed types, and the first bad span is reported."""
    specs = [s for s in specs if s.kind == "python"]
    ids = items.column("item_id").to_pylist()
    texts = items.column("payload").to_pylist()
    lengths = np.array([len(t) if t is not None else 0 for t in texts], np.int64)
    errors: list[SpanLFError] = []
    parts = []
    for s in specs:
        allowed = set(s.fn.labels or labels) & set(labels)
        idx, st, en, lab = [], [], [], []
        failed = None
        for k, text in enumerate(texts):
            if text is None:
                continue
            try:
                out = s.fn(text)
            except Exception as e:  # noqa: BLE001  (user code: reported, never fatal for the other LFs)
                failed = SpanLFError(s.name, ids[k], f"span labeling function {s.name!r} raised {type(e).__name__}: {e} on item {ids[k]}")
                break
            why = _bad_value(out)
            if why:
                failed = SpanLFError(s.name, ids[k], f"span labeling function {s.name!r} on item {ids[k]}: {why}")
                break
            for a, b, c in out:
                idx.append(k), st.append(int(a)), en.append(int(b)), lab.append(c)
        if failed is None:
            failed = _check_spans(s.name, ids, lengths, np.array(idx, np.int64), np.array(st, np.int64), np.array(en, np.int64), lab, allowed)
        if failed is not None:
            errors.append(failed)
            continue
        parts.append(pa.table({"item_id": pa.array([ids[k] for k in idx], pa.string()), "source_id": pa.array([s.source_id] * len(idx), pa.string()),
                               "start": pa.array(st, pa.int64()), "end": pa.array(en, pa.int64()), "label": pa.array(lab, pa.string())}))
    good = {s.source_id: s.version for s in specs if s.name not in {e.name for e in errors}}
    rows = pa.concat_tables(parts) if parts else SPAN_ROWS_SCHEMA.empty_table()
    con = duckdb.connect()
    con.register("_span_rows", rows)
    votes = span_votes(con, "SELECT * FROM _span_rows", good)
    con.close()
    return votes, errors


def _check_spans(name: str, ids: list[str], lengths: np.ndarray, idx: np.ndarray, st: np.ndarray, en: np.ndarray,
                 lab: list[str], allowed: set[str]) -> SpanLFError | None:
    """The first span of one LF's output that is outside its text, empty/reversed, or of a type not allowed."""
    if not len(idx):
        return None
    known = np.isin(np.array(lab, object), np.array(sorted(allowed), object))
    checks = (
        (st < 0, "starts before the text (negative offset)"),
        (en > lengths[idx], "ends after the text"),
        (st >= en, "has start >= end"),
        (~known, f"has a type outside {sorted(allowed)}"),
    )
    first = None
    for bad, why in checks:
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            if first is None or j < first[0]:
                first = (j, why)
    if first is None:
        return None
    j, why = first
    item = ids[idx[j]]
    return SpanLFError(name, item, f"span labeling function {name!r} on item {item}: span ({st[j]}, {en[j]}, {lab[j]!r}) {why} "
                                   f"(text length {lengths[idx[j]]}); its votes were not stored")
