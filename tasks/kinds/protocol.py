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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
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
    "PROBLEM_SCHEMA",
    "AnswerError",
    "AnswerFile",
    "AnswerKind",
    "ConsensusFacet",
    "ExportFacet",
    "ExportWriter",
    "FactCheck",
    "GoldMatch",
    "PrelabelDecisions",
    "PrelabelFacet",
    "QueueFacet",
    "RowCheck",
    "SimulationFacet",
    "StorageFacet",
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


@dataclass(frozen=True)
class AnswerFile:
    """Answers read from a file in a format only the kind knows (boxes: COCO instances JSON), in the
    form gold ingest judges like the rows of a CSV/JSONL gold file (`StorageFacet.read_answer_file`)."""

    rows: pa.Table
    """One row per answered item: `source_row` (int64, stable for the file: quarantine keys use it),
    `where` (how a message names the row, e.g. `image id 3 ("a.png")`), `key` (matched against
    `key_field` of the items' metadata), `answer` (JSON text, still to be checked by `validate`)."""
    key_field: str
    """The item metadata key `key` matches (COCO: "file", the image's path inside its source folder)."""
    problems: pa.Table
    """Parts of the file refused before matching (`source_row, where, field, reason, detail, raw`):
    an item with a refused part is left out of `rows`, since an answer missing a part would be
    wrong gold."""


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

    def validate(self, answers: pa.Table, items: pa.Table, cfg: ProjectConfig) -> pa.Table:
        """Check answers against their items and the project (labels in the set, offsets inside the text...).

        `answers` has `item_id`, optional `source_id`, and the kind's column as stored (a string for
        `label`, a list of strings for `labels`, JSON text for `answer`; null = no answer, a problem);
        `items` has `item_id`, `payload`, `metadata` for the items concerned. Returns rows of
        `PROBLEM_SCHEMA` (`row` = index in `answers`); a stage stores the valid rows and quarantines
        or reports the others. Collect calls it on every page of judgments and quarantines each
        problem row under its `reason`, with `field` and `detail` as given.
        """
        ...

    answer_file_formats: tuple[str, ...]
    """GOLD INGEST and config validation (schemas/config.py): the names `gold.format` may take besides
    "auto" and "table" (the generic CSV/JSONL/Parquet reader), e.g. ("coco",); empty for most kinds."""

    def read_answer_file(self, path: Path, fmt: str, cfg: ProjectConfig) -> AnswerFile | None:
        """GOLD INGEST (tasks/ingest/gold.py, `import_gold`): the project's gold / existing-answers file
        when it is in one of `answer_file_formats`, so teams load the answers they already have in their
        tool's own format without converting them first.

        `fmt` is `gold.format`: "auto" reads the file as a kind format when its shape says so and returns
        None otherwise (the generic reader then reads it as a table); "table" returns None; a format
        name must read the file or raise `InputError` naming it. Pure: reads the file, not the store.
        """
        ...

    # Optional (the ingest stage uses it when the facet has it):
    # def item_rows(self, raw: pa.Table, text_field: str, source: str, base: Path) -> tuple[pa.Table, pa.Table]:
    #     INGEST (tasks/ingest/stage.py, tabular text sources): a reader's uniform batch (`source_row, payload,
    #     problem, metadata`) reshaped before items are made, for a kind whose item is more than one text field
    #     (pairwise: the prompt and two candidates become one payload, so the content-addressed id covers the
    #     whole comparison), and the rows it refuses as quarantine rows (`source, source_row, field, reason,
    #     detail, raw`) naming the row and field. The rest of the batch is stored. One DuckDB query per batch.
    #     `base` is the source file's folder, against which paths the rows hold are read (pairwise: media candidates).


def no_answer_file(path: Path, fmt: str, cfg: ProjectConfig) -> None:
    """`read_answer_file` of a kind with no file format of its own: its gold files are tables."""


@dataclass(frozen=True)
class AnswerStorage:
    """A `StorageFacet` made of a kind's storage functions, for a kind whose answers sit in the `answer` column."""

    arrow_type: pa.DataType
    to_json: Callable[[pa.Array], pa.Array]
    from_json: Callable[[pa.Array], pa.Array]
    validate: Callable[[pa.Table, pa.Table, ProjectConfig], pa.Table]
    read_answer_file: Callable[[Path, str, ProjectConfig], AnswerFile | None] = no_answer_file
    answer_file_formats: tuple[str, ...] = ()
    column: str = "answer"


