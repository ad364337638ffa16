"""Pre-labeling stage: LF votes, model votes, combination, calibration and routing, as plain functions.

Each function opens the store from the config, selects its work from state (items missing this
source version's vote; all routable items for combination), writes in transactions keyed so that a
re-run changes nothing, and returns a report dict. The `@task` shells at the bottom add Prefect
retries for transient errors only (a locked database, a model endpoint that is down).

State written by `combine_and_route` (see migration 003 for the `prelabels.route` values):
    auto   items.state = 'auto_accepted', labels row (method 'auto', decision 'resolved')
    audit  as auto, plus items.audit = true: dispatch makes one assignment of kind 'audit' (migration 002)
    human  items.state = 'queued', items.priority = 1 - confidence (most uncertain first)
Gold items, items with human votes and items with a human decision (a reviewer's rejection of the
machine label included) are never routed.

Whatever depends on what an answer is (vote columns, the model's target, the combiner's input, the
decisions a pre-label is made of and how they are scored) comes from the project's answer kind,
`kind_of(cfg).prelabel` (see tasks/kinds/protocol.py); this module never branches on the kind.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task

from schemas.config import ModelConfig, ModelKind, ProjectConfig
from schemas.tables import Prelabels, check
from tasks.errors import ConfigError
from tasks.kinds import kind_of
from tasks.prelabel.lf import (
    BATCH_COLUMNS,
    _todo_batches,
    apply_python_lfs,
    apply_sql_lfs,
    sql_compile_errors,
)
from tasks.prelabel.models import (
    Model,
    TrainingRun,
    current_meta,
    load_sklearn,
    save_sklearn,
)
from tasks.prelabel.routing import (
    calibration_by_key,
    calibration_table,
    route_items,
    select_thresholds,
    wilson_interval,
)
from tasks.prelabel.votes import (
    bulk_vote_writes,
    register_source,
    retire_stale_votes,
    vote_id_sql,
)
from tasks.prelabel.weak import weak_answers
from tasks.progress import track
from tasks.retries import STAGE_TASK
from tasks.store import (
    plain_strings,
    project_store,
    record_stage_run,
    transaction,
)

__all__ = [
    "apply_labeling_functions",
    "apply_labeling_functions_task",
    "apply_model",
    "apply_model_task",
    "combine_and_route",
    "combine_and_route_task",
    "ensure_sklearn_model",
    "lf_report",
    "training_data",
]

ROUTABLE_STATES = ("new", "prelabeled", "queued", "auto_accepted")


def _store(cfg: ProjectConfig):
    return project_store(cfg)


def _q(s: str) -> str:
    return s.replace("'", "''")


def apply_labeling_functions(cfg: ProjectConfig, run_id: str | None = None) -> list[dict]:
    """Apply every configured LF (SQL rules inside DuckDB, then Python LFs); one report row per LF."""
    run_id = run_id or uuid.uuid4().hex
    kind = kind_of(cfg).prelabel
    specs = kind.lf_specs(cfg)
    if not specs:
        return []
    started = time.time()
    with _store(cfg) as con, track("labeling functions", len(specs)) as bar:
        broken = sql_compile_errors(con, specs)
        if broken:  # refused before any vote is written (or an older version's votes retired)
            record_stage_run(con, "prelabel.lfs", "failed", {"failed": sorted(broken)}, started, cfg=cfg)
            raise ConfigError(_lf_failure_line(list(broken.items())))
        results = apply_sql_lfs(con, specs, cfg.labels, kind=kind, batch_rows=cfg.prelabel.batch_rows, run_id=run_id)
        bar.advance(len(results))
        python = apply_python_lfs(con, specs, cfg.labels, kind=kind, batch_rows=cfg.prelabel.batch_rows, run_id=run_id)
        bar.advance(len(python))
        results += python
        rows = [{k: v for k, v in asdict(r).items() if k != "extra"} for r in results]
        failed = [(r["name"], r["error"]) for r in rows if r["error"]]
        record_stage_run(con, "prelabel.lfs", "completed" if not failed else "failed",
                         {"lfs": rows, "failed": [name for name, _ in failed]}, started, cfg=cfg)
    if failed:
        raise ConfigError(_lf_failure_line(failed))
    return rows


def _lf_failure_line(failures: list[tuple[str, str]]) -> str:
    """One line for the user: the first failing LF's problem, the others by name, what to do."""
    first = " ".join(failures[0][1].split())
    more = f" (also failing: {', '.join(repr(n) for n, _ in failures[1:])})" if len(failures) > 1 else ""
    return (f"{first}{more}; fix that rule (its labeling function in the project config) and run "
            "`annoflow prelabel` again (nothing was routed)")


