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

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = [
    "AnswerError",
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
# consensus (gold), export (the release gate's type checks), the app (judgment columns).


class StorageFacet(Protocol):
    column: str
    """The answer column in votes / gold / labels / prelabels: "label", "labels" or "answer".

    The queues carry the same three columns in a judgment (`tasks.queues.base.JUDGMENT_SCHEMA`): a
    stage reads the one named here and ignores the others."""

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

        `answers` has `item_id`, optional `source_id`, and the kind's column as stored (a string for
        `label`, a list of strings for `labels`, JSON text for `answer`; null = no answer, a problem);
        `items` has `item_id`, `payload`, `metadata` for the items concerned. Returns rows of
        `PROBLEM_SCHEMA` (`row` = index in `answers`); a stage stores the valid rows and quarantines
        or reports the others. Collect calls it on every page of judgments and quarantines each
        problem row under its `reason`, with `field` and `detail` as given.
        """
        ...


# --- machine votes: labeling functions, models, the combiner, calibrated auto-accept -------------------
# Called by: tasks/prelabel (stage, lf, models, combine, routing).


class PrelabelFacet(Protocol):
    """What pre-labeling needs from the kind; methods are defined by the pre-labeling stage's owner."""


# --- human queues: the app's widget, Label Studio ----------------------------------------------------
# Called by: tasks/queues (builtin, label_studio), annotation_app, tasks/collect, tasks/dispatch.
# Between the pipeline and a queue an answer is its JSON form (a JSON value, or its text where a
# column holds it: the task's `prelabel`, a judgment's `answer`).


class AnswerError(ValueError):
    """A submitted answer the kind refuses; `code` is a stable snake_case reason ("unknown_label",
    "invalid_answer", "span_outside_text", ...) the app returns as its error code with a 422."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class QueueFacet(Protocol):
    widget: Path
    """The annotation page's widget: a JavaScript file the app serves at `/kinds/<task_kind>/widget.js`
    and the page loads for projects of this kind (the contract is in annotation_app/README.md)."""

    def page_config(self, cfg: "ProjectConfig") -> dict[str, Any]:
        """Kind options the widget and `parse_submission` need beyond labels (e.g. overlap allowed,
        snapping); JSON-safe. Dispatch sends it with the project (`options`); the app hands it on."""
        ...

    def parse_submission(self, body: Mapping[str, Any], labels: Sequence[str], options: Mapping[str, Any],
                         payload: str | None) -> Any:
        """The app's check of one submitted answer (and of a pushed task's pre-label, as `{"answer": ...}`).

        `body` is the submit's JSON object: `answer` (every kind) or a kind's older fields (choices:
        `label` / `labels`). Returns the answer in JSON form, normalised (what the app stores), or
        raises `AnswerError` (a `ValueError`) whose message names the field at fault; the app answers
        422 with its `code` (a plain `ValueError`: code "invalid_answer").
        Runs on the app's hot path: no I/O, nothing heavy.
        """
        ...

    def label_studio_config(self, cfg: "ProjectConfig") -> str:
        """The Label Studio labeling config (XML) for the project's data kind and label set. The object
        tag is named after the data kind (`text`, `image`, `audio`), the control tag `label`."""
        ...

    def to_label_studio(self, answer_json: str, cfg: "ProjectConfig") -> list[dict[str, Any]]:
        """One answer (JSON text) as Label Studio `result` entries (predictions and exported annotations)."""
        ...

    def from_label_studio(self, results: Sequence[Mapping[str, Any]], cfg: "ProjectConfig") -> Any:
        """Label Studio `result` entries of one annotation back to one answer (JSON form).

        Label Studio does not enforce its labeling config: return what was annotated, even a label
        outside the set (collect's `storage.validate` quarantines it with the reason)."""
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
# Called by: tasks/queues/simulated_crowd.py (make_crowd, the workers), flows/demo.py, bench/.
# SIMULATION ONLY: nothing here is ever used on real annotators' answers.


class SimulationFacet(Protocol):
    def annotator(self, accuracy: float, labels: Sequence[str], rng: random.Random, spammer: str | None) -> Any:
        """SIMULATION: the error profile of one simulated annotator, drawn once when the crowd is made.

        `accuracy` is the annotator's skill in [0, 1] (choices: the diagonal of a confusion matrix
        whose off-diagonal mass is drawn from `rng`); `spammer` is None, "uniform" (answers at
        random) or "constant" (always the same answer). Draws from `rng` in a fixed order, so a crowd
        made from one seed is the same crowd every time. The profile is opaque to the caller.
        """
        ...

    def answer(self, profile: Any, truth: Any, rng: random.Random, labels: Sequence[str], payload: str | None) -> Any:
        """SIMULATION: what an annotator with `profile` answers when the true answer is `truth` (JSON
        form; the item's text is `payload`). Returns the answer in JSON form, as the page would submit it."""
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
