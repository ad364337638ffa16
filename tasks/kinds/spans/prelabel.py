"""Spans: the prelabel facet (see tasks/kinds/protocol.py, prelabel) — what the pre-labeling stage asks a spans project.

The stage keeps its mechanics (versions, batches, idempotent writes, thresholds, the audit draw, item
states); this facet says what a span answer is at each step:

- LFs are the `[[answer.lfs]]` rules: a phrase/regex rule becomes one DuckDB expression over the item's
  text (`lfs.span_lf_sql`) that the stage evaluates beside the other rules in one statement per batch; a
  Python LF is called on the batch and answers per text. A vote's `answer` is the JSON span list, NULL
  where the LF found nothing (abstain: an LF's silence is not "no entities").
- The local model (`[[prelabel.models]]` of kind 'sklearn') is the spaCy NER ensemble of `[answer.model]`
  (`model_run.py`), an HTTP model the `/spans` contract (`http_spans.py`). A model vote's `answer` holds
  the plain spans, `probs` the confidence of each, in order; `[]` is the model saying "no entities".
- The combination is `combine.combine_spans`: candidate spans scored by their proposers, calibrated on gold,
  and an item confidence calibrated as P(the whole span set is exactly right).
- One decision per item, keyed "entities" or "no entities" (the two are calibrated apart), judged right
  when the span set equals the reference exactly; a threshold per key as for classes.
- `lf-report` rows carry strict precision (as `gold_accuracy`), recall and F1 per source (`lf_report.py`).

Answers travel as the kind's JSON text (`[{"start", "end", "label"}]`, sorted) throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tasks.errors import ConfigError, InputError

from ..protocol import PrelabelDecisions
from .combine import combine_spans
from .lf_report import span_lf_report
from .lfs import load_span_lfs, span_lf_sql

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET"]

_STR = pa.string()
_SPANS = "'[{\"start\":\"BIGINT\",\"end\":\"BIGINT\",\"label\":\"VARCHAR\"}]'"
_SCORED = "'[{\"start\":\"BIGINT\",\"end\":\"BIGINT\",\"label\":\"VARCHAR\",\"confidence\":\"DOUBLE\"}]'"
KEYS = ("entities", "no entities")
"""The decision keys: a non-empty span set, and "no entities" (calibrated apart, so thresholded apart)."""


def _norm(expr: str) -> str:
    """A JSON span list as comparable text (sorted spans, other keys dropped); NULL stays NULL."""
    return (f"to_json(list_sort(list_transform(from_json({expr}, {_SPANS}),"
            " lambda s: {'start': s.start, 'end': s.\"end\", 'label': s.label})))::VARCHAR")


def _key(answer: str) -> str:
    return f"CASE WHEN {answer} = '[]' THEN '{KEYS[1]}' ELSE '{KEYS[0]}' END"


def _human_answers() -> str:
    return ("SELECT item_id, answer::VARCHAR AS a FROM labels WHERE decision = 'resolved' AND method <> 'auto' AND answer IS NOT NULL"
            " QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY updated_at DESC) = 1")


class _SpanPrelabel:
    vote_columns = ("answer", "probs")

    # -- labeling functions ---------------------------------------------------------------------------------

    def lf_specs(self, cfg: ProjectConfig) -> list[Any]:
        from tasks.prelabel.lf import LFSpec

        if cfg.prelabel.labeling_functions:
            names = [lf.name for lf in cfg.prelabel.labeling_functions]
            raise ConfigError(f"labeling functions {names}: a spans project declares its labeling functions as [[answer.lfs]] "
                              "(a phrase list, a regex or a Python function per entity type), not [[prelabel.labeling_functions]]")
        code = {lf.name: lf.python for lf in cfg.answer_options.lfs}
        out = []
        for s in load_span_lfs(cfg.answer_options, cfg.labels, Path(cfg.root)):
            if s.kind == "sql":
                out.append(LFSpec(s.name, "sql", span_lf_sql(s, "items.payload"), s.version, description=f"{s.label}: {s.pattern}"))
            else:
                out.append(LFSpec(s.name, "python", code[s.name], s.fn.version, s.fn, description=(s.fn.__doc__ or "").strip()))
        return out

    def lf_sql(self, expr: str) -> str:
        return f"({expr})::VARCHAR"

    def lf_python(self, output: Any, batch: pa.Table) -> tuple[pa.Array, pa.Array]:
        """Per item a list of `(start, end, label)`; checked against the item's text here (the types by the stage)."""
        n = batch.num_rows
        if not isinstance(output, (list, tuple)) or len(output) != n:
            raise ValueError(f"returned {len(output) if isinstance(output, (list, tuple)) else type(output).__name__} answers "
                             f"for a batch of {n} items")
        texts = batch.column("payload").to_pylist()
        answers, mentioned = [], []
        for text, spans in zip(texts, output):
            spans = _spans(spans, len(text or ""))
            answers.append(orjson.dumps([{"start": a, "end": b, "label": c} for a, b, c in spans]).decode() if spans else None)
            mentioned.append(sorted({c for _, _, c in spans}))
        return pa.array(answers, _STR), pa.array(mentioned, pa.list_(_STR))

    def lf_labels_sql(self, column: str) -> str:
        return f"coalesce(json_extract_string({column}, '$[*].label'), []::VARCHAR[])"

    def lf_vote_sql(self, column: str, polarity: Sequence[str]) -> dict[str, str]:
        return {"answer": f"{column}::JSON", "probs": "NULL::JSON"}

    # -- models -----------------------------------------------------------------------------------------------

    def training_data(self, con: Any, labels: Sequence[str], item_columns: Sequence[str]) -> pa.Table:
        """Gold spans, then human-resolved ones; an answer naming a type outside `labels` is left out."""
        return con.sql(
            f"""
            WITH t AS (
                SELECT item_id, answer::VARCHAR AS a FROM gold WHERE answer IS NOT NULL
                UNION ALL SELECT item_id, a FROM ({_human_answers()}) WHERE item_id NOT IN (SELECT item_id FROM gold)
            )
            SELECT {', '.join('i.' + c for c in item_columns)}, {_norm('t.a')} AS answer FROM items i JOIN t USING (item_id)
            WHERE i.payload IS NOT NULL AND list_has_all(?::VARCHAR[], coalesce(json_extract_string(t.a, '$[*].label'), []))
            ORDER BY i.item_id
            """,
            params=[list(labels)],
        ).to_arrow_table()

    def train(self, name: str, data_kind: str, labels: Sequence[str], batch: pa.Table, answers: pa.Array, mcfg: Any,
              cfg: ProjectConfig) -> Any:
        from tasks.prelabel.models import TrainingRun

        from .model_run import train_span_run
        from .span_model import save_span_model

        spans = [[(s["start"], s["end"], s["label"]) for s in orjson.loads(a)] for a in answers.to_pylist()]
        model, ids, oof = train_span_run(name, self.model_config_hash(data_kind, mcfg, cfg), batch.column("item_id").to_pylist(),
                                         batch.column("payload").to_pylist(), spans, list(labels), cfg.answer_options.model)
        save_span_model(model.model, cfg.state_dir)  # also as spaCy folders: what `model_server --span-model` serves
        return TrainingRun(model, ids, oof)

    def model_config_hash(self, data_kind: str, mcfg: Any, cfg: ProjectConfig) -> str:
        """The scikit-learn settings' digest and the `[answer.model]` options: changing epochs or members retrains."""
        import hashlib

        from tasks.prelabel.models import _config_hash

        options = orjson.dumps(cfg.answer_options.model.model_dump(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(_config_hash(data_kind, mcfg).encode() + options).hexdigest()[:8]

    def http_model(self, mcfg: Any, labels: Sequence[str]) -> Any:
        from .http_spans import HttpSpanModel

        return HttpSpanModel(mcfg, list(labels))

    def predict(self, model: Any, batch: pa.Table, labels: Sequence[str]) -> pa.Table:
        return model.predict(batch).select(["item_id", "answer"])

    def predictions(self, item_ids: Sequence[str], outputs: Sequence[Any], labels: Sequence[str]) -> pa.Table:
        return pa.table({"item_id": pa.array(list(item_ids), _STR), "answer": pa.array(list(outputs), _STR)})

    def model_vote_sql(self, prediction_columns: Sequence[str], labels: Sequence[str]) -> dict[str, str]:
        [col] = prediction_columns
        return {"answer": f"{_norm(col)}::JSON",
                "probs": f"to_json(list_transform(list_sort(from_json({col}, {_SCORED})), lambda s: s.confidence))"}

    def check_predictions(self, preds: pa.Table, what: str) -> None:
        con = duckdb.connect()
        try:
            con.register("_p", preds)
            bad = con.execute(
                f"SELECT item_id, s.confidence FROM (SELECT item_id, unnest(from_json(answer, {_SCORED})) AS s FROM _p)"
                " WHERE s.confidence < 0 OR s.confidence > 1 LIMIT 1").fetchall()
        finally:
            con.close()
        if bad:
            raise InputError(f"{what}: a span of item {bad[0][0]} has confidence {bad[0][1]!r}, outside [0, 1]")

    # -- combination and calibrated auto-accept ---------------------------------------------------------------

    def machine_votes(self, con: Any, labels: Sequence[str], kinds: Sequence[str]) -> pa.Table:
        """Votes with each model span's confidence put back into its span (what `combine_spans` reads)."""
        from tasks.store import read_dictionary_encoded

        scored = ("CASE WHEN v.probs IS NULL THEN v.answer::VARCHAR ELSE to_json(list_transform(from_json(v.answer, " + _SPANS +
                  "), lambda s, i: {'start': s.start, 'end': s.\"end\", 'label': s.label,"
                  " 'confidence': from_json(v.probs, '[\"DOUBLE\"]')[i]}))::VARCHAR END")
        return read_dictionary_encoded(
            con, f"SELECT v.item_id, v.source_id, v.answer IS NOT NULL AS spoke, {scored} AS answer"
            " FROM votes v JOIN sources s USING (source_id) WHERE list_contains(?::VARCHAR[], v.source_kind)"
            " AND NOT s.banned AND v.source_version IS NOT DISTINCT FROM s.version ORDER BY v.item_id, v.source_id",
            ["item_id", "source_id"], params=[list(kinds)])

    def reference(self, con: Any, labels: Sequence[str]) -> pa.Table:
        return con.sql(f"SELECT item_id, {_norm('answer::VARCHAR')} AS answer FROM gold WHERE answer IS NOT NULL"
                       " ORDER BY item_id").to_arrow_table()

    def combine(self, votes: pa.Table, gold: pa.Table, cfg: ProjectConfig,
                item_ids: pa.Array | None = None) -> tuple[pa.Table, dict[str, float], str]:
        from tasks.store import plain_strings

        v = pa.table({c: plain_strings(votes.column(c)) for c in ("item_id", "source_id", "answer")})
        ids = None if item_ids is None else plain_strings(item_ids).to_pylist()
        pre, report = combine_spans(v.filter(pc.is_valid(v.column("answer"))), gold, ids,
                                    allow_overlap=cfg.answer_options.allow_overlap)
        return pre, report["source_precision"], "span_noisy_or"

    def decide(self, combined: pa.Table, item_ids: pa.Array, labels: Sequence[str]) -> PrelabelDecisions:
        """An item the combination lacks (none, when the stage passed its items to `combine`) gets "no entities"
        with confidence 0: nothing measured it, so nothing auto-accepts it."""
        n = len(item_ids)
        at = pc.index_in(item_ids, value_set=combined.column("item_id")).to_numpy(zero_copy_only=False).astype(float)
        have = ~np.isnan(at)
        take = pa.array(np.where(have, at, 0).astype(np.int64))
        mask = pa.array(~have)
        answer = pc.if_else(mask, pa.scalar("[]"), combined.column("answer").take(take)) if n else pa.array([], _STR)
        conf = np.where(have, combined.column("confidence").to_numpy(zero_copy_only=False)[take.to_numpy()] if n else 0.0, 0.0)
        span_conf = combined.column("span_confidence").take(take) if n else pa.array([], pa.list_(pa.float64()))
        detail = pa.array([orjson.dumps(c).decode() if h else "[]" for c, h in zip(span_conf.to_pylist(), have)], _STR)
        key = np.where(np.asarray(answer.to_pylist(), dtype=object) == "[]", KEYS[1], KEYS[0]).astype(object)
        answer = answer.combine_chunks() if isinstance(answer, pa.ChunkedArray) else answer
        return PrelabelDecisions(answer, conf, np.arange(n), key, conf, KEYS, detail)

    def score(self, decisions: PrelabelDecisions, reference: pa.Array) -> np.ndarray:
        con = duckdb.connect()
        try:
            con.register("_s", pa.table({"a": decisions.answer, "r": reference}))
            ok = con.sql(f"SELECT coalesce({_norm('a')} = {_norm('r')}, false) AS ok FROM _s").to_arrow_table().column("ok")
        finally:
            con.close()
        return ok.to_numpy().astype(bool)[decisions.item]

    def audited(self, con: Any, labels: Sequence[str]) -> pa.Table:
        return con.sql(
            f"SELECT p.item_id, {_key('p.answer::VARCHAR')} AS key, p.confidence,"
            f" coalesce({_norm('p.answer::VARCHAR')} = {_norm('h.a')}, false) AS correct"
            f" FROM prelabels p JOIN ({_human_answers()}) h USING (item_id) WHERE p.route = 'audit' ORDER BY p.item_id"
        ).to_arrow_table()

    def answer_sql(self, table: str, column: str) -> dict[str, str]:
        return {"answer": f"{column}::JSON"}

    def answer_text(self, answers: pa.Array) -> pa.Array:
        return answers

    # -- language models as annotators (`llm_spans.py`: entity strings mapped to offsets) ------------------

    def llm_instructions(self, cfg: ProjectConfig) -> str:
        from .llm_spans import INSTRUCTIONS

        return INSTRUCTIONS

    def parse_llm_answer(self, text: str, payload: str | None, cfg: ProjectConfig) -> str:
        from .llm_spans import parse_entities

        return parse_entities(text, payload or "", list(cfg.labels), cfg.answer_options.allow_overlap)

    def llm_vote_sql(self, column: str, labels: Sequence[str]) -> dict[str, str]:
        return {"answer": f"{_norm(column)}::JSON"}  # no `probs`: spans without a confidence, weighed by precision on gold

    # -- labeling-function analysis -----------------------------------------------------------------------

    def lf_summary(self, con: Any, labels: Sequence[str], learned: Mapping[str, float], kinds: Sequence[str]) -> list[dict]:
        from tasks.prelabel.routing import wilson_interval

        votes = con.sql(
            "SELECT v.item_id, v.source_id, v.answer::VARCHAR AS answer FROM votes v JOIN sources s USING (source_id)"
            " WHERE list_contains(?::VARCHAR[], v.source_kind) AND v.answer IS NOT NULL"
            " AND v.source_version IS NOT DISTINCT FROM s.version", params=[list(kinds)]).to_arrow_table()
        n_items = con.execute("SELECT count(*) FROM items").fetchall()[0][0]
        gold = self.reference(con, labels)
        by_source = {r["source_id"]: r for r in span_lf_report(votes, n_items, gold)["lfs"]}
        n_votes = dict(con.execute("SELECT source_id, count(*) FROM votes GROUP BY source_id").fetchall())
        out = []
        for sid, kind, version in con.execute("SELECT source_id, kind, version FROM sources WHERE list_contains(?::VARCHAR[], kind)"
                                              " ORDER BY source_id", [list(kinds)]).fetchall():
            r = by_source.get(sid, {})
            tp, n_pred = r.get("true_positives", 0), r.get("gold_spans_predicted", 0)
            lo, hi = wilson_interval(tp, n_pred)
            out.append({
                "source_id": sid, "kind": kind, "version": version, "polarity": ",".join(r.get("labels", [])),
                "votes": int(n_votes.get(sid, 0)), "coverage": r.get("coverage") or 0.0, "overlap": r.get("overlap") or 0.0,
                "conflict": r.get("conflict") or 0.0, "n_gold": n_pred, "gold_correct": tp,
                "gold_accuracy": r.get("precision"), "gold_acc_low": None if lo is None else round(lo, 4),
                "gold_acc_high": None if hi is None else round(hi, 4),
                "learned_accuracy": round(learned[sid], 4) if sid in learned else None,
                "more": {"spans": r.get("spans", 0), "gold spans": r.get("gold_spans", 0), "recall": r.get("recall"),
                         "F1": r.get("f1")},
            })
        return out


def _spans(value: Any, length: int) -> list[tuple[int, int, str]]:
    """One item's Python LF output as sorted distinct spans; `ValueError` naming the first bad one."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"returned {type(value).__name__} for an item, expected a list of (start, end, label)")  # noqa: TRY004  (the stage reports it as bad output)
    out = set()
    for k, sp in enumerate(value):
        if not (isinstance(sp, (list, tuple)) and len(sp) == 3 and isinstance(sp[0], (int, np.integer))
                and isinstance(sp[1], (int, np.integer)) and isinstance(sp[2], str)):
            raise ValueError(f"span {k} is {sp!r}, expected (start: int, end: int, label: str)")
        a, b = int(sp[0]), int(sp[1])
        why = ("starts before the text (negative offset)" if a < 0 else f"ends after the text (length {length})" if b > length
               else "has start >= end" if a >= b else None)
        if why:
            raise ValueError(f"span ({a}, {b}, {sp[2]!r}) {why}")
        out.add((a, b, sp[2]))
    return sorted(out)


FACET = _SpanPrelabel()
