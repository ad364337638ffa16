"""The consensus stage's pure core: what every kind shares, and the hand-off to the kind.

Everything here takes Arrow tables and plain values and returns Arrow tables and dicts; the
DuckDB reads and writes live in ``stage.py``. What an answer *is* (how votes become one answer
per item, how a source is scored on gold, how agreement is measured) belongs to the project's
answer kind (``tasks/kinds``, the consensus facet); ``run_consensus`` hands the inputs to it.
The pieces below are what every kind's facet reuses: the settings, the inputs and outcome, the
configured aggregator, warm-start parameters, bans from gold scores, and the decision rule that
turns a confidence and a vote count into resolved / needs more / adjudicate.
"""

from __future__ import annotations

__all__ = [
    "METHODS",
    "ConsensusInputs",
    "ConsensusOutcome",
    "ConsensusSettings",
    "ban_evidence",
    "fit_info",
    "labels_table",
    "make_aggregator",
    "params_from_bytes",
    "params_to_bytes",
    "per_item_votes",
    "run_consensus",
    "warm_capable",
]

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.config import ProjectConfig

from .base import Aggregator
from .dawid_skene import DawidSkene, DawidSkeneParams
from .glad import GLAD
from .label_model import LabelModel
from .machine import EVIDENCE
from .majority_vote import MajorityVote, WeightedMajorityVote
from .one_coin import OneCoinDawidSkene
from .resolution import decide
from .votes import check_option

METHODS = ("majority_vote", "weighted_majority_vote", "dawid_skene", "one_coin_dawid_skene", "glad",
           "label_model")
_STR = pa.string()
_DEFAULT_KIND = ProjectConfig.model_fields["task_kind"].default.value  # what a project that names none gets


@dataclass(frozen=True)
class ConsensusSettings:
    """The config values the core needs (taken from ``ProjectConfig`` by the stage)."""

    classes: tuple[str, ...]
    method: str = "label_model"
    kind: str = _DEFAULT_KIND
    """The project's answer kind (``task_kind``): which consensus facet ``run_consensus`` hands the inputs to."""
    target_confidence: float = 0.9
    max_overlap: int = 5
    min_votes: int = 1
    ban_below: float = 0.6
    min_answers_for_ban: int = 5
    max_iter: int = 100
    tol: float = 1e-6
    bootstrap: int = 200
    min_shared_for_kappa: int = 10
    resolve_without_humans: bool = False
    machine_evidence: str = "calibrated"
    answer: Mapping[str, Any] = field(default_factory=dict)
    """The kind's own options (`[answer]` in annoflow.toml, as `cfg.answer` holds them)."""

    def __post_init__(self):
        check_option("consensus.method", self.method, METHODS)
        check_option("consensus.machine_evidence", self.machine_evidence, EVIDENCE)


@dataclass
class ConsensusInputs:
    """What the stage read from the store.

    The answer column is the kind's ``consensus.input_column`` (``label`` below), as the kind's
    ``consensus.answer_sql`` selected it: a label, one ticked label per row of a set, a JSON answer.

    Attributes:
        votes: ``item_id, source_id, source_kind, label`` of non-banned, non-adjudicator sources;
            string or dictionary-encoded columns (the stage reads them encoded: every vote of a
            large project).
        scoring_votes: ``item_id, source_id, source_kind, label`` of every non-adjudicator source
            (banned ones too) on gold or adjudicated items: what sources are scored on.
        gold: ``item_id, label`` accepted answers from the gold file (several rows for a set).
        adjudications: ``item_id, label`` the expert's latest answer (several rows for a set).
        banned: source ids already banned before this run.
        kinds: ``source_id, kind`` for every registered source.
        vote_counts: answers per source over all its votes (banned sources included); when
            None they are counted from ``votes``.
        machine: ``item_id`` and one probability column per class: the pre-label (all labeling
            functions and models combined), the machines' single opinion per item (see
            ``machine.py``), read when the kind's ``consensus.wants_prelabels`` says so. Items
            with machine votes but no row here are combined from their votes.
        payloads: ``item_id, payload`` of the voted items, read when the kind's
            ``consensus.wants_payloads`` says so (None otherwise).
    """

    votes: pa.Table
    scoring_votes: pa.Table
    gold: pa.Table
    adjudications: pa.Table
    banned: list[str] = field(default_factory=list)
    kinds: pa.Table | None = None
    vote_counts: dict[str, int] | None = None
    machine: pa.Table | None = None
    payloads: pa.Table | None = None