# --- machine votes: labeling functions, models, the combiner, calibrated auto-accept -------------------
# Called by: tasks/prelabel (stage, lf, models, combine, routing).


@dataclass(frozen=True)
class PrelabelDecisions:
    """What `PrelabelFacet.decide` returns: one pre-label per item, and the decisions it is made of.

    A pre-label is auto-accepted only when every one of its decisions is confident enough, each judged
    by the threshold of its `key` (single label: one decision per item, keyed by the predicted class;
    multi-label: one present/absent decision per label, keyed by the label; spans: one decision per
    item, whether its whole span set is right, keyed by "entities" or "no entities"). Thresholds are
    chosen per key on gold and audited decisions, so a key's threshold is a measured promise about that
    key's decisions.
    """

    answer: pa.Array
    """One answer per item, what `answer_sql` writes: the label or the set of labels (`storage.arrow_type`); for a
    structured kind its JSON text (spans: `[{"start", "end", "label"}]`)."""
    confidence: np.ndarray
    """Per item: the confidence of the whole answer, the weakest of its decisions' confidences."""
    item: np.ndarray
    """Per decision: the position of its item (int64)."""
    key: np.ndarray
    """Per decision: the threshold group it is judged by (object array of str)."""
    decision_confidence: np.ndarray
    """Per decision: its probability of being right."""
    keys: tuple[str, ...] = ()
    """Every threshold group, in report order: a key no decision has is still reported (without a threshold)."""
    detail: pa.Array | None = None
    """Per item: JSON text stored in `prelabels.probs` (choices: the probability of each label; spans: the
    confidence of each span of the answer, in its order); None stores nothing."""


