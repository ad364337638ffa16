"""Spans: the prelabel facet (see tasks/kinds/protocol.py) — what the pre-labeling stage calls for a spans project.

The stage's order of calls::

    specs = FACET.load_lfs(cfg)                                  # ConfigError (exit 2) on a bad rule
    votes, errors = FACET.apply_lfs(con, specs, cfg)             # over the `items` relation; store votes, report errors
    model = FACET.train_model(items, answers, cfg)               # gold + resolved spans -> saved local model
    votes = FACET.model_votes(model, batch)                      # or FACET.http_model(mcfg, cfg).predict(batch)
    prelabels, report = FACET.combine(votes, gold, item_ids, cfg)
    routes, threshold = FACET.route(prelabels, evaluated, cfg)   # evaluated = gold + audited verdicts
    FACET.lf_report(votes, n_items, gold)                        # `annoflow lf-report`

All answers travel in the kind's JSON form (column `answer`); every function takes and returns Arrow tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from . import combine as _combine
from .http_spans import HttpSpanModel
from .lf_report import span_lf_report
from .lfs import (
    SpanLFError,
    SpanLFSpec,
    apply_python_span_lfs,
    apply_sql_span_lfs,
    load_span_lfs,
)
from .span_model import SpanModel, load_span_model, save_span_model, train_span_model

if TYPE_CHECKING:
    from schemas.config import ModelConfig, ProjectConfig

__all__ = ["FACET"]


class _SpanPrelabel:
    def load_lfs(self, cfg: ProjectConfig) -> list[SpanLFSpec]:
        """The `[[answer.lfs]]` rules, compiled (phrase/regex) or imported (Python); `ConfigError` names a bad one."""
        return load_span_lfs(cfg.answer_options, cfg.labels, Path(cfg.root))

    def apply_lfs(self, con: duckdb.DuckDBPyConnection, specs: Sequence[SpanLFSpec], cfg: ProjectConfig,
                  items: str = "items") -> tuple[pa.Table, list[SpanLFError]]:
        """Votes (item_id, source_id, source_version, answer) of every LF over the relation `items(item_id, payload)`
        (pass a view of one batch to bound memory), and the errors of the LFs whose output was bad (their votes are
        left out; the others' kept)."""
        sql = apply_sql_span_lfs(con, specs, items)
        py, errors = (apply_python_span_lfs(con.sql(f"SELECT item_id, payload FROM {items}").to_arrow_table(), specs, cfg.labels)
                      if any(s.kind == "python" for s in specs) else (sql.schema.empty_table(), []))
        return pa.concat_tables([sql, py]), errors

    def lf_report(self, votes: pa.Table, n_items: int, gold: pa.Table | None) -> dict:
        """Coverage, overlap, conflict and strict precision/recall/F1 on gold per LF (`lf_report.py`)."""
        return span_lf_report(votes, n_items, gold)

    def train_model(self, items: pa.Table, answers: pa.Table, cfg: ProjectConfig) -> SpanModel | None:
        """Train the local model on `answers(item_id, answer)` (gold and resolved spans) joined to `items(item_id,
        payload)`, save it under the state dir; None when there is nothing to train on."""
        o = cfg.answer_options.model
        text = dict(zip(items.column("item_id").to_pylist(), items.column("payload").to_pylist()))
        pairs = [(text[i], [(s["start"], s["end"], s["label"]) for s in orjson.loads(a)])
                 for i, a in zip(answers.column("item_id").to_pylist(), answers.column("answer").to_pylist()) if text.get(i)]
        if not pairs:
            return None
        model = train_span_model([t for t, _ in pairs], [s for _, s in pairs], cfg.labels, lang=o.lang, members=o.members,
                                 epochs=o.epochs, seed=o.seed, calibration_share=o.calibration_share)
        save_span_model(model, cfg.state_dir)
        return model

    def load_model(self, cfg: ProjectConfig) -> SpanModel | None:
        """The model `train_model` saved last, or None."""
        root = cfg.state_dir / "models" / "spans"
        return load_span_model(root) if (root / "current.json").exists() else None

    def model_votes(self, model: SpanModel, batch: pa.Table) -> pa.Table:
        """Votes of the local model for `batch(item_id, payload)` (spans carry their calibrated confidence)."""
        return model.votes(batch)

    def http_model(self, mcfg: ModelConfig, cfg: ProjectConfig) -> HttpSpanModel:
        """A `[[prelabel.models]]` entry of kind 'http' for a spans project; `.predict(batch)` gives votes."""
        return HttpSpanModel(mcfg, list(cfg.labels))

    def combine(self, votes: pa.Table, gold: pa.Table | None, item_ids: Sequence[str] | None,
                cfg: ProjectConfig) -> tuple[pa.Table, dict]:
        """One pre-label per item (`combine.PRELABEL_SCHEMA`) and the calibration report (`combine.py`)."""
        return _combine.combine_spans(votes, gold, item_ids, allow_overlap=cfg.answer_options.allow_overlap)

    def route(self, prelabels: pa.Table, evaluated: pa.Table, cfg: ProjectConfig) -> tuple[np.ndarray, dict]:
        """'auto' / 'audit' / 'human' per pre-label, with the threshold from gold and audits (`prelabel` settings)."""
        p = cfg.prelabel
        return _combine.route_spans(prelabels, evaluated, target=p.target_precision, confidence_level=p.precision_confidence,
                                    min_n=p.min_eval_items, audit_rate=p.audit_rate, seed=p.seed)


FACET = _SpanPrelabel()
