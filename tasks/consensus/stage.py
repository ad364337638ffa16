"""Consensus stage: read votes, gold and adjudications from DuckDB, run the core, write labels.

What an answer is belongs to the project's kind (``kind_of(cfg).consensus``): the stage selects
answers with the kind's SQL, hands the tables to the kind's ``run`` and writes the answer back into
the kind's storage column; nothing here depends on which kind it is.

``run_consensus_stage`` is the plain function (tests and other flows call it); the ``@task``
shell below adds retries for transient errors only. A re-run whose inputs (votes, gold, bans,
settings) have the fingerprint stored in ``consensus_state`` changes nothing; otherwise EM
warm-starts from the stored parameters and only label rows that differ are rewritten.
"""

from __future__ import annotations

__all__ = [
    "consensus_task",
    "input_fingerprint",
    "read_inputs",
    "read_payloads",
    "read_prelabels",
    "run_consensus_stage",
    "settings_from_config",
    "write_outcome",
]

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict

import duckdb
import pyarrow as pa
from prefect import task

from schemas.config import ProjectConfig
from schemas.tables import Labels, SourceStats, check
from tasks.behaviour.stage import run_rules
from tasks.consensus.errors import ConsensusError
from tasks.consensus.pipeline import (
    ConsensusInputs,
    ConsensusOutcome,
    ConsensusSettings,
    params_from_bytes,
    params_to_bytes,
    run_consensus,
)
from tasks.consensus.summary import SCOPE, leaderboard, stored_summary
from tasks.errors import InputError
from tasks.kinds import get as get_kind
from tasks.kinds import kind_of
from tasks.progress import track
from tasks.retries import STAGE_TASK
from tasks.review.stats import review_stats
from tasks.store import (
    project_store,
    read_dictionary_encoded,
    record_stage_run,
    transaction,
)

_STATE = {"resolved": "resolved", "needs_more": "queued", "adjudicate": "adjudicate"}
# A source's latest submission on an item is its answer (re-submissions replace, never add).
# Every column an answer can be stored in (migration 005); a kind's SQL reads the one(s) it uses.
_ANSWERS = "label, labels, answer"
_LATEST = "QUALIFY row_number() OVER (PARTITION BY item_id, source_id ORDER BY created_at DESC, vote_id DESC) = 1"


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """First row or None, with the result fully fetched (an unfinished one blocks the connection)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def settings_from_config(cfg: ProjectConfig) -> ConsensusSettings:
    c = cfg.consensus
    return ConsensusSettings(
        classes=tuple(cfg.labels), method=c.method.value, kind=kind_of(cfg).name,
        target_confidence=c.target_confidence, max_overlap=cfg.overlap.max,
        min_votes=cfg.overlap.initial, ban_below=cfg.gold.ban_below,
        min_answers_for_ban=cfg.gold.min_answers_for_ban, max_iter=c.max_iter, tol=c.tol, bootstrap=c.bootstrap,
        min_shared_for_kappa=c.min_shared_for_kappa, resolve_without_humans=c.resolve_without_humans,
        machine_evidence=c.machine_evidence.value, answer=dict(cfg.answer))


def _settings_hash(s: ConsensusSettings) -> str:
    return hashlib.sha256(json.dumps(asdict(s), sort_keys=True, default=list).encode()).hexdigest()[:16]


def input_fingerprint(con: duckdb.DuckDBPyConnection, s: ConsensusSettings) -> tuple[str, int]:
    """Order-independent digest of every vote id, gold answer, ban, pre-label and the settings; and the vote count."""
    v = _one(con, "SELECT count(*), coalesce(bit_xor(hash(vote_id, created_at)), 0), max(created_at)::VARCHAR FROM votes")
    g = _one(con, "SELECT count(*), coalesce(bit_xor(hash(item_id, label, labels::VARCHAR, answer::VARCHAR)), 0) FROM gold")
    b = _one(con, "SELECT count(*), coalesce(bit_xor(hash(source_id)), 0) FROM sources WHERE banned")
    p = _one(con, "SELECT count(*), coalesce(bit_xor(hash(item_id, probs::VARCHAR)), 0) FROM prelabels")
    raw = json.dumps([list(v), list(g), list(b), list(p), _settings_hash(s)], default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32], int(v[0])


def _check_labels(con: duckdb.DuckDBPyConnection, s: ConsensusSettings) -> None:
    """Fail fast, naming the item, source and label, when a vote's label is outside the label set."""
    values = get_kind(s.kind).consensus.label_values_sql
    con.register("_classes", pa.table({"label": pa.array(list(s.classes), pa.string())}))
    try:
        row = _one(con,
            f"WITH l AS (SELECT item_id, source_id, unnest({values}) AS lab FROM votes)"
            " SELECT item_id, source_id, lab, (SELECT count(*) FROM l WHERE lab IS NOT NULL"
            "  AND lab NOT IN (SELECT label FROM _classes)) FROM l"
            " WHERE lab IS NOT NULL AND lab NOT IN (SELECT label FROM _classes) LIMIT 1")
    finally:
        con.unregister("_classes")
    if row:
        raise InputError(
            f"consensus: vote label {row[2]!r} from source {row[1]!r} on item {row[0]!r} is not in the project's "
            f"labels {list(s.classes)!r} ({row[3]} vote label(s) like this). Add the label to `labels` in "
            "annoflow.toml or delete/fix that source's votes, then run `annoflow consensus` again.")