@dataclass
class ConsensusOutcome:
    """What a kind's consensus returns (see ``ConsensusFacet.run`` in tasks/kinds/protocol.py).

    ``labels``: one row per item with votes (``labels_table``), the answer in the kind's storage
    column; ``source_stats``: one row per source (``report.source_stats_table``); ``new_bans``:
    ``source_id, evidence`` (``ban_evidence``); ``agreement``: JSON-ready summary; ``params``:
    fitted parameters for the next run's warm start; ``fit``: iterations, convergence, objective.
    """

    labels: pa.Table
    source_stats: pa.Table
    new_bans: pa.Table
    agreement: dict
    params: dict[str, DawidSkeneParams]
    fit: dict


def make_aggregator(s: ConsensusSettings, classes: Sequence[str], has_gold: bool) -> Aggregator:
    """The configured method; weighted majority vote weighs by gold accuracy when gold exists."""
    if s.method == "majority_vote":
        return MajorityVote(classes)
    if s.method == "weighted_majority_vote":
        return WeightedMajorityVote(classes, mode="gold" if has_gold else "wawa")
    if s.method == "dawid_skene":
        return DawidSkene(classes, max_iter=s.max_iter, tol=s.tol)
    if s.method == "one_coin_dawid_skene":
        return OneCoinDawidSkene(classes, max_iter=s.max_iter, tol=s.tol)
    if s.method == "glad":
        return GLAD(classes, max_iter=s.max_iter, tol=s.tol)
    return LabelModel(classes, max_iter=s.max_iter, tol=s.tol)


def warm_capable(s: ConsensusSettings) -> bool:
    return s.method in ("dawid_skene", "one_coin_dawid_skene", "label_model")


# -- parameters for warm start --------------------------------------------------------------
def params_to_bytes(params: dict[str, DawidSkeneParams]) -> bytes:
    """Serialise fitted parameters (one entry per fitted model, keyed as the kind keys them)."""
    arrays: dict[str, np.ndarray] = {}
    for i, (key, p) in enumerate(params.items()):
        arrays[f"key{i}"] = np.array(key)
        arrays[f"src{i}"] = np.array(p.source_ids.cast(_STR).to_pylist(), dtype=str)
        arrays[f"conf{i}"] = p.confusions
        arrays[f"prior{i}"] = p.priors
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def params_from_bytes(blob: bytes | None) -> dict[str, DawidSkeneParams]:
    if not blob:
        return {}
    z = np.load(io.BytesIO(blob), allow_pickle=False)
    out = {}
    i = 0
    while f"key{i}" in z.files:
        out[str(z[f"key{i}"])] = DawidSkeneParams(pa.array(z[f"src{i}"].tolist(), _STR), z[f"conf{i}"],
                                                  z[f"prior{i}"])
        i += 1
    return out


# -- shared by every kind's consensus ---------------------------------------------------------------
def fit_info(models) -> dict:
    """Iterations (the slowest model's), convergence (all of them) and the summed objective."""
    iters = [getattr(m, "n_iter_", None) for m in models]
    conv = [getattr(m, "converged_", None) for m in models]
    ll = [m.log_likelihood_[-1] for m in models if getattr(m, "log_likelihood_", None)]
    return {"n_iter": max((i for i in iters if i is not None), default=None),
            "converged": all(c for c in conv if c is not None) if any(c is not None for c in conv) else None,
            "objective": float(sum(ll)) if ll else None}


