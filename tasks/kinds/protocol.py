"""The protocol every answer kind implements: one object made of facets, one facet per concern.

A stage reaches what depends on the answer only through `kind_of(cfg).<facet>`; a facet is a plain
object (usually a module-level instance of a small class in the kind's package), so a kind can share a
facet with a sibling (single- and multi-label share most of theirs) and a test can call one facet alone.

Answers are stored in the column named by `storage.column` of the tables that hold answers (votes,
gold, labels, prelabels; the app's judgments): `label` (one string), `labels` (a list of strings) or
`answer` (JSON, for every structured kind). Between processes (the app's HTTP API, Label Studio,
exports) an answer travels as the JSON value `storage.to_json` returns.

Each facet below lists the methods stages call. A facet's section is owned by the stage that calls it;
a method a stage needs and the protocol lacks is added here, in that facet's section, with its
docstring saying which stage calls it and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    from schemas.config import ProjectConfig
    from tasks.consensus.dawid_skene import DawidSkeneParams
    from tasks.consensus.pipeline import (
        ConsensusInputs,
        ConsensusOutcome,
        ConsensusSettings,
    )

__all__ = [
    "AnswerKind",
    "ConsensusFacet",
    "ExportFacet",
    "PrelabelFacet",
    "QueueFacet",
    "SimulationFacet",
    "StorageFacet",
    "PROBLEM_SCHEMA",
]

PROBLEM_SCHEMA = pa.schema([
    ("row", pa.int64()),          # index of the offending row in the checked table
    ("item_id", pa.string()),
    ("source_id", pa.string()),   # the annotator / model / LF whose answer it is (null for gold rows)
    ("field", pa.string()),       # the part of the answer at fault, e.g. "label", "spans[2].end"
    ("reason", pa.string()),      # a snake_case reason code, e.g. "unknown_label", "span_outside_text"
    ("detail", pa.string()),      # one readable sentence naming the value and what was expected
])
"""What `StorageFacet.validate` returns: one row per problem, empty when every answer is valid."""


# --- storage and validation ------------------------------------------------------------------------
# Called by: schemas/tables.py (Pandera), collect (judgments), ingest of gold / existing answers,
# consensus (gold), export (the release gate's type checks).


class StorageFacet(Protocol):
    column: str
    """The answer column in votes / gold / labels / prelabels: "label", "labels" or "answer"."""

    arrow_type: pa.DataType
    """The Arrow type of one answer as the kind's pure code sees it (e.g. list<struct<start,end,label>>)."""

    def to_json(self, answers: pa.Array) -> pa.Array:
        """Answers (of `arrow_type`) as JSON text, the form they travel in between processes."""
        ...

    def from_json(self, texts: pa.Array) -> pa.Array:
        """The inverse of `to_json`; raises `InputError` naming the first unparseable value."""
        ...

    def validate(self, answers: pa.Table, items: pa.Table, cfg: "ProjectConfig") -> pa.Table:
        """Check answers against their items and the project (labels in the set, offsets inside the text...).

        `answers` has `item_id`, optional `source_id`, and the kind's column; `items` has `item_id`,
        `payload`, `metadata` for the items concerned. Returns rows of `PROBLEM_SCHEMA`; a stage stores
        the valid rows and quarantines or reports the others.
        """
        ...


# --- machine votes: labeling functions, models, the combiner, calibrated auto-accept -------------------
# Called by: tasks/prelabel (stage, lf, models, combine, routing).


class PrelabelFacet(Protocol):
    """What pre-labeling needs from the kind; methods are defined by the pre-labeling stage's owner."""


# --- human queues: the app's widget, Label Studio ----------------------------------------------------
# Called by: tasks/queues (builtin, label_studio), annotation_app, tasks/collect, tasks/dispatch.


class QueueFacet(Protocol):
    widget: Path
    """The annotation page's widget: a JavaScript file the app serves and the page loads for this kind."""

    def page_config(self, cfg: "ProjectConfig") -> dict[str, Any]:
        """Kind options the widget needs beyond labels (e.g. overlap allowed, snapping); JSON-safe."""
        ...

    def parse_submission(self, body: Mapping[str, Any], labels: Sequence[str], options: Mapping[str, Any],
                         payload: str | None) -> Any:
        """The app's check of one submitted answer: returns it in JSON form or raises `ValueError` whose
        message names the field at fault (the app turns it into a 422)."""
        ...

    def label_studio_config(self, cfg: "ProjectConfig") -> str:
        """The Label Studio labeling config (XML) for the project's data kind and label set."""
        ...

    def to_label_studio(self, answer_json: str, cfg: "ProjectConfig") -> list[dict[str, Any]]:
        """One answer (JSON form) as Label Studio `result` entries (predictions and exported annotations)."""
        ...

    def from_label_studio(self, results: Sequence[Mapping[str, Any]], cfg: "ProjectConfig") -> Any:
        """Label Studio `result` entries of one annotation back to one answer (JSON form)."""
        ...


# --- consolidation: answers + reliabilities -> one answer per item --------------------------------------
# Called by: tasks/consensus (stage: reading, `run`, writing; pipeline.run_consensus), annoflow_cli
# (consensus, status: `summary_lines`). The pure pieces every kind reuses (settings, inputs and
# outcome, the configured aggregator, Wilson scores and bans, the decision rule, source-stats rows,
# categorical agreement) live in tasks/consensus (pipeline, scoring, report) and may be imported.


