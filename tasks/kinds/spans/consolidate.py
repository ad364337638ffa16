"""Span consolidation: many sources' span sets per item become one span set with calibrated confidences.

The model is a span-level Dawid–Skene. On each item, the proposals of all sources are grouped into
*clusters* (connected runs of overlapping proposals; with `allow_overlap`, runs of overlapping
proposals of the same type, so nested entities of different types stay apart). A cluster's truth is
one of: nothing (every proposal in it is spurious), one of its distinct proposals, or two disjoint ones
(neighbours that a span stretched over both made rivals). Each
source is described, per true entity type, by how it answers a true span: the exact span, the right
boundaries with a wrong type, the right type with wrong boundaries, some other overlapping span, or
nothing (a miss); and, on clusters with no true span, how often it proposes something there (its
spurious rate); true and invented spans each have a learned length profile. EM alternates cluster posteriors and these rates. A per-type rate leans on the
source's overall rate until the type has evidence of its own (shrinkage), so rare types do not get
wild rates from a handful of spans.

Why not token-level voting: token tags split one entity into independent decisions, so a boundary
error of one annotator and a type error of another can produce a span nobody proposed; a cluster's
hypotheses are only spans someone did propose, and a source that habitually clips boundaries is
learned as such instead of being outvoted token by token.

Work is done per item partition: the E-step of a partition needs only the global rates, and the
M-step needs only the partitions' summed counts (`_Counts`), so partitions can run anywhere and be
reduced (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.calibration import fit_gold_calibration
from tasks.consensus.gold import wilson_interval
from tasks.consensus.resolution import decide

from .storage import SPAN_TYPE, SPANS_TYPE

__all__ = ["SpanConsensusSettings", "SpanConsolidation", "consolidate_spans", "gold_span_scores", "span_votes_table"]

_STR = pa.string()
# What a source did on a cluster, given that a candidate span c is the true one.
EXACT, WRONG_TYPE, WIDER, NARROWER, WRONG_BOUNDS, OTHER, MISS = range(7)
CATEGORIES = ("exact", "wrong_type", "wider", "narrower", "wrong_bounds", "other", "miss")
_N_CAT = len(CATEGORIES)
# Prior belief about a source before evidence: a fair annotator (pseudo-counts).
_PRIOR_TRUE = np.array([2.8, 0.2, 0.15, 0.15, 0.1, 0.2, 0.4])
_PRIOR_INVENTED = 0.1  # pseudo invented spans per source (over one pseudo item)
# A rate says how often a source makes an error; which span it then proposes is one of several it could
# have: a wrong type is one of the other types, a boundary error one of a few shifts, an invented span
# one of many. The likelihood of the specific span carries that share, which is what makes several
# sources proposing the very same span strong evidence (they would rarely agree by accident).
_CHOICE_ONE_BOUND, _CHOICE_WRONG_BOUNDS, _CHOICE_OTHER = 2.0, 4.0, 10.0
# Span lengths in classes of 1, 2-3, 4-7, 8-15 and 16+ code points: true entities and invented spans
# have different length profiles (a lone "." or "*" is rarely an entity), learned like the other rates.
_N_LEN = 5


def _length_class(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    return np.minimum(np.log2(np.maximum(end - start, 1)).astype(np.int64), _N_LEN - 1)


@dataclass(frozen=True)
class SpanConsensusSettings:
    """The project's settings consolidation needs (labels = entity types, from `ProjectConfig`)."""

    labels: tuple[str, ...]
    target_confidence: float = 0.9
    max_overlap: int = 5
    min_votes: int = 1
    allow_overlap: bool = False
    ban_below: float = 0.6
    min_answers_for_ban: int = 5
    max_iter: int = 50
    tol: float = 1e-3
    """EM stops when no source's rate moves by more than this in an iteration."""
    type_shrinkage: float = 10.0
    """Pseudo-spans of a source's overall rates added to each entity type's own counts: a type needs
    about this many true spans before its own rates dominate."""
    partition_items: int = 200_000
    span_places: float = 30.0
    """Places a span can take in a typical text (tokens x usual entity lengths; ~30 for a tweet or a
    sentence): how unlikely it is that two sources invent the very same span by accident."""


@dataclass
class SpanConsolidation:
    """The result: one row per item, one row per source."""

    items: pa.Table
    """item_id, spans (SPANS_TYPE), span_confidence (list<double>), confidence, n_votes, decision."""
    sources: pa.Table
    """source_id, n_answers, n_spans, learned recall/precision/spurious rate, recall per type, gold scores, banned."""
    iterations: int = 0


def span_votes_table(item_ids: Sequence[str], source_ids: Sequence[str], answers: Sequence[list | None],
                     source_kinds: Sequence[str] | None = None) -> pa.Table:
    """Votes from Python answers (JSON form: lists of {start, end, label} dicts; None = abstain)."""
    kinds = source_kinds if source_kinds is not None else ["human"] * len(item_ids)
    return pa.table({"item_id": pa.array(item_ids, _STR), "source_id": pa.array(source_ids, _STR),
                     "source_kind": pa.array(kinds, _STR), "answer": pa.array(answers, SPANS_TYPE)})


# --- flattening -----------------------------------------------------------------------------------------


@dataclass
class _Flat:
    """Votes as integer arrays: answers (item, source) and their proposals, sorted by item."""

    item_ids: pa.Array
    source_ids: pa.Array
    a_item: np.ndarray
    a_src: np.ndarray
    a_human: np.ndarray
    p_item: np.ndarray
    p_src: np.ndarray
    p_start: np.ndarray
    p_end: np.ndarray
    p_lab: np.ndarray