def per_item_votes(item_ids: pa.Array, vote_items, vote_sources, human: np.ndarray, pos: np.ndarray | None = None):
    """Per item of ``item_ids``: each answer's item position, n answers, n human, the sources list.

    One row per (item, source) answer: the kind decides what an answer row is (an abstain is none). A kind
    that already knows each answer's position in ``item_ids`` passes ``pos`` (``vote_items`` unused).
    """
    if pos is None:
        pos = pc.index_in(vote_items.combine_chunks().cast(_STR), value_set=item_ids).to_numpy(zero_copy_only=False)
    pos = pos.astype(np.int64)
    n_items = len(item_ids)
    n = np.bincount(pos, minlength=n_items)
    n_h = np.bincount(pos, weights=human.astype(np.float64), minlength=n_items).astype(np.int64)
    order = np.argsort(pos, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(n)]).astype(np.int32)
    sources = pa.ListArray.from_arrays(pa.array(offsets),
                                       pc.take(vote_sources.combine_chunks().cast(_STR), pa.array(order)))
    return pos, n, n_h, sources


def ban_evidence(s: ConsensusSettings, scores: pa.Table, banned: list[str]) -> tuple[pa.Table, pa.Table]:
    """(sources this run bans, their ``source_id, evidence`` rows) from ``score_table`` scores."""
    fresh = scores.filter(pc.and_(scores["banned"], pc.invert(pc.is_in(
        scores["source_id"], value_set=pa.array(sorted(set(banned)), _STR)))))
    new_bans = pa.table({
        "source_id": fresh["source_id"],
        "evidence": pa.array([json.dumps({
            "n_gold": r["n_gold"], "correct": r["correct"], "accuracy": r["accuracy"],
            "low": round(r["low"], 6), "high": round(r["high"], 6), "threshold": s.ban_below,
            "min_answers": s.min_answers_for_ban, "rule": "Wilson 95% upper bound below threshold"})
            for r in fresh.to_pylist()], _STR)})
    return fresh, new_bans


def labels_table(s: ConsensusSettings, column: str, ids: pa.Array, answers: pa.Array, conf: np.ndarray,
                 method: np.ndarray, is_ref: np.ndarray, n: np.ndarray, n_h: np.ndarray, hits: np.ndarray,
                 sources: pa.Array) -> pa.Table:
    """The labels rows: the answer in the kind's ``column``, and the decision every kind shares.

    ``is_ref`` marks items whose answer is accepted (gold, adjudicated): resolved whatever the
    votes; ``hits`` counts the answers equal to the final one (agreement = hits / n).
    """
    # With resolve_without_humans machine votes may settle an item alone, so no human minimum applies.
    decision = decide(conf, n_h, s.target_confidence, s.max_overlap, 0 if s.resolve_without_humans else s.min_votes)
    if not s.resolve_without_humans:
        decision[(n_h == 0) & (decision == "resolved")] = "needs_more"
    decision[is_ref] = "resolved"
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(n > 0, hits / np.where(n > 0, n, 1), np.nan)
    return pa.table({
        "item_id": ids, column: answers,
        "confidence": pa.array(np.round(conf, 6), pa.float64()),
        "method": pa.array(method.tolist(), _STR), "decision": pa.array(decision.tolist(), _STR),
        "n_votes": pa.array(n.astype(np.int32)), "n_human": pa.array(n_h.astype(np.int32)),
        "agreement": pa.array(np.round(agreement, 6), mask=np.isnan(agreement)),
        "sources": sources,
    })


# -- the whole core ----------------------------------------------------------------------------------
def run_consensus(s: ConsensusSettings, inputs: ConsensusInputs,
                  warm: dict[str, DawidSkeneParams] | None = None) -> ConsensusOutcome:
    """Score sources on gold, ban the ones below threshold, aggregate the rest, decide per item.

    The work is the project's kind's (``ConsensusFacet.run``): ``s.kind`` names it.

    Args:
        s: settings from the project config.
        inputs: tables read by the stage (see ``ConsensusInputs``).
        warm: stored parameters of the previous run, to warm-start EM.
    """
    from tasks.kinds import get

    return get(s.kind).consensus.run(inputs, s, warm or {})
