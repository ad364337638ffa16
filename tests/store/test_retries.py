"""The stage retry policy (tasks/retries.py) as the stages use it: a locked store is retried, a user
mistake fails at once, and no stage task carries settings of its own."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from prefect import Task, flow

import flows
import tasks
from tasks.errors import ConfigError, retry_if_transient
from tasks.export.stage import export_task
from tasks.retries import STAGE_TASK
from tests.export.conftest import seed_state

# Tasks that are deliberately not stage work: the demo's simulated annotators are never retried.
NOT_STAGE_TASKS = {"simulated-crowd (SIMULATION)"}


def _all_tasks() -> dict[str, Task]:
    found = {}
    for pkg in (tasks, flows):
        for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            m = importlib.import_module(mod.name)
            found |= {f"{mod.name}.{k}": v for k, v in vars(m).items() if isinstance(v, Task) and v.__module__ == mod.name}
    return found


def test_every_stage_task_uses_the_shared_policy() -> None:
    found = _all_tasks()
    names = {t.name for t in found.values()}
    assert {"ingest-source", "prelabel-lfs", "dispatch", "collect", "consensus", "export-version", "diff-versions"} <= names
    for where, t in found.items():
        if t.name in NOT_STAGE_TASKS:
            continue
        assert (t.retries, t.retry_delay_seconds, t.retry_condition_fn) == (
            STAGE_TASK["retries"], STAGE_TASK["retry_delay_seconds"], retry_if_transient), where


@flow
def _export_once(cfg, accept_shift: str | None = None):
    state = export_task(cfg, accept_shift=accept_shift, return_state=True)
    return state.state_details.task_run_id, state.result(raise_on_failure=False)


def _run_count(task_run_id) -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_task_run(task_run_id).run_count


def _release_when_retrying(holder: subprocess.Popen, stop: threading.Event) -> None:
    """Stop the process holding the database once a task run waits for its retry (polled from the API)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterState, TaskRunFilterStateName

    retrying = TaskRunFilter(state=TaskRunFilterState(name=TaskRunFilterStateName(any_=["AwaitingRetry"])))
    with get_client(sync_client=True) as client:
        while not stop.is_set():
            waiting = client.read_task_runs(task_run_filter=retrying)
            if any(r.name.startswith("export-version") for r in waiting):
                holder.terminate()
                return
            time.sleep(0.1)


def test_locked_store_is_retried_until_it_is_free(prefect_harness, make_project) -> None:
    cfg = make_project(state={"lock_wait_seconds": 0})  # fail at once on the lock: Prefect's retry must do the waiting
    seed_state(cfg, 20)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(300)",
         str(cfg.db_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    stop = threading.Event()
    watcher = threading.Thread(target=_release_when_retrying, args=(holder, stop), daemon=True)
    watcher.start()
    try:
        task_run_id, result = _export_once(cfg)
    finally:
        stop.set()
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert isinstance(result, dict) and result["status"] == "published", result
    assert _run_count(task_run_id) >= 2  # the first attempt met the lock


def test_user_mistake_is_not_retried(prefect_harness, make_project) -> None:
    cfg = make_project()
    seed_state(cfg, 20)
    task_run_id, result = _export_once(cfg, accept_shift="   ")
    assert isinstance(result, ConfigError) and "needs a reason" in str(result)
    assert _run_count(task_run_id) == 1
    assert not (Path(cfg.export_dir) / "latest").exists()
