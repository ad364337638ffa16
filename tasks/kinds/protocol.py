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

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = [
    "AnswerKind",
    "ConsensusFacet",
    "ExportFacet",
    "PrelabelDecisions",
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


@dataclass(frozen=True)
class PrelabelDecisions:
    """What `PrelabelFacet.decide` returns: one pre-label per item, and the decisions it is made of.

    A pre-label is auto-accepted only when every one of its decisions is confident enough, each judged
    by the threshold of its `key` (single label: one decision per item, keyed by the predicted class;
    multi-label: one present/absent decision per label, keyed by the label; spans: one decision per
    span, keyed by its type). Thresholds are chosen per key on gold and audited decisions, so a key's
    threshold is a measured promise about that key's decisions.
    """

    answer: pa.Array
    """One answer per item, in the kind's `storage.arrow_type` (the label, the set of labels, the spans)."""
    confidence: np.ndarray
    """Per item: the confidence of the whole answer, the weakest of its decisions' confidences."""
    item: np.ndarray
    """Per decision: the position of its item (int64)."""
    key: np.ndarray
    """Per decision: the threshold group it is judged by (object array of str)."""
    decision_confidence: np.ndarray
    """Per decision: its probability of being right."""


class PrelabelFacet(Protocol):
    """Machine votes of the kind, their combination into one pre-label per item, and what makes it right.

    The pre-labeling stage (tasks/prelabel) owns the mechanics: which items still need a source's vote,
    versions and idempotent writes, batching, thresholds from measured precision, the audit draw, the
    item state changes. The facet owns every place where the answer's shape matters. Machine votes are
    rows of `votes` (source_kind 'lf' or 'model') whose answer sits in the kind's columns
    (`vote_columns`); `probs` (JSON) carries per-class or per-label probabilities where the kind has them.
    """

    vote_columns: tuple[str, ...]
    """Columns of `votes` a machine vote fills besides ids (e.g. ("label", "confidence", "probs"))."""

    # labeling functions: called by tasks/prelabel/lf.py (apply_sql_lfs, apply_python_lfs, evaluate_python_lf)

    def lf_sql(self, expr: str) -> str:
        """LF stage: the SQL LF's expression as the value stored in its scratch column (evaluated in DuckDB).

        The LF stage evaluates every SQL rule of a batch in one statement; this says what one rule's
        output becomes (a label cast to text, the rule's value as JSON...).
        """
        ...

    def lf_python(self, output: Any, n: int) -> tuple[pa.Array, pa.Array]:
        """LF stage: a Python LF's output for a batch of `n` items as (scratch column, labels it mentions).

        The scratch column is what `lf_vote_sql` reads; the second array (list<string>, one row per item)
        lets the stage reject a label outside the LF's declared labels, naming the item. Raises
        `ValueError` (the stage reports it with the LF's name) when the output's length or form is wrong.
        """
        ...

    def lf_labels_sql(self, column: str) -> str:
        """LF stage: SQL for the labels a scratch value mentions (VARCHAR[]), to reject unknown labels in SQL."""
        ...

    def lf_vote_sql(self, column: str, polarity: Sequence[str]) -> dict[str, str]:
        """LF stage: the vote's columns as SQL over the scratch column (`vote_columns` -> expression).

        `polarity` is what the LF may speak about (its declared labels, or every label): a kind where an
        LF's answer also implies what is absent (a set of labels) uses it to fill the absences.
        """
        ...

    # models: called by tasks/prelabel/stage.py (apply_model, training_data, ensure_sklearn_model)

    def training_data(self, con: Any, labels: Sequence[str], item_columns: Sequence[str]) -> pa.Table:
        """Model stage: gold answers plus human-resolved answers (never auto ones), one row per item, as the
        item columns plus `answer`; what a local model is trained on."""
        ...

    def train(self, name: str, data_kind: str, labels: Sequence[str], batch: pa.Table, answers: pa.Array,
              mcfg: Any) -> Any:
        """Model stage: fit the project's local model (a `TrainingRun` with out-of-fold probabilities, so the
        votes it casts on its own training items, gold among them, are not flattered by memorisation)."""
        ...

    def model_vote_sql(self, prob_columns: Sequence[str], labels: Sequence[str]) -> dict[str, str]:
        """Model stage: the vote's columns as SQL over one row of model probabilities (`p0..p{C-1}`)."""
        ...

    def check_predictions(self, preds: pa.Table, what: str) -> None:
        """Model stage: refuse impossible probabilities (`item_id, p0..`) before any is stored."""
        ...

    # combination and calibrated auto-accept: called by tasks/prelabel/stage.py (combine_and_route,
    # lf_report, with_weak_labels) and tasks/prelabel/weak.py

    def machine_votes(self, con: Any, labels: Sequence[str], kinds: Sequence[str]) -> pa.Table:
        """Combiner input: current votes of non-banned machine sources of `kinds`; `item_id, source_id,
        spoke` (bool: the vote is not a full abstain) plus whatever `combine` reads."""
        ...

    def reference(self, con: Any, labels: Sequence[str]) -> pa.Table:
        """Gold answers (`item_id, answer`): the combiner learns source confusions from them and
        thresholds are measured on them."""
        ...

    def combine(self, votes: pa.Table, gold: pa.Table, cfg: "ProjectConfig") -> tuple[pa.Table, dict[str, float], str]:
        """Combiner: (probabilities `item_id, <one column per label>`, learned accuracy per source, the
        combiner's name). Gold items are scored without their own answer so calibration stays honest."""
        ...

    def decide(self, probs: np.ndarray, labels: Sequence[str]) -> PrelabelDecisions:
        """Routing: the pre-label per item (rows of `probs`, columns in `labels` order) and its decisions."""
        ...

    def score(self, decisions: PrelabelDecisions, reference: pa.Array) -> np.ndarray:
        """Calibration: per decision, whether it agrees with the item's reference answer (`reference` is
        aligned with the items, null where an item has none; decisions of those items come back False
        and are excluded by the caller)."""
        ...

    def audited(self, con: Any, labels: Sequence[str]) -> pa.Table:
        """Calibration: audited auto-accepts with a human verdict, one row per decision of the frozen
        pre-label: `item_id, key, confidence, correct`. Audits move thresholds like gold does."""
        ...

    def answer_sql(self, table: str, column: str) -> dict[str, str]:
        """Routing writes: the answer column `column` of the routed batch as SQL for the columns of
        `table` ("prelabels" or "labels") that hold it."""
        ...

    def answer_text(self, answers: pa.Array) -> pa.Array:
        """Reports and schema checks: each answer as one readable string."""
        ...

    # labeling-function analysis: called by tasks/prelabel/analysis.py (lf-report)

    def vote_units_sql(self, labels: Sequence[str]) -> tuple[str, str]:
        """lf-report: SQL for (votes, gold) as units `item_id, unit, value` (plus `source_id, source_kind`
        for votes): coverage, overlap, conflict and gold accuracy are counted per unit (single label:
        one unit per item; multi-label: one per item and label)."""
        ...


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
# Called by: tasks/consensus (stage, pipeline, report, scoring, agreement).


class ConsensusFacet(Protocol):
    """What the consensus stage needs from the kind; methods are defined by the consensus stage's owner.

    The contract (DESIGN.md): one item's votes become one answer with a confidence; each source's
    reliability is learned across items and scored on gold; agreement between annotators; the rule
    that says resolved / needs more / adjudicate. Work is per item partition with source statistics
    reduced across partitions.
    """


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
