"""Pausing through the real annotation app on 127.0.0.1: leases released, next-task refused, the CLI and the
app's admin endpoints recorded with their actor, re-qualification batches passed and failed."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from typer.testing import CliRunner

from annoflow_cli.main import app as cli
from tasks.collect import collect
from tasks.consensus.stage import run_consensus_stage
from tasks.dispatch import dispatch
from tasks.errors import RequestRefusedError
from tasks.http import make_client
from tasks.queues import BuiltinBackend
from tasks.store import open_store
from tests.conftest import ADMIN_TOKEN, seed_items

runner = CliRunner()


def _cli(cfg, *args: str):
    return runner.invoke(cli, ["annotators", *args, "--config", str(cfg.root)])


def _answer(url: str, project: str, token: str, answer_for, limit: int = 50) -> list[str]:
    """Take and answer tasks until none is left (or `limit`); returns the payloads answered."""
    done = []
    with make_client(url, token) as c:
        task = c.post(f"/api/annotate/{project}/next").json()["task"]
        while task and len(done) < limit:
            done.append(task["payload"])
            more = len(done) < limit  # never lease a task that would then be left held
            r = c.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                       json={"client_id": uuid.uuid4().hex, "label": answer_for(task["payload"]), "next": more}).json()
            task = r["next"]["task"] if more else None
    return done


def _events(cfg) -> list[tuple]:
    with open_store(cfg.db_path) as con:
        return con.execute("SELECT source_id, action, rule, reason, actor FROM annotator_events"
                           " ORDER BY created_at, action").fetchall()


@pytest.fixture
def project(queue_project, fresh_app):
    """Two annotators who each answered once (so the project knows them) and four more items in the queue."""
    cfg = queue_project(queue={"url": fresh_app.url}, overlap={"policy": "fixed", "initial": 1, "max": 1},
                        gold={"rate": 0.0, "min_per_annotator": 0}, behaviour={"requalify_items": 2})
    with BuiltinBackend(fresh_app.url, ADMIN_TOKEN, cfg.name) as b:
        tokens = {a: b.create_annotator(a) for a in ("worker-p", "worker-q")}
    seed_items(cfg, ["first p", "first q"], priorities=[2.0, 1.0])
    dispatch(cfg)
    for a in ("worker-p", "worker-q"):
        assert len(_answer(fresh_app.url, cfg.name, tokens[a], lambda _: "ham", limit=1)) == 1
    seed_items(cfg, [f"later {i}" for i in range(4)])
    dispatch(cfg)
    collect(cfg)
    return cfg, tokens, fresh_app.url


def test_cli_pause_releases_the_lease_and_refuses_next_task_until_resumed(project):
    cfg, tokens, url = project
    with make_client(url, tokens["worker-p"]) as c:
        held = c.post(f"/api/annotate/{cfg.name}/next").json()["task"]
    out = _cli(cfg, "pause", "worker-p", "--reason", "answers in under a second", "--actor", "lead", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {"source_id": "human:worker-p", "action": "pause", "queue_updated": True}
    with BuiltinBackend(url, ADMIN_TOKEN, cfg.name) as b:
        proj = b.client.get(f"/api/projects/{cfg.name}").json()
    assert proj["counts"]["leased"] == 0 and proj["paused_annotators"] == {"worker-p": "manual: answers in under a second"}
    with make_client(url, tokens["worker-p"]) as c:
        with pytest.raises(RequestRefusedError) as late:
            c.post(f"/api/annotate/leases/{held['lease_id']}/submit", json={"client_id": "x1", "label": "ham"})
        assert late.value.status == 409 and late.value.code == "lease_paused"
        with pytest.raises(RequestRefusedError) as refused:
            c.post(f"/api/annotate/{cfg.name}/next")
    assert refused.value.status == 403 and refused.value.code == "paused"
    assert "answers in under a second" in str(refused.value) and "still counts" in str(refused.value)
    # the released task went back to the pool: the other annotator gets all four
    assert sorted(_answer(url, cfg.name, tokens["worker-q"], lambda _: "ham")) == [f"later {i}" for i in range(4)]
    # past votes keep counting: the paused annotator's vote is still a vote consensus reads
    run_consensus_stage(cfg)
    with open_store(cfg.db_path) as con:
        assert con.execute("SELECT n_votes FROM source_stats WHERE source_id = 'human:worker-p'").fetchall() == [(1,)]
    out = _cli(cfg, "resume", "worker-p", "--reason", "spoke with them", "--actor", "lead")
    assert out.exit_code == 0, out.output
    with make_client(url, tokens["worker-p"]) as c:
        assert c.post(f"/api/annotate/{cfg.name}/next").json()["task"] is None  # allowed again; nothing left
    assert [e[1:] for e in _events(cfg)] == [("pause", "manual", "answers in under a second", "lead"),
                                             ("resume", "manual", "spoke with them", "lead")]


def test_cli_errors_are_one_line_with_exit_2(project):
    cfg, _, _ = project
    cases = [
        (("pause", "nobody", "--reason", "x"), "unknown annotator 'nobody'"),
        (("resume", "worker-p", "--reason", "x"), "is not paused"),
        (("unban", "worker-p", "--reason", "x"), "is not banned"),
        (("pause", "worker-p"), "needs a reason"),
        (("pause", "worker-p", "--reason", "  "), "needs a reason"),
        (("requalify", "worker-p"), "is not paused"),
    ]
    for args, said in cases:
        out = _cli(cfg, *args)
        assert out.exit_code == 2, (args, out.output)
        assert said in out.output and "Traceback" not in out.output, out.output
        assert len(out.output.strip().splitlines()) == 1, out.output
    assert _events(cfg) == []


def test_unban_round_trip_reaches_the_queue(project):
    cfg, tokens, url = project
    with open_store(cfg.db_path) as con:
        con.execute("UPDATE sources SET banned = true WHERE source_id = 'human:worker-q'")
    dispatch(cfg)
    with make_client(url, tokens["worker-q"]) as c, pytest.raises(RequestRefusedError):
        c.post(f"/api/annotate/{cfg.name}/next")
    out = _cli(cfg, "unban", "worker-q", "--reason", "gold key was wrong", "--actor", "lead")
    assert out.exit_code == 0, out.output
    with open_store(cfg.db_path) as con:
        assert con.execute("SELECT banned FROM sources WHERE source_id = 'human:worker-q'").fetchall() == [(False,)]
    with make_client(url, tokens["worker-q"]) as c:
        assert c.post(f"/api/annotate/{cfg.name}/next").json()["task"] is not None
    assert [e[1:] for e in _events(cfg)] == [("unban", "manual", "gold key was wrong", "lead")]
    listed = json.loads(_cli(cfg, "list", "--json").stdout)
    assert {r["annotator_id"]: (r["banned"], r["paused"], r["last_action"]) for r in listed} == {
        "worker-p": (False, False, None), "worker-q": (False, False, "unban")}


def test_admin_endpoints_pause_at_once_and_collect_records_them(project):
    cfg, tokens, url = project
    base = f"/api/projects/{cfg.name}/annotators"
    with httpx.Client(base_url=url) as h:
        anonymous = h.post(f"{base}/worker-p/pause", json={"reason": "x"})
        assert anonymous.status_code == 401
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        r = h.post(f"{base}/worker-p/pause", json={"reason": "too fast on the dashboard", "actor": "dana"}, headers=admin)
        assert r.status_code == 200 and r.json()["paused"] is True
        assert h.post(f"{base}/worker-p/pause", json={"reason": "again"}, headers=admin).status_code == 409
        assert h.post(f"{base}/ghost/pause", json={"reason": "x"}, headers=admin).json()["error"] == "unknown_annotator"
        assert h.post(f"{base}/worker-q/resume", json={"reason": "x"}, headers=admin).json()["error"] == "not_paused"
    with make_client(url, tokens["worker-p"]) as c, pytest.raises(RequestRefusedError) as refused:
        c.post(f"/api/annotate/{cfg.name}/next")
    assert refused.value.code == "paused"
    assert collect(cfg)["annotator_actions"] == 1
    assert collect(cfg)["annotator_actions"] == 0  # pulled once
    with open_store(cfg.db_path) as con:
        assert con.execute("SELECT paused, pause_reason FROM sources WHERE source_id = 'human:worker-p'").fetchall() == [
            (True, "manual: too fast on the dashboard")]
    assert [e[1:] for e in _events(cfg)] == [("pause", "manual", "too fast on the dashboard", "dana (app)")]
    # a dispatch after it sends the state's lists back: the pause stays in force
    dispatch(cfg)
    with make_client(url, tokens["worker-p"]) as c, pytest.raises(RequestRefusedError):
        c.post(f"/api/annotate/{cfg.name}/next")


@pytest.mark.parametrize("passes", [True, False])
def test_requalification_batch_resumes_on_pass_and_keeps_the_pause_on_fail(queue_project, fresh_app, passes):
    cfg = queue_project(queue={"url": fresh_app.url}, overlap={"policy": "fixed", "initial": 1, "max": 1},
                        gold={"rate": 0.0, "min_per_annotator": 0}, behaviour={"requalify_items": 2})
    with BuiltinBackend(fresh_app.url, ADMIN_TOKEN, cfg.name) as b:
        tokens = {a: b.create_annotator(a) for a in ("worker-r", "worker-s")}
    truth = {"gold one": "ham", "gold two": "spam", "gold three": "ham"}
    seed_items(cfg, list(truth), state="resolved", gold=truth)
    seed_items(cfg, ["work 1", "work 2"])
    dispatch(cfg)
    _answer(fresh_app.url, cfg.name, tokens["worker-r"], lambda _: "ham", limit=1)
    collect(cfg)
    assert _cli(cfg, "pause", "worker-r", "--reason", "straight-lining").exit_code == 0
    out = _cli(cfg, "requalify", "worker-r", "--actor", "lead")
    assert out.exit_code == 0, out.output
    assert dispatch(cfg)["pushed"] == 2
    # the other annotator never sees the batch; the paused one sees the batch and nothing else
    other = _answer(fresh_app.url, cfg.name, tokens["worker-s"], lambda _: "ham")
    assert len(other) == 1 and other[0].startswith("work"), other
    wrong = {"ham": "spam", "spam": "ham"}
    seen = _answer(fresh_app.url, cfg.name, tokens["worker-r"],
                   lambda p: truth[p] if passes else wrong[truth[p]])
    assert len(seen) == 2 and set(seen) <= set(truth)
    collect(cfg)
    summary = run_consensus_stage(cfg)["behaviour"]
    assert summary["requalified" if passes else "requalify_failed"] == ["human:worker-r"]
    with open_store(cfg.db_path) as con:
        assert con.execute("SELECT paused FROM sources WHERE source_id = 'human:worker-r'").fetchall() == [(not passes,)]
    actions = [e[1] for e in _events(cfg) if e[0] == "human:worker-r"]
    assert actions == ["pause", "requalify_start", "requalify_pass" if passes else "requalify_fail"]
    assert run_consensus_stage(cfg)["behaviour"].get("requalified", []) == []  # closed once
    dispatch(cfg)
    with make_client(fresh_app.url, tokens["worker-r"]) as c:
        if passes:
            assert c.post(f"/api/annotate/{cfg.name}/next").status_code == 200
        else:
            with pytest.raises(RequestRefusedError) as refused:
                c.post(f"/api/annotate/{cfg.name}/next")
            assert refused.value.code == "paused"


def test_a_pause_in_the_app_of_someone_who_never_voted_survives_the_next_dispatch(project):
    cfg, _, url = project
    with BuiltinBackend(url, ADMIN_TOKEN, cfg.name) as b:
        newcomer = b.create_annotator("worker-n")
        b.client.post(f"/api/projects/{cfg.name}/annotators/worker-n/pause", json={"reason": "trial account"})
    dispatch(cfg)  # pulls the action before it sends the lists
    with make_client(url, newcomer) as c, pytest.raises(RequestRefusedError) as refused:
        c.post(f"/api/annotate/{cfg.name}/next")
    assert refused.value.code == "paused"
    assert [e[:2] + e[4:] for e in _events(cfg)] == [("human:worker-n", "pause", "admin (app)")]
