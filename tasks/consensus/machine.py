"""Machine evidence in consensus: labeling functions and models enter as one calibrated source.

Why not as votes. Items reach people because the machines were unsure about them, so a machine
source's accuracy learned over every item (mostly the easy ones its rules cover) overstates what
it is worth on the items people label; and the model is trained on the rules' labels, so a rule
and the model agreeing is one piece of evidence, not two. Counted as independent hard votes, two
rules and a model at 0.54 outvote two people who agree.

What instead. The pre-label (``prelabels.probs``: every labeling function and model combined into
one probability per class, as routing saw it) is the machine's single opinion per item. Its
log-probabilities ``z`` are recalibrated as ``softmax(scale[band] * z + bias)``: a temperature per
confidence band of the pre-label (``BANDS``) and a class bias, so that a 0.54 and a 0.99 can be
worth what each turned out to be worth. The calibration is fitted on the items people voted on
(gold excluded: a random sample, not the unsure items) by EM, jointly with each person's
confusion matrix: the E-step's prior for an item is the calibrated pre-label, the M-step
re-estimates the people and the calibration from the posteriors, gold clamped. A Gaussian prior
(scale around 1, bias around 0, sd 1) keeps a handful of items from making the machine decisive.

The item's posterior is then the configured method's human likelihood (its posterior over its
class prior) times the calibrated pre-label: the machines count once, with their confidence, as
much as they were right where people looked. A pre-label no better than chance there gets a
scale near 0, and consensus is the people's alone.

Counting methods (majority votes) have no likelihood to multiply, so there the machines become
one vote: the pre-label's most probable class.
"""

from __future__ import annotations

__all__ = [
    "BANDS",
    "EVIDENCE",
    "MACHINE_KINDS",
    "MACHINE_SOURCE",
    "MachineFit",
    "bands",
    "calibrated_probs",
    "combine",
    "fit_calibration",
    "human_likelihood",
    "machine_log_probs",
    "machine_vote",
    "split_votes",
    "with_fallback",
]

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.optimize import minimize
from scipy.special import log_softmax

from .dawid_skene import DawidSkene
from .votes import EncodedVotes

EVIDENCE = ("calibrated", "votes")
MACHINE_KINDS = ("lf", "model")
MACHINE_SOURCE = "machine"
"""The source id the collapsed machine vote carries under counting methods."""

BANDS = (0.7, 0.9, 0.98)
"""Edges of the pre-label confidence bands that each get their own scale."""
CALIBRATION_ROWS = 20_000
_FLOOR = 1e-6  # a pre-label probability of 0 would veto a class people chose


@dataclass(frozen=True)
class MachineFit:
    """The fitted calibration and how the machine fared on the items it was fitted on.

    Attributes:
        scale, bias: ``softmax(scale[band] * log p + bias)`` is the calibrated machine probability
            (one scale per confidence band, ``BANDS``).
        n_items: items with human votes (gold excluded) the calibration was fitted on.
        raw_confidence: the pre-label's mean top probability on those items.
        calibrated_confidence: the same after calibration.
        agreement: expected share of those items where the pre-label's top class is the
            human model's answer (what the machine's confidence should match there).
    """

    scale: tuple[float, ...]
    bias: tuple[float, ...]
    n_items: int
    raw_confidence: float | None
    calibrated_confidence: float | None
    agreement: float | None

    def as_dict(self) -> dict:
        r = lambda x: None if x is None else round(float(x), 4)
        return {"bands": list(BANDS), "scale": [r(x) for x in self.scale], "bias": [r(b) for b in self.bias], "n_items": self.n_items,
                "raw_confidence": r(self.raw_confidence), "calibrated_confidence": r(self.calibrated_confidence),
                "agreement": r(self.agreement)}