class PrelabelFacet(Protocol):
    """Machine votes of the kind, their combination into one pre-label per item, and what makes it right.

    The pre-labeling stage (tasks/prelabel) owns the mechanics: which items still need a source's vote,
    versions and idempotent writes, batching, thresholds from measured precision, the audit draw, the
    item state changes. The facet owns every place where the answer's shape matters. Machine votes are
    rows of `votes` (source_kind 'lf' or 'model') whose answer sits in the kind's columns
    (`vote_columns`); `probs` (JSON) carries per-class or per-label probabilities, or per-span
    confidences, where the kind has them.
    """

    vote_columns: tuple[str, ...]
    """Columns of `votes` a machine vote fills besides ids (e.g. ("label", "confidence", "probs"))."""

    # OPTIONAL (a kind whose pre-labels can be auto-accepted leaves it out; it reads as True):
    # auto_accepts: bool
    #     Routing reports (tasks/prelabel/stage.py `combine_and_route` -> `auto_accepts`, `routing.routing_advice`,
    #     the CLI and the flow's report): False for a kind whose machine votes never make an auto-accepted pre-label
    #     (pairwise, rating: every item goes to people and the machine's votes count in consensus beside theirs), so
    #     the reports say that instead of advising how to reach a precision target the kind never aims at, and leave
    #     out the thresholds and calibration tables.

    # labeling functions: called by tasks/prelabel/stage.py (apply_labeling_functions) and lf.py
    # (apply_sql_lfs, apply_python_lfs, evaluate_python_lf)

    def lf_specs(self, cfg: ProjectConfig) -> list[Any]:
        """LF stage: the project's labeling functions as `tasks.prelabel.lf.LFSpec`s (SQL ones: an expression
        over one `items` row that `lf_sql` wraps; Python ones: a `LabelingFunction` called on a batch).
        Where they are declared is the kind's business (choices: `prelabel.labeling_functions`; spans:
        `[[answer.lfs]]`, phrase and regex rules compiled to SQL). Raises `ConfigError` naming a bad one."""
        ...

    def lf_sql(self, expr: str) -> str:
        """LF stage: the SQL LF's expression as the value stored in its scratch column (evaluated in DuckDB).

        The LF stage evaluates every SQL rule of a batch in one statement; this says what one rule's
        output becomes (a label cast to text, the rule's value as JSON...).
        """
        ...

    def lf_python(self, output: Any, batch: pa.Table) -> tuple[pa.Array, pa.Array]:
        """LF stage: a Python LF's output for `batch` (the item columns it was called on) as (scratch column,
        labels it mentions).

        The scratch column is what `lf_vote_sql` reads; the second array (list<string>, one row per item)
        lets the stage reject a label outside the LF's declared labels, naming the item. Raises
        `ValueError` (the stage reports it with the LF's name and, by bisection, the first failing item)
        when the output's length or form is wrong, or does not fit its item (a span outside the text).
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
              mcfg: Any, cfg: ProjectConfig) -> Any:
        """Model stage: fit the project's local model (`[[prelabel.models]]` of kind 'sklearn': what it is is
        the kind's choice; `cfg` holds the kind's own options). Returns a `TrainingRun` whose `oof_probs`
        are out-of-fold predictions of the training items, so the votes it casts on its own training
        items, gold among them, are not flattered by memorisation; the run is pickled as it is."""
        ...

    def model_config_hash(self, data_kind: str, mcfg: Any, cfg: ProjectConfig) -> str:
        """Model stage: a digest of every setting that changes what `train` builds; a saved run whose
        `config_hash` differs is retrained at once instead of waiting for `retrain_new_labels` new answers."""
        ...

    def http_model(self, mcfg: Any, labels: Sequence[str]) -> Any:
        """Model stage: the client of a `[[prelabel.models]]` entry of kind 'http' (a context manager with
        `name`, `version` and `close()`) whose endpoint answers in this kind's contract."""
        ...

    def imported_model(self, mcfg: Any, cfg: ProjectConfig) -> Any:
        """Model stage: the source of a `[[prelabel.models]]` entry of kind 'predictions' (a file of a model's
        existing output, read in the kind's format: boxes read COCO results JSON), as a model like `http_model`'s
        (`name`, `version` = the entry's version, `close()`; `predict` answers for the items the file covers).
        Its `problems` (rows of `source, source_row, field, reason, detail, raw`) are entries set aside, which
        the stage quarantines while storing the rest. Optional: a kind without a predictions format leaves
        it out, and the stage refuses such an entry with a `ConfigError`."""
        ...

    def predict(self, model: Any, batch: pa.Table, labels: Sequence[str]) -> pa.Table:
        """Model stage: a model's predictions for `batch` (item columns) as `item_id` plus the prediction
        columns `model_vote_sql` reads (choices: `p0..p{C-1}`; spans: `answer`)."""
        ...

    def predictions(self, item_ids: Sequence[str], outputs: Sequence[Any], labels: Sequence[str]) -> pa.Table:
        """Model stage: stored out-of-fold outputs (rows of `TrainingRun.oof_probs`: probabilities, or answers) in the table form of `predict`."""
        ...

    def model_vote_sql(self, prediction_columns: Sequence[str], labels: Sequence[str]) -> dict[str, str]:
        """Model stage: the vote's columns as SQL over one row of `predict`'s table (its columns after `item_id`)."""
        ...

    def check_predictions(self, preds: pa.Table, what: str) -> None:
        """Model stage: refuse impossible predictions (probabilities outside [0, 1]...) before any is stored."""
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

    def combine(self, votes: pa.Table, gold: pa.Table, cfg: ProjectConfig,
                item_ids: pa.Array | None = None) -> tuple[pa.Table, dict[str, float], str]:
        """Combiner: (the combination `item_id, ...` that `decide` reads, learned accuracy per source, the
        combiner's name). Gold items are scored without their own answer so calibration stays honest.
        `item_ids`: every item to pre-label (a kind that calibrates the answer of items without votes,
        like spans' "no entities", needs them); None: the items with votes."""
        ...

    def decide(self, combined: pa.Table, item_ids: pa.Array, labels: Sequence[str]) -> PrelabelDecisions:
        """Routing: the pre-label of each of `item_ids` (in that order) from `combine`'s table, and its
        decisions; an item the table lacks gets the kind's answer for no evidence."""
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

    # language models as annotators: called by tasks/prelabel/llm_stage.py (apply_llm, for a
    # `[[prelabel.models]]` entry of kind 'llm'); see docs/llm-annotators.md. Optional: a kind without
    # them refuses such an entry with a `ConfigError`.

    def llm_instructions(self, cfg: ProjectConfig) -> str:
        """LLM stage: what the model is asked to answer and the exact JSON form to answer in, put into the
        prompt's `{instructions}` placeholder. Part of the source's version: changing it re-asks every item."""
        ...

    def parse_llm_answer(self, text: str, payload: str | None, cfg: ProjectConfig) -> str:
        """LLM stage: the answer in the model's reply `text` (to the item whose text is `payload`; for a kind
        with `llm_view`, what that view handed on) as the kind's JSON text (single label: `"spam"`; multi-label:
        a sorted list; spans: the canonical span list; pairwise: the answer with the shown order as `swapped`).

        Lenient about wrapping (code fences, prose around the JSON: `tasks.kinds.llm_json`), strict about the
        answer: raises `AnswerError(code, message, field)` naming the field at fault ("label", "labels[1]",
        "entities[2].text") for a reply that does not parse or an answer outside the label set or the text;
        the stage sets that item aside for this source with the error as its one-line reason."""
        ...

    def llm_vote_sql(self, column: str, labels: Sequence[str]) -> dict[str, str]:
        """LLM stage: the vote's columns (`vote_columns` -> SQL) over `column`, the JSON text `parse_llm_answer`
        returned. An LLM's vote is a hard answer without a confidence (`confidence` NULL), so the combiner
        weighs it as it weighs a labeling function's: by its agreement with gold, its learned reliability."""
        ...

    # OPTIONAL (a kind whose answer picks from the label set leaves it out: the default names the labels):
    # llm_prompt: str
    #     LLM stage (tasks/prelabel/llm_client.py, `prompt_of`): the user message template of an entry without
    #     `prompt`, with the placeholders of `prompt` (`{text}` required). Without it the entry gets
    #     `schemas.config.LLM_PROMPT` ("{instructions}\n\nLabels: {labels}\n\n<text>\n{text}\n</text>"); pairwise
    #     and rating supply one without `{labels}`, which means nothing to a comparison or a score. The template in
    #     use is part of the source's version.

    # OPTIONAL (a kind whose item is its text leaves it out; the model is then shown the payload as it is):
    # def llm_view(self, item_id: str, payload: str | None, source_id: str, cfg: ProjectConfig) -> tuple[str, str]:
    #     LLM stage (tasks/prelabel/llm_client.py): (the item as the model reads it, put into `{text}`; what
    #     `parse_llm_answer` then gets as `payload`), for a kind whose item is more than one text. Pairwise
    #     renders the prompt and the two candidates in an order drawn from the item id and the source id (the
    #     same question on every run, so a re-run pays nothing twice; half the items swapped) and hands the
    #     drawn order to the parser, which stores it as `swapped` like a person's answer, so consensus learns
    #     the model's position bias as any judge's. Raises `AnswerError` for an item that cannot be shown (the
    #     stage sets it aside without asking).
    # llm_view_sample: str
    #     LLM stage (`llm_client.view_digest`), required with `llm_view`: a fixed, valid item payload the stage renders
    #     through `llm_view` into the source's version, so a change to how items are shown (tags, order, what is left
    #     out) re-asks every item instead of counting answers to the old rendering as current.

    # labeling-function analysis: called by tasks/prelabel/stage.py (lf_report, `annoflow lf-report`)

    def lf_summary(self, con: Any, labels: Sequence[str], learned: Mapping[str, float],
                   kinds: Sequence[str]) -> list[dict[str, Any]]:
        """lf-report: one row per machine source of `kinds` with the keys of
        `tasks.prelabel.analysis.lf_summary` (coverage, overlap, conflict, polarity, gold accuracy with
        its Wilson interval, learned accuracy) and, under `more`, what only this kind measures (spans:
        strict recall and F1 on gold, `gold_accuracy` being strict precision; pairwise: the share of picks of
        the response shown first; rating: the MAE on gold, `gold_accuracy` being exact matches), printed as extra
        columns: a float there is a share (printed as a percentage), any other measure is given as text.
        A kind whose machine votes are weighed by consensus reports its learned accuracy
        (`tasks.prelabel.analysis.consensus_learned`)."""
        ...


    # machine drafts: called by flows/demo.py (the demo summary) and reports; OPTIONAL (a kind whose pre-label is
    # not a draft people edit leaves it out)

    def draft_use(self, con: Any, cfg: ProjectConfig) -> dict[str, Any]:
        """Demo and reports: how much of the machine's drafts people kept when they answered (transcripts: over every
        human judgment of a clip with a pre-label, `kept_share` = the draft's words the submitted text keeps, aligned
        onto an equal word; `draft_words`, `kept_words`, `judgments`, `shown` (whether the queue showed drafts: the
        project shows suggestions and some recogniser passes the queue's `withheld_suggestions`), `withheld` (those
        it does not pass, with the reason), and `draft_wer` of the drafts against the final labels). The pre-filled draft is worth what people did not type."""
        ...