def training_data(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig) -> pa.Table:
    """Gold answers plus human-resolved answers (never auto ones), one row per item: item columns + `answer`."""
    return kind_of(cfg).prelabel.training_data(con, cfg.labels, BATCH_COLUMNS)


def with_weak_labels(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, mcfg: ModelConfig, train: pa.Table) -> tuple[pa.Table, int]:
    """`train` plus the confident weak answers of items it lacks (see weak.py), capped at `weak_max_items`."""
    kind = kind_of(cfg)
    gold = kind.prelabel.reference(con, cfg.labels)
    weak = weak_answers(kind, kind.prelabel.machine_votes(con, cfg.labels, ("lf",)), gold, cfg, mcfg.weak_min_confidence)
    weak = weak.filter(pc.invert(pc.is_in(weak.column("item_id"), value_set=train.column("item_id"))))
    if weak.num_rows > mcfg.weak_max_items:
        weak = weak.sort_by("item_id").slice(0, mcfg.weak_max_items)
    if weak.num_rows == 0:
        return train, 0
    con.register("_weak", weak.select(["item_id", "answer"]))
    try:
        rows = con.sql(
            f"SELECT {', '.join('i.' + c for c in BATCH_COLUMNS)}, w.answer FROM items i JOIN _weak w USING (item_id)"
        ).to_arrow_table()
    finally:
        con.unregister("_weak")
    return pa.concat_tables([train, rows.cast(train.schema)]), rows.num_rows


def ensure_sklearn_model(cfg: ProjectConfig, mcfg: ModelConfig, train: pa.Table) -> tuple[TrainingRun | None, str]:
    """The current model: reused until `retrain_new_labels` new labels arrived, else trained and saved."""
    models_dir = cfg.state_dir / "models"
    meta = current_meta(models_dir, mcfg.name)
    n = train.num_rows
    existing = load_sklearn(models_dir / mcfg.name) if meta else None
    if existing and existing.model.config_hash != kind_of(cfg).prelabel.model_config_hash(cfg.data_kind.value, mcfg, cfg):
        existing = None
    if n < mcfg.min_train_labels:
        return existing, f"{n} labels < min_train_labels={mcfg.min_train_labels}" + ("; kept the previous model" if existing else "; no model yet")
    if existing and n - existing.model.n_train < mcfg.retrain_new_labels:
        return existing, f"reused (trained on {existing.model.n_train}; {n - existing.model.n_train} new < retrain_new_labels={mcfg.retrain_new_labels})"
    run = kind_of(cfg).prelabel.train(mcfg.name, cfg.data_kind.value, cfg.labels, train.drop_columns(["answer"]),
                                      train.column("answer").combine_chunks(), mcfg, cfg)
    if existing and existing.model.version == run.model.version:
        return existing, "reused (same training data)"
    save_sklearn(run, models_dir)
    return run, f"trained on {n} labels"


def _write_predictions(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, model: Model, preds: pa.Table, run_id: str) -> int:
    """Store `preds` (`item_id` + the kind's prediction columns) as this model version's votes."""
    kind = kind_of(cfg).prelabel
    kind.check_predictions(preds, f"model {model.name!r} predictions")
    sid = f"model:{model.name}"
    vote = kind.model_vote_sql(preds.column_names[1:], cfg.labels)
    con.register("_preds", preds)
    try:
        n = con.execute(
            f"""INSERT INTO votes (vote_id, item_id, source_id, source_kind, source_version, {', '.join(vote)}, run_id)
            SELECT {vote_id_sql("?", "?", "item_id")}, item_id, ?, 'model', ?, {', '.join(vote.values())}, ? FROM _preds n
            WHERE NOT EXISTS (SELECT 1 FROM votes v WHERE v.source_id = ? AND v.item_id = n.item_id AND v.source_version = ?)""",
            [sid, model.version, sid, model.version, run_id, sid, model.version],
        ).fetchall()[0][0]
    finally:
        con.unregister("_preds")
    return int(n)