class ConsensusFacet(Protocol):
    """One item's votes become one answer with a confidence; sources scored on gold; agreement.

    The contract (DESIGN.md): each source's reliability is learned across items and scored on gold
    (with an interval; the ban rule is shared: `tasks.consensus.scoring.score_table`); the rule that
    says resolved / needs more / adjudicate is shared too (`tasks.consensus.pipeline.labels_table`),
    fed with the kind's confidence, vote counts and agreement. The stage reads, the facet computes,
    the stage writes: `run` is pure (Arrow in, Arrow and dicts out), so the stage never needs to
    know what an answer is.

    The SQL attributes are expressions over one row of `votes` or `gold` (columns `label`, `labels`,
    `answer`; `labels` rows too for `label_values_sql`); the stage splices them into its queries.
    """

    input_column: str
    """STAGE (read_inputs): the answer column's name in the tables `run` receives (votes,
    scoring_votes, gold, adjudications); the stage aliases `answer_sql` to it and sorts by it."""

    answer_sql: str
    """STAGE (read_inputs): a DuckDB expression giving a row's answer as `run` reads it, from the
    kind's storage column. It may unnest (a set read one label per row, cheaper in DuckDB than in
    Python) and may read older rows' columns (a set whose vote holds one label in `label`).
    Structured kinds: the JSON column as text (`answer`), which `run` parses."""

    answered_sql: str
    """STAGE (read_inputs): a DuckDB predicate, true when the row holds an answer rather than an
    abstain. Gold and adjudication rows without one are dropped; a source's `n_votes` counts the
    items it answered. A set's empty answer is an answer ("no label applies"): there it is `true`."""

    label_values_sql: str
    """STAGE (before reading) and status: a DuckDB expression giving the list of label names a row's
    answer uses (a span's types for spans). The stage stops with a message naming the item, the
    source and the label when one is outside the project's labels; status counts resolved labels."""

    def wants_prelabels(self, settings: ConsensusSettings) -> bool:
        """STAGE (read_inputs): whether `run` combines the routed pre-label (`prelabels.probs`, one
        probability per label) with the people's votes; the stage reads it only then."""
        ...

    def run(self, inputs: ConsensusInputs, settings: ConsensusSettings,
            warm: Mapping[str, DawidSkeneParams]) -> ConsensusOutcome:
        """STAGE (via `tasks.consensus.pipeline.run_consensus`): the whole consolidation, pure.

        `inputs`: `votes` and `scoring_votes` (`item_id, source_id, source_kind, <input_column>`,
        strings or dictionary-encoded; scoring votes include banned sources, on reference items
        only), `gold` and `adjudications` (`item_id, <input_column>`), `banned`, `vote_counts`
        (answered items per source), `machine` (see `wants_prelabels`). `warm`: the previous run's
        parameters when its method was the same (empty otherwise).

        Returns a `ConsensusOutcome`:
        - `labels`: one row per item with votes: `item_id`, the answer in the kind's
          `storage.column` (JSON text for structured kinds), `confidence` (calibrated: it decides),
          `method` (the aggregation, or "gold" / "adjudicated" when an accepted answer stands),
          `decision` (resolved / needs_more / adjudicate), `n_votes`, `n_human`, `agreement`
          (share of the item's answers equal to the final one), `sources` (list);
        - `source_stats`: one row per source (`tasks.consensus.report.source_stats_table`): gold
          score with its Wilson interval, learned accuracy, agreement with consensus, confusions;
        - `new_bans`: `source_id, evidence` (`tasks.consensus.pipeline.ban_evidence`);
        - `agreement`: JSON-ready, at least `over`, `n_votes`, `alpha`, `low`, `high`, `fleiss`,
          `per_label`, `pairs` (None where not measured); a kind adds its own keys (e.g. span F1);
        - `params`: `dict[str, DawidSkeneParams]` keyed as the kind likes (source ids, one array per
          source, priors), stored with `pipeline.params_to_bytes` and handed back as `warm`;
        - `fit`: `n_iter`, `converged`, `objective`, `warm_start` (and what else the kind reports).
        Raises `tasks.consensus.errors.ConsensusError` for input the stage should report as exit 2.
        """
        ...

    def summary_lines(self, agreement: Mapping[str, Any]) -> list[str]:
        """CLI (`annoflow consensus`, `annoflow status`): lines printed under the shared agreement
        line (alpha, Fleiss, Cohen pairs) for what only this kind measures (per-label alpha; per-type
        span F1...). `agreement` is the stored `ConsensusOutcome.agreement`."""
        ...


# --- export: formats, release-gate checks ------------------------------------------------------------
# Called by: tasks/export (rows, writers, gate, stage), schemas/expectations.py.


class ExportFacet(Protocol):
    """What export needs from the kind; methods are defined by the export stage's owner."""


# --- simulation: simulated annotators for demos and benchmarks -------------------------------------------
# Called by: tasks/queues/simulated_crowd.py, flows/demo.py, bench/.


class SimulationFacet(Protocol):
    def answer(self, truth: Any, accuracy: float, rng: Any, labels: Sequence[str], payload: str | None) -> Any:
        """SIMULATION: what an annotator of the given accuracy answers when the truth is `truth` (JSON form)."""
        ...


@dataclass(frozen=True)
class AnswerKind:
    """One kind of answer: its config name and its facets."""

    name: str
    title: str
    """A short human name ("single label", "entity spans") for reports and errors."""
    data_kinds: tuple[str, ...]
    """The item data kinds this answer applies to ("text", "image", "audio")."""
    storage: StorageFacet
    prelabel: PrelabelFacet
    queue: QueueFacet
    consensus: ConsensusFacet
    export: ExportFacet
    simulation: SimulationFacet
    options: type | None = None
    """The pydantic model of the kind's own options (`[answer]` in annoflow.toml), or None."""