# --- human queues: the app's widget, Label Studio ----------------------------------------------------
# Called by: tasks/queues (builtin, label_studio), annotation_app, tasks/collect, tasks/dispatch.
# Between the pipeline and a queue an answer is its JSON form (a JSON value, or its text where a
# column holds it: the task's `prelabel`, a judgment's `answer`).


class AnswerError(ValueError):
    """A submitted answer the kind refuses; `code` is a stable snake_case reason ("unknown_label",
    "invalid_answer", "span_outside_text", ...) the app returns as its error code with a 422.
    `field` names the part of the answer at fault ("answer[2].end") where the kind knows it: the
    Label Studio backend hands it to collect, which quarantines the judgment under it."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class QueueFacet(Protocol):
    widget: Path
    """The annotation page's widget: a JavaScript file the app serves at `/kinds/<task_kind>/widget.js`
    and the page loads for projects of this kind (the contract is in annotation_app/README.md)."""

    def page_config(self, cfg: ProjectConfig) -> dict[str, Any]:
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

    def label_studio_config(self, cfg: ProjectConfig) -> str:
        """The Label Studio labeling config (XML) for the project's data kind and label set. The object
        tag is named after the data kind (`text`, `image`, `audio`), the control tag `label`."""
        ...

    def to_label_studio(self, answer_json: str, cfg: ProjectConfig, payload: str | None = None,
                        metadata: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """One answer (JSON text) as Label Studio `result` entries (the Label Studio backend's push: a
        task's pre-label becomes a prediction). `payload` is the item's text (None for media items):
        a kind whose regions quote the text they cover needs it. `metadata` is the item's metadata
        (`items.metadata`: file facts recorded at ingest, e.g. an image's `width` and `height`), for a
        kind whose regions Label Studio places in percent of the media; None when not recorded."""
        ...

    # Optional (the Label Studio backend uses it when the facet has it):
    # def label_studio_data(self, payload: str | None, assignment_id: str, media: Callable[[str], str]) -> dict[str, Any]:
    #     LABEL STUDIO push (tasks/queues/label_studio.py): fields added to a task's `data` beside the payload, for
    #     a kind whose labeling config reads several fields of one item (pairwise: `$prompt`, `$left`, `$right`)
    #     or lays out each task its own way (pairwise: the candidates' order, drawn from the assignment id).
    #     `media(uri)` gives a media file's URI as Label Studio can load it. The label_studio export format
    #     (tasks/export/writers.py) calls it too, with the item id for the assignment id. A kind that has it also takes
    #     `data=` (the task's data as pushed) in `to_label_studio` and `from_label_studio`, so results are
    #     read in the task's own layout.

    # Optional (dispatch uses it when the facet has it; without it every machine source's answer may be suggested):
    # def withheld_suggestions(self, con: Any, cfg: ProjectConfig) -> Mapping[str, str]:
    #     DISPATCH (tasks/dispatch/stage.py, the tasks' `prelabel`): machine sources whose answers are not shown to
    #     people as the suggestion, each with a one-line reason the dispatch report prints. For a kind whose page
    #     pre-fills the answer with the suggestion, a weak source's suggestion costs more (wrong parts left in place)
    #     than it saves (transcripts: a recogniser whose WER on gold is above `[answer] max_draft_wer`, or not measured
    #     yet). `con` is the project store, read only; the sources' votes still count everywhere else.

    def from_label_studio(self, results: Sequence[Mapping[str, Any]], cfg: ProjectConfig,
                          payload: str | None = None) -> Any:
        """Label Studio `result` entries of one annotation back to one answer (JSON form), at the
        backend's pull; `payload` is the task's text as pushed (None for media items).

        Label Studio does not enforce its labeling config: return what was annotated, even a label
        outside the set (collect's `storage.validate` quarantines it with the reason). Results that
        cannot be read as an answer at all raise `ValueError` (an `AnswerError` gives its code) whose
        message starts with the field at fault (`result[2].value.end: ...`): the backend hands the
        judgment on with that problem and collect quarantines it, naming item, annotator and field."""
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

    methods: tuple[str, ...]
    """SCHEMAS (schemas/tables.label_methods: Pandera, the release gate, GE): every name `run` may
    write in a label's `method` column besides the stage's own ("auto", "adjudicated", "gold"). The
    known methods are the union over the registered kinds, so a new kind adds its own here."""

    wants_payloads: bool
    """STAGE (read_inputs): whether `run` needs the voted items' payloads (`ConsensusInputs.payloads`,
    `item_id, payload`). Spans: a text's length says how unlikely an accidental agreement on one span
    is, and agreement is measured on the text's tokens. Choices need none, and the stage reads none."""

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
        (answered items per source), `machine` (see `wants_prelabels`), `payloads` (see
        `wants_payloads`). `settings.answer` holds the kind's `[answer]` options. `warm`: the
        previous run's parameters when its method was the same (empty otherwise).

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
        - `fit`: `n_iter`, `converged`, `objective`, `warm_start` (and what else the kind reports);
          `method` when the kind aggregates its own way rather than with `consensus.method` (reports
          and the stored state name it).
        Raises `tasks.consensus.errors.ConsensusError` for input the stage should report as exit 2.
        """
        ...

    def summary_lines(self, agreement: Mapping[str, Any]) -> list[str]:
        """CLI (`annoflow consensus`, `annoflow status`): lines printed under the shared agreement
        line (alpha, Fleiss, Cohen pairs) for what only this kind measures (per-label alpha; per-type
        span F1...). `agreement` is the stored `ConsensusOutcome.agreement`."""
        ...

    def conflict_posterior(self, answers: pa.Table, consensus: pa.Table, labels: Sequence[str]) -> pa.Array:
        """DISPATCH (tasks/dispatch/conflict.py, the `context.conflict` of adjudication tasks): what
        consensus believes about each item, in the form an adjudicator reads, beside the answers.

        An adjudicator weighs the answers against how sure the evidence makes each possible answer;
        only the kind knows what "each possible answer" is (a class, a label present or not, a span,
        a box). `answers`: `item_id, source_id, answer` (JSON text, the kind's JSON form),
        `reliability` (float in [0, 1] or null when nothing is known of the source). `consensus`: one
        row per item (`item_id`, `answer` = the latest `labels` answer as JSON text or null,
        `confidence`). Returns one JSON text per `consensus` row, in its order (null: nothing to
        say). Choices: `[{"label", "p", "votes"}]`, P(class) (single) or P(label present) (multi)
        from the votes weighted by the sources' reliabilities, most likely first; spans and boxes:
        the consensus answer's parts, each with `p` (its calibrated confidence) and `sources`.
        Pure; batched over every item of a push (DuckDB or Arrow, no loop over votes)."""
        ...


# --- export: formats, release-gate checks ------------------------------------------------------------
# Called by: tasks/export (rows, writers, gate, stage, diff), schemas/expectations.py, tasks/evaluate.py.


@dataclass(frozen=True)
class RowCheck:
    """One per-row check of the release gate that depends on what an answer is.

    The gate counts violating rows exactly in DuckDB with `violation` and has Great Expectations run
    `expectation(**kwargs)` on the rows frame (a sample plus every violating row, so GE fails exactly
    when DuckDB counts a violation). `frame_columns` are extra columns (name -> DuckDB expression over
    an export row) added to that frame for the expectation to read, e.g. the unknown labels of a row.
    """

    name: str
    """Stable check name used in reports, manifests and tests (e.g. "label_in_set", "span_inside_text")."""
    description: str
    violation: str
    """DuckDB predicate over one export row, true when the row violates the check (NULL counts as false)."""
    expectation: str
    """Great Expectations expectation class name, e.g. "ExpectColumnValuesToBeNull"."""
    kwargs: Mapping[str, Any]
    threshold: Any = None
    frame_columns: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FactCheck:
    """One check of the release gate on a whole-candidate aggregate, measured exactly in DuckDB.

    The gate puts `observed` in the one-row facts frame under `name` and has Great Expectations check
    `min_value <= observed <= max_value` (None = unbounded on that side); `examples` are shown in the
    report when it fails. `observed = None` means nothing to measure (e.g. no reference version yet):
    the check is reported as skipped with that reason, never as passed.
    """

    name: str
    description: str
    observed: float | None
    min_value: float | None = None
    max_value: float | None = None
    threshold: Any = None
    examples: Sequence[Mapping[str, Any]] = ()
    acceptable: bool = False
    """A shift the user may publish anyway with `annoflow export --accept-shift REASON` (recorded in the
    manifest), like the generic label shift; other failures cannot be accepted."""


@dataclass(frozen=True)
class GoldMatch:
    """DuckDB expressions comparing an exported row (alias `c`) with its gold row (alias `g`)."""

    present: str
    """True when the gold row holds an answer of this kind (gold rows of other kinds are ignored)."""
    correct: str
    """True when the exported answer counts as correct against gold (the gate's `min_gold_accuracy`)."""
    exported: str
    """The exported answer, shown in the failing examples."""
    gold: str
    """The gold answer, shown in the failing examples."""


ExportWriter = Callable[[list[Path], Path, "ProjectConfig"], list[Path]]
"""A format writer: (the snapshot's Parquet files in item_id order, the version directory, config) ->
the files written (under `<version>/formats/`). It streams from the Parquet (DuckDB COPY or batches),
writes deterministically (same rows -> same bytes) and never reads the state database."""


class ExportFacet(Protocol):
    """What the export stage, its release gate, `export diff` and `annoflow evaluate` need from a kind.

    The export's Parquet snapshot holds the generic columns (item_id, split, kind, payload, uri,
    confidence, method, n_votes, n_human, agreement, sources) plus the kind's answer column(s); every
    other format is derived from that Parquet. Nothing here writes to the state database.
    """

    column: str
    """The answer column of the export rows ("label", "labels", "spans"); the manifest records it
    (`label_column`) so a consumer knows where the answer is without knowing the kind."""

    def select_sql(self, cfg: ProjectConfig, alias: str) -> str:
        """ROWS (tasks/export/rows.py): the SELECT-list entries reading the resolved answer from the
        `labels` table (aliased `alias`) into the export rows, e.g. `list_sort(l.labels) AS labels`.
        The item's row of `items` is aliased `i`: a kind whose formats need a fact of the item adds it as a
        column the ExportRows contract declares (boxes: the image's `width` and `height` from `i.metadata`).

        It must produce `arrow_type(cfg)` in the Parquet snapshot and be deterministic (sort sets), since
        the same state must give byte-identical files (content hash, `unchanged` detection)."""
        ...

    def arrow_type(self, cfg: ProjectConfig) -> pa.DataType:
        """STAGE (the structure check before the gate): the Arrow type of `column` in the Parquet snapshot.
        A snapshot whose answer column has another type is a bug in `select_sql`, reported as a contract
        error instead of a published version consumers then fail to load."""
        ...

    def formats(self, cfg: ProjectConfig) -> Mapping[str, ExportWriter]:
        """WRITERS (writers_for): the formats only this kind has, by the name used in `export.formats`
        (spans: CoNLL, spaCy-style JSONL, token-classification Parquet). The generic formats (jsonl, csv,
        label_studio) come from tasks/export/writers.py and need nothing here but `label_studio_*`; a
        kind's format under a generic name replaces it for the kind's projects (spans' `jsonl` is spaCy's
        shape). Config validation (schemas/config.py) calls this too, so it must be cheap and pure."""
        ...

    def manifest_section(self, cfg: ProjectConfig) -> dict[str, Any]:
        """STAGE (the manifest): what a consumer of this kind's files must know beyond the rows, kept under
        the manifest's `answer` key (spans: the tokeniser and the BIO tag map of the token Parquet's
        `tag_ids`). Empty for kinds with nothing to say (the manifest then has no `answer` key)."""
        ...

    def label_studio_config(self, cfg: ProjectConfig) -> str:
        """WRITERS (label_studio format): the labeling config (XML) the exported tasks import into."""
        ...

    def label_studio_result_sql(self, cfg: ProjectConfig, data_key: str) -> str:
        """WRITERS (label_studio format): a DuckDB expression over one export row giving its Label Studio
        `result` list (structs `from_name`, `to_name`, `type`, `value`), `to_name` being `data_key`. SQL so
        the file is written by one streaming COPY whatever the size. A kind with `queue.label_studio_data`
        may read the fields it added to the exported task's data as `task_data` (JSON; pairwise: `swapped`)."""
        ...

    def row_checks(self, cfg: ProjectConfig) -> list[RowCheck]:
        """GATE (schemas/expectations.row_checks, gate._violations, gate.rows_frame): the per-row checks of
        the answer column (present, labels in the set; spans: offsets inside the text, start < end, types
        in the set, overlaps only where allowed). Generic checks (ids, confidence, lineage) are the gate's."""
        ...

    def fact_checks(self, con: Any, src: str, cfg: ProjectConfig, reference: Mapping[str, Any] | None) -> list[FactCheck]:
        """GATE (gate.collect_facts, expectations.fact_checks): checks on aggregates of the candidate that
        only this kind knows, measured in DuckDB over `src` (a `read_parquet([...])` of the candidate) with
        `con`; `reference` is the manifest the label shift is measured against (None for a first version),
        e.g. spans per type vs that version. Choices have none (their shift is the generic label shift)."""
        ...

    def distribution_sql(self, cfg: ProjectConfig, src: str) -> str:
        """GATE (label_distribution: the manifest's `label_distribution`, the label-shift check) and the CLI's
        listing: a SELECT over `src` with one column `l`, one row per counted label occurrence (single: the
        label; multi: each label of the set; spans: each span's type)."""
        ...

    def gold_match(self, cfg: ProjectConfig) -> GoldMatch:
        """GATE (`min_gold_accuracy`): how an exported row compares with the gold row of its item."""
        ...

    def diff_key_sql(self) -> str:
        """DIFF (tasks/export/diff.py): an expression over an export row giving one comparable text per
        answer (equal answers, equal texts; sets in sorted order). Relabel pairs and added/removed counts
        are grouped by it. It reads only the files: versions are diffed without the state database."""
        ...

    def diff_units_sql(self) -> str | None:
        """DIFF: an expression over an export row listing the parts of its answer as structs `{unit, label}`
        (spans: one per span, `unit` its text key), so a diff counts parts added and removed per label
        on top of whole answers changed; None when the answer is one part (choices: the relabel pairs
        say it all)."""
        ...

    def evaluate(self, con: Any, cfg: ProjectConfig, truth: pa.Table) -> dict[str, Any]:
        """EVALUATE (tasks/evaluate.py: `annoflow demo`, bench/pipeline): quality of the resolved answers
        against true answers. `truth` has `item_id` and `truth` (the truth file's answer cell as text, one
        row per item the file names); `con` holds `labels` and `items`. Returns `{"metric": m,
        "items_with_truth", "resolved_with_truth", m: value, "by_method": {method: {"items", m: value}}}`
        where `m` names the kind's headline metric (choices: "accuracy"; spans: "f1", entity-level via
        seqeval; boxes: "map", COCO mAP@[.5:.95] via pycocotools, beside "map50"); unresolved items with
        truth show under the method "(unresolved)". Optional `"titles": {name: title}` names the metrics a
        summary shows, headline first, by their usual titles (boxes: "mAP@[.5:.95]", "mAP@.5")."""
        ...


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

    # drafts: called by tasks/queues/simulated_crowd.py when the task shows a suggestion; OPTIONAL (a kind whose
    # page does not pre-fill the answer with the suggestion leaves it out, and its annotators answer from scratch)

    def answer_from_draft(self, profile: Any, truth: Any, draft: Any, rng: random.Random, labels: Sequence[str],
                          payload: str | None) -> Any:
        """SIMULATION: what an annotator with `profile` submits when the page pre-fills the machine's `draft`
        (JSON form) for an item whose true answer is `truth`. Real people edit a draft rather than start over, so
        what they keep of it (the demo's `draft_use`) is only meaningful if the simulated ones do the same: keep
        what is right, correct what is wrong with their own error profile, overlook some errors. Returns the
        answer in JSON form."""
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
    min_labels: int = 2
    """How many labels a project of this kind needs (`labels` in annoflow.toml, checked by
    schemas/config.py): 2 where an answer picks among labels; 0 where answers are free text and the
    label set is unused (an empty set is then valid)."""
