"""The project config: one typed model that every stage, flow form and CLI command reads.

A project is a folder with an `annoflow.toml`; relative paths inside it resolve against that folder.
Flows accept the same model as a parameter, so the Prefect UI renders it as a form and the server
rejects values the model rejects.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tasks.errors import ConfigError
from tasks.kinds import get as get_kind
from tasks.kinds import names as kind_names

__all__ = [
    "CONFIG_FILE",
    "AggregationMethod",
    "BehaviourConfig",
    "Combiner",
    "ConsensusConfig",
    "CostConfig",
    "CostRate",
    "DataKind",
    "ExportConfig",
    "ExportFormat",
    "GoldConfig",
    "HistoryConfig",
    "IngestConfig",
    "LabelingFunctionConfig",
    "MemorySize",
    "ModelConfig",
    "ModelKind",
    "OnUnchanged",
    "OverlapConfig",
    "OverlapPolicy",
    "PrelabelConfig",
    "ProjectConfig",
    "QueueBackend",
    "QueueConfig",
    "ReviewConfig",
    "Seconds",
    "SourceConfig",
    "SourceFormat",
    "StateConfig",
    "TaskKind",
    "ValidationConfig",
    "find_config",
    "load_config",
    "validate_config",
]

CONFIG_FILE = "annoflow.toml"


_MEMORY_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def _memory_size(v: str) -> str:
    m = _MEMORY_SIZE.match(v)
    if not m or float(m.group(1)) <= 0:
        raise ValueError("must be a memory size: a positive number and a unit, e.g. '512MB' or '2GB' "
                         "(units KB, MB, GB, TB or KiB, MiB, GiB, TiB)")
    return f"{m.group(1)}{m.group(2)}"


MemorySize = Annotated[str, AfterValidator(_memory_size)]
"""A DuckDB memory limit such as '512MB' or '2GiB' (checked here, so a typo is a config error, not a crash)."""

Seconds = Annotated[float, Field(allow_inf_nan=False)]
"""A duration in seconds: a finite number (TOML's `inf`/`nan` are refused)."""


class _Section(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class DataKind(StrEnum):
    text = "text"
    image = "image"
    audio = "audio"


TaskKind = StrEnum("TaskKind", {name: name for name in kind_names()})
"""The registered answer kinds (`tasks.kinds`); the registry, not this module, lists them."""


class SourceFormat(StrEnum):
    auto = "auto"
    jsonl = "jsonl"
    json = "json"
    csv = "csv"
    parquet = "parquet"
    folder = "folder"
    conll = "conll"


class ConllAnnotations(StrEnum):
    none = "none"
    gold = "gold"
    votes = "votes"


class SourceConfig(_Section):
    """One input: a file, a glob, a folder of media/text files, or an HTTP(S) URL of a file."""

    path: str = Field(description="File path, glob, folder, or http(s) URL; relative to the project folder.")
    format: SourceFormat = Field(SourceFormat.auto, description="Detected from the extension when 'auto'.")
    text_field: str = Field("text", description="Column holding the text payload (text projects, tabular files).")
    uri_field: str | None = Field(
        None, description="Column holding a media path/URL (image/audio projects given as a table)."
    )
    name: str | None = Field(None, description="Name recorded as the items' source; defaults to the path.")
    encoding: str = Field(
        "utf-8",
        description="Text encoding of JSONL/CSV files (a Python codec name, e.g. 'cp1252', 'latin-1', 'utf-16'). "
        "Under 'utf-8' a line holding bytes that are not UTF-8 is quarantined (reason invalid_encoding), the rest "
        "is stored; a byte-order mark always wins. Gzip files are recognised by their content.",
    )
    delimiter: str | None = Field(
        None, min_length=1, max_length=1,
        description="CSV field separator; when unset, the one of , ; tab | that splits the header into columns "
        "naming text_field.",
    )
    timeout_seconds: float = Field(
        30.0, gt=0, description="HTTP(S) sources: longest wait for the server's next bytes before the source fails."
    )
    annotations: ConllAnnotations = Field(
        ConllAnnotations.none, description="CoNLL sources (spans projects): what the file's BIO tags become: 'none' "
        "(ignored), 'gold' (known answers) or 'votes' (one source's answers, see annotations_source).")
    annotations_source: str | None = Field(
        None, pattern=r"^(human|model|lf):.+",
        description="CoNLL sources with annotations = 'votes': the source the tags are recorded as "
        "(default 'human:' + the source's name).")

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, v: str) -> str:
        import codecs

        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown encoding {v!r}; use a Python codec name such as 'utf-8', 'cp1252' or 'utf-16'") from None
        return v


class IngestConfig(_Section):
    batch_rows: int = Field(262_144, ge=1_000, description="Rows per Arrow batch written in one transaction.")
    max_payload_bytes: int = Field(100_000, ge=1, description="Longer text payloads are quarantined.")
    max_media_bytes: int = Field(50_000_000, ge=1, description="Larger media files are quarantined.")
    max_json_depth: int = Field(
        64, ge=1, le=10_000, description="JSON rows nested deeper than this are quarantined before they are parsed."
    )
    memory_limit: MemorySize = Field(
        "128MB", description="DuckDB buffer pool while ingesting; memory stays flat however large the table grows."
    )


class LabelingFunctionConfig(_Section):
    name: str = Field(
        description="Unique name; becomes the source id `lf:<name>`.", pattern=r"^[A-Za-z0-9_.-]+$"
    )
    sql: str | None = Field(None, description="DuckDB expression over the items table returning a label or NULL.")
    python: str | None = Field(
        None,
        description="`module:function` of a Python labeling function (decorated with @labeling_function); "
        "importable from the project folder or the annoflow checkout.",
    )
    description: str = Field("", description="What the rule looks for; shown in `annoflow lf-report`.")

    @model_validator(mode="after")
    def _one_kind(self) -> LabelingFunctionConfig:
        if (self.sql is None) == (self.python is None):
            raise ValueError(f"labeling function {self.name!r} needs exactly one of 'sql' or 'python'")
        return self


class ModelKind(StrEnum):
    sklearn = "sklearn"
    http = "http"
    predictions = "predictions"
    llm = "llm"


LLM_SYSTEM_PROMPT = "You are a careful data annotator. Answer only in the JSON form you are asked for."
LLM_PROMPT = "{instructions}\n\nLabels: {labels}\n\n<text>\n{text}\n</text>"


class ModelConfig(_Section):
    name: str = Field(description="Unique name; becomes the source id `model:<name>`.", pattern=r"^[A-Za-z0-9_.-]+$")
    kind: ModelKind = Field(ModelKind.sklearn, description="'sklearn' (trained on the project's labels), 'http' (an endpoint), "
                            "'predictions' (a file of a model's existing output, for the kinds that read one: boxes read COCO results JSON) "
                            "or 'llm' (a language model behind an OpenAI-compatible chat-completions endpoint, see docs/llm-annotators.md).")
    url: str | None = Field(None, description="Endpoint for kind 'http'; for kind 'llm' the API base (`/v1/chat/completions` is added).")
    path: str | None = Field(None, description="Kind 'predictions': the predictions file, relative to the project folder.")
    images: str | None = Field(None, description="Kind 'predictions' (boxes): a COCO JSON whose `images` map image_id to file_name "
                               "(and width/height) and whose `categories` map category_id to a label.")
    categories: dict[str, str] = Field(default_factory=dict, description="Kind 'predictions' (boxes): category_id -> label, "
                                       "added to (or replacing) the names of the images file's `categories`.")
    version: str | None = Field(None, description="Kind 'predictions': the version of the file's predictions. Votes are kept per "
                                "version: importing the same version again stores nothing, a new version replaces the old votes.")
    model: str | None = Field(None, description="Kind 'llm': the model name sent with every request (as the endpoint knows it).")
    api_key_env: str | None = Field(None, description="Kind 'llm': the environment variable holding the API key (sent as a bearer "
                                    "token). The key itself is never written in the config or stored.", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    system_prompt: str = Field(LLM_SYSTEM_PROMPT, description="Kind 'llm': the system message; may use the placeholders of `prompt`.")
    prompt: str | None = Field(None, description="Kind 'llm': the user message. Placeholders: {text} (the item's text), {labels} "
                               "(the label set, comma-separated), {instructions} (what the answer kind asks for and in which JSON "
                               "form). Unset: the answer kind's default (single/multi-label and spans: " + repr(LLM_PROMPT)
                               + "; pairwise and rating leave out the labels, which mean nothing to them).")
    temperature: float = Field(0.0, ge=0, le=2, description="Kind 'llm': sampling temperature (0: the most repeatable answers).")
    max_tokens: int = Field(512, ge=1, description="Kind 'llm': the longest answer, in tokens.")
    price_per_1k_input_tokens: float = Field(0.0, ge=0, description="Kind 'llm': price of 1,000 prompt tokens (counted from the "
                                             "endpoint's `usage`), for cost reports.")
    price_per_1k_output_tokens: float = Field(0.0, ge=0, description="Kind 'llm': price of 1,000 answer tokens.")
    max_retry_after_seconds: Seconds = Field(30.0, ge=0, description="Kind 'llm': the longest Retry-After of a 429 that is honoured; "
                                             "a longer one (or rate limits past `retries`) sets the item aside for the next run.")
    batch_size: int = Field(256, ge=1, description="Items per request (kind 'llm': items answered between two writes to the store).")
    concurrency: int = Field(4, ge=1)
    timeout_seconds: Seconds = Field(30.0, gt=0)
    retries: int = Field(4, ge=1, description="Attempts per request on 5xx/timeouts (exponential back-off); 4xx fail at once.")
    backoff_seconds: Seconds = Field(0.5, ge=0, description="First back-off of an HTTP model request; doubles per attempt.")
    min_train_labels: int = Field(20, ge=2, description="Train the sklearn model once this many labels exist.")
    retrain_new_labels: int = Field(
        50, ge=1, description="Retrain the sklearn model once this many gold/resolved labels arrived since it was trained."
    )
    max_features: int = Field(50_000, ge=10, description="Vocabulary size of the sklearn text model (TF-IDF).")
    ngram_max: int = Field(1, ge=1, le=3, description="Longest word n-gram of the sklearn text model.")
    cv_folds: int = Field(
        5, ge=2, description="Training items get out-of-fold predictions, so calibration and thresholds on gold stay honest."
    )
    weak_labels: bool = Field(
        False,
        description="Also train the sklearn model on what the labeling functions say, combined by `prelabel.combiner`, "
        "where that combination is at least `weak_min_confidence` sure: the model then labels items no rule matches "
        "(weak supervision's end model). Gold and human-resolved labels always win over weak ones.",
    )
    weak_min_confidence: float = Field(
        0.9, gt=0, le=1, description="Weak labels below this combined confidence are not trained on."
    )
    weak_max_items: int = Field(
        100_000, ge=1, description="At most this many weak labels are trained on (a fixed, id-ordered sample), bounding training time."
    )

    @model_validator(mode="after")
    def _url_for_http(self) -> ModelConfig:
        if self.kind in (ModelKind.http, ModelKind.llm) and not self.url:
            raise ValueError(f"model {self.name!r} of kind {self.kind.value!r} needs a url")
        if self.kind == ModelKind.llm:
            if not self.model:
                raise ValueError(f"model {self.name!r} of kind 'llm' needs `model` (the model name the endpoint serves)")
            if self.prompt is not None and "{text}" not in self.prompt + self.system_prompt:
                raise ValueError(f"model {self.name!r}: `prompt` (or `system_prompt`) must contain the placeholder {{text}}")
        if self.kind == ModelKind.predictions:
            missing = [f for f in ("path", "version") if not getattr(self, f)]
            if missing:
                raise ValueError(f"model {self.name!r} of kind 'predictions' needs {' and '.join(missing)}")
        return self


class Combiner(StrEnum):
    log_odds = "log_odds"
    label_model = "label_model"


class PrelabelConfig(_Section):
    labeling_functions: list[LabelingFunctionConfig] = Field(default_factory=list)
    combiner: Combiner = Field(
        Combiner.log_odds,
        description="How LF and model votes become one pre-label: 'log_odds' learns each source's confusions on "
        "gold (best with a few dozen gold items per class); 'label_model' learns them without gold, from how the "
        "sources agree and abstain (the consensus label model).",
    )
    models: list[ModelConfig] = Field(default_factory=list)
    target_precision: float = Field(0.95, gt=0, le=1, description="Auto-accept only where precision meets this.")
    audit_rate: float = Field(0.05, ge=0, le=1, description="Share of auto-accepted items still sent to humans.")
    precision_confidence: float = Field(
        0.95,
        ge=0.5,
        lt=1,
        description="Confidence of the one-sided Wilson lower bound on precision that must reach target_precision.",
    )
    min_eval_items: int = Field(
        10, ge=1, description="A class gets a threshold only with at least this many evaluated (gold/audited) items above it."
    )
    calibration_bins: int = Field(10, ge=2, le=100, description="Bins of the reliability table on gold.")
    batch_rows: int = Field(250_000, ge=1_000, description="Items per batch written in one transaction.")
    seed: int = Field(0, description="Seed of the audit sample (an item's audit draw is a hash of its id and the seed).")

    @model_validator(mode="after")
    def _unique_names(self) -> PrelabelConfig:
        for what, names in (("labeling function", [x.name for x in self.labeling_functions]), ("model", [m.name for m in self.models])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{what} names must be unique, repeated: {dupes}")
        return self


class QueueBackend(StrEnum):
    builtin = "builtin"
    label_studio = "label_studio"


class QueueConfig(_Section):
    backend: QueueBackend = QueueBackend.builtin
    url: str = Field("http://127.0.0.1:8765", description="Base URL of the annotation app or Label Studio.")
    token_env: str = Field("ANNOFLOW_QUEUE_TOKEN", description="Environment variable holding the admin/API token.")
    lease_seconds: int = Field(600, ge=10, description="A task not submitted within this time goes back to the queue.")
    show_prelabels: bool = Field(True, description="Show the machine's label as a suggestion on every task that has one, gold and audits alike (never its score); false: on none.")
    push_batch: int = Field(5_000, ge=1, description="Tasks per push request (and per 'pushed' transaction).")
    pull_limit: int = Field(20_000, ge=1, le=50_000, description="Judgments per pull page; each page is one transaction.")
    local_files_root: str | None = Field(
        None, description="Label Studio only: its LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT. file:// media under a "
        "subfolder of it is served by Label Studio; other local media up to 1 MB is sent inline as data URIs.")


class OverlapPolicy(StrEnum):
    fixed = "fixed"
    adaptive = "adaptive"


class OverlapConfig(_Section):
    policy: OverlapPolicy = OverlapPolicy.adaptive
    initial: int = Field(2, ge=1, description="Annotators per item in the first round (adaptive) or always (fixed).")
    max: int = Field(5, ge=1, description="After this many human votes an unresolved item goes to adjudication.")
    followup_boost: float = Field(
        1.0, ge=0, description="Added to an item's priority for its needs-more slots (adjudication: twice this), "
        "so items already under way are finished before fresh ones start."
    )

    @model_validator(mode="after")
    def _ordered(self) -> OverlapConfig:
        if self.max < self.initial:
            raise ValueError(f"overlap.max ({self.max}) must be >= overlap.initial ({self.initial})")
        return self


class GoldConfig(_Section):
    path: str | None = Field(None, description="CSV/JSONL/Parquet with the known answers for some items.")
    key_field: str = Field("text", description="Column identifying the item (same field as the source payload).")
    label_field: str = Field("label", description="Column holding the true label.")
    format: str = Field(
        "auto", description='How the gold file is read: "table" (CSV/JSONL/JSON list/Parquet with key_field and '
        'label_field columns), a format of the task kind (boxes: "coco", a COCO instances JSON matched by file_name), '
        'or "auto": the kind\'s format when the file has its shape, else a table.')
    rate: float = Field(0.1, ge=0, le=1, description="Share of an annotator's tasks that are hidden gold.")
    min_per_annotator: int = Field(
        3, ge=0, description="Gold tasks each known annotator gets at least (targeted, served before other work)."
    )
    ban_below: float = Field(0.6, ge=0, le=1, description="Ban a source whose accuracy upper bound is below this.")
    min_answers_for_ban: int = Field(5, ge=1)


class AggregationMethod(StrEnum):
    majority_vote = "majority_vote"
    weighted_majority_vote = "weighted_majority_vote"
    dawid_skene = "dawid_skene"
    one_coin_dawid_skene = "one_coin_dawid_skene"
    glad = "glad"
    label_model = "label_model"


class MachineEvidence(StrEnum):
    calibrated = "calibrated"
    votes = "votes"


class ConsensusConfig(_Section):
    method: AggregationMethod = AggregationMethod.label_model
    target_confidence: float = Field(0.9, gt=0, le=1, description="Posterior needed to call an item resolved.")
    max_iter: int = Field(100, ge=1)
    tol: float = Field(1e-6, gt=0)
    batch_rows: int = Field(250_000, ge=1, description="Label rows written per transaction.")
    bootstrap: int = Field(200, ge=0, description="Bootstrap draws for the Krippendorff alpha interval (0: none).")
    min_shared_for_kappa: int = Field(10, ge=1, description="Items two annotators must share for a Cohen's kappa.")
    resolve_without_humans: bool = Field(
        False, description="Let machine votes alone (models, labeling functions) resolve an item. Off: such items "
        "stay needs_more until a human votes, because pre-labeling's auto-accept is the calibrated path for that.")
    machine_evidence: MachineEvidence = Field(
        MachineEvidence.calibrated,
        description="How labeling functions and models count (single-label). calibrated: as ONE source, the "
        "pre-label's probability recalibrated on the items people voted on; votes: each as an independent voter.")


class BehaviourConfig(_Section):
    """Behaviour rules over human annotators, run once at the end of every consensus run.

    A rule that fires records a `flag` event and pauses the annotator (no new work, leases released,
    past votes kept); `annoflow annotators resume` or a passed re-qualification ends the pause. Each
    rule looks only at judgments made after the annotator's last resume, so a resumed annotator
    starts with a clean slate.
    """

    enabled: bool = Field(True, description="Run the rules at the end of consensus; false: never flag or pause.")
    pause: bool = Field(True, description="Pause a flagged annotator; false: record the flag only.")
    recent_judgments: int = Field(
        500, ge=10, description="Each annotator is judged on their latest this many judgments (gold_drift: on all their "
        "gold answers): behaviour is about now, and the rules' cost follows the number of annotators, not of votes.")
    min_judgments: int = Field(
        30, ge=5, description="A rule judges an annotator only after this many of their judgments (gold: answers).")
    fast_z: float = Field(
        1.5, gt=0, description="too_fast: a judgment is fast when its log-time lies this many robust standard "
        "deviations (1.4826 MAD of the project's log-times) below both the item's median (other annotators) and "
        "the project's median.")
    fast_share: float = Field(
        0.4, gt=0, le=1, description="too_fast: flag when at least this share of an annotator's judgments is fast.")
    min_item_others: int = Field(
        1, ge=1, description="too_fast: other annotators' times an item needs before its median is compared.")
    expert_accuracy: float = Field(
        0.9, ge=0, le=1, description="too_fast: an annotator whose gold accuracy lower bound (Wilson, "
        "`confidence`) reaches this is flagged but never paused for speed alone.")
    min_gold_for_expert: int = Field(10, ge=1, description="too_fast: gold answers needed for that exemption.")
    straight_alpha: float = Field(
        1e-4, gt=0, lt=1, description="straight_lining: one-sided binomial p-value below which an annotator's "
        "most frequent answer is more frequent than the reference distribution explains.")
    straight_excess: float = Field(
        0.3, gt=0, le=1, description="straight_lining: ... and its share exceeds the expected share by at least this.")
    drift_window: int = Field(
        30, ge=5, description="gold_drift: the most recent gold answers compared with all earlier ones.")
    drift_alpha: float = Field(
        0.001, gt=0, lt=1, description="gold_drift: one-sided p-value (two-proportion z-test) for 'recent is worse'; "
        "small, because the test is repeated at every consensus run.")
    drift_min_drop: float = Field(0.2, gt=0, le=1, description="gold_drift: smallest accuracy drop that counts.")
    confidence: float = Field(0.95, ge=0.5, lt=1, description="Level of the Wilson intervals shown as evidence.")
    requalify_items: int = Field(10, ge=1, description="Gold tasks in a re-qualification batch.")
    requalify_accuracy: float = Field(
        0.8, ge=0, le=1, description="Accuracy on the re-qualification batch that resumes the annotator.")


class ValidationConfig(_Section):
    min_mean_confidence: float = Field(0.8, ge=0, le=1)
    min_agreement: float = Field(0.0, ge=-1, le=1, description="Minimum Krippendorff's alpha to publish.")
    min_gold_accuracy: float = Field(0.8, ge=0, le=1)
    max_label_shift: float = Field(
        0.2, ge=0, le=1,
        description="Max total-variation distance to the reference version: the newest published version in the "
        "lineage that was representative (see the two keys below). A wanted shift is accepted with "
        "`annoflow export --accept-shift REASON`, recorded in the manifest.",
    )
    shift_reference_min_coverage: float = Field(
        0.5, ge=0, le=1,
        description="A version is the label-shift reference only if its rows covered at least this share of the "
        "project's items when it was published (a first export of auto-accepted items is not).",
    )
    shift_reference_min_human_rows: int = Field(
        10, ge=0,
        description="... and at least this many of its labels were resolved from people's votes (0 for projects "
        "labeled by machines alone).",
    )
    min_gold_items: int = Field(
        1, ge=0, description="Check gold accuracy only when at least this many exported items have a gold answer."
    )
    sample_rows: int = Field(
        100_000, ge=1_000,
        description="Per-row expectations see every row up to this size; above it, a hash sample of this many rows "
        "plus every violating row (exact counts come from DuckDB).",
    )
    max_examples: int = Field(20, ge=1, le=1_000, description="Failing example rows kept per expectation in the report.")


class ExportFormat(StrEnum):
    parquet = "parquet"
    jsonl = "jsonl"
    csv = "csv"
    label_studio = "label_studio"


class OnUnchanged(StrEnum):
    skip = "skip"
    new_version = "new_version"


class ExportConfig(_Section):
    formats: list[str] = Field(
        default_factory=lambda: [ExportFormat.parquet.value],
        description="Files each version holds besides the Parquet of record: the generic formats (parquet, jsonl, csv, "
        "label_studio) and the task kind's own (spans: conll, jsonl in spaCy's shape, token_parquet; boxes: coco, yolo).")
    splits: dict[str, float] | None = Field(None, description="e.g. {train = 0.8, validation = 0.1, test = 0.1}")
    dir: str | None = Field(None, description="Where versions are written; default <state.dir>/exports.")
    rows_per_file: int = Field(
        1_500_000, ge=1_000,
        description="Target rows per Parquet file: the export is written as 2^k sorted item-id ranges of about this size "
        "(memory per step stays bounded).",
    )
    zstd_level: int = Field(1, ge=1, le=22, description="zstd level of the Parquet of record (1 = fastest).")
    memory_limit: MemorySize = Field("1GB", description="DuckDB memory limit while exporting; beyond it DuckDB spills to disk.")
    on_unchanged: OnUnchanged = Field(
        OnUnchanged.skip,
        description="'skip': exporting unchanged state reports 'no changes since <version>' and creates nothing; "
        "'new_version': publish a new version anyway (same content hash).",
    )

    @field_validator("splits")
    @classmethod
    def _sum_to_one(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None and abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"split shares must sum to 1, got {sum(v.values())}")
        return v


class StateConfig(_Section):
    dir: str = Field(".annoflow", description="Folder for the database and everything else the pipeline keeps.")
    database: str = Field("annoflow.duckdb", description="DuckDB file name inside `dir` (or an absolute path).")
    lock_wait_seconds: Seconds = Field(60.0, ge=0, description="How long to wait for another writer before failing.")
    server_idle_minutes: float = Field(
        30.0, gt=0, description="The project's background Prefect server (started by the first command that runs a "
        "flow) stops after this long without a command using it.",
    )
    memory_limit: MemorySize = Field(
        "2GB",
        description="DuckDB's memory cap in every stage (it spills to disk beyond it): without one DuckDB may use "
        "80% of the machine's memory as the tables grow. Ingest has its own, smaller cap.",
    )


class HistoryConfig(_Section):
    """Analytics over time: each stage run appends its aggregates to `metric_history`; pruned on write."""

    enabled: bool = Field(True, description="Write history rows at the end of every stage run (false: none).")
    keep_days: int | None = Field(
        365, ge=1, description="Runs measured longer ago than this are pruned on each write (none: keep all).")
    keep_runs: int | None = Field(
        None, ge=1, description="Keep at most this many latest runs per stage (none: no cap).")


class ReviewConfig(_Section):
    """Which answers a reviewer checks (`tasks/review/policy.py`); every share and count is off by default.

    A target is picked by a hash of its id and `seed`, so the same work is picked on every run and the
    pick is independent of anything an annotator could see; once picked it is never picked again.
    """

    share: float = Field(0.0, ge=0, le=1, description="Share of each annotator's answers sent to review.")
    new_annotator_items: int = Field(
        0, ge=0, description="Review all of each annotator's first N answers (0: none).")
    below_confidence: float | None = Field(
        None, gt=0, le=1, description="Review one human answer of each item whose consensus confidence is below this.")
    machine_share: float = Field(
        0.0, ge=0, le=1, description="Share of auto-accepted machine labels sent to review.")
    seed: int = Field(0, description="Seed of the review draw (a target's draw is a hash of its id and the seed).")
    app_url: str | None = Field(
        None, description="A queue without a review workflow (Label Studio): the built-in annotation app where its "
        "answers are reviewed (none: such a project gets no review tasks).")
    app_token_env: str = Field(
        "ANNOFLOW_REVIEW_APP_TOKEN", description="Environment variable holding that app's admin token.")

    @property
    def enabled(self) -> bool:
        return bool(self.share or self.new_annotator_items or self.below_confidence or self.machine_share)


class CostRate(_Section):
    """What one human judgment is paid: a fixed part and a part for the time spent on it.

    A field left out of an override keeps the value of the level beneath it (see `CostConfig`)."""

    per_judgment: float | None = Field(None, ge=0, description="Paid per judgment.")
    per_hour: float | None = Field(None, ge=0, description="Paid per hour of recorded judgment time (duration_ms).")


class CostConfig(_Section):
    """Pay rates and machine costs; the cost metrics of history and the report read them.

    A human judgment's rate is resolved field by field, most specific first: the annotator's group
    (`groups` + `group_rates`, the first group in `groups` order that lists the annotator), then the
    kind of assignment (`assignments`: label | gold | audit | adjudication), then the project's answer
    kind (`answer_kinds`, by task_kind name), then `per_judgment` / `per_hour`. A machine vote costs the
    `per_call` price of the first pattern matching its source id (e.g. `"model:*" = 0.0004`).
    """

    currency: str = Field("USD", description="Shown next to the cost figures; no conversion is done.")
    per_judgment: float = Field(0.0, ge=0, description="Default pay per human judgment.")
    per_hour: float = Field(0.0, ge=0, description="Default pay per hour of recorded judgment time.")
    answer_kinds: dict[str, CostRate] = Field(
        default_factory=dict, description="Rates by answer kind (task_kind name), e.g. spans paid more.")
    assignments: dict[str, CostRate] = Field(
        default_factory=dict, description="Rates by kind of assignment: label, gold, audit, adjudication.")
    groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Annotator groups: name -> annotator ids or globs (e.g. 'vendor-*').")
    group_rates: dict[str, CostRate] = Field(default_factory=dict, description="Rates of each group in `groups`.")
    per_call: dict[str, float] = Field(
        default_factory=dict, description="Price of one machine vote (a model/LLM call) by source id or glob.")
    fixed_overlap: int | None = Field(
        None, ge=1, description="N of the fixed-overlap baseline of `cost_saved` (default: overlap.max).")

    @model_validator(mode="after")
    def _known_groups(self) -> CostConfig:
        unknown = sorted(set(self.group_rates) - set(self.groups))
        if unknown:
            raise ValueError(f"group_rates names groups not defined in cost.groups: {unknown}")
        bad = sorted(k for k, v in self.per_call.items() if v < 0)
        if bad:
            raise ValueError(f"per_call prices must be >= 0: {bad}")
        return self


class ProjectConfig(_Section):
    """A whole annotation project. `root` is the folder relative paths resolve against."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    data_kind: DataKind = DataKind.text
    task_kind: TaskKind = TaskKind(kind_names()[0])
    labels: list[str] = Field(default_factory=list, validate_default=True,
                              description="The label set, in display order; how many the task kind needs is the kind's "
                              "(`min_labels`: 2 for choices, boxes, spans and segments, none for transcripts, ratings and comparisons).")
    answer: dict[str, Any] = Field(
        default_factory=dict,
        description="The answer kind's own options (e.g. spans: allow_overlap); checked by the kind's options model.",
    )
    instructions: str = ""
    sources: list[SourceConfig] = Field(default_factory=list)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    prelabel: PrelabelConfig = Field(default_factory=PrelabelConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    overlap: OverlapConfig = Field(default_factory=OverlapConfig)
    gold: GoldConfig = Field(default_factory=GoldConfig)
    consensus: ConsensusConfig = Field(default_factory=ConsensusConfig)
    behaviour: BehaviourConfig = Field(default_factory=BehaviourConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    cost: CostConfig = Field(default_factory=CostConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    root: str = Field(".", description="Project folder; set from the config file's location.")

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, v: list[str], info: ValidationInfo) -> list[str]:
        kind = info.data.get("task_kind")  # absent when the task kind itself was refused
        need = get_kind(kind.value).min_labels if kind is not None else 0
        if len(v) < need:
            raise ValueError(f"task_kind {kind.value!r} needs at least {need} labels")
        dupes = sorted({x for x in v if v.count(x) > 1})
        if dupes:
            raise ValueError(f"labels must be unique, repeated: {dupes}")
        if any(not x.strip() for x in v):
            raise ValueError("labels must be non-empty strings")
        return v

    @model_validator(mode="after")
    def _answer_options(self) -> ProjectConfig:
        kind = get_kind(self.task_kind.value)
        if self.data_kind.value not in kind.data_kinds:
            raise ValueError(f"task_kind {self.task_kind.value!r} needs data_kind in {list(kind.data_kinds)}, "
                             f"not {self.data_kind.value!r}")
        if kind.options is None and self.answer:
            raise ValueError(f"task_kind {self.task_kind.value!r} takes no [answer] options")
        if kind.options is not None:
            self.answer = kind.options.model_validate(self.answer).model_dump(mode="json")
        gold_formats = ("auto", "table", *kind.storage.answer_file_formats)
        if self.gold.format not in gold_formats:
            raise ValueError(f"gold.format: {self.gold.format!r} is not a gold file format of task_kind "
                             f"{self.task_kind.value!r} (available: {', '.join(gold_formats)})")
        known = [f.value for f in ExportFormat] + [f for f in kind.export.formats(self) if f not in ExportFormat.__members__]
        unknown = [f for f in self.export.formats if f not in known]
        if unknown:
            raise ValueError(f"export.formats: {', '.join(map(repr, unknown))} is not a format of task_kind "
                             f"{self.task_kind.value!r} (available: {', '.join(known)})")
        return self

    @property
    def answer_options(self) -> Any:
        """The `[answer]` options as the kind's typed model (None for kinds without options)."""
        kind = get_kind(self.task_kind.value)
        return None if kind.options is None else kind.options.model_validate(self.answer)

    def path(self, p: str) -> Path:
        """Resolve a project-relative path (URLs are returned unchanged by callers, not here)."""
        q = Path(p).expanduser()
        return q if q.is_absolute() else (Path(self.root) / q)

    @property
    def state_dir(self) -> Path:
        return self.path(self.state.dir)

    @property
    def db_path(self) -> Path:
        db = Path(self.state.database).expanduser()
        return db if db.is_absolute() else self.state_dir / db

    @property
    def export_dir(self) -> Path:
        return self.path(self.export.dir) if self.export.dir else self.state_dir / "exports"

    def config_hash(self) -> str:
        """Hash of everything that affects results (not where state lives, nor how history and cost are
        kept: they measure the results), recorded in manifests."""
        data = self.model_dump(mode="json", exclude={"root", "state", "history", "cost"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def find_config(start: Path | str = ".") -> Path:
    """The `annoflow.toml` of the project folder `start` (a folder or the file itself)."""
    p = Path(start)
    candidate = p if p.suffix == ".toml" else p / CONFIG_FILE
    if not candidate.is_file():
        raise ConfigError(
            f"no {CONFIG_FILE} at {candidate}: run inside a project folder, pass --config PATH, "
            f"or start from an example: `annoflow ingest --config examples/youtube-spam/{CONFIG_FILE}`"
        )
    return candidate


def _describe(err: dict[str, Any]) -> str:
    key = ".".join(str(x) for x in err["loc"]) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        msg = f"{msg} (allowed: {ctx['expected']})"
    return f"{key}: {msg} (got {err.get('input')!r})" if err["type"] != "missing" else f"{key}: required"


def load_config(path: Path | str = ".", overrides: dict[str, Any] | None = None) -> ProjectConfig:
    """Read and validate a project's config; every problem is reported with its key, in one error."""
    file = find_config(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{file}: not valid TOML: {e}") from None
    data.update(overrides or {})
    data["root"] = str(file.parent.resolve())
    return validate_config(data, origin=str(file))


def validate_config(data: dict[str, Any], origin: str = "flow parameters") -> ProjectConfig:
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as e:
        problems = [_describe(err) for err in e.errors()]
        if len(problems) == 1:  # the usual case: one line naming file, key and what is allowed
            raise ConfigError(f"{origin}: invalid project config: {problems[0]}") from None
        lines = "\n  ".join(problems)
        raise ConfigError(f"{origin}: invalid project config:\n  {lines}") from None
