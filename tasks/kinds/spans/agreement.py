"""Agreement between span annotators: pairwise span F1 (strict and overlap) and Krippendorff's alpha on BIO tags.

Pairwise F1 is what NER papers report as inter-annotator agreement (kappa needs a fixed set of units,
which spans lack); token-level alpha on BIO tags adds the chance correction, since most tokens are
"O" and raw token agreement looks high even between careless annotators.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.alpha import alpha_from_counts, counts_of

from .consolidate import _flatten
from .tokens import bio_tags, tokenize

__all__ = ["krippendorff_alpha_bio", "nominal_alpha", "pairwise_span_f1"]

_STR = pa.string()
_KEYS = ["item", "a", "b"]


def _spans_of_pairs(votes: pa.Table, labels: Sequence[str]):
    f = _flatten(votes, labels)
    answers = pa.table({"item": f.a_item, "src": f.a_src})
    pairs = answers.join(answers, "item", right_keys="item", join_type="inner", left_suffix="_a", right_suffix="_b")
    pairs = pairs.filter(pc.less(pairs["src_a"], pairs["src_b"])).rename_columns(["item", "a", "b"])
    spans = pa.table({"item": f.p_item, "src": f.p_src, "start": f.p_start, "end": f.p_end, "lab": f.p_lab})
    side_a = spans.join(pairs, ["item", "src"], right_keys=["item", "a"], join_type="inner")
    side_a = side_a.append_column("a", side_a["src"]).drop_columns(["src"])
    side_b = spans.join(pairs, ["item", "src"], right_keys=["item", "b"], join_type="inner")
    side_b = side_b.append_column("b", side_b["src"]).drop_columns(["src"])
    return f, pairs, side_a, side_b


def _count(t: pa.Table, keys: list[str], name: str) -> pa.Table:
    g = t.group_by(keys).aggregate([([], "count_all")])
    return g.rename_columns([*keys, name]) if g.num_rows else pa.table(
        {**{k: pa.array([], pa.int64()) for k in keys}, name: pa.array([], pa.int64())})


def pairwise_span_f1(votes: pa.Table, labels: Sequence[str]) -> pa.Table:
    """Span F1 between every two sources on the items both answered, per entity type and over all types.

    Strict: a span matches when the other source marked the same (start, end, type); F1 = 2·matched /
    (spans of a + spans of b). Overlap: a span matches when the other source marked an overlapping span of
    the same type; precision and recall are the shares of a's and b's spans that match, F1 their harmonic
    mean. Returns source_a, source_b, label (null = all types), n_items, n_a, n_b, strict_f1, overlap_f1
    (null when neither marked a span: nothing to agree on).
    """
    f, pairs, side_a, side_b = _spans_of_pairs(votes, labels)
    n_items = pairs.group_by(["a", "b"]).aggregate([([], "count_all")]).rename_columns(["a", "b", "n_items"])
    strict = side_a.join(side_b, [*_KEYS, "start", "end", "lab"], join_type="inner")
    ov = side_a.join(side_b, [*_KEYS, "lab"], join_type="inner", right_suffix="_o")
    hit = pc.and_(pc.less(ov["start"], ov["end_o"]), pc.less(ov["start_o"], ov["end"]))
    ov = ov.filter(hit)
    m_a = ov.group_by([*_KEYS, "lab", "start", "end"]).aggregate([]).drop_columns(["start", "end"])
    m_b = ov.group_by([*_KEYS, "lab", "start_o", "end_o"]).aggregate([]).drop_columns(["start_o", "end_o"])
    rows = []
    for by_type in (True, False):
        keys = ["a", "b", "lab"] if by_type else ["a", "b"]
        t = None
        for name, tab in (("n_a", side_a), ("n_b", side_b), ("strict", strict), ("m_a", m_a), ("m_b", m_b)):
            c = _count(tab, keys, name)
            t = c if t is None else t.join(c, keys, join_type="full outer")
        if t is None or t.num_rows == 0:
            continue
        if not by_type:
            t = t.append_column("lab", pa.nulls(t.num_rows, pa.int64()))
        rows.append(t.select(["a", "b", "lab", "n_a", "n_b", "strict", "m_a", "m_b"]))
    base = n_items.append_column("lab", pa.nulls(n_items.num_rows, pa.int64()))
    if rows:
        t = pa.concat_tables(rows)
        whole = t.filter(pc.is_null(t["lab"]))
        missing = base.join(whole.select(["a", "b"]), ["a", "b"], join_type="left anti")
        t = pa.concat_tables([t, missing.drop_columns(["n_items"]).append_column("n_a", pa.nulls(missing.num_rows, pa.int64()))
                              .append_column("n_b", pa.nulls(missing.num_rows, pa.int64()))
                              .append_column("strict", pa.nulls(missing.num_rows, pa.int64()))
                              .append_column("m_a", pa.nulls(missing.num_rows, pa.int64()))
                              .append_column("m_b", pa.nulls(missing.num_rows, pa.int64())).select(t.column_names)])
    else:
        t = base.drop_columns(["n_items"])
        for c in ("n_a", "n_b", "strict", "m_a", "m_b"):
            t = t.append_column(c, pa.nulls(t.num_rows, pa.int64()))
    t = t.join(n_items, ["a", "b"], join_type="left outer")
    n_a = pc.fill_null(t["n_a"], 0).to_numpy(zero_copy_only=False).astype(float)
    n_b = pc.fill_null(t["n_b"], 0).to_numpy(zero_copy_only=False).astype(float)
    strict_n = pc.fill_null(t["strict"], 0).to_numpy(zero_copy_only=False).astype(float)
    ma = pc.fill_null(t["m_a"], 0).to_numpy(zero_copy_only=False).astype(float)
    mb = pc.fill_null(t["m_b"], 0).to_numpy(zero_copy_only=False).astype(float)
    none = (n_a + n_b) == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        strict_f1 = np.where(none, np.nan, 2 * strict_n / (n_a + n_b))
        p, r = np.where(n_a > 0, ma / np.maximum(n_a, 1), 0.0), np.where(n_b > 0, mb / np.maximum(n_b, 1), 0.0)
        overlap_f1 = np.where(none, np.nan, np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0))
    lab = t["lab"].combine_chunks()
    label = pc.take(pa.array(list(labels), _STR), lab)
    out = pa.table({
        "source_a": pc.take(f.source_ids, t["a"].combine_chunks()),
        "source_b": pc.take(f.source_ids, t["b"].combine_chunks()),
        "label": label, "n_items": t["n_items"], "n_a": pa.array(n_a.astype(np.int64)),
        "n_b": pa.array(n_b.astype(np.int64)),
        "strict_f1": pa.array(strict_f1, mask=np.isnan(strict_f1)),
        "overlap_f1": pa.array(overlap_f1, mask=np.isnan(overlap_f1)),
    })
    return out.sort_by([("source_a", "ascending"), ("source_b", "ascending"), ("label", "ascending")])


def nominal_alpha(unit: np.ndarray, value: np.ndarray) -> float:
    """Krippendorff's alpha for nominal data from (unit, value) pairs, one pair per coder's value (any
    integer codes). Units with fewer than two values are not pairable and are left out (as Krippendorff
    defines it); NaN when there is nothing to compare or every value is the same (no variation)."""
    if not len(unit):
        return float("nan")
    _, u = np.unique(np.asarray(unit, np.int64), return_inverse=True)
    values, v = np.unique(np.asarray(value, np.int64), return_inverse=True)
    return alpha_from_counts(counts_of(u, v, len(values)))


def krippendorff_alpha_bio(votes: pa.Table, texts: pa.Table, labels: Sequence[str], tokenizer: str = "words") -> float:
    """Token-level Krippendorff's alpha (nominal) on BIO tags: units are the items' tokens, values each
    source's tag there (abstaining sources contribute nothing); `texts` has item_id and payload (the text)."""
    v = votes.filter(pc.is_valid(votes["answer"]))
    ids = v["item_id"].combine_chunks().cast(_STR)
    text_pos = pc.index_in(ids, value_set=texts["item_id"].combine_chunks().cast(_STR))
    if pc.any(pc.is_null(text_pos)).as_py():
        missing = pc.filter(ids, pc.is_null(text_pos))[0].as_py()
        raise ValueError(f"item {missing!r}: has votes but no text; agreement needs every voted item's payload")
    payload = pc.take(texts["payload"].combine_chunks().cast(_STR), text_pos).to_pylist()
    item_code = ids.dictionary_encode().indices.to_numpy(zero_copy_only=False)
    tag_code: dict[str, int] = {"O": 0}
    units, values = [], []
    token_cache: dict[int, list] = {}
    # Tokenising is per text (a regular expression), so this loop is per answer; agreement runs on the
    # report's sample of items, not on the consolidation hot path.
    for row, (code, text, ans) in enumerate(zip(item_code, payload, v["answer"].to_pylist())):
        toks = token_cache.get(code)
        if toks is None:
            toks = token_cache[code] = tokenize(text or "", tokenizer)
        tags = bio_tags([(s["start"], s["end"], s["label"]) for s in ans], toks)
        base = int(code) << 20
        units.extend(base + k for k in range(len(tags)))
        values.extend(tag_code.setdefault(t, len(tag_code)) for t in tags)
    return nominal_alpha(np.asarray(units, np.int64), np.asarray(values, np.int64))
