"""The model stage for a language model as annotator: ask, store the answers as votes, count the spend.

An LLM is a machine source like any model (`model:<name>`, source kind 'model', its version the digest of
model + prompts + sampling + the kind's instructions and view, `llm_client.llm_version`); its votes are hard answers without a confidence
(`PrelabelFacet.llm_vote_sql`), so the combiner learns its reliability on gold as it does a labeling
function's, consensus scores it on gold and the shared ban rule can ban it. Items are asked in chunks of
`batch_size`, each chunk stored in one transaction as soon as it is answered: a run that stops keeps what
was paid for, and a re-run asks only the items without this version's vote. Items set aside (timeouts,
rate limits past the retries, HTML, answers that do not parse) are quarantined with a one-line reason and
asked again next run. The run's tokens and their price are recorded with the run (`stage_runs.stats`),
the ledger `tasks.history.metrics` sums into each source's cost.
"""

from __future__ import annotations

import time
import uuid

import duckdb
import pyarrow as pa

from schemas.config import ModelConfig, ProjectConfig
from tasks.errors import ConfigError
from tasks.kinds import kind_of
from tasks.prelabel.lf import _todo_batches
from tasks.prelabel.llm_client import LlmAnnotator, Reply
from tasks.prelabel.votes import register_source, retire_stale_votes, vote_id_sql
from tasks.progress import track
from tasks.store import project_store, record_stage_run, transaction

__all__ = ["apply_llm", "spend"]


def spend(mcfg: ModelConfig, input_tokens: int, output_tokens: int) -> float:
    """What the tokens cost at the entry's prices (per 1,000 tokens)."""
    return input_tokens / 1000 * mcfg.price_per_1k_input_tokens + output_tokens / 1000 * mcfg.price_per_1k_output_tokens


def _write_answers(con: duckdb.DuckDBPyConnection, cfg: ProjectConfig, sid: str, version: str, replies: list[Reply], run_id: str) -> int:
    answered = [r for r in replies if r.answer is not None]
    if not answered:
        return 0
    vote = kind_of(cfg).prelabel.llm_vote_sql("answer", list(cfg.labels))
    con.register("_llm", pa.table({"item_id": pa.array([r.item_id for r in answered], pa.string()),
                                   "answer": pa.array([r.answer for r in answered], pa.string())}))
    try:
        return int(con.execute(
            f"""INSERT INTO votes (vote_id, item_id, source_id, source_kind, source_version, {', '.join(vote)}, run_id)
            SELECT {vote_id_sql("?", "?", "item_id")}, item_id, ?, 'model', ?, {', '.join(vote.values())}, ? FROM _llm n
            WHERE NOT EXISTS (SELECT 1 FROM votes v WHERE v.source_id = ? AND v.item_id = n.item_id AND v.source_version = ?)""",
            [sid, version, sid, version, run_id, sid, version],
        ).fetchall()[0][0])
    finally:
        con.unregister("_llm")


def apply_llm(cfg: ProjectConfig, mcfg: ModelConfig, run_id: str | None = None) -> dict:
    """Votes of one LLM entry for every item lacking its current version's vote; see the module docstring."""
    from tasks.prelabel.stage import _quarantine_model_problems

    run_id = run_id or uuid.uuid4().hex
    started = time.time()
    sid = f"model:{mcfg.name}"
    if cfg.data_kind.value != "text":
        raise ConfigError(f"model {mcfg.name!r} of kind 'llm' reads the items' text; this project's items are {cfg.data_kind.value}")
    kind = kind_of(cfg)
    if getattr(kind.prelabel, "parse_llm_answer", None) is None:
        raise ConfigError(f"model {mcfg.name!r} of kind 'llm': {kind.title} answers cannot be asked of a language model yet; "
                          "use kind 'http' or 'sklearn'")
    report: dict = {"model": mcfg.name, "kind": "llm", "version": None, "predicted": 0, "inserted": 0, "retired": 0,
                    "calls": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0.0, "quarantined": 0, "first_problem": None}
    with LlmAnnotator(mcfg, cfg, kind.prelabel) as llm, project_store(cfg) as con:
        report["version"] = llm.version
        with transaction(con):
            register_source(con, sid, "model", mcfg.name, llm.version)
            report["retired"] = retire_stale_votes(con, sid, llm.version)
        nb = _todo_batches(con, [sid], mcfg.batch_size)
        problems: list[dict] = []
        error: BaseException | None = None
        finished = False
        try:
            with track(f"LLM {mcfg.name}", nb) as bar:
                for b in range(nb):
                    batch = con.sql("SELECT item_id, payload FROM items WHERE item_id IN (SELECT item_id FROM _todo WHERE b = ?)"
                                        " ORDER BY item_id", params=[b]).to_arrow_table()
                    replies, error = llm.annotate(batch.column("item_id").to_pylist(), batch.column("payload").to_pylist())
                    with transaction(con):
                        report["inserted"] += _write_answers(con, cfg, sid, llm.version, replies, run_id)
                    problems += [r.problem for r in replies if r.problem]
                    report["calls"] += len(replies)
                    report["predicted"] += sum(r.answer is not None for r in replies)
                    report["input_tokens"] += sum(r.input_tokens for r in replies)
                    report["output_tokens"] += sum(r.output_tokens for r in replies)
                    bar.advance(1)
                    if error is not None:
                        break
            con.execute("DROP TABLE IF EXISTS _todo").fetchall()
            finished = error is None
        finally:
            report["cost"] = round(spend(mcfg, report["input_tokens"], report["output_tokens"]), 6)
            report["quarantined"] = _quarantine_model_problems(con, mcfg, problems)
            report["first_problem"] = problems[0]["detail"] if problems else None
            report["seconds"] = round(time.time() - started, 3)
            record_stage_run(con, f"prelabel.model.{mcfg.name}", "completed" if finished else "failed", report, started, cfg=cfg)
        if error is not None:
            raise error
    return report