def _imported_model(cfg: ProjectConfig, mcfg: ModelConfig) -> Model:
    """The source of a predictions-file entry, from the kinds that read one."""
    kind = kind_of(cfg)
    opener = getattr(kind.prelabel, "imported_model", None)
    if opener is None:
        raise ConfigError(f"model {mcfg.name!r}: {kind.title} projects cannot import a predictions file (kind 'predictions'); "
                          "use kind 'http' or 'sklearn'")
    return opener(mcfg, cfg)


def _quarantine_model_problems(con: duckdb.DuckDBPyConnection, mcfg: ModelConfig, problems: list[dict]) -> int:
    """Store a model's set-aside inputs (bad predictions-file entries, unreadable images) in `quarantine`; re-runs add nothing."""
    if not problems:
        return 0
    rows = pa.Table.from_pylist(problems, schema=pa.schema([("source", pa.string()), ("source_row", pa.int64()), ("field", pa.string()),
                                                            ("reason", pa.string()), ("detail", pa.string()), ("raw", pa.string())]))
    con.register("_problems", rows)
    try:
        with transaction(con):
            con.execute(
                "INSERT INTO quarantine (quarantine_id, stage, source, source_row, field, reason, detail, raw)"
                " SELECT md5(concat_ws('|', ?, source, coalesce(source_row::VARCHAR, raw), reason, field)), ?, source, source_row, field,"
                " reason, detail, raw FROM _problems ON CONFLICT DO NOTHING",
                [f"prelabel.model.{mcfg.name}", f"prelabel.model.{mcfg.name}"],
            ).fetchall()
    finally:
        con.unregister("_problems")
    return len(problems)


def apply_model(cfg: ProjectConfig, mcfg: ModelConfig, run_id: str | None = None) -> dict:
    """Votes of one model for every item lacking its current version's vote (training items: out-of-fold)."""
    if mcfg.kind == ModelKind.llm:
        from tasks.prelabel.llm_stage import apply_llm

        return apply_llm(cfg, mcfg, run_id)
    run_id = run_id or uuid.uuid4().hex
    started = time.time()
    sid = f"model:{mcfg.name}"
    report: dict = {"model": mcfg.name, "kind": mcfg.kind.value, "version": None, "predicted": 0, "inserted": 0, "retired": 0}
    kind = kind_of(cfg).prelabel
    with _store(cfg) as con:
        oof: dict[str, np.ndarray] = {}
        if mcfg.kind == ModelKind.sklearn:
            train = training_data(con, cfg)
            n_weak = 0
            if mcfg.weak_labels:
                train, n_weak = with_weak_labels(con, cfg, mcfg, train)
            run, note = ensure_sklearn_model(cfg, mcfg, train)
            report["training"] = note + (f" ({n_weak} of them weak labels)" if n_weak else "")
            report["weak_labels"] = n_weak
            if run is None:
                record_stage_run(con, f"prelabel.model.{mcfg.name}", "skipped", report, started, cfg=cfg)
                return report
            model: Model = run.model
            oof = dict(zip(run.oof_item_ids, run.oof_probs))
        elif mcfg.kind == ModelKind.predictions:
            model = _imported_model(cfg, mcfg)
        else:
            model = kind.http_model(mcfg, cfg.labels)
        try:
            report["version"] = model.version
            with transaction(con):
                register_source(con, sid, "model", mcfg.name, model.version)
                report["retired"] = retire_stale_votes(con, sid, model.version)
            nb = _todo_batches(con, [sid], cfg.prelabel.batch_rows)
            with track(f"model {mcfg.name}", nb) as bar:
                for b in range(nb):
                    batch = con.sql(
                        f"SELECT {', '.join('items.' + c for c in BATCH_COLUMNS)} FROM items"
                        f" WHERE items.item_id IN (SELECT item_id FROM _todo WHERE b = {int(b)})"
                    ).to_arrow_table()
                    ids = batch.column("item_id").to_pylist()
                    known = np.array([i in oof for i in ids], bool)
                    parts = []
                    if (~known).any():
                        parts.append(kind.predict(model, batch.filter(pa.array(~known)), cfg.labels))
                    if known.any():
                        seen = [i for i, k in zip(ids, known) if k]
                        parts.append(kind.predictions(seen, [oof[i] for i in seen], cfg.labels))
                    with bulk_vote_writes(con), transaction(con):
                        report["inserted"] += _write_predictions(con, cfg, model, pa.concat_tables(parts), run_id)
                    report["predicted"] += len(ids)
                    bar.advance(1)
            con.execute("DROP TABLE IF EXISTS _todo").fetchall()
        finally:
            if mcfg.kind != ModelKind.sklearn:
                model.close()
            problems = getattr(model, "problems", [])
            report["quarantined"] = _quarantine_model_problems(con, mcfg, problems)
            report["first_problem"] = problems[0]["detail"] if problems else None
        report["seconds"] = round(time.time() - started, 3)
        record_stage_run(con, f"prelabel.model.{mcfg.name}", "completed", report, started, cfg=cfg)
    return report