def _codes(col: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray]:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(_STR)
    enc = arr.cast(_STR).dictionary_encode()
    return enc.dictionary, enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _flatten(votes: pa.Table, labels: Sequence[str]) -> _Flat:
    votes = votes.filter(pc.is_valid(votes["answer"]))
    item_ids, item = _codes(votes["item_id"])
    source_ids, src = _codes(votes["source_id"])
    kinds = votes["source_kind"] if "source_kind" in votes.column_names else None
    human = (np.ones(len(item), bool) if kinds is None else
             pc.fill_null(pc.equal(kinds.combine_chunks().cast(_STR), "human"), False).to_numpy(zero_copy_only=False))
    ans = votes["answer"].combine_chunks()
    parent = pc.list_parent_indices(ans).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(ans)
    start = flat.field("start").to_numpy(zero_copy_only=False).astype(np.int64)
    end = flat.field("end").to_numpy(zero_copy_only=False).astype(np.int64)
    lab = pc.index_in(flat.field("label"), value_set=pa.array(list(labels), _STR))
    bad = pc.is_null(lab).to_numpy(zero_copy_only=False) | (end <= start) | (start < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        r = int(parent[i])
        raise ValueError(
            f"item {item_ids[item[r]].as_py()!r}, source {source_ids[src[r]].as_py()!r}: span "
            f"({start[i]}, {end[i]}, {flat.field('label')[i].as_py()!r}) has an unknown type or start >= end; "
            f"expected a type in {list(labels)!r} and 0 <= start < end")
    lab = lab.to_numpy(zero_copy_only=False).astype(np.int64)
    # One answer per (item, source): a repeated answer keeps its last row; repeated spans count once.
    order = np.lexsort((np.arange(len(item)), src, item))
    last = np.ones(len(order), bool)
    last[:-1] = (item[order][1:] != item[order][:-1]) | (src[order][1:] != src[order][:-1])
    keep_rows = order[last]
    keep = np.zeros(len(item), bool)
    keep[keep_rows] = True
    pk = keep[parent]
    p_item, p_src = item[parent][pk], src[parent][pk]
    p_start, p_end, p_lab = start[pk], end[pk], lab[pk]
    o = np.lexsort((p_lab, p_end, p_start, p_src, p_item))
    p_item, p_src, p_start, p_end, p_lab = p_item[o], p_src[o], p_start[o], p_end[o], p_lab[o]
    dup = np.zeros(len(o), bool)
    if len(o) > 1:
        dup[1:] = ((p_item[1:] == p_item[:-1]) & (p_src[1:] == p_src[:-1]) & (p_start[1:] == p_start[:-1])
                   & (p_end[1:] == p_end[:-1]) & (p_lab[1:] == p_lab[:-1]))
    u = ~dup
    return _Flat(item_ids, source_ids, item[keep_rows], src[keep_rows], human[keep_rows],
                 p_item[u], p_src[u], p_start[u], p_end[u], p_lab[u])


# --- one partition's structure ---------------------------------------------------------------------------


@dataclass
class _Partition:
    """Candidates, clusters and the (candidate, voter) observation rows of a set of items."""

    c_item: np.ndarray      # candidate -> item (global code); candidates sorted by (item, start, end, label)
    c_start: np.ndarray
    c_end: np.ndarray
    c_lab: np.ndarray
    c_cluster: np.ndarray   # candidate -> cluster (local, contiguous)
    k_first: np.ndarray     # cluster -> its first candidate
    r_cand: np.ndarray      # observation rows: candidate, source, category
    r_src: np.ndarray
    r_cat: np.ndarray
    p_cand: np.ndarray      # proposal -> candidate
    p_src: np.ndarray
    a_src: np.ndarray       # the sources of the partition's answers
    n_items: int
    r_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # row -> (source, type, category)
    p_k: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))    # proposal -> cluster
    c_logv: np.ndarray = field(default_factory=lambda: np.zeros(0))  # candidate -> log places in its item
    p_extra: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # a source's 2nd+ proposal in a cluster
    k_extra_logv: np.ndarray = field(default_factory=lambda: np.zeros(0))  # cluster -> extra proposals x log places
    k_logv: np.ndarray = field(default_factory=lambda: np.zeros(0))  # cluster -> proposals x log places
    gold_post: np.ndarray | None = None  # per hypothesis (clusters' none first, then candidates), or NaN
    post_c: np.ndarray = field(default_factory=lambda: np.zeros(0))
    post_none: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # Pair hypotheses: two disjoint candidates of one cluster both true (two entities a bridging span joined).
    q_a: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # pair -> its candidates
    q_b: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    q_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # rows of paired candidates
    q_ridx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # their (source, type, category)
    # for a pair member: a proposal disjoint from it answers the other one (a miss here, not OTHER)
    p_extra2: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # a source's 3rd+ proposal in a cluster
    k_extra2_logv: np.ndarray = field(default_factory=lambda: np.zeros(0))
    post_q: np.ndarray = field(default_factory=lambda: np.zeros(0))
    c_len: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # candidate -> length class
    p_len: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # proposal -> length class

    def marginal(self) -> np.ndarray:
        """Per candidate: the chance it is true, alone or as one of a pair."""
        n_c = len(self.c_item)
        return (self.post_c + np.bincount(self.q_a, weights=self.post_q, minlength=n_c)
                + np.bincount(self.q_b, weights=self.post_q, minlength=n_c))


def _segments(sizes: np.ndarray) -> np.ndarray:
    """Position inside its segment for each element of segments of the given sizes."""
    total = int(sizes.sum())
    return np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)