def read_prelabels(con: duckdb.DuckDBPyConnection, classes: Sequence[str]) -> pa.Table:
    """``item_id`` and one probability column per class: the pre-label routing decided on."""
    cols = ", ".join(f"json_extract_string(probs, ?)::DOUBLE AS \"{i}\"" for i in range(len(classes)))
    t = con.sql(f"SELECT item_id, {cols} FROM prelabels WHERE probs IS NOT NULL"
                " QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY updated_at DESC, run_id) = 1"
                " ORDER BY item_id", params=[f'$."{c}"' for c in classes]).to_arrow_table()
    return t.rename_columns(["item_id", *classes])


def read_inputs(con: duckdb.DuckDBPyConnection, s: ConsensusSettings) -> ConsensusInputs:
    """Votes of non-banned sources, scoring votes on reference items, gold, adjudications, bans.

    Every table is read sorted (item, source, label): a DuckDB scan's order varies between runs,
    and EM's floating-point sums, the ids' order and the stored parameters follow row order.
    DuckDB sorts in parallel, far cheaper than sorting the Arrow table afterwards.
    """
    _check_labels(con, s)
    kind = get_kind(s.kind).consensus
    col, answered = kind.input_column, kind.answered_sql
    answer = f"{kind.answer_sql} AS {col}"
    order = f" ORDER BY item_id, source_id, {col}"
    base = (f"SELECT item_id, source_id, source_kind, {_ANSWERS}, created_at, vote_id FROM votes"
            f" WHERE source_kind <> 'adjudicator' {_LATEST}")
    votes = read_dictionary_encoded(
        con, f"SELECT item_id, source_id, source_kind, {answer} FROM ({base})"
        " WHERE source_id NOT IN (SELECT source_id FROM sources WHERE banned)" + order,
        ["item_id", "source_id", "source_kind", col])
    adj_base = (f"SELECT item_id, {_ANSWERS} FROM votes WHERE source_kind = 'adjudicator'"
                " QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY created_at DESC, vote_id DESC) = 1")
    adjudications = con.sql(
        f"SELECT item_id, {answer} FROM ({adj_base}) WHERE {answered} ORDER BY item_id, {col}").to_arrow_table()
    gold = con.sql(f"SELECT item_id, {answer} FROM gold WHERE {answered} ORDER BY item_id, {col}").to_arrow_table()
    con.register("_adj", adjudications)
    try:
        scoring = con.sql(
            f"SELECT item_id, source_id, source_kind, {answer} FROM ({base})"
            " WHERE item_id IN (SELECT item_id FROM gold UNION SELECT item_id FROM _adj)" + order).to_arrow_table()
    finally:
        con.unregister("_adj")
    banned = [r[0] for r in con.execute("SELECT source_id FROM sources WHERE banned ORDER BY source_id").fetchall()]
    vote_counts = dict(con.execute(f"SELECT source_id, count(DISTINCT CASE WHEN {answered} THEN item_id END)"
                                   " FROM votes WHERE source_kind <> 'adjudicator' GROUP BY source_id").fetchall())
    ref = pa.schema([("item_id", pa.string()), (col, pa.string())])
    return ConsensusInputs(votes=votes, scoring_votes=scoring.cast(pa.schema([
                               ("item_id", pa.string()), ("source_id", pa.string()), ("source_kind", pa.string()),
                               (col, pa.string())])),
                           gold=gold.cast(ref), adjudications=adjudications.cast(ref),
                           banned=banned, vote_counts=vote_counts,
                           machine=read_prelabels(con, s.classes) if kind.wants_prelabels(s) else None,
                           payloads=read_payloads(con) if kind.wants_payloads else None)


