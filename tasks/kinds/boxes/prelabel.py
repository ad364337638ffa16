"""Boxes: the prelabel facet (see tasks/kinds/protocol.py, prelabel) — what the pre-labeling stage asks a boxes project.

The stage keeps its mechanics (versions, batches, idempotent writes, thresholds, the audit draw, item
states); this facet says what a box answer is at each step:

- Machine votes come from detectors: an HTTP endpoint (`[[prelabel.models]]` kind 'http', the `/detect`
  contract, `http_boxes.py`) or a file of a detector's existing output (kind 'predictions', COCO results
  JSON, `coco_predictions.py`). A vote's `answer` is the JSON box list, each box with its `score`; `[]`
  is the detector saying "no objects".
- There are no box labeling functions (a rule over pixels is a detector: serve it) and no local model
  to train: both are refused with a `ConfigError` that names what to configure instead.
- The combination is `machine_fusion.combine_boxes`: scores calibrated per source on gold, boxes of
  several sources fused per object, an image confidence calibrated as P(the whole box set is right at
  IoU >= `match_iou` with the labels right).
- One decision per image, keyed "objects" or "no objects" (calibrated apart, thresholded apart), judged
  right when the box set is the reference's (`box_sets.same_sets`).
- `lf-report` rows carry each detector's box precision (as `gold_accuracy`), recall and F1 on gold.

Answers travel as the kind's JSON text (`geometry.canonical` form) throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.errors import ConfigError, InputError

from ..model_only import ModelOnlyPrelabel
from ..protocol import PrelabelDecisions
from ..spans.prelabel import _human_answers
from .box_sets import explode_sql, iou_sql, same_sets
from .machine_fusion import combine_boxes
from .options import BoxOptions

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "KEYS", "BoxDecisions"]

_STR = pa.string()
KEYS = ("objects", "no objects")
"""The decision keys: a non-empty box set, and "no objects" (calibrated apart, so thresholded apart)."""

_NO_LOCAL_MODEL = ("a boxes project has no local model to train (kind 'sklearn'); pre-label with a detector: "
                   "[[prelabel.models]] kind = \"http\" (an endpoint answering /detect, e.g. `python -m model_server --detector`) "
                   "or kind = \"predictions\" (a COCO results file with path, images and version)")




def _registered_match_iou(con: Any) -> float:
    """The project's `[answer] match_iou` as registered in the state database (the methods that read state get no config)."""
    row = con.execute("SELECT TRY_CAST(config->'answer'->>'match_iou' AS DOUBLE) FROM projects LIMIT 1").fetchall()
    return row[0][0] if row and row[0][0] is not None else BoxOptions.model_fields["match_iou"].default


@dataclass(frozen=True)
class BoxDecisions(PrelabelDecisions):
    """The decisions, and the IoU at which a box set counts as right (what `score` judges them by)."""

    match_iou: float = 0.5