def split_votes(votes: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(people's votes, machine votes) by ``source_kind``."""
    kind = votes["source_kind"]
    if pa.types.is_dictionary(kind.type):
        kind = kind.cast(kind.type.value_type)
    machine = pc.is_in(kind, value_set=pa.array(MACHINE_KINDS, pa.string()))
    return votes.filter(pc.invert(machine)), votes.filter(machine)


def machine_log_probs(machine: pa.Table | None, item_ids: pa.Array, classes: Sequence[str]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Log pre-label probabilities aligned to ``item_ids`` and which items have one.

    ``machine`` has ``item_id`` and one float column per class (rows need not sum to 1: they are
    renormalised; a null or all-zero row counts as no evidence).
    """
    k = len(classes)
    z = np.zeros((len(item_ids), k))
    has = np.zeros(len(item_ids), dtype=bool)
    if machine is None or machine.num_rows == 0 or len(item_ids) == 0:
        return z, has
    ids = machine["item_id"].combine_chunks().cast(pa.string())
    p = np.column_stack([pc.fill_null(machine[c], np.nan).to_numpy(zero_copy_only=False) for c in classes])
    p = np.asarray(p, np.float64)
    total = p.sum(axis=1)
    ok = np.isfinite(total) & (total > 0)
    pos = pc.index_in(item_ids.cast(pa.string()), value_set=ids).to_numpy(zero_copy_only=False)
    pos = np.nan_to_num(pos.astype(np.float64), nan=-1).astype(np.int64)
    found = pos >= 0
    found[found] = ok[pos[found]]
    rows = p[pos[found]] / total[pos[found], None]
    z[found] = np.log(np.clip(rows, _FLOOR, 1.0))
    has[:] = found
    return z, has


def human_likelihood(post: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
    """P(people's votes | class) up to a constant per item: the posterior divided by the prior."""
    post = np.nan_to_num(np.asarray(post, np.float64), nan=1.0)
    if prior is not None:
        post = post / np.clip(np.asarray(prior, np.float64), 1e-12, None)
    total = post.sum(axis=1, keepdims=True)
    return np.where(total > 0, post / np.where(total > 0, total, 1.0), 1.0)


def bands(z: np.ndarray) -> np.ndarray:
    """Each pre-label's confidence band (``BANDS`` edges on its top probability)."""
    return np.digitize(np.exp(z).max(axis=1), BANDS) if len(z) else np.zeros(0, dtype=np.int64)


def calibrated_probs(z: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``softmax(scale[band] * z + bias)`` row by row."""
    return np.exp(log_softmax(np.asarray(scale)[bands(z)][:, None] * z + bias, axis=1))


def _m_calibration(theta: np.ndarray, z: np.ndarray, band: np.ndarray, t: np.ndarray, sd: float) -> np.ndarray:
    """Scales and bias maximising sum t * log softmax(scale[band] * z + bias) minus the Gaussian prior."""
    nb = len(BANDS) + 1

    def objective(th):
        scale, bias = th[:nb], th[nb:]
        log_c = log_softmax(scale[band][:, None] * z + bias, axis=1)
        diff = t - np.exp(log_c)
        value = -float((t * log_c).sum()) + (float(((scale - 1) ** 2).sum()) + float((bias**2).sum())) / (2 * sd**2)
        g_scale = -np.bincount(band, weights=(diff * z).sum(axis=1), minlength=nb) + (scale - 1) / sd**2
        return value, np.r_[g_scale, -diff.sum(axis=0) + bias / sd**2]

    # A few steps suffice: EM only needs each M-step to improve (generalised EM), and the outer
    # loop warm-starts from the last answer.
    res = minimize(objective, theta, jac=True, method="L-BFGS-B", options={"maxiter": 5},
                   bounds=[(0.0, 10.0)] * nb + [(None, None)] * (len(theta) - nb))
    return res.x if np.all(np.isfinite(res.x)) else theta


def fit_calibration(z: np.ndarray, has: np.ndarray, people: EncodedVotes, gold: np.ndarray, fit_rows: np.ndarray,
                    sd: float = 1.0, max_iter: int = 30, tol: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """The machine's scale and class bias, fitted jointly with the people's confusions.

    EM over the items people voted on: the E-step's prior for item i is the calibrated machine
    ``softmax(scale[band_i] * z_i + bias)`` (flat where it has no pre-label; gold items clamped), the
    M-step re-estimates each person's confusion matrix (Dawid–Skene's own M-step and Dirichlet
    prior) and the calibration on ``fit_rows``. Fitting them together matters: with weak
    people, confusions estimated from the people alone are too noisy to judge the machine by.

    Args:
        z, has: log pre-label probabilities of ``people``'s items (rows align to ``item_ids``).
        people: the human votes, encoded.
        gold: accepted class code per item, -1 for none.
        fit_rows: items the calibration is fitted on (pre-label present, not gold). Beyond
            ``CALIBRATION_ROWS`` of them an even stride of that many is used for the calibration
            step (a handful of parameters; ids are content hashes, so a stride is a fair sample),
            while the people's confusions still see every vote.
    """
    k, nb = people.n_classes, len(BANDS) + 1
    theta = np.r_[np.ones(nb), np.zeros(k)]
    if not fit_rows.any():
        return np.ones(nb), np.zeros(k)
    band = bands(z)
    fit = np.flatnonzero(fit_rows)
    if len(fit) > CALIBRATION_ROWS:
        fit = fit[np.linspace(0, len(fit) - 1, CALIBRATION_ROWS).astype(np.int64)]
    ok = people.label >= 0
    item, source, label = people.item[ok], people.source[ok], people.label[ok]
    cell = source * k + label
    gold_rows = gold >= 0
    clamp = np.where(np.eye(k, dtype=bool)[np.maximum(gold, 0)], 0.0, -np.inf)[gold_rows]
    model = DawidSkene(people.classes)
    # Start from every piece of evidence at face value: the pre-label as it says, each person
    # better than chance. (Starting from the people-only posterior keeps weak crowds' own mistakes.)
    face = np.log(0.5 * np.eye(k) + 0.5 / k)
    log_conf = np.broadcast_to(face, (people.n_sources, k, k))[source, label, :]
    for _ in range(max_iter):
        log_l = np.where(has[:, None], log_softmax(theta[:nb][band][:, None] * z + theta[nb:], axis=1), 0.0)
        for y in range(k):
            log_l[:, y] += np.bincount(item, weights=log_conf[:, y], minlength=people.n_items)
        log_l[gold_rows] += clamp
        t = np.exp(log_l - log_l.max(axis=1, keepdims=True))
        t /= t.sum(axis=1, keepdims=True)
        counts = np.column_stack([np.bincount(cell, weights=t[item, y], minlength=people.n_sources * k)
                                  for y in range(k)]).reshape(people.n_sources, k, k)
        log_conf = np.log(model._m_confusions(counts))[source, label, :]
        new = _m_calibration(theta, z[fit], band[fit], t[fit], sd)
        done = np.abs(new - theta).max() < tol
        theta = new
        if done:
            break
    return theta[:nb], theta[nb:] - theta[nb:].mean()


def combine(post: np.ndarray, prior: np.ndarray | None, z: np.ndarray, has: np.ndarray, scale: np.ndarray,
            bias: np.ndarray, fit_rows: np.ndarray) -> tuple[np.ndarray, MachineFit]:
    """Posterior per item from the human model's posterior and the calibrated pre-label.

    Args:
        post: the human-only aggregator's posterior per item (its prior where no person voted).
        prior: that aggregator's class prior (None: uniform).
        z, has: from ``machine_log_probs`` for the same items.
        scale, bias: from ``fit_calibration``.
        fit_rows: the items the calibration was fitted on (for the reported figures).

    Returns:
        The combined posterior (rows without machine evidence keep ``post``) and the fit.
    """
    lik = human_likelihood(post, prior)
    c = calibrated_probs(z, scale, bias)
    out = np.array(post, dtype=np.float64, copy=True)
    joint = lik[has] * c[has]
    out[has] = joint / joint.sum(axis=1, keepdims=True)
    rows = fit_rows & has
    fitted = int(rows.sum())
    raw = float(np.exp(z[rows]).max(axis=1).mean()) if fitted else None
    cal = float(c[rows].max(axis=1).mean()) if fitted else None
    agree = None
    if fitted:  # judged by the people alone, not by a posterior the machine itself moved
        people = np.nan_to_num(post[rows], nan=1.0 / post.shape[1])
        agree = float(people[np.arange(fitted), z[rows].argmax(axis=1)].mean())
    return out, MachineFit(tuple(np.asarray(scale).tolist()), tuple(bias.tolist()), fitted, raw, cal, agree)


def machine_vote(machine: pa.Table | None, item_ids: pa.Array, classes: Sequence[str]) -> pa.Table:
    """One vote per item with a pre-label: its most probable class, from ``MACHINE_SOURCE``."""
    z, has = machine_log_probs(machine, item_ids, classes)
    ids = item_ids.cast(pa.string()).filter(pa.array(has))
    label = np.asarray(classes, dtype=object)[z[has].argmax(axis=1)] if has.any() else np.zeros(0, object)
    n = int(has.sum())
    return pa.table({"item_id": ids, "source_id": pa.array([MACHINE_SOURCE] * n, pa.string()),
                     "source_kind": pa.array(["model"] * n, pa.string()), "label": pa.array(label.tolist(), pa.string())})


def _plain(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col


def with_fallback(machine: pa.Table | None, machine_votes: pa.Table, gold: pa.Table | None,
                  classes: Sequence[str]) -> pa.Table | None:
    """The pre-labels, plus the machine votes combined for items that have none.

    Votes written without the pre-label stage (imported, or a model added since) still need one
    machine opinion per item; the pre-label's own default combiner gives it.
    """
    if machine_votes.num_rows == 0:
        return machine
    ids = _plain(machine_votes["item_id"])
    missing = ids if machine is None else pc.filter(ids, pc.invert(pc.is_in(
        ids, value_set=machine["item_id"].combine_chunks().cast(pa.string()))))
    if len(missing) == 0:
        return machine
    from tasks.prelabel.combine import LogOddsCombiner

    plain = pa.table({c: _plain(machine_votes[c]) for c in ("item_id", "source_id", "label")})
    probs = LogOddsCombiner(list(classes)).fit_predict_proba(plain, gold)
    probs = probs.filter(pc.is_in(probs["item_id"], value_set=pc.unique(missing.combine_chunks())))
    probs = probs.cast(pa.schema([("item_id", pa.string())] + [(c, pa.float64()) for c in classes]))
    if machine is None:
        return probs
    return pa.concat_tables([machine.select(probs.column_names).cast(probs.schema), probs])
