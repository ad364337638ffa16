"""End to end against a real `prefect server`: `deployments/prefect.yaml` deployed with `prefect deploy`,
runs created through the API as the UI does, executed by a process worker started from the checkout."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from flows.common import artifact_key
from schemas.config import load_config
from tasks.store import open_store
from tests.conftest import write_project
from tests.deployments.conftest import Deployed, run_and_wait, wait_for

pytestmark = pytest.mark.slow

TEXTS = [
    "check out my channel please", "subscribe to my channel for free money", "visit www.spam.com now",
    "free gift cards at http://x.co", "please subscribe and like my video", "i love this song", "best song ever",
    "this video is so funny", "who is watching in 2015", "great voice and nice dance", "wow", "the chorus is amazing",
]
LF_SQL = [
    {"name": "link", "sql": "CASE WHEN regexp_matches(lower(payload), 'http|www') THEN 'spam' END"},
    {"name": "subscribe", "sql": "CASE WHEN regexp_matches(lower(payload), 'subscrib|channel') THEN 'spam' END"},
    {"name": "song", "sql": "CASE WHEN regexp_matches(lower(payload), 'song|love|dance') THEN 'ham' END"},
]
PY_LF = '''
import numpy as np


def short(batch):
    return np.where(batch["payload"].str.len() < 12, "ham", None)
'''


def tiny_project(root: Path, app_url: str, **overrides) -> Path:
    """A text project of 12 comments whose queue is the test's annotation app."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    (root / name / "data").mkdir(parents=True)
    (root / name / "data" / "comments.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    overrides.setdefault("prelabel", {"labeling_functions": LF_SQL})
    write_project(root / name, name=name, queue={"url": app_url}, **overrides)
    return root / name


def counts(project: Path) -> dict[str, int]:
    cfg = load_config(project)
    with open_store(cfg.db_path, read_only=True) as con:
        q = lambda sql: con.execute(sql).fetchone()[0]
        return {
            "items": q("SELECT count(*) FROM items"),
            "distinct_items": q("SELECT count(DISTINCT item_id) FROM items"),
            "votes": q("SELECT count(*) FROM votes"),
            "distinct_votes": q("SELECT count(DISTINCT vote_id) FROM votes"),
            "labels": q("SELECT count(*) FROM labels"),
            "prelabeled": q("SELECT count(*) FROM items WHERE state <> 'new'"),
        }


def subflow_states(d: Deployed, flow_run_id) -> dict[str, str]:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    with d.client() as c:
        runs = c.read_flow_runs(flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])))
        flows = {f.id: f.name for f in c.read_flows()}
    return {flows[r.flow_id]: r.state_name for r in runs}


def test_pipeline_deployment_runs_from_the_api(deployed: Deployed, tmp_path: Path) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    project = tiny_project(tmp_path, deployed.app_url)
    t0 = time.monotonic()
    fr = run_and_wait(deployed, "annotation-pipeline/youtube-spam",
                      {"project_dir": str(project), "stop_after": "dispatch"})
    elapsed = time.monotonic() - t0
    assert fr.state.is_completed(), fr.state
    assert subflow_states(deployed, fr.id) == {s: "Completed" for s in ("ingest", "prelabel", "collect", "consensus", "dispatch")}
    with deployed.client() as c:
        sub_ids = [r.id for r in c.read_flow_runs()]
        keys = {a.key for a in c.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=sub_ids)))}
    cfg = load_config(project)
    assert {artifact_key(cfg, r) for r in ("ingest-report", "prelabel-report", "collect-report")} <= keys, keys
    n = counts(project)
    assert n["items"] == n["distinct_items"] == len(TEXTS)
    assert n["votes"] == n["distinct_votes"] > 0
    assert n["prelabeled"] > 0
    print(f"pipeline ingest→dispatch through the worker: {elapsed:.1f}s")