def read_payloads(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """``item_id, payload`` of every item with a vote, in item order."""
    return con.sql("SELECT item_id, payload FROM items WHERE item_id IN (SELECT item_id FROM votes)"
                   " ORDER BY item_id").to_arrow_table()


def _changed_labels(con: duckdb.DuckDBPyConnection, labels: pa.Table, col: str) -> int:
    """Stage the rows that differ from the stored ones into ``_changed``; auto labels stay unless humans voted.

    ``col`` is the kind's answer column (``storage.column``), the one the labels table carries.
    """
    con.register("_new", labels)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _changed AS"
            f" SELECT n.item_id, n.{col}, n.confidence, n.method, n.decision, n.n_votes, n.n_human,"
            "  n.agreement, list_sort(n.sources) AS sources"
            " FROM _new n LEFT JOIN labels o ON o.item_id = n.item_id"
            " WHERE NOT (coalesce(o.method, '') = 'auto' AND n.n_human = 0)"
            f"  AND (o.item_id IS NULL OR o.{col} IS DISTINCT FROM n.{col}"
            "   OR abs(o.confidence - n.confidence) > 1e-4 OR o.method <> n.method OR o.decision <> n.decision"
            "   OR o.n_votes <> n.n_votes OR o.n_human <> n.n_human OR o.sources IS DISTINCT FROM list_sort(n.sources)"
            "   OR abs(coalesce(o.agreement, -1) - coalesce(n.agreement, -1)) > 1e-4)")
    finally:
        con.unregister("_new")
    return int(_one(con, "SELECT count(*) FROM _changed")[0])


def write_outcome(con: duckdb.DuckDBPyConnection, s: ConsensusSettings, out: ConsensusOutcome, batch_rows: int,
                  run_id: str) -> dict:
    """Bans and source stats first, then the changed labels and item states batch by batch, then the state."""
    with transaction(con):
        if out.new_bans.num_rows:
            con.register("_bans", out.new_bans)
            con.register("_kinds", out.source_stats.select(["source_id", "kind"]))
            con.execute(
                "INSERT INTO sources (source_id, kind, name, banned, ban_evidence, banned_at)"
                " SELECT b.source_id, coalesce(k.kind, 'human'), b.source_id, true, b.evidence::JSON, now()"
                " FROM _bans b LEFT JOIN _kinds k USING (source_id)"
                " ON CONFLICT (source_id) DO UPDATE SET banned = true, ban_evidence = excluded.ban_evidence,"
                " banned_at = excluded.banned_at")
            con.unregister("_bans")
            con.unregister("_kinds")
        if out.source_stats.num_rows:
            con.register("_stats", out.source_stats)
            con.execute(
                "INSERT INTO source_stats (source_id, kind, n_votes, n_gold, gold_correct, gold_accuracy, gold_low,"
                " gold_high, learned_accuracy, agreement_with_consensus, confusion, updated_at)"
                " SELECT *, now() FROM (SELECT source_id, kind, n_votes, n_gold, gold_correct, gold_accuracy, gold_low,"
                "  gold_high, learned_accuracy, agreement_with_consensus, confusion::JSON FROM _stats)"
                " ON CONFLICT (source_id) DO UPDATE SET kind = excluded.kind, n_votes = excluded.n_votes,"
                " n_gold = excluded.n_gold, gold_correct = excluded.gold_correct, gold_accuracy = excluded.gold_accuracy,"
                " gold_low = excluded.gold_low, gold_high = excluded.gold_high,"
                " learned_accuracy = excluded.learned_accuracy,"
                " agreement_with_consensus = excluded.agreement_with_consensus, confusion = excluded.confusion,"
                " updated_at = excluded.updated_at")
            con.unregister("_stats")
    col = get_kind(s.kind).storage.column
    n_changed = _changed_labels(con, out.labels, col)
    con.execute("CREATE OR REPLACE TEMP TABLE _batch (item_id VARCHAR)")
    with track("consensus: write labels", n_changed) as bar:
        for start in range(0, n_changed, batch_rows):
            with transaction(con):
                con.execute("DELETE FROM _batch")
                con.execute("INSERT INTO _batch SELECT item_id FROM _changed ORDER BY item_id LIMIT ? OFFSET ?",
                            [batch_rows, start])
                con.execute("DELETE FROM labels WHERE item_id IN (SELECT item_id FROM _batch)")
                con.execute(
                    f"INSERT INTO labels (item_id, {col}, confidence, method, decision, n_votes, n_human,"
                    " agreement, sources, updated_at, run_id)"
                    " SELECT c.*, now(), ? FROM _changed c SEMI JOIN _batch b ON b.item_id = c.item_id", [run_id])
                con.execute(
                    "UPDATE items SET state = CASE c.decision WHEN 'resolved' THEN 'resolved'"
                    " WHEN 'needs_more' THEN 'queued' ELSE 'adjudicate' END"
                    " FROM (SELECT * FROM _changed SEMI JOIN _batch USING (item_id)) c WHERE items.item_id = c.item_id")
            bar.advance(min(batch_rows, n_changed - start))
    con.execute("DROP TABLE IF EXISTS _changed")
    con.execute("DROP TABLE IF EXISTS _batch")
    return {"labels_written": n_changed}