def _distinct_sorted(order: np.ndarray, *cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Rows taken in `order` (sorted by `cols`): which open a new distinct value, each row's distinct id
    (in the original row order), and the sorted columns."""
    sorted_cols = [c[order] for c in cols]
    new = np.ones(len(order), bool)
    if len(order) > 1:
        new[1:] = np.logical_or.reduce([c[1:] != c[:-1] for c in sorted_cols])
    ids = np.empty(len(order), np.int64)
    ids[order] = np.cumsum(new) - 1
    return new, ids, sorted_cols


def _unique_pairs(key: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (key, value) pairs, sorted."""
    o = np.lexsort((value, key))
    k, v = key[o], value[o]
    new = np.ones(len(o), bool)
    new[1:] = (k[1:] != k[:-1]) | (v[1:] != v[:-1])
    return k[new], v[new]


def _add_recombined(c_item, c_start, c_end, c_lab, c_cluster, max_combos: int = 36):
    """Add, per cluster and type, the spans that take a start from one proposal and an end from another.

    When each annotator misses the true span by a different boundary, nobody proposed it, yet each
    proposal has one boundary right; these candidates let that evidence (categories WIDER, NARROWER) elect it,
    which is what token-level voting gets right and span-level voting alone misses. Clusters with more
    than `max_combos` such spans per type (spam) get none. Returns the new candidate arrays, sorted by
    (cluster, start, end, label), and the new index of every old candidate.
    """
    n = len(c_item)
    kl = c_cluster * 64 + c_lab
    us_kl, us = _unique_pairs(kl, c_start)
    ue_kl, ue = _unique_pairs(kl, c_end)
    groups, n_s = np.unique(us_kl, return_counts=True)
    _, first_e, n_e = np.unique(ue_kl, return_index=True, return_counts=True)
    combos = n_s * n_e
    ok = (combos > 1) & (combos <= max_combos)
    rows_ok = ok[np.searchsorted(groups, us_kl)]
    rep = n_e[np.searchsorted(groups, us_kl)] * rows_ok
    ck = np.repeat(us_kl, rep)
    cs = np.repeat(us, rep)
    ce = ue[np.repeat(first_e[np.searchsorted(groups, us_kl)], rep) + _segments(rep)]
    keep = cs < ce
    ck, cs, ce = ck[keep], cs[keep], ce[keep]
    combos = {"start": cs, "end": ce}
    k_item = np.zeros(int(c_cluster.max(initial=-1)) + 1, np.int64)
    k_item[c_cluster] = c_item
    all_k = np.concatenate([c_cluster, ck // 64])
    all_lab = np.concatenate([c_lab, ck % 64])
    all_s = np.concatenate([c_start, combos["start"]])
    all_e = np.concatenate([c_end, combos["end"]])
    flag = np.concatenate([np.zeros(n, np.int64), np.ones(len(ck), np.int64)])
    o = np.lexsort((flag, all_lab, all_e, all_s, all_k))
    new, remap, (k, st, en, lb) = _distinct_sorted(o, all_k, all_s, all_e, all_lab)
    return k_item[k[new]], st[new], en[new], lb[new], k[new], remap[:n]


def _build_partition(f: _Flat, sel_a: slice, sel_p: slice, allow_overlap: bool, n_labels: int) -> _Partition:
    a_item, a_src = f.a_item[sel_a], f.a_src[sel_a]
    p_item, p_src = f.p_item[sel_p], f.p_src[sel_p]
    p_start, p_end, p_lab = f.p_start[sel_p], f.p_end[sel_p], f.p_lab[sel_p]
    # Candidates: distinct (item, start, end, label), sorted by core so that clusters are contiguous.
    # A span's core drops a quarter of its length at each end: two spans are rivals (one cluster) when
    # their cores overlap, so a span clipped or stretched by a token still competes with the true one,
    # while neighbours that merely touch through a stretched boundary stay separate decisions.
    group = p_item * n_labels + p_lab if allow_overlap else p_item
    cut = (p_end - p_start) // 4
    core_s, core_e = p_start + cut, p_end - cut
    o = np.lexsort((p_lab, p_end, p_start, core_s, group))
    new, p_cand, (g, s, e, lb) = _distinct_sorted(o, group, p_start, p_end, p_lab)
    c_group, c_start, c_end, c_lab = g[new], s[new], e[new], lb[new]
    c_cs, c_ce = core_s[o][new], core_e[o][new]
    c_item = c_group // n_labels if allow_overlap else c_group
    # Clusters: a candidate opens a new cluster when its core starts at or after every earlier core end.
    big = np.int64(1) << np.int64(32)
    kend = np.maximum.accumulate(c_group * big + c_ce) if len(c_ce) else c_ce
    opens = np.ones(len(c_ce), bool)
    opens[1:] = c_group[1:] * big + c_cs[1:] >= kend[:-1]
    c_cluster = np.cumsum(opens) - 1
    c_item, c_start, c_end, c_lab, c_cluster, remap = _add_recombined(c_item, c_start, c_end, c_lab, c_cluster)
    p_cand = remap[p_cand]
    k_first = np.flatnonzero(np.diff(c_cluster, prepend=-1))
    # Observation rows: every candidate x every source that answered its item.
    a_order = np.lexsort((a_src, a_item))
    a_item, a_src = a_item[a_order], a_src[a_order]
    items_u, first_a, n_a = np.unique(a_item, return_index=True, return_counts=True)
    pos = np.searchsorted(items_u, c_item)
    reps = n_a[pos]
    r_cand = np.repeat(np.arange(len(c_item)), reps)
    r_src = a_src[np.repeat(first_a[pos], reps) + _segments(reps)]
    # Each proposal against every candidate of its cluster: the best relation per (candidate, source).
    k_size = np.diff(np.append(k_first, len(c_item)))
    pk = c_cluster[p_cand]
    preps = k_size[pk]
    pair_p = np.repeat(np.arange(len(p_cand)), preps)
    pair_c = np.repeat(k_first[pk], preps) + _segments(preps)
    pc_ = p_cand[pair_p]
    same_start, same_end = c_start[pc_] == c_start[pair_c], c_end[pc_] == c_end[pair_c]
    same_bounds = same_start & same_end
    overlap = (c_start[pc_] < c_end[pair_c]) & (c_start[pair_c] < c_end[pc_])
    same_type = c_lab[pc_] == c_lab[pair_c]
    rel = np.where(pc_ == pair_c, EXACT, np.where(same_bounds, WRONG_TYPE,
                   np.where(overlap & same_type, np.where(same_start | same_end, np.where(
                       c_end[pc_] - c_start[pc_] > c_end[pair_c] - c_start[pair_c], WIDER, NARROWER), WRONG_BOUNDS), OTHER)))
    n_src = int(max(a_src.max(initial=0), p_src.max(initial=0))) + 1
    row_key = r_cand * n_src + r_src
    pair_key = pair_c * n_src + p_src[pair_p]
    r_cat = np.full(len(r_cand), MISS, np.int64)
    at = np.searchsorted(row_key, pair_key)
    for cat in range(OTHER, EXACT - 1, -1):  # the best (lowest) relation written last wins
        r_cat[at[rel == cat]] = cat
    r_idx = (r_src * n_labels + c_lab[r_cand]) * _N_CAT + r_cat
    part = _Partition(c_item, c_start, c_end, c_lab, c_cluster, k_first, r_cand, r_src, r_cat, p_cand, p_src,
                      a_src, len(items_u), r_idx, c_cluster[p_cand])
    # Pairs: disjoint candidates of one small cluster. As a pair member, a candidate is answered only by
    # the proposals overlapping it: a source's span on the other member is no error about this one.
    q_a, q_b = _disjoint_pairs(c_start, c_end, k_first, k_size)
    if len(q_a):
        paired = np.zeros(len(c_item), bool)
        paired[q_a] = paired[q_b] = True
        r_cat2 = np.full(len(r_cand), MISS, np.int64)
        for cat in range(OTHER, EXACT - 1, -1):
            r_cat2[at[(rel == cat) & overlap]] = cat
        q_rows = np.flatnonzero(paired[r_cand])
        part.q_a, part.q_b, part.q_rows = q_a, q_b, q_rows
        part.q_ridx = (r_src[q_rows] * n_labels + c_lab[r_cand[q_rows]]) * _N_CAT + r_cat2[q_rows]
    part.c_len = _length_class(c_start, c_end)
    part.p_len = part.c_len[p_cand]
    return part


def _disjoint_pairs(c_start: np.ndarray, c_end: np.ndarray, k_first: np.ndarray, k_size: np.ndarray,
                    max_size: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of non-overlapping candidates of one cluster (clusters of at most `max_size` candidates:
    bigger ones are spam, whose pairs would only cost time)."""
    c_k = np.repeat(np.arange(len(k_first)), k_size)
    small = k_size[c_k] <= max_size
    cand = np.flatnonzero(small)
    later = (k_first[c_k] + k_size[c_k])[cand] - cand - 1
    a = np.repeat(cand, later)
    b = np.repeat(cand + 1, later) + _segments(later)
    keep = (c_end[a] <= c_start[b]) | (c_end[b] <= c_start[a])
    return a[keep], b[keep]


def _clamp_gold(part: _Partition, gold_keys: pa.Table | None, gold_items: np.ndarray | None) -> None:
    """On gold items the truth is known: a cluster's posterior is its gold span, or nothing."""
    if gold_keys is None or gold_items is None or not len(gold_items):
        return
    on_gold = np.isin(part.c_item, gold_items)
    if not on_gold.any():
        return
    cand = pa.table({"item": part.c_item, "start": part.c_start, "end": part.c_end, "lab": part.c_lab,
                     "cid": np.arange(len(part.c_item))})
    hit = cand.join(gold_keys, ["item", "start", "end", "lab"], join_type="inner")["cid"].to_numpy()
    is_gold = np.zeros(len(part.c_item), bool)
    is_gold[hit] = True
    n_k = len(part.k_first)
    k_gold = np.zeros(n_k, bool)
    k_gold[part.c_cluster[on_gold]] = True
    k_has = np.bincount(part.c_cluster, weights=is_gold, minlength=n_k) > 0
    gp = np.full(n_k + len(part.c_item), np.nan)
    gp[:n_k] = np.where(k_gold, np.where(k_has, 0.0, 1.0), np.nan)
    gp[n_k:] = np.where(on_gold, is_gold.astype(float), np.nan)
    part.gold_post = gp


# --- EM ---------------------------------------------------------------------------------------------------


@dataclass
class _Rates:
    log_true: np.ndarray    # [source, type, category]: how a source answers a true span of a type
    log_invent: np.ndarray  # [source]: log of invented spans per item, per type they could take
    log_prior: np.ndarray   # [type]: log of true spans per item
    log_len_true: np.ndarray  # [length class]: log of how much likelier a true span is of that length than
    log_len_invent: np.ndarray  # an average span; the same for an invented span


@dataclass
class _Counts:
    """Sufficient statistics of one partition; partitions are reduced by adding them."""

    true: np.ndarray      # [source, type, category] expected counts
    invented: np.ndarray  # [source] expected invented spans
    answered: np.ndarray  # [source] items answered
    n_type: np.ndarray    # [type] expected true spans
    n_items: int
    len_true: np.ndarray = field(default_factory=lambda: np.zeros(_N_LEN))    # [length class] expected true spans
    len_invent: np.ndarray = field(default_factory=lambda: np.zeros(_N_LEN))  # [length class] expected invented

    def __add__(self, other: _Counts) -> _Counts:
        return _Counts(self.true + other.true, self.invented + other.invented, self.answered + other.answered,
                       self.n_type + other.n_type, self.n_items + other.n_items,
                       self.len_true + other.len_true, self.len_invent + other.len_invent)


def _e_step(part: _Partition, rates: _Rates) -> None:
    """Cluster posteriors. Generative story: true spans of type t occur at rate λ_t per item, each at
    one of `span_places` places; a source invents spans at its own rate ρ_s, also at random places; a true
    span is answered by each voter per its rates (exact, wrong type...). So "nothing here" costs each
    proposer ρ_s / places, and "c is true" costs λ_t / places once plus every voter's answer to c."""
    n_k, n_c = len(part.k_first), len(part.c_item)
    n_lab = rates.log_true.shape[1]
    choice = -np.log([1.0, max(n_lab - 1, 1), _CHOICE_ONE_BOUND, _CHOICE_ONE_BOUND, _CHOICE_WRONG_BOUNDS,
                      _CHOICE_OTHER, 1.0])
    row_ll = (rates.log_true + choice).ravel()
    p_invent = rates.log_invent[part.p_src] + rates.log_len_invent[part.p_len]
    c_true = rates.log_prior[part.c_lab] + rates.log_len_true[part.c_len] - part.c_logv
    # A source's further proposals in a cluster are not explained by a true span there: invented.
    extra = (np.bincount(part.p_k[part.p_extra], weights=p_invent[part.p_extra], minlength=n_k)
             - part.k_extra_logv)
    ll_c = np.bincount(part.r_cand, weights=row_ll[part.r_idx], minlength=n_c) + c_true + extra[part.c_cluster]
    ll_none = np.bincount(part.p_k, weights=p_invent, minlength=n_k) - part.k_logv
    m = np.maximum(np.maximum.reduceat(ll_c, part.k_first) if n_c else ll_none, ll_none)
    ll_q = np.zeros(0)
    if len(part.q_a):
        # Two true spans: each answered by the proposals overlapping it; only a source's 3rd+ proposal is invented.
        alone = np.bincount(part.r_cand[part.q_rows], weights=row_ll[part.q_ridx], minlength=n_c) + c_true
        extra2 = (np.bincount(part.p_k[part.p_extra2], weights=p_invent[part.p_extra2], minlength=n_k)
                  - part.k_extra2_logv)
        q_k = part.c_cluster[part.q_a]
        ll_q = alone[part.q_a] + alone[part.q_b] + extra2[q_k]
        np.maximum.at(m, q_k, ll_q)
    e_c = np.exp(ll_c - m[part.c_cluster])
    e_none = np.exp(ll_none - m)
    z = np.bincount(part.c_cluster, weights=e_c, minlength=n_k) + e_none
    if len(part.q_a):
        e_q = np.exp(ll_q - m[q_k])
        z += np.bincount(q_k, weights=e_q, minlength=n_k)
        part.post_q = e_q / z[q_k]
    part.post_c, part.post_none = e_c / z[part.c_cluster], e_none / z
    _pin_gold(part)


def _pin_gold(part: _Partition) -> None:
    if part.gold_post is not None:
        n_k, g = len(part.k_first), part.gold_post
        part.post_none = np.where(np.isnan(g[:n_k]), part.post_none, g[:n_k])
        part.post_c = np.where(np.isnan(g[n_k:]), part.post_c, g[n_k:])
        if len(part.q_a):  # a gold cluster's truth is pinned as single spans
            part.post_q = np.where(np.isnan(g[n_k:][part.q_a]), part.post_q, 0.0)


def _init_posteriors(part: _Partition) -> None:
    """Start EM from span majority vote: a candidate proposed exactly by at least half of its item's
    voters is true, other clusters hold nothing. Softer starts (vote shares) let the many one-vote
    invented spans in, and EM then settles in the fit where they are true and careful sources chronic
    missers; from majority vote it climbs to the fit where agreement means truth."""
    n_k, n_c = len(part.k_first), len(part.c_item)
    exact = np.bincount(part.r_cand, weights=part.r_cat == EXACT, minlength=n_c)
    voters = np.bincount(part.r_cand, minlength=n_c)
    share = np.where(exact * 2 >= voters, exact, 0.0)
    best = np.maximum.reduceat(share, part.k_first) if n_c else np.zeros(n_k)
    won = (share > 0) & (share == best[part.c_cluster])
    n_won = np.bincount(part.c_cluster, weights=won, minlength=n_k)
    part.post_c = won / np.where(n_won > 0, n_won, 1.0)[part.c_cluster]
    part.post_none = (n_won == 0).astype(float)
    part.post_q = np.zeros(len(part.q_a))
    _pin_gold(part)


def _m_counts(part: _Partition, n_src: int, n_lab: int) -> _Counts:
    size = n_src * n_lab * _N_CAT
    true = np.bincount(part.r_idx, weights=part.post_c[part.r_cand], minlength=size)
    n_k = len(part.k_first)
    q_mass = np.zeros(n_k)
    marginal = part.post_c
    if len(part.q_a):
        marginal = part.marginal()
        in_pair = marginal - part.post_c
        true = true + np.bincount(part.q_ridx, weights=in_pair[part.r_cand[part.q_rows]], minlength=size)
        q_mass = np.bincount(part.c_cluster[part.q_a], weights=part.post_q, minlength=n_k)
    single = 1.0 - part.post_none - q_mass
    # Per proposal: the chance it is invented (its cluster holds nothing, or it is a source's extra there).
    w_invent = part.post_none[part.p_k] + single[part.p_k] * part.p_extra + q_mass[part.p_k] * part.p_extra2
    invented = np.bincount(part.p_src, weights=w_invent, minlength=n_src)
    answered = np.bincount(part.a_src, minlength=n_src).astype(float)
    return _Counts(true.reshape(n_src, n_lab, _N_CAT), invented, answered,
                   np.bincount(part.c_lab, weights=marginal, minlength=n_lab), part.n_items,
                   np.bincount(part.c_len, weights=marginal, minlength=_N_LEN),
                   np.bincount(part.p_len, weights=w_invent, minlength=_N_LEN))


def _rates(c: _Counts, shrink: float) -> _Rates:
    overall = c.true.sum(axis=1) + _PRIOR_TRUE
    overall = overall / overall.sum(axis=1, keepdims=True)
    per_type = c.true + shrink * overall[:, None, :]
    per_type = per_type / per_type.sum(axis=2, keepdims=True)
    invent = (c.invented + _PRIOR_INVENTED) / (c.answered + 1.0)
    prior = (c.n_type + 0.5) / (c.n_items + 1.0)
    # Length profiles against that of all spans (true or invented), so that only their difference moves a
    # decision; one pseudo-span per class keeps an unseen class neutral.
    len_true = (c.len_true + 1.0) / (c.len_true.sum() + _N_LEN)
    len_invent = (c.len_invent + 1.0) / (c.len_invent.sum() + _N_LEN)
    len_all = (c.len_true + c.len_invent + 1.0) / (c.len_true.sum() + c.len_invent.sum() + _N_LEN)
    # An invented span has a place and a type, both at random; a true span of type t only a place.
    return _Rates(np.log(per_type), np.log(invent / len(c.n_type)), np.log(prior),
                  np.log(len_true / len_all), np.log(len_invent / len_all))


# --- the whole run ----------------------------------------------------------------------------------------


def _partitions(f: _Flat, n_items: int, size: int) -> list[tuple[slice, slice]]:
    """Item ranges as slices of the (item-sorted) answers and proposals."""
    a_order = np.argsort(f.a_item, kind="stable")
    for name in ("a_item", "a_src", "a_human"):
        setattr(f, name, getattr(f, name)[a_order])
    bounds = np.arange(0, n_items + size, size)
    a_cut = np.searchsorted(f.a_item, bounds)
    p_cut = np.searchsorted(f.p_item, bounds)
    return [(slice(a_cut[i], a_cut[i + 1]), slice(p_cut[i], p_cut[i + 1])) for i in range(len(bounds) - 1)
            if a_cut[i + 1] > a_cut[i]]


def _gold_keys(gold: pa.Table | None, f: _Flat, labels: Sequence[str]) -> tuple[pa.Table | None, np.ndarray | None]:
    if gold is None or gold.num_rows == 0:
        return None, None
    gold = gold.filter(pc.is_valid(gold["answer"]))
    pos = pc.index_in(gold["item_id"].combine_chunks().cast(_STR), value_set=f.item_ids)
    gold = gold.filter(pc.is_valid(pos))
    items = pc.drop_null(pos).to_numpy(zero_copy_only=False).astype(np.int64)
    ans = gold["answer"].combine_chunks()
    parent = pc.list_parent_indices(ans).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(ans)
    lab = pc.index_in(flat.field("label"), value_set=pa.array(list(labels), _STR))
    ok = pc.is_valid(lab).to_numpy(zero_copy_only=False)
    keys = pa.table({"item": items[parent][ok], "start": flat.field("start").to_numpy(zero_copy_only=False)[ok].astype(np.int64),
                     "end": flat.field("end").to_numpy(zero_copy_only=False)[ok].astype(np.int64),
                     "lab": lab.to_numpy(zero_copy_only=False)[ok].astype(np.int64)})
    return keys, np.unique(items)


def span_places(item_ids: pa.Array, texts: pa.Table | None, default: float) -> np.ndarray:
    """Places a span can take in each item: 1.5 per token of its text (entities are 1-2 tokens), counted
    in Arrow with the "words" tokeniser's pattern; `default` where the text is not given."""
    out = np.full(len(item_ids), float(default))
    if texts is None or texts.num_rows == 0:
        return out
    n_tok = pc.count_substring_regex(texts["payload"].combine_chunks().cast(_STR), r"[^\W_]+|[^\w\s]|_")
    pos = pc.index_in(item_ids, value_set=texts["item_id"].combine_chunks().cast(_STR))
    got = pc.take(n_tok, pos)
    known = pc.is_valid(got).to_numpy(zero_copy_only=False)
    out[known] = np.maximum(1.5 * pc.drop_null(got).to_numpy(zero_copy_only=False), 3.0)
    return out


def consolidate_spans(votes: pa.Table, settings: SpanConsensusSettings, gold: pa.Table | None = None,
                      texts: pa.Table | None = None) -> SpanConsolidation:
    """Consolidate span votes.

    Args:
        votes: item_id, source_id, source_kind ("human", "model", "lf"...), answer (SPANS_TYPE; an empty
            list means "no entities", null means the source abstained).
        settings: labels, the resolution rule's numbers, overlap and ban settings.
        gold: optional item_id, answer (SPANS_TYPE): known answers. They pin the clusters of their items
            during learning (so sources are measured against the truth where it is known) and score sources.
        texts: optional item_id, payload: the items' texts, whose lengths say how many places a span can
            take (how rare an accidental agreement is); `settings.span_places` for items without one.

    Returns:
        items: one row per item with at least one non-null vote; sources: one row per source.
    """
    labels = settings.labels
    n_lab = max(len(labels), 1)
    f = _flatten(votes, labels)
    n_items, n_src = len(f.item_ids), len(f.source_ids)
    gold_keys, gold_items = _gold_keys(gold, f, labels)
    log_places = np.log(span_places(f.item_ids, texts, settings.span_places))
    parts = []
    for sa, sp in _partitions(f, n_items, settings.partition_items):
        part = _build_partition(f, sa, sp, settings.allow_overlap, n_lab)
        part.c_logv = log_places[part.c_item]
        k_places = log_places[part.c_item[part.k_first]]
        part.k_logv = np.bincount(part.p_k, minlength=len(part.k_first)) * k_places
        o = np.lexsort((part.p_src, part.p_k))
        part.p_extra = np.zeros(len(o), bool)
        part.p_extra[o[1:]] = (part.p_k[o][1:] == part.p_k[o][:-1]) & (part.p_src[o][1:] == part.p_src[o][:-1])
        part.k_extra_logv = np.bincount(part.p_k[part.p_extra], minlength=len(part.k_first)) * k_places
        part.p_extra2 = np.zeros(len(o), bool)
        part.p_extra2[o[2:]] = part.p_extra[o[2:]] & part.p_extra[o[1:-1]]
        part.k_extra2_logv = np.bincount(part.p_k[part.p_extra2], minlength=len(part.k_first)) * k_places
        _clamp_gold(part, gold_keys, gold_items)
        parts.append(part)
    counts = None
    for part in parts:
        _init_posteriors(part)
        c = _m_counts(part, n_src, n_lab)
        counts = c if counts is None else counts + c
    rates = _rates(counts if counts is not None else
                   _Counts(np.zeros((n_src, n_lab, _N_CAT)), np.zeros(n_src), np.zeros(n_src), np.zeros(n_lab), 0),
                   settings.type_shrinkage)
    prev = np.exp(rates.log_true)
    it = 0
    for it in range(1, settings.max_iter + 1):
        counts = None
        for part in parts:
            _e_step(part, rates)
            c = _m_counts(part, n_src, n_lab)
            counts = c if counts is None else counts + c
        if counts is None:
            break
        rates = _rates(counts, settings.type_shrinkage)
        now = np.exp(rates.log_true)
        if np.abs(now - prev).max() < settings.tol:
            break
        prev = now
    for part in parts:
        _e_step(part, rates)
    items = _item_rows(f, parts, rates, settings, n_items)
    if gold_keys is not None and len(gold_items):
        items = _calibrate_on_gold(items, _honest_gold_rows(f, parts, rates, settings, n_items),
                                   gold_keys, gold_items, settings)
    sources = _source_rows(f, parts, rates, settings, gold, labels)
    return SpanConsolidation(items, sources, it)


def _unseen_entity_probability(f: _Flat, parts: list[_Partition], rates: _Rates, n_items: int) -> np.ndarray:
    """Per item: the chance that a true entity exists that every voter missed (no cluster holds it)."""
    miss = np.exp(rates.log_true[:, :, MISS]).mean(axis=1)
    log_all_miss = np.bincount(f.a_item, weights=np.log(np.clip(miss[f.a_src], 1e-12, 1)), minlength=n_items)
    chosen = sum(float(p.marginal().sum()) for p in parts)
    rate = chosen / max(n_items, 1)  # expected true entities per item
    expected_hidden = rate * np.exp(log_all_miss)
    return 1.0 - np.exp(-expected_hidden)


def _drop_overlaps(it, st, en, lb, cf):
    """Rival clusters rarely both win with overlapping spans (only when their cores are apart); where
    they do, the less sure span goes, as the answer may not hold overlaps."""
    while True:
        clash = np.flatnonzero((it[1:] == it[:-1]) & (st[1:] < en[:-1]))
        if not len(clash):
            return it, st, en, lb, cf
        drop = np.where(cf[clash] < cf[clash + 1], clash, clash + 1)
        keep = np.ones(len(it), bool)
        keep[drop] = False
        it, st, en, lb, cf = it[keep], st[keep], en[keep], lb[keep], cf[keep]


def _honest_gold_rows(f: _Flat, parts: list[_Partition], rates: _Rates, s: SpanConsensusSettings,
                      n_items: int) -> pa.Table:
    """Gold items' answers as the model would give them without their gold: forecasts to calibrate on."""
    for part in parts:
        pinned, part.gold_post = part.gold_post, None
        _e_step(part, rates)
        part.gold_post = pinned
    honest = _item_rows(f, parts, rates, s, n_items)
    for part in parts:
        _e_step(part, rates)
    return honest


def _calibrate_on_gold(items: pa.Table, honest: pa.Table, gold_keys: pa.Table, gold_items: np.ndarray,
                       s: SpanConsensusSettings) -> pa.Table:
    """Lower span and item confidences to what gold certifies (tasks/consensus/calibration.py's map:
    Platt scaling capped by a certified lower bound), fitted on the gold items' honest forecasts, so
    that a confidence of 0.9 is right 90% of the time even where the crowd's errors are not independent."""
    on_gold = np.zeros(items.num_rows, bool)
    on_gold[gold_items] = True
    h = honest.filter(pa.array(on_gold))
    h_item = gold_items  # honest rows of gold items, in item-code order
    spans = h["spans"].combine_chunks()
    parent = pc.list_parent_indices(spans).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(spans)
    lab = pc.index_in(flat.field("label"), value_set=pa.array(list(s.labels), _STR)).to_numpy(zero_copy_only=False)
    got = pa.table({"item": h_item[parent], "start": flat.field("start").cast(pa.int64()),
                    "end": flat.field("end").cast(pa.int64()), "lab": lab.astype(np.int64),
                    "row": np.arange(len(parent))})
    hit = got.join(gold_keys.group_by(["item", "start", "end", "lab"]).aggregate([]),
                   ["item", "start", "end", "lab"], join_type="inner")["row"].to_numpy()
    span_ok = np.zeros(len(parent), bool)
    span_ok[hit] = True
    span_conf = pc.list_flatten(h["span_confidence"]).to_numpy(zero_copy_only=False)
    n_got = np.bincount(parent, minlength=len(h_item))
    n_hit = np.bincount(parent, weights=span_ok, minlength=len(h_item))
    n_gold = np.bincount(np.searchsorted(h_item, gold_keys["item"].to_numpy()), minlength=len(h_item))
    item_ok = (n_got == n_hit) & (n_hit == n_gold)
    item_cal = fit_gold_calibration(h["confidence"].to_numpy(), item_ok)
    span_cal = fit_gold_calibration(span_conf, span_ok) if len(span_conf) else None
    confidence = items["confidence"].to_numpy()
    confidence = np.where(on_gold, confidence, item_cal.apply(confidence) if item_cal else confidence)
    all_spans = items["span_confidence"].combine_chunks()
    sc = pc.list_flatten(all_spans).to_numpy(zero_copy_only=False)
    sc_gold = on_gold[pc.list_parent_indices(all_spans).to_numpy(zero_copy_only=False)]
    if span_cal is not None and len(sc):
        sc = np.where(sc_gold, sc, span_cal.apply(sc))
    decision = decide(confidence, items["n_votes"].to_numpy(), s.target_confidence, s.max_overlap, s.min_votes)
    return items.set_column(items.schema.get_field_index("span_confidence"), "span_confidence",
                            pa.ListArray.from_arrays(all_spans.offsets, pa.array(sc, pa.float64()))) \
        .set_column(items.schema.get_field_index("confidence"), "confidence", pa.array(confidence)) \
        .set_column(items.schema.get_field_index("decision"), "decision", pa.array(decision, _STR))


def _item_rows(f: _Flat, parts: list[_Partition], rates: _Rates, s: SpanConsensusSettings, n_items: int) -> pa.Table:
    item_parts, start_parts, end_parts, lab_parts, conf_parts = [], [], [], [], []
    log_conf = np.zeros(n_items)
    for part in parts:
        n_k = len(part.k_first)
        # The chosen hypothesis of each cluster: its best candidate if it beats "nothing".
        best = np.full(n_k, -1, np.int64)
        best_p = part.post_none.copy()
        if len(part.c_item):
            order = np.lexsort((-part.post_c, part.c_cluster))
            top = order[np.searchsorted(part.c_cluster[order], np.arange(n_k))]
            take = part.post_c[top] > part.post_none
            best = np.where(take, top, -1)
            best_p = np.where(take, part.post_c[top], part.post_none)
        sel = best[best >= 0]
        if len(part.q_a):
            # A pair wins its cluster when it beats every single hypothesis and "nothing".
            q_k = part.c_cluster[part.q_a]
            order = np.lexsort((-part.post_q, q_k))
            first = np.searchsorted(q_k[order], np.arange(n_k))
            has = first < len(order)
            top_q = order[np.minimum(first, len(order) - 1)]
            win = has & (q_k[top_q] == np.arange(n_k)) & (part.post_q[top_q] > best_p)
            best_p = np.where(win, part.post_q[top_q], best_p)
            won = top_q[win]
            sel = np.concatenate([best[(best >= 0) & ~win], part.q_a[won], part.q_b[won]])
        k_item = part.c_item[part.k_first]
        np.add.at(log_conf, k_item, np.log(np.clip(best_p, 1e-300, 1)))
        item_parts.append(part.c_item[sel])
        start_parts.append(part.c_start[sel])
        end_parts.append(part.c_end[sel])
        lab_parts.append(part.c_lab[sel])
        conf_parts.append(part.marginal()[sel])
    it = np.concatenate(item_parts) if item_parts else np.zeros(0, np.int64)
    st = np.concatenate(start_parts) if start_parts else np.zeros(0, np.int64)
    en = np.concatenate(end_parts) if end_parts else np.zeros(0, np.int64)
    lb = np.concatenate(lab_parts) if lab_parts else np.zeros(0, np.int64)
    cf = np.concatenate(conf_parts) if conf_parts else np.zeros(0)
    o = np.lexsort((lb, en, st, it))
    it, st, en, lb, cf = it[o], st[o], en[o], lb[o], cf[o]
    if not s.allow_overlap:
        it, st, en, lb, cf = _drop_overlaps(it, st, en, lb, cf)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(it, minlength=n_items))]).astype(np.int32)
    label_arr = pc.take(pa.array(list(s.labels), _STR), pa.array(lb))
    structs = pa.StructArray.from_arrays([pa.array(st, pa.int32()), pa.array(en, pa.int32()), label_arr],
                                         fields=list(SPAN_TYPE))
    spans = pa.ListArray.from_arrays(pa.array(offsets), structs, type=SPANS_TYPE)
    span_conf = pa.ListArray.from_arrays(pa.array(offsets), pa.array(cf, pa.float64()))
    confidence = np.exp(log_conf) * (1.0 - _unseen_entity_probability(f, parts, rates, n_items))
    n_votes = np.bincount(f.a_item, weights=f.a_human, minlength=n_items).astype(np.int64)
    decision = decide(confidence, n_votes, s.target_confidence, s.max_overlap, s.min_votes)
    return pa.table({"item_id": f.item_ids, "spans": spans, "span_confidence": span_conf,
                     "confidence": pa.array(confidence), "n_votes": pa.array(n_votes),
                     "decision": pa.array(decision, _STR)})


def _source_rows(f: _Flat, parts: list[_Partition], rates: _Rates, s: SpanConsensusSettings,
                 gold: pa.Table | None, labels: Sequence[str]) -> pa.Table:
    n_src = len(f.source_ids)
    n_lab = max(len(labels), 1)
    n_answers = np.bincount(f.a_src, minlength=n_src)
    n_spans = np.bincount(f.p_src, minlength=n_src)
    # Learned on every item: expected share of a source's spans that are true, and of true spans it finds.
    right = np.zeros(n_src)
    found = np.zeros(n_src)
    truth_seen = np.zeros(n_src)
    type_found = np.zeros((n_src, n_lab))
    type_seen = np.zeros((n_src, n_lab))
    for part in parts:
        marginal = part.marginal()
        right += np.bincount(part.p_src, weights=marginal[part.p_cand], minlength=n_src)
        w = marginal[part.r_cand]
        exact = part.r_cat == EXACT
        found += np.bincount(part.r_src, weights=w * exact, minlength=n_src)
        truth_seen += np.bincount(part.r_src, weights=w, minlength=n_src)
        key = part.r_src * n_lab + part.c_lab[part.r_cand]
        type_found += np.bincount(key, weights=w * exact, minlength=n_src * n_lab).reshape(n_src, n_lab)
        type_seen += np.bincount(key, weights=w, minlength=n_src * n_lab).reshape(n_src, n_lab)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_spans > 0, right / np.maximum(n_spans, 1), np.nan)
        recall = np.where(truth_seen > 0, found / np.maximum(truth_seen, 1e-12), np.nan)
    spurious = np.exp(rates.log_invent) * n_lab
    per_type_recall = np.exp(rates.log_true[:, :, EXACT])
    enough = type_seen >= s.type_shrinkage
    lists = [[{"label": labels[t], "recall": float(per_type_recall[i, t]), "evidence": float(type_seen[i, t])}
              for t in range(len(labels)) if enough[i, t]] for i in range(n_src)]
    by_type = pa.array(lists, pa.list_(pa.struct([("label", _STR), ("recall", pa.float64()),
                                                   ("evidence", pa.float64())])))
    g = _gold_scores(f, gold, labels, n_src)
    banned = (g["n_gold"] >= s.min_answers_for_ban) & (g["f1_high"] < s.ban_below)
    cols = {"source_id": f.source_ids, "n_answers": pa.array(n_answers.astype(np.int64)),
            "n_spans": pa.array(n_spans.astype(np.int64)),
            "precision": pa.array(precision, mask=np.isnan(precision)),
            "recall": pa.array(recall, mask=np.isnan(recall)), "spurious_rate": pa.array(spurious),
            "recall_by_type": by_type}
    for k, v in g.items():
        cols[f"gold_{k}" if not k.startswith(("n_gold", "f1")) else k] = (
            pa.array(v, mask=np.isnan(v)) if v.dtype.kind == "f" else pa.array(v))
    cols["banned"] = pa.array(banned)
    return pa.table(cols)


