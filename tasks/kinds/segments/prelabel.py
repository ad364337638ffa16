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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.errors import ConfigError, InputError

from ..boxes.box_sets import same_sets
from ..boxes.machine_fusion import combine_boxes
from ..protocol import PrelabelDecisions
from ..spans.prelabel import _human_answers
from .options import SegmentOptions

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "KEYS", "MIN_SCORE", "SegmentDecisions", "as_boxes"]

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


def _registered_match_iou(con: Any) -> float:
    row = con.execute("SELECT TRY_CAST(config->'answer'->>'match_iou' AS DOUBLE) FROM projects LIMIT 1").fetchall()
    return row[0][0] if row and row[0][0] is not None else SegmentOptions.model_fields["match_iou"].default


@dataclass(frozen=True)
class SegmentDecisions(PrelabelDecisions):
    """The decisions, and the temporal IoU at which a region set counts as right (what `score` judges them by)."""

    match_iou: float = 0.5


class _SegmentPrelabel:
    vote_columns = ("answer",)

    # -- labeling functions: none -----------------------------------------------------------------------------

    def lf_specs(self, cfg: ProjectConfig) -> list[Any]:
        if cfg.prelabel.labeling_functions:
            names = [lf.name for lf in cfg.prelabel.labeling_functions]
            raise ConfigError(f"labeling functions {names}: a segments project has no labeling functions; a rule over the "
                              "samples is a model, so serve it as [[prelabel.models]] kind = \"http\" (the /transcribe contract)")
        return []

    def _no_lfs(self, *_: Any) -> Any:
        raise ConfigError("a segments project has no labeling functions")

    lf_sql = lf_python = lf_labels_sql = lf_vote_sql = _no_lfs

    # -- models -----------------------------------------------------------------------------------------------

    def training_data(self, con: Any, labels: Sequence[str], item_columns: Sequence[str]) -> pa.Table:
        raise ConfigError(_NO_LOCAL_MODEL)

    def train(self, name: str, data_kind: str, labels: Sequence[str], batch: pa.Table, answers: pa.Array, mcfg: Any,
              cfg: ProjectConfig) -> Any:
        raise ConfigError(_NO_LOCAL_MODEL)

    def model_config_hash(self, data_kind: str, mcfg: Any, cfg: ProjectConfig) -> str:
        raise ConfigError(_NO_LOCAL_MODEL)

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

    def predictions(self, item_ids: Sequence[str], outputs: Sequence[Any], labels: Sequence[str]) -> pa.Table:
        raise ConfigError(_NO_LOCAL_MODEL)

    def model_vote_sql(self, prediction_columns: Sequence[str], labels: Sequence[str]) -> dict[str, str]:
        [col] = prediction_columns
        return {"answer": f"{col}::JSON"}

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

    def machine_votes(self, con: Any, labels: Sequence[str], kinds: Sequence[str]) -> pa.Table:
        from tasks.store import read_dictionary_encoded

        return read_dictionary_encoded(
            con, "SELECT v.item_id, v.source_id, v.answer IS NOT NULL AS spoke, v.answer::VARCHAR AS answer"
            " FROM votes v JOIN sources s USING (source_id) WHERE list_contains(?::VARCHAR[], v.source_kind)"
            " AND NOT s.banned AND v.source_version IS NOT DISTINCT FROM s.version ORDER BY v.item_id, v.source_id",
            ["item_id", "source_id"], params=[list(kinds)])

    def reference(self, con: Any, labels: Sequence[str]) -> pa.Table:
        return con.sql("SELECT item_id, answer::VARCHAR AS answer FROM gold WHERE answer IS NOT NULL ORDER BY item_id").to_arrow_table()

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

    def decide(self, combined: pa.Table, item_ids: pa.Array, labels: Sequence[str]) -> PrelabelDecisions:
        """A clip the combination lacks gets "no regions" with confidence 0: nothing measured it, so nothing auto-accepts it."""
        n = len(item_ids)
        if n == 0 or combined.num_rows == 0:
            answer, conf = pa.array(["[]"] * n, _STR), np.zeros(n)
            region_conf = pa.array([[]] * n, pa.list_(pa.float64()))
            have = np.zeros(n, bool)
        else:
            at = pc.index_in(item_ids, value_set=combined.column("item_id")).to_numpy(zero_copy_only=False).astype(float)
            have = ~np.isnan(at)
            take = pa.array(np.where(have, at, 0).astype(np.int64))
            answer = pc.if_else(pa.array(have), combined.column("answer").take(take), pa.scalar("[]")).combine_chunks()
            conf = np.where(have, combined.column("confidence").to_numpy(zero_copy_only=False)[take.to_numpy()], 0.0)
            region_conf = combined.column("box_confidence").take(take).combine_chunks()
        detail = pc.if_else(pa.array(have), pc.binary_join_element_wise("[", pc.binary_join(pc.cast(region_conf, pa.list_(_STR)), ","), "]", ""),
                            pa.scalar("[]")) if n else pa.array([], _STR)
        key = np.where(pc.equal(answer, "[]").to_numpy(zero_copy_only=False), KEYS[1], KEYS[0]).astype(object)
        iou = float((combined.schema.metadata or {}).get(b"match_iou", SegmentOptions.model_fields["match_iou"].default))
        return SegmentDecisions(answer, conf, np.arange(n), key, conf, KEYS, detail, match_iou=iou)

    def score(self, decisions: PrelabelDecisions, reference: pa.Array) -> np.ndarray:
        iou = getattr(decisions, "match_iou", SegmentOptions.model_fields["match_iou"].default)
        return same_sets(as_boxes(decisions.answer), as_boxes(reference), iou)[decisions.item]

    def audited(self, con: Any, labels: Sequence[str]) -> pa.Table:
        rows = con.sql(
            f"SELECT p.item_id, CASE WHEN p.answer::VARCHAR = '[]' THEN '{KEYS[1]}' ELSE '{KEYS[0]}' END AS key, p.confidence,"
            " p.answer::VARCHAR AS a, h.a AS h"
            f" FROM prelabels p JOIN ({_human_answers()}) h USING (item_id) WHERE p.route = 'audit' ORDER BY p.item_id"
        ).to_arrow_table()
        iou = _registered_match_iou(con)
        ok = (same_sets(as_boxes(rows.column("a").combine_chunks()), as_boxes(rows.column("h").combine_chunks()), iou)
              if rows.num_rows else np.zeros(0, bool))
        return rows.select(["item_id", "key", "confidence"]).append_column("correct", pa.array(ok, pa.bool_()))

    def answer_sql(self, table: str, column: str) -> dict[str, str]:
        return {"answer": f"{column}::JSON"}

    def answer_text(self, answers: pa.Array) -> pa.Array:
        return answers

    # -- labeling-function analysis -----------------------------------------------------------------------

    def lf_summary(self, con: Any, labels: Sequence[str], learned: Mapping[str, float], kinds: Sequence[str]) -> list[dict]:
        """Per model: coverage, overlap, region precision on gold at temporal IoU >= match_iou (as `gold_accuracy`, Wilson
        interval), and under `more` recall and F1."""
        from tasks.prelabel.routing import wilson_interval

        t = _registered_match_iou(con)
        def explode(keep: str, src: str) -> str:
            return (f"SELECT {keep}, generate_subscripts(r, 1) AS i, unnest(r, recursive := true) FROM"
                    f" (SELECT {keep}, from_json(answer, {_REGION_JSON}) AS r FROM {src} WHERE answer IS NOT NULL)")

        con.execute("CREATE OR REPLACE TEMP TABLE _mv AS SELECT v.item_id, v.source_id, v.answer::VARCHAR AS answer FROM votes v"
                    " JOIN sources s USING (source_id) WHERE list_contains(?::VARCHAR[], v.source_kind) AND v.answer IS NOT NULL"
                    " AND v.source_version IS NOT DISTINCT FROM s.version", [list(kinds)]).fetchall()
        con.execute("CREATE OR REPLACE TEMP TABLE _gr AS " + explode("item_id", "(SELECT item_id, answer::VARCHAR AS answer FROM gold)"))
        con.execute("CREATE OR REPLACE TEMP TABLE _pr AS SELECT * FROM (" + explode("item_id, source_id", "_mv") +
                    ") WHERE item_id IN (SELECT item_id FROM gold WHERE answer IS NOT NULL)").fetchall()
        iou = ("greatest(0, least(p.end_s, g.end_s) - greatest(p.start_s, g.start_s))"
               " / nullif(greatest(p.end_s, g.end_s) - least(p.start_s, g.start_s), 0)")
        stats = {r[0]: r[1:] for r in con.execute(
            f"""WITH hits AS (SELECT p.source_id, count(DISTINCT (p.item_id, p.i)) AS tp_pred, count(DISTINCT (g.item_id, g.i)) AS tp_gold
                              FROM _pr p JOIN _gr g ON p.item_id = g.item_id AND p.label = g.label WHERE {iou} >= {t} GROUP BY p.source_id),
                    pred AS (SELECT source_id, count(*) AS n FROM _pr GROUP BY source_id),
                    seen AS (SELECT m.source_id, count(g.i) AS n FROM (SELECT DISTINCT source_id, item_id FROM _mv
                              WHERE item_id IN (SELECT item_id FROM gold WHERE answer IS NOT NULL)) m JOIN _gr g USING (item_id) GROUP BY m.source_id),
                    cover AS (SELECT source_id, count(*) AS n, count(*) FILTER (WHERE others > 0) AS shared
                              FROM (SELECT source_id, item_id, count(*) OVER (PARTITION BY item_id) - 1 AS others FROM _mv) GROUP BY source_id)
               SELECT c.source_id, coalesce(p.n, 0), coalesce(h.tp_pred, 0), coalesce(s.n, 0), coalesce(h.tp_gold, 0), c.n, c.shared
               FROM cover c LEFT JOIN pred p USING (source_id) LEFT JOIN hits h USING (source_id) LEFT JOIN seen s USING (source_id)"""
        ).fetchall()}
        for tmp in ("_mv", "_gr", "_pr"):
            con.execute(f"DROP TABLE IF EXISTS {tmp}").fetchall()
        n_items = max(con.execute("SELECT count(*) FROM items").fetchall()[0][0], 1)
        out = []
        for sid, kind, version in con.execute("SELECT source_id, kind, version FROM sources WHERE list_contains(?::VARCHAR[], kind)"
                                              " ORDER BY source_id", [list(kinds)]).fetchall():
            n_pred, tp_pred, n_gold, tp_gold, covered, shared = stats.get(sid, (0, 0, 0, 0, 0, 0))
            precision = tp_pred / n_pred if n_pred else None
            recall = tp_gold / n_gold if n_gold else None
            f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
            lo, hi = wilson_interval(tp_pred, n_pred)
            out.append({
                "source_id": sid, "kind": kind, "version": version, "polarity": "",
                "votes": int(covered), "coverage": round(covered / n_items, 4), "overlap": round(shared / max(covered, 1), 4),
                "conflict": None, "n_gold": n_pred, "gold_correct": tp_pred, "gold_accuracy": None if precision is None else round(precision, 4),
                "gold_acc_low": None if lo is None else round(lo, 4), "gold_acc_high": None if hi is None else round(hi, 4),
                "learned_accuracy": round(learned[sid], 4) if sid in learned else None,
                "more": {"gold regions": n_gold, "recall": None if recall is None else round(recall, 4),
                         "F1": None if f1 is None else round(f1, 4)},
            })
        return out


FACET = _SegmentPrelabel()
