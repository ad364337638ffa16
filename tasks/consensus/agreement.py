"""Inter-annotator agreement from per-item class counts: Krippendorff, Fleiss, Cohen pairs."""

from __future__ import annotations

__all__ = [
    "agreement_with_consensus",
    "cohen_kappa_pairs",
    "fleiss_kappa",
    "krippendorff_alpha",
    "per_label_alpha",
    "value_counts",
]

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from .alpha import alpha_from_counts, disagreements, distances
from .votes import EncodedVotes, encode_votes


def value_counts(votes: pa.Table, classes: Sequence[str]) -> tuple[EncodedVotes, np.ndarray]:
    """Items x classes vote counts (every vote counted, repeats included, abstains not)."""
    enc = encode_votes(votes, classes)
    keep = enc.label >= 0
    k = enc.n_classes
    flat = np.bincount(enc.item[keep] * k + enc.label[keep], minlength=enc.n_items * k)
    return enc, flat.reshape(enc.n_items, k)


_EXACT_BOOTSTRAP_UNITS = 20_000


def _normal_bootstrap(c: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap alphas for many units without resampling them one by one.

    Alpha is a smooth function of sums over units (disagreement D_u, n_uc). A bootstrap
    replicate's sums are sums of u independent draws of the per-unit vector, which for
    u > 20,000 units are Gaussian with mean u * mean and covariance u * Cov to within
    sampling noise (central limit theorem). Drawing the sums directly costs O(u * k^2) once
    instead of O(u * n_boot), and the alpha formula is applied to each draw as before.
    """
    delta = distances(np.arange(c.shape[1]), None, "nominal")
    feats = np.column_stack([disagreements(c, delta), c])
    u = len(feats)
    sums = rng.multivariate_normal(feats.sum(axis=0), u * np.cov(feats, rowvar=False), size=n_boot,
                                   method="eigh")
    n_c = sums[:, 1:]
    n = n_c.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - (n - 1) * sums[:, 0] / (n * n - np.square(n_c).sum(axis=1))


def _counts(votes: pa.Table | None, classes: Sequence[str], counts: np.ndarray | None) -> np.ndarray:
    return counts if counts is not None else value_counts(votes, classes)[1]


def krippendorff_alpha(votes: pa.Table | None, classes: Sequence[str], n_boot: int = 1000,
                       confidence: float = 0.95, seed: int = 0, counts: np.ndarray | None = None,
                       unit_ids: pa.Array | None = None) -> dict:
    """Nominal alpha (``alpha.alpha_from_counts``) with a bootstrap CI over items.

    ``counts`` (items x classes, from
    ``value_counts``) may be given instead of ``votes`` so callers encode the votes once;
    ``unit_ids`` (one per row of ``counts``) then fixes the units' order for the bootstrap.

    The bootstrap draws unit positions, so its interval would follow the order the votes came
    in (a database scan's order varies); units are put in item-id order first, and the same
    votes in any order give the same interval.

    Returns:
        dict(alpha, low, high, n_items (pairable), n_votes, n_boot).
    """
    if counts is None:
        enc, counts = value_counts(votes, classes)
        unit_ids = enc.item_ids
    if unit_ids is not None and len(unit_ids) > 1:
        counts = counts[pc.sort_indices(unit_ids.cast(pa.string())).to_numpy(zero_copy_only=False)]
    pairable = counts.sum(axis=1) >= 2
    out = {"alpha": float("nan"), "low": float("nan"), "high": float("nan"),
           "n_items": int(pairable.sum()), "n_votes": int(counts[pairable].sum()), "n_boot": int(n_boot)}
    if pairable.sum() == 0:
        return out
    c = counts[pairable]
    out["alpha"] = alpha_from_counts(c)  # one value in all: alpha undefined (NaN)
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        u = len(c)
        draws = []
        if u > _EXACT_BOOTSTRAP_UNITS:
            draws.append(_normal_bootstrap(c, n_boot, rng))
        else:
            batch = max(1, min(n_boot, 2_000_000 // max(u, 1)))
            for start in range(0, n_boot, batch):
                b = min(batch, n_boot - start)
                idx = rng.integers(0, u, size=(b, u))
                w = np.bincount((np.arange(b)[:, None] * u + idx).ravel(), minlength=b * u).reshape(b, u)
                draws.append(alpha_from_counts(c, unit_weights=w.astype(np.float64)))
        draws = np.concatenate(draws)
        draws = draws[np.isfinite(draws)]
        if len(draws):
            tail = (1 - confidence) / 2 * 100
            out["low"], out["high"] = (float(x) for x in np.percentile(draws, [tail, 100 - tail]))
    return out


def fleiss_kappa(votes: pa.Table | None, classes: Sequence[str], counts: np.ndarray | None = None) -> float:
    """Fleiss' kappa; every item with votes must have the same number of them (fixed overlap).

    Raises:
        ValueError: overlap varies; use ``krippendorff_alpha``, which handles that.
    """
    counts = _counts(votes, classes, counts)
    m = counts.sum(axis=1)
    counts, m = counts[m > 0], m[m > 0]
    if len(m) == 0:
        return float("nan")
    if (m != m[0]).any():
        raise ValueError(f"Fleiss' kappa needs a fixed overlap; items have between {m.min()!r} and "
                         f"{m.max()!r} votes: use krippendorff_alpha instead")
    n = float(m[0])
    if n < 2:
        return float("nan")
    p_i = (np.square(counts).sum(axis=1) - n) / (n * (n - 1))
    p_j = counts.sum(axis=0) / counts.sum()
    pe = float(np.square(p_j).sum())
    return float((p_i.mean() - pe) / (1 - pe)) if pe < 1 else float("nan")


def _first_vote_matrices(enc: EncodedVotes):
    """Per class a sparse sources x items 0/1 matrix of each source's first vote on an item."""
    keep = np.flatnonzero(enc.label >= 0)
    pair = enc.source[keep] * enc.n_items + enc.item[keep]
    _, first = np.unique(pair, return_index=True)
    rows = keep[first]
    shape = (enc.n_sources, enc.n_items)
    mats = []
    for c in range(enc.n_classes):
        r = rows[enc.label[rows] == c]
        mats.append(sp.csr_matrix((np.ones(len(r)), (enc.source[r], enc.item[r])), shape=shape))
    return mats


def cohen_kappa_pairs(votes: pa.Table | None, classes: Sequence[str], min_shared: int = 10,
                      enc: EncodedVotes | None = None) -> pa.Table:
    """Cohen's kappa for every source pair sharing at least ``min_shared`` items.

    Only pairs that share items are ever touched (sparse products), so 10k annotators cost
    what their overlaps cost, not 10k^2. A source's first vote on an item is the one used.

    Returns:
        ``pa.Table(source_a, source_b, n_shared, agreement, kappa)`` with source_a < source_b
        (by id), sorted by the pair: the same whatever order the votes came in.
    """
    enc = enc if enc is not None else encode_votes(votes, classes)
    mats = _first_vote_matrices(enc)
    any_vote = sum(mats[1:], mats[0])
    shared = sp.triu(any_vote @ any_vote.T, k=1).tocoo()
    sel = shared.data >= min_shared
    a, b, n = shared.row[sel], shared.col[sel], shared.data[sel]
    if len(a) == 0:  # sparse fancy indexing with empty index arrays returns objects
        none = pa.array([], pa.string())
        return pa.table({"source_a": none, "source_b": none, "n_shared": pa.array([], pa.int64()),
                         "agreement": pa.array([], pa.float64()), "kappa": pa.array([], pa.float64())})
    agree = np.zeros(len(a))
    pe = np.zeros(len(a))
    for m_c in mats:
        agree += np.asarray((m_c @ m_c.T)[a, b]).ravel()
        marg = (m_c @ any_vote.T).tocsr()
        pe += np.asarray(marg[a, b]).ravel() * np.asarray(marg[b, a]).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        po = agree / n
        pe = pe / (n * n)
        kappa = np.where(pe < 1, (po - pe) / (1 - pe), np.nan)
    ids = enc.source_ids.cast(pa.string())
    rank = np.empty(len(ids), dtype=np.int64)
    rank[pc.sort_indices(ids).to_numpy(zero_copy_only=False)] = np.arange(len(ids))
    a, b = np.where(rank[a] < rank[b], a, b), np.where(rank[a] < rank[b], b, a)
    order = np.lexsort((rank[b], rank[a]))
    a, b, n, po, kappa = a[order], b[order], n[order], po[order], kappa[order]
    return pa.table({
        "source_a": pc.take(ids, pa.array(a)), "source_b": pc.take(ids, pa.array(b)),
        "n_shared": pa.array(n.astype(np.int64)), "agreement": pa.array(po),
        "kappa": pa.array(kappa, mask=np.isnan(kappa)),
    })


def per_label_alpha(votes: pa.Table | None, classes: Sequence[str], counts: np.ndarray | None = None) -> pa.Table:
    """For each label, nominal alpha of the binary question "is it this label?".

    Returns ``pa.Table(label, alpha, n_votes)``: which labels annotators find hard.
    """
    counts = _counts(votes, classes, counts)
    m = counts.sum(axis=1)
    alphas = [alpha_from_counts(np.column_stack([counts[:, c], m - counts[:, c]]))
              for c in range(counts.shape[1])]
    return pa.table({"label": pa.array(list(classes), pa.string()), "alpha": pa.array(alphas),
                     "n_votes": pa.array(counts.sum(axis=0).astype(np.int64))})


def agreement_with_consensus(votes: pa.Table, consensus: pa.Table, classes: Sequence[str]) -> pa.Table:
    """Share of each source's non-abstain votes that equal the consensus label of the item.

    Returns ``pa.Table(source_id, n_votes, agreement)``; votes on items without a consensus
    label are not counted.
    """
    enc = encode_votes(votes, classes)
    pos = pc.index_in(consensus["item_id"].combine_chunks().cast(pa.string()),
                      value_set=enc.item_ids.cast(pa.string())).to_numpy(zero_copy_only=False)
    code = pc.index_in(consensus["label"].combine_chunks().cast(pa.string()),
                       value_set=pa.array(enc.classes)).to_numpy(zero_copy_only=False)
    ref = np.full(enc.n_items, -1, dtype=np.int64)
    ok = ~np.isnan(pos.astype(np.float64)) & ~np.isnan(code.astype(np.float64))
    ref[pos[ok].astype(np.int64)] = code[ok].astype(np.int64)
    r = ref[enc.item]
    counted = (enc.label >= 0) & (r >= 0)
    n = np.bincount(enc.source, weights=counted.astype(float), minlength=enc.n_sources)
    hit = np.bincount(enc.source, weights=(counted & (enc.label == r)).astype(float), minlength=enc.n_sources)
    with np.errstate(invalid="ignore", divide="ignore"):
        agr = np.where(n > 0, hit / np.where(n > 0, n, 1), np.nan)
    return pa.table({"source_id": enc.source_ids.cast(pa.string()), "n_votes": pa.array(n.astype(np.int64)),
                     "agreement": pa.array(agr, mask=np.isnan(agr))})