def _method(s: ConsensusSettings, out: ConsensusOutcome | None) -> str:
    """The aggregation the run used: the kind's own when it names one (`fit["method"]`), else the configured
    one. Stored with the parameters, so a warm start only reuses parameters of the same aggregation."""
    return str((out.fit if out else {}).get("method") or s.method)


def _save_state(con, s: ConsensusSettings, fingerprint: str, n_votes: int, out: ConsensusOutcome | None,
                decisions: dict) -> None:
    con.execute(
        "INSERT INTO consensus_state (scope, method, settings_hash, fingerprint, n_votes, params, fit, agreement,"
        " decisions, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now())"
        " ON CONFLICT (scope) DO UPDATE SET method = excluded.method, settings_hash = excluded.settings_hash,"
        " fingerprint = excluded.fingerprint, n_votes = excluded.n_votes, params = excluded.params,"
        " fit = excluded.fit, agreement = excluded.agreement, decisions = excluded.decisions,"
        " updated_at = excluded.updated_at",
        [SCOPE, _method(s, out), _settings_hash(s), fingerprint, n_votes,
         params_to_bytes(out.params) if out and out.params else None,
         json.dumps(out.fit if out else {}, default=str), json.dumps(out.agreement if out else {}, default=str),
         json.dumps(decisions)])


def run_consensus_stage(cfg: ProjectConfig) -> dict:
    """Run consensus on the project's state; returns the summary (agreement, leaderboard, decisions)."""
    import uuid

    started = time.time()
    s = settings_from_config(cfg)
    with project_store(cfg) as con:
        fingerprint, n_votes = input_fingerprint(con, s)
        stored = _one(con, "SELECT fingerprint, method, settings_hash, params FROM consensus_state WHERE scope = ?",
                             [SCOPE])
        if stored and stored[0] == fingerprint:
            summary = stored_summary(con) or {}
            # new judgments need not change the fingerprint's outcome, and re-qualifications close on time
            behaviour = run_rules(con, cfg, uuid.uuid4().hex)
            summary.update({"unchanged": True, "labels_written": 0, "new_bans": [], "behaviour": behaviour,
                            "seconds": round(time.time() - started, 3)})
            record_stage_run(con, "consensus", "completed", {"unchanged": True, "behaviour": behaviour}, started, cfg=cfg)
            return summary
        warm = params_from_bytes(stored[3]) if stored and stored[1] == s.method else {}
        t0 = time.time()
        inputs = read_inputs(con, s)
        t_read = time.time() - t0
        try:
            out = run_consensus(s, inputs, warm)
        except ConsensusError as e:
            raise InputError(f"consensus: {e}") from None
        t_fit = time.time() - t0 - t_read
        check(out.labels, Labels, "consensus labels")
        check(out.source_stats, SourceStats, "consensus source_stats")
        run_id = uuid.uuid4().hex
        written = write_outcome(con, s, out, cfg.consensus.batch_rows, run_id)
        # What the labels table now says (auto-accepted rows the run left alone included).
        decisions = dict(con.execute("SELECT decision, count(*) FROM labels GROUP BY 1 ORDER BY 1").fetchall())
        fingerprint_after, _ = input_fingerprint(con, s)  # this run's bans are part of the inputs it leaves
        with transaction(con):
            _save_state(con, s, fingerprint_after, n_votes, out, decisions)
        summary = {
            "unchanged": False, "method": _method(s, out), "n_votes": n_votes, "n_items": out.labels.num_rows,
            "labels_written": written["labels_written"], "decisions": decisions,
            "new_bans": out.new_bans["source_id"].to_pylist(), "fit": out.fit, "agreement": out.agreement,
            "banned_sources": _one(con, "SELECT count(*) FROM sources WHERE banned")[0],
            "leaderboard": leaderboard(con),
            "review": review_stats(con),
            # once per run, after the scores: a rule reads this run's labels as its reference
            "behaviour": run_rules(con, cfg, run_id),
            "seconds": {"read": round(t_read, 3), "fit": round(t_fit, 3), "total": round(time.time() - started, 3)},
        }
        record_stage_run(con, "consensus", "completed",
                         {k: summary[k] for k in ("method", "n_votes", "n_items", "labels_written", "decisions",
                                                  "new_bans", "fit", "behaviour", "seconds")}, started, cfg=cfg)
    return summary


@task(name="consensus", **STAGE_TASK)
def consensus_task(cfg: ProjectConfig) -> dict:
    return run_consensus_stage(cfg)