class _BoxPrelabel(ModelOnlyPrelabel):
    kind_title = "a boxes project"
    lf_hint = ("a rule over pixels is a detector, so serve it as [[prelabel.models]] kind = \"http\" (the /detect contract) or "
               "import its output as kind = \"predictions\"")
    no_local_model = _NO_LOCAL_MODEL
    keys = KEYS
    """The decision keys (a kind built on this facet names its own)."""

    units = "boxes"
    """What lf-report calls the parts of an answer."""

    @staticmethod
    def _same_sets(left: pa.Array, right: pa.Array, match_iou: float) -> np.ndarray:
        """Whether two answers per position are the same set (a kind built on this facet compares its own answers)."""
        return same_sets(left, right, match_iou)

    @staticmethod
    def _as_boxes_sql(answer: str) -> str:
        """An answer (JSON text) as a box list in SQL (a kind built on this facet maps its own answers)."""
        return answer

    # -- models -----------------------------------------------------------------------------------------------

    def http_model(self, mcfg: Any, labels: Sequence[str]) -> Any:
        from .http_boxes import HttpBoxModel

        return HttpBoxModel(mcfg, list(labels))

    def imported_model(self, mcfg: Any, cfg: ProjectConfig) -> Any:
        """A `[[prelabel.models]]` entry of kind 'predictions': the COCO results file it names, as a model."""
        from .coco_predictions import PredictionsFile

        if not mcfg.images:
            raise ConfigError(f"model {mcfg.name!r} of kind 'predictions' needs `images`: a COCO JSON whose images map image_id "
                              "to file_name and whose categories map category_id to a label")
        return PredictionsFile(mcfg, list(cfg.labels), Path(cfg.root))

    def predict(self, model: Any, batch: pa.Table, labels: Sequence[str]) -> pa.Table:
        return model.predict(batch).select(["item_id", "answer"])

    def predictions(self, item_ids: Sequence[str], outputs: Sequence[Any], labels: Sequence[str]) -> pa.Table:
        return pa.table({"item_id": pa.array(list(item_ids), _STR), "answer": pa.array(list(outputs), _STR)})

    def model_vote_sql(self, prediction_columns: Sequence[str], labels: Sequence[str]) -> dict[str, str]:
        [col] = prediction_columns
        return {"answer": f"{col}::JSON"}

    def check_predictions(self, preds: pa.Table, what: str) -> None:
        """The clients check every box as it arrives; this is the last guard before storing (a score outside [0, 1])."""
        con = duckdb.connect()
        try:
            con.register("_p", preds)
            bad = con.execute(f"SELECT item_id, score FROM ({explode_sql('_p')}) WHERE score < 0 OR score > 1 OR isnan(score) LIMIT 1").fetchall()
        finally:
            con.close()
        if bad:
            raise InputError(f"{what}: a box of item {bad[0][0]} has score {bad[0][1]!r}, outside [0, 1]")

    # -- combination and calibrated auto-accept ---------------------------------------------------------------

    def combine(self, votes: pa.Table, gold: pa.Table, cfg: ProjectConfig,
                item_ids: pa.Array | None = None) -> tuple[pa.Table, dict[str, float], str]:
        from tasks.store import plain_strings

        opts = cfg.answer_options
        v = pa.table({c: plain_strings(votes.column(c)) for c in ("item_id", "source_id", "answer")})
        ids = None if item_ids is None else plain_strings(item_ids).to_pylist()
        pre, report = combine_boxes(v.filter(pc.is_valid(v.column("answer"))), gold, ids, match_iou=opts.match_iou,
                                    min_score=opts.prelabel_min_score)
        return pre.replace_schema_metadata({"match_iou": str(opts.match_iou)}), report["source_precision"], "box_fusion"

    def decide(self, combined: pa.Table, item_ids: pa.Array, labels: Sequence[str]) -> PrelabelDecisions:
        """An item the combination lacks gets "no objects" with confidence 0: nothing measured it, so nothing auto-accepts it."""
        n = len(item_ids)
        at = pc.index_in(item_ids, value_set=combined.column("item_id")).to_numpy(zero_copy_only=False).astype(float)
        have = ~np.isnan(at)
        take = pa.array(np.where(have, at, 0).astype(np.int64))
        if n == 0 or combined.num_rows == 0:
            answer, conf = pa.array(["[]"] * n, _STR), np.zeros(n)
            box_conf = pa.array([[]] * n, pa.list_(pa.float64()))
        else:
            answer = pc.if_else(pa.array(~have), pa.scalar("[]"), combined.column("answer").take(take)).combine_chunks()
            conf = np.where(have, combined.column("confidence").to_numpy(zero_copy_only=False)[take.to_numpy()], 0.0)
            box_conf = combined.column("box_confidence").take(take).combine_chunks()
        detail = pc.if_else(pa.array(have), pc.binary_join_element_wise("[", pc.binary_join(pc.cast(box_conf, pa.list_(_STR)), ","), "]", ""),
                            pa.scalar("[]")) if n else pa.array([], _STR)
        key = np.where(pc.equal(answer, "[]").to_numpy(zero_copy_only=False), self.keys[1], self.keys[0]).astype(object)
        iou = float((combined.schema.metadata or {}).get(b"match_iou", BoxOptions.model_fields["match_iou"].default))
        return BoxDecisions(answer, conf, np.arange(n), key, conf, self.keys, detail, match_iou=iou)

    def score(self, decisions: PrelabelDecisions, reference: pa.Array) -> np.ndarray:
        iou = getattr(decisions, "match_iou", BoxOptions.model_fields["match_iou"].default)
        return self._same_sets(decisions.answer, reference, iou)[decisions.item]

    def audited(self, con: Any, labels: Sequence[str]) -> pa.Table:
        rows = con.sql(
            f"SELECT p.item_id, CASE WHEN p.answer::VARCHAR = '[]' THEN '{self.keys[1]}' ELSE '{self.keys[0]}' END AS key, p.confidence,"
            " p.answer::VARCHAR AS a, h.a AS h"
            f" FROM prelabels p JOIN ({_human_answers()}) h USING (item_id) WHERE p.route = 'audit' ORDER BY p.item_id"
        ).to_arrow_table()
        iou = _registered_match_iou(con)
        ok = self._same_sets(rows.column("a").combine_chunks(), rows.column("h").combine_chunks(), iou) if rows.num_rows else np.zeros(0, bool)
        return rows.select(["item_id", "key", "confidence"]).append_column("correct", pa.array(ok, pa.bool_()))

    def answer_sql(self, table: str, column: str) -> dict[str, str]:
        return {"answer": f"{column}::JSON"}

    def answer_text(self, answers: pa.Array) -> pa.Array:
        return answers

    # -- labeling-function analysis -----------------------------------------------------------------------

    def lf_summary(self, con: Any, labels: Sequence[str], learned: Mapping[str, float], kinds: Sequence[str]) -> list[dict]:
        """Per detector: coverage, overlap (share of its images another detector also answered), box precision on
        gold at IoU >= match_iou (as `gold_accuracy`, Wilson interval), and under `more` recall and F1."""
        from tasks.prelabel.routing import wilson_interval

        t = _registered_match_iou(con)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _mv AS SELECT v.item_id, v.source_id, {self._as_boxes_sql('v.answer::VARCHAR')} AS answer FROM votes v"
                    " JOIN sources s USING (source_id) WHERE list_contains(?::VARCHAR[], v.source_kind) AND v.answer IS NOT NULL"
                    " AND v.source_version IS NOT DISTINCT FROM s.version", [list(kinds)]).fetchall()
        con.execute("CREATE OR REPLACE TEMP TABLE _gb AS " + explode_sql(f"(SELECT item_id, {self._as_boxes_sql('answer::VARCHAR')} AS answer FROM gold)")).fetchall()
        con.execute("CREATE OR REPLACE TEMP TABLE _pb AS SELECT * FROM (" + explode_sql("_mv", keep="item_id, source_id") +
                    ") WHERE item_id IN (SELECT item_id FROM _gb UNION SELECT item_id FROM gold WHERE answer IS NOT NULL)").fetchall()
        stats = {r[0]: r[1:] for r in con.execute(
            f"""WITH hits AS (SELECT p.source_id, count(DISTINCT (p.item_id, p.i)) AS tp_pred, count(DISTINCT (g.item_id, g.i)) AS tp_gold
                              FROM _pb p JOIN _gb g ON p.item_id = g.item_id AND p.label = g.label WHERE {iou_sql('p', 'g')} >= {t}
                              GROUP BY p.source_id),
                    pred AS (SELECT source_id, count(*) AS n FROM _pb GROUP BY source_id),
                    seen AS (SELECT m.source_id, count(g.i) AS n FROM (SELECT DISTINCT source_id, item_id FROM _mv
                              WHERE item_id IN (SELECT item_id FROM gold WHERE answer IS NOT NULL)) m JOIN _gb g USING (item_id) GROUP BY m.source_id),
                    cover AS (SELECT source_id, count(*) AS n, count(*) FILTER (WHERE others > 0) AS shared
                              FROM (SELECT source_id, item_id, count(*) OVER (PARTITION BY item_id) - 1 AS others FROM _mv) GROUP BY source_id)
               SELECT c.source_id, coalesce(p.n, 0), coalesce(h.tp_pred, 0), coalesce(s.n, 0), coalesce(h.tp_gold, 0), c.n, c.shared
               FROM cover c LEFT JOIN pred p USING (source_id) LEFT JOIN hits h USING (source_id) LEFT JOIN seen s USING (source_id)"""
        ).fetchall()}
        for tmp in ("_mv", "_gb", "_pb"):
            con.execute(f"DROP TABLE IF EXISTS {tmp}").fetchall()
        n_items = max(con.execute("SELECT count(*) FROM items").fetchall()[0][0], 1)
        n_votes = dict(con.execute("SELECT source_id, count(*) FROM votes GROUP BY source_id").fetchall())
        out = []
        for sid, kind, version in con.execute("SELECT source_id, kind, version FROM sources WHERE list_contains(?::VARCHAR[], kind)"
                                              " ORDER BY source_id", [list(kinds)]).fetchall():
            n_pred, tp_pred, n_gold_boxes, tp_gold, covered, shared = stats.get(sid, (0, 0, 0, 0, 0, 0))
            precision = tp_pred / n_pred if n_pred else None
            recall = tp_gold / n_gold_boxes if n_gold_boxes else None
            f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
            lo, hi = wilson_interval(tp_pred, n_pred)
            out.append({
                "source_id": sid, "kind": kind, "version": version, "polarity": "",
                "votes": int(n_votes.get(sid, 0)), "coverage": round(covered / n_items, 4), "overlap": round(shared / max(covered, 1), 4),
                "conflict": None, "n_gold": n_pred, "gold_correct": tp_pred, "gold_accuracy": None if precision is None else round(precision, 4),
                "gold_acc_low": None if lo is None else round(lo, 4), "gold_acc_high": None if hi is None else round(hi, 4),
                "learned_accuracy": round(learned[sid], 4) if sid in learned else None,
                "more": {f"gold {self.units}": n_gold_boxes, "recall": None if recall is None else round(recall, 4),
                         "F1": None if f1 is None else round(f1, 4)},
            })
        return out


FACET = _BoxPrelabel()