def test_failed_stage_retried_alone_then_pipeline_resumes(deployed: Deployed, tmp_path: Path) -> None:
    """Pre-label fails for real (its Python labeling function's module is missing: a terminal ConfigError);
    after the module is added, the prelabel deployment alone succeeds and the pipeline resumes at collect."""
    lfs = [*LF_SQL, {"name": "short", "python": "project_lfs:short"}]
    project = tiny_project(tmp_path, deployed.app_url, prelabel={"labeling_functions": lfs})
    fr = run_and_wait(deployed, "annotation-pipeline/youtube-spam", {"project_dir": str(project), "stop_after": "dispatch"})
    assert fr.state.is_failed()
    assert "project_lfs" in fr.state.message
    assert subflow_states(deployed, fr.id) == {"ingest": "Completed", "prelabel": "Failed"}
    after_failure = counts(project)
    assert after_failure["items"] == len(TEXTS) and after_failure["votes"] == 0

    (project / "project_lfs.py").write_text(PY_LF)
    retry = run_and_wait(deployed, "prelabel/youtube-spam", {"project_dir": str(project)})
    assert retry.state.is_completed(), retry.state
    after_retry = counts(project)
    resumed = run_and_wait(deployed, "annotation-pipeline/youtube-spam",
                           {"project_dir": str(project), "start_at": "collect", "stop_after": "dispatch"})
    assert resumed.state.is_completed(), resumed.state
    assert subflow_states(deployed, resumed.id) == {s: "Completed" for s in ("collect", "consensus", "dispatch")}
    final = counts(project)
    assert final["items"] == final["distinct_items"] == len(TEXTS)
    assert final["votes"] == final["distinct_votes"] == after_retry["votes"] > 0
    assert final["prelabeled"] > 0
    # a manual re-run of the retried stage changes nothing
    again = run_and_wait(deployed, "prelabel/youtube-spam", {"project_dir": str(project)})
    assert again.state.is_completed()
    assert counts(project)["votes"] == final["votes"]


def test_two_runs_at_once_both_complete_without_duplicates(deployed: Deployed, tmp_path: Path) -> None:
    project = tiny_project(tmp_path, deployed.app_url, state={"lock_wait_seconds": 120})
    with deployed.client() as c:
        dep = c.read_deployment_by_name("annotation-pipeline/youtube-spam")
        runs = [c.create_flow_run_from_deployment(dep.id, parameters={"project_dir": str(project), "stop_after": "dispatch"})
                for _ in range(2)]
    done = [wait_for(deployed, r.id, timeout=150) for r in runs]
    assert all(r.state.is_completed() for r in done), [r.state for r in done]
    n = counts(project)
    assert n["items"] == n["distinct_items"] == len(TEXTS)
    assert n["votes"] == n["distinct_votes"]
    cfg = load_config(project)
    with open_store(cfg.db_path, read_only=True) as con:
        dup_labels = con.execute("SELECT count(*) FROM (SELECT item_id FROM labels GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
        dup_assign = con.execute("SELECT count(*) - count(DISTINCT assignment_id) FROM assignments").fetchone()[0]
    assert dup_labels == 0 and dup_assign == 0


@pytest.mark.parametrize("params", [{"start_at": "nonsense"}, {"stop_after": 3}, {"project_dir": 5}])
def test_server_rejects_bad_parameters(deployed: Deployed, params: dict) -> None:
    from prefect.exceptions import PrefectHTTPStatusError

    with deployed.client() as c:
        dep = c.read_deployment_by_name("annotation-pipeline/youtube-spam")
        assert dep.enforce_parameter_schema
        with pytest.raises(PrefectHTTPStatusError) as e:
            c.create_flow_run_from_deployment(dep.id, parameters={"project_dir": "x", **params})
    assert e.value.response.status_code == 409


def test_new_items_trigger_prelabel_only_after_an_ingest_run_alone(deployed: Deployed, tmp_path: Path) -> None:
    """The pipeline's own ingest event starts no second pre-label beside the pipeline; an ingest
    deployment run alone does start `prelabel/youtube-spam`, on the folder the event names."""
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    project = tiny_project(tmp_path, deployed.app_url)
    write_project(project, name="youtube-spam", queue={"url": deployed.app_url}, prelabel={"labeling_functions": LF_SQL})

    def triggered_prelabels() -> list:
        with deployed.client() as c:
            runs = c.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["prelabel"])))
        return [r for r in runs if r.parameters.get("project_dir") == str(project.resolve()) and r.parent_task_run_id is None]

    piped = run_and_wait(deployed, "annotation-pipeline/youtube-spam", {"project_dir": str(project), "stop_after": "ingest"})
    assert piped.state.is_completed(), piped.state
    assert counts(project)["prelabeled"] == 0
    alone = run_and_wait(deployed, "ingest/youtube-spam", {"project_dir": str(project)})
    assert alone.state.is_completed(), alone.state
    deadline = time.monotonic() + 90
    while not triggered_prelabels() and time.monotonic() < deadline:
        time.sleep(1)
    runs = triggered_prelabels()
    assert len(runs) == 1, "exactly one pre-label: the standalone ingest's, not the pipeline's"
    assert wait_for(deployed, runs[0].id).state.is_completed()
    assert counts(project)["prelabeled"] > 0
    time.sleep(5)  # a late trigger from the pipeline's event would show up by now
    assert len(triggered_prelabels()) == 1