def gold_span_scores(votes: pa.Table, gold: pa.Table, labels: Sequence[str]) -> pa.Table:
    """Per source of `votes` (SPANS_TYPE answers), its strict span scores on the `gold` items it answered:
    source_id, n_gold (gold items answered), exact (answered exactly right), tp, fp, fn, precision, recall
    and f1 each with a Wilson interval (`_low`, `_high`). What the consensus stage bans on, before the fit."""
    f = _flatten(votes, labels)
    g = _gold_scores(f, gold, labels, len(f.source_ids))
    return pa.table({"source_id": f.source_ids.cast(_STR), **{
        k: pa.array(v, mask=np.isnan(v)) if v.dtype.kind == "f" else pa.array(v) for k, v in g.items()}})


def _gold_scores(f: _Flat, gold: pa.Table | None, labels: Sequence[str], n_src: int) -> dict[str, np.ndarray]:
    """Strict span precision, recall and F1 of each source on the gold items it answered, with Wilson intervals.

    F1 = TP / (TP + (FP + FN) / 2), so its interval is the Wilson interval of that proportion.
    """
    tp = np.zeros(n_src)
    fp = np.zeros(n_src)
    fn = np.zeros(n_src)
    n_gold = np.zeros(n_src, np.int64)
    exact = np.zeros(n_src, np.int64)
    keys, gold_items = _gold_keys(gold, f, labels)
    if keys is not None and len(gold_items):
        on = np.isin(f.a_item, gold_items)
        n_gold = np.bincount(f.a_src[on], minlength=n_src).astype(np.int64)
        per_item = np.bincount(keys["item"].to_numpy(), minlength=len(f.item_ids))
        truth = np.bincount(f.a_src[on], weights=per_item[f.a_item[on]], minlength=n_src)
        pon = np.isin(f.p_item, gold_items)
        props = pa.table({"item": f.p_item[pon], "start": f.p_start[pon], "end": f.p_end[pon],
                          "lab": f.p_lab[pon], "src": f.p_src[pon]})
        hit = props.join(keys.group_by(["item", "start", "end", "lab"]).aggregate([]),
                         ["item", "start", "end", "lab"], join_type="inner")
        tp = np.bincount(hit["src"].to_numpy(), minlength=n_src).astype(float)
        fp = np.bincount(f.p_src[pon], minlength=n_src) - tp
        fn = truth - tp
        # An answer is exactly right when all its spans are gold spans and it has as many as gold.
        answer = f.a_item[on] * n_src + f.a_src[on]
        key = np.sort(answer)
        n_hit = np.bincount(np.searchsorted(key, hit["item"].to_numpy() * n_src + hit["src"].to_numpy()),
                            minlength=len(key))
        n_said = np.bincount(np.searchsorted(key, f.p_item[pon] * n_src + f.p_src[pon]), minlength=len(key))
        right = (n_hit == n_said) & (n_said == per_item[key // n_src])
        exact = np.bincount(key % n_src, weights=right, minlength=n_src).astype(np.int64)
    p_low, p_high = wilson_interval(tp, tp + fp)
    r_low, r_high = wilson_interval(tp, tp + fn)
    f_n = tp + (fp + fn) / 2
    f_low, f_high = wilson_interval(tp, f_n)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        rec = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(f_n > 0, tp / f_n, np.nan)
    live = n_gold > 0
    nan = np.where(live, 0.0, np.nan)
    return {"n_gold": n_gold, "exact": exact, "tp": tp.astype(np.int64), "fp": fp.astype(np.int64),
            "fn": fn.astype(np.int64),
            "precision": prec, "precision_low": p_low + nan, "precision_high": p_high + nan,
            "recall": rec, "recall_low": r_low + nan, "recall_high": r_high + nan,
            "f1": f1, "f1_low": f_low + nan, "f1_high": f_high + nan}
