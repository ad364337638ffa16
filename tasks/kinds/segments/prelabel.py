"""Time segments: the prelabel facet (see tasks/kinds/protocol.py, prelabel) — what the pre-labeling stage asks a
segments project.

- Machine votes come from speech recognisers (or any sound-event model) behind HTTP (`[[prelabel.models]]` kind
  'http', the `/transcribe` contract of `../transcript/http_speech.py`, whose `segments` are the vote; the
  local `python -m model_server --asr` marks where it heard words as "speech"). A vote's `answer` is the JSON
  region list, each region with its `score`; `[]` is the model saying "nothing in this clip". Its labels must
  be project labels (checked against `/info` before anything is asked). No labeling functions, no local
  model: both are refused with a `ConfigError` naming what to configure instead.
- The combination is the boxes' (`boxes.machine_fusion.combine_boxes`) on one axis: a region from `start_s`
  to `end_s` is a box of height 1 at x = start_s (in milliseconds), so the IoU of two such boxes is the
  regions' temporal IoU. Scores are calibrated per source on gold, regions of several sources with the same
  label and IoU >= `match_iou` fused (score-weighted boundaries), and a clip confidence calibrated as P(the
  whole region set is the reference's at IoU >= `match_iou`, labels right). Regions scored below
  `MIN_SCORE` are ignored.
- One decision per clip, keyed "regions" or "no regions" (calibrated and thresholded apart).
- `lf-report` rows carry each model's region precision on gold (as `gold_accuracy`), recall and F1.

Answers travel as the kind's JSON text (`[{"start_s", "end_s", "label"}]`, sorted by start, end, label).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.errors import ConfigError, InputError

from ..boxes.box_sets import same_sets
from ..boxes.machine_fusion import combine_boxes
from ..boxes.prelabel import _BoxPrelabel
from ..model_only import ModelOnlyPrelabel

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "KEYS", "MIN_SCORE", "as_boxes"]

_STR = pa.string()
KEYS = ("regions", "no regions")
"""The decision keys: a non-empty region set, and "no regions" (calibrated apart, so thresholded apart)."""
MIN_SCORE = 0.05
"""Model regions scored below this are ignored (not fused, not counted against the clip's confidence)."""
_REGION_JSON = "'[{\"start_s\":\"DOUBLE\",\"end_s\":\"DOUBLE\",\"label\":\"VARCHAR\",\"score\":\"DOUBLE\"}]'"
_NO_LOCAL_MODEL = ("a segments project has no local model to train (kind 'sklearn'); pre-label with a model serving the /transcribe "
                   "contract: [[prelabel.models]] kind = \"http\", e.g. `python -m model_server --asr --port 8793` (its regions are "
                   "labelled \"speech\", which must then be one of the project's labels)")


def _to_boxes_sql(expr: str) -> str:
    return (f"to_json(list_transform(from_json({expr}, {_REGION_JSON}), lambda r: {{'x': r.start_s * 1000, 'y': 0.0,"
            " 'w': (r.end_s - r.start_s) * 1000, 'h': 1.0, 'label': r.label, 'score': r.score}))::VARCHAR")


def _from_boxes_sql(expr: str) -> str:
    return (f"to_json(list_sort(list_transform(from_json({expr}, '[{{\"x\":\"DOUBLE\",\"w\":\"DOUBLE\",\"label\":\"VARCHAR\"}}]'),"
            " lambda b: {'start_s': round(b.x / 1000, 3), 'end_s': round((b.x + b.w) / 1000, 3), 'label': b.label})))::VARCHAR")


def _convert(answers: pa.Array, sql: str) -> pa.Array:
    con = duckdb.connect()
    try:
        con.register("_a", pa.table({"a": answers.cast(_STR)}))
        return con.sql(f"SELECT {sql} AS b FROM _a").to_arrow_table().column("b").combine_chunks()
    finally:
        con.close()


def as_boxes(answers: pa.Array) -> pa.Array:
    """Region answers (JSON text) as the box answers of a one-pixel-high strip, x in milliseconds (null stays null)."""
    return _convert(answers, _to_boxes_sql("a"))


class _SegmentPrelabel(_BoxPrelabel):
    """The boxes' facet on one axis: what differs is where votes come from and how regions become boxes."""

    kind_title = "a segments project"
    lf_hint = "a rule over the samples is a model, so serve it as [[prelabel.models]] kind = \"http\" (the /transcribe contract)"
    no_local_model = _NO_LOCAL_MODEL
    keys = KEYS
    predictions = ModelOnlyPrelabel._no_local_model

    units = "regions"

    @staticmethod
    def _same_sets(left: pa.Array, right: pa.Array, match_iou: float) -> np.ndarray:
        return same_sets(as_boxes(left), as_boxes(right), match_iou)

    @staticmethod
    def _as_boxes_sql(answer: str) -> str:
        return _to_boxes_sql(answer)

    def imported_model(self, mcfg: Any, cfg: ProjectConfig) -> Any:
        raise ConfigError(f"model {mcfg.name!r}: segments projects cannot import a predictions file (kind 'predictions'); "
                          "serve the model as kind 'http' (the /transcribe contract)")

    def http_model(self, mcfg: Any, labels: Sequence[str]) -> Any:
        from ..transcript.http_speech import HttpSpeechModel

        return HttpSpeechModel(mcfg, list(labels))

    def predict(self, model: Any, batch: pa.Table, labels: Sequence[str]) -> pa.Table:
        """`item_id`, `answer`: the model's regions, sorted, each with its `score`."""
        t = model.transcribe(batch)
        sorted_ = (f"to_json(list_sort(from_json(segments, {_REGION_JSON})))::VARCHAR")
        con = duckdb.connect()
        try:
            con.register("_t", t)
            return con.sql(f"SELECT item_id, {sorted_} AS answer FROM _t").to_arrow_table()
        finally:
            con.close()

    def check_predictions(self, preds: pa.Table, what: str) -> None:
        """The client checks every region as it arrives; this is the last guard before storing."""
        con = duckdb.connect()
        try:
            con.register("_p", preds)
            bad = con.execute(f"SELECT item_id, r.start_s, r.end_s, r.score FROM (SELECT item_id, unnest(from_json(answer, {_REGION_JSON})) AS r"
                              " FROM _p) WHERE NOT (r.start_s >= 0 AND r.end_s > r.start_s) OR r.score < 0 OR r.score > 1 LIMIT 1").fetchall()
        finally:
            con.close()
        if bad:
            raise InputError(f"{what}: a region of item {bad[0][0]} is [{bad[0][1]}, {bad[0][2]}] s with score {bad[0][3]!r}: "
                             "a region needs 0 <= start_s < end_s and a score in [0, 1]")

    # -- combination and calibrated auto-accept ---------------------------------------------------------------

    def combine(self, votes: pa.Table, gold: pa.Table, cfg: ProjectConfig,
                item_ids: pa.Array | None = None) -> tuple[pa.Table, dict[str, float], str]:
        from tasks.store import plain_strings

        iou = cfg.answer_options.match_iou
        v = pa.table({c: plain_strings(votes.column(c)) for c in ("item_id", "source_id", "answer")})
        v = v.filter(pc.is_valid(v.column("answer")))
        v = v.set_column(2, "answer", as_boxes(v.column("answer").combine_chunks()))
        g = gold.set_column(1, "answer", as_boxes(gold.column("answer").combine_chunks())) if gold.num_rows else gold
        ids = None if item_ids is None else plain_strings(item_ids).to_pylist()
        pre, report = combine_boxes(v, g, ids, match_iou=iou, min_score=MIN_SCORE)
        pre = pre.set_column(1, "answer", _convert(pre.column("answer").combine_chunks(), _from_boxes_sql("a")))
        return pre.replace_schema_metadata({"match_iou": str(iou)}), report["source_precision"], "segment_fusion"


FACET = _SegmentPrelabel()