def _item_frame(con: duckdb.DuckDBPyConnection) -> pa.Table:
    return con.sql(
        """
        WITH human AS (SELECT DISTINCT item_id FROM votes WHERE source_kind IN ('human', 'adjudicator')
                       -- a reviewer rejected the machine label: people decide it now, as if they had voted
                       UNION SELECT item_id FROM reviews WHERE origin = 'machine' AND decision = 'reject'),
             decided AS (SELECT DISTINCT item_id FROM labels WHERE method <> 'auto'),
             auto AS (SELECT DISTINCT item_id FROM labels WHERE method = 'auto')
        SELECT i.item_id, i.state,
               (h.item_id IS NOT NULL OR d.item_id IS NOT NULL) AS human, a.item_id IS NOT NULL AS had_auto
        FROM items i LEFT JOIN human h USING (item_id) LEFT JOIN decided d USING (item_id)
             LEFT JOIN auto a USING (item_id)
        ORDER BY i.item_id
        """
    ).to_arrow_table()


def _align(ids: pa.Array, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(positions in `table` of each id, whether the id is there)."""
    at = pc.index_in(ids, value_set=plain_strings(table.column("item_id"))).to_numpy(zero_copy_only=False).astype(float)
    have = ~np.isnan(at)
    return np.where(have, at, 0).astype(np.int64), have


def combine_and_route(cfg: ProjectConfig, run_id: str | None = None) -> dict:
    """Combine machine votes into pre-labels, measure calibration on gold, choose thresholds, route items.

    What a pre-label and its decisions are comes from the project's answer kind (`kind_of(cfg).prelabel`):
    thresholds are chosen per decision key on gold and audited decisions, and an item is auto-accepted
    only when every one of its decisions reaches its key's threshold.
    """
    run_id = run_id or uuid.uuid4().hex
    started = time.time()
    pc_ = cfg.prelabel
    classes = list(cfg.labels)
    kind = kind_of(cfg).prelabel
    with _store(cfg) as con:
        votes = kind.machine_votes(con, classes, ("lf", "model"))
        frame = _item_frame(con)
        audited = kind.audited(con, classes)
        gold = kind.reference(con, classes)
        ids_arr = frame.column("item_id").combine_chunks()
        ids = ids_arr.to_pylist()
        combined, source_accuracy, combiner_name = kind.combine(votes, gold, cfg, item_ids=ids_arr)
        d = kind.decide(combined, ids_arr, classes)
        keys = list(d.keys)
        conf = d.confidence
        n_src = np.zeros(len(ids), int)
        if votes.num_rows:
            spoke = votes.filter(votes.column("spoke")).select(["item_id"])
            counted = spoke.group_by("item_id").aggregate([("item_id", "count")])
            at, ok = _align(ids_arr, counted)
            n_src[ok] = counted.column("item_id_count").to_numpy()[at[ok]]

        at, is_gold = _align(ids_arr, gold)
        answers = gold.column("answer").combine_chunks()
        reference = pa.nulls(len(ids), answers.type)  # a project without gold has nothing to score against
        if gold.num_rows:
            reference = pc.if_else(pa.array(is_gold), answers.take(pa.array(np.where(is_gold, at, 0))), reference)
        d_correct = kind.score(d, reference)
        d_gold = is_gold[d.item]
        g_correct = np.ones(len(ids), bool)  # an item is right when every decision of it is
        np.logical_and.at(g_correct, d.item[d_gold], d_correct[d_gold])
        g_correct = g_correct[is_gold]
        a_key = np.asarray(audited.column("key").to_pylist(), dtype=object)
        a_conf = audited.column("confidence").to_numpy(zero_copy_only=False).astype(float)
        a_ok = audited.column("correct").to_numpy(zero_copy_only=False).astype(bool)
        thresholds = select_thresholds(
            np.r_[d.key[d_gold], a_key], np.r_[d.decision_confidence[d_gold], a_conf], np.r_[d_correct[d_gold], a_ok], keys,
            target=pc_.target_precision, confidence_level=pc_.precision_confidence, min_n=pc_.min_eval_items,
        )
        ece, reliability = calibration_table(conf[is_gold], g_correct, pc_.calibration_bins)
        by_key = calibration_by_key(d.key[d_gold], d.decision_confidence[d_gold], d_correct[d_gold], keys, pc_.calibration_bins)
        a_items = audited.group_by("item_id").aggregate([("correct", "all")])
        a_correct = a_items.column("correct_all").to_numpy(zero_copy_only=False).astype(bool) if a_items.num_rows else np.zeros(0, bool)

        state = np.asarray(frame.column("state").to_pylist(), dtype=object)
        human = frame.column("human").to_numpy(zero_copy_only=False)
        had_auto = frame.column("had_auto").to_numpy(zero_copy_only=False)
        eligible = np.isin(state, ROUTABLE_STATES) & ~is_gold & ~human
        routes = np.full(len(ids), "held", dtype=object)
        routes[is_gold] = "gold"
        item_routes, thr = route_items(ids, d.item, d.key, d.decision_confidence, thresholds, audit_rate=pc_.audit_rate, seed=pc_.seed)
        routes[eligible] = item_routes[eligible]
        pl = pa.table({
            "item_id": ids, "answer": d.answer, "confidence": conf, "route": routes.tolist(),
            "threshold": pa.array(thr, pa.float64(), from_pandas=True), "n_sources": n_src.astype(np.int32),
            "priority": np.round(1.0 - conf, 6),
            "detail": d.detail if d.detail is not None else pa.nulls(len(ids), pa.string()),
        })
        shown = pl.select(["item_id", "confidence", "route", "threshold", "n_sources", "priority"]).add_column(
            1, "label", kind.answer_text(d.answer))
        check(shown, Prelabels, "pre-labels")
        revoked = int(((routes == "human") & had_auto).sum())
        _write_routes(con, cfg, pl, thresholds, run_id, combiner_name)

        share = lambda m: round(float(m.sum()) / max(int(eligible.sum()), 1), 4)
        a_lo, a_hi = wilson_interval(int(a_correct.sum()), len(a_correct))
        report = {
            "run_id": run_id,
            "combiner": combiner_name,
            "items": len(ids),
            "routable": int(eligible.sum()),
            "with_machine_vote": int((n_src > 0).sum()),
            "coverage": round(float((n_src > 0).mean()), 4) if len(ids) else 0.0,
            "auto": int((routes == "auto").sum()),
            "audit": int((routes == "audit").sum()),
            "human": int((routes == "human").sum()),
            "held": int((routes == "held").sum()),
            "gold": int(is_gold.sum()),
            "auto_accept_share": share((routes == "auto") | (routes == "audit")),
            "revoked": revoked,
            "gold_accuracy": round(float(g_correct.mean()), 4) if len(g_correct) else None,
            "ece": round(ece, 4) if ece is not None else None,
            "reliability": reliability,
            "calibration_by_key": by_key,
            "thresholds": [t.as_dict() for t in thresholds.values()],
            "audited": len(a_correct),
            "audit_precision": round(float(a_correct.mean()), 4) if len(a_correct) else None,
            "audit_precision_interval": [a_lo, a_hi],
            "target_precision": pc_.target_precision,
            "precision_confidence": pc_.precision_confidence,
            "source_accuracy": {k: round(v, 4) for k, v in source_accuracy.items()},
            "auto_accepts": getattr(kind, "auto_accepts", True),
        }
        report["seconds"] = round(time.time() - started, 3)
        record_stage_run(con, "prelabel.route", "completed",
                         {k: v for k, v in report.items() if k not in ("reliability", "calibration_by_key")}, started, cfg=cfg)
    return report


def _write_routes(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, pl: pa.Table, thresholds: dict, run_id: str, combiner: str) -> None:
    kind = kind_of(cfg).prelabel
    pre = kind.answer_sql("prelabels", "answer")
    lab = kind.answer_sql("labels", "answer")
    con.register("_pl", pl)
    try:
        with transaction(con):
            con.execute("DELETE FROM prelabels WHERE item_id IN (SELECT item_id FROM _pl WHERE route <> 'held')").fetchall()
            con.execute(
                f"""INSERT INTO prelabels (item_id, {', '.join(pre)}, confidence, probs, route, threshold, n_sources, combiner, run_id)
                SELECT item_id, {', '.join(pre.values())}, confidence, detail::JSON, route, threshold, n_sources, ?, ? FROM _pl
                WHERE route <> 'held' OR item_id NOT IN (SELECT item_id FROM prelabels)""",
                [combiner, run_id],
            ).fetchall()
            con.execute("DELETE FROM labels WHERE method = 'auto' AND item_id IN (SELECT item_id FROM _pl WHERE route IN ('auto', 'audit', 'human'))").fetchall()
            # a human decision supersedes the auto label (the frozen pre-label keeps the audit record)
            con.execute(
                "DELETE FROM labels WHERE method = 'auto' AND item_id IN"
                " (SELECT item_id FROM labels WHERE method <> 'auto' AND decision = 'resolved')"
            ).fetchall()
            con.execute(
                f"""INSERT INTO labels (item_id, {', '.join(lab)}, confidence, method, decision, n_votes, n_human, run_id)
                SELECT item_id, {', '.join(lab.values())}, confidence, 'auto', 'resolved', n_sources, 0, ? FROM _pl WHERE route IN ('auto', 'audit')""",
                [run_id],
            ).fetchall()
            con.execute(
                """UPDATE items SET state = CASE p.route WHEN 'human' THEN 'queued' ELSE 'auto_accepted' END,
                       audit = p.route = 'audit', priority = p.priority
                FROM _pl p WHERE items.item_id = p.item_id AND p.route IN ('auto', 'audit', 'human')
                  AND (items.state IS DISTINCT FROM CASE p.route WHEN 'human' THEN 'queued' ELSE 'auto_accepted' END
                       OR items.audit IS DISTINCT FROM (p.route = 'audit')
                       OR items.priority IS DISTINCT FROM p.priority)"""
            ).fetchall()
            con.execute(
                "UPDATE items SET state = 'prelabeled' WHERE state = 'new' AND item_id IN (SELECT item_id FROM _pl WHERE route = 'gold')"
            ).fetchall()
            for t in thresholds.values():
                con.execute(
                    "INSERT INTO prelabel_thresholds (run_id, label, threshold, precision, precision_low, n_eval, target, confidence_level)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, t.label, t.threshold, t.precision, t.precision_low, t.n_eval, cfg.prelabel.target_precision, cfg.prelabel.precision_confidence],
                ).fetchall()
    finally:
        con.unregister("_pl")


def lf_report(cfg: ProjectConfig) -> list[dict]:
    """The LF analysis table (models included), with the combiner's learned accuracies.

    Recorded as the run `prelabel.lf_report`, so history keeps each source's coverage and gold accuracy
    over time from this analysis instead of computing it a second time."""
    started = time.time()
    kind = kind_of(cfg).prelabel
    with _store(cfg) as con:
        votes = kind.machine_votes(con, cfg.labels, ("lf", "model"))
        learned = kind.combine(votes, kind.reference(con, cfg.labels), cfg)[1] if votes.num_rows else {}
        rows = kind.lf_summary(con, cfg.labels, learned, ("lf", "model"))
        record_stage_run(con, "prelabel.lf_report", "completed", {"sources": rows}, started, cfg=cfg)
        return rows


@task(name="prelabel-lfs", **STAGE_TASK)
def apply_labeling_functions_task(cfg: ProjectConfig, run_id: str) -> list[dict]:
    return apply_labeling_functions(cfg, run_id)


@task(name="prelabel-model", task_run_name="model-{mcfg.name}", **STAGE_TASK)
def apply_model_task(cfg: ProjectConfig, mcfg: ModelConfig, run_id: str) -> dict:
    return apply_model(cfg, mcfg, run_id)


@task(name="prelabel-route", **STAGE_TASK)
def combine_and_route_task(cfg: ProjectConfig, run_id: str) -> dict:
    return combine_and_route(cfg, run_id)
