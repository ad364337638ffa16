"""The pipeline's client (Arrow in and out, errors mapped) and the simulated crowd end to end."""

from __future__ import annotations

import pyarrow as pa
import pytest

from annotation_app.process import REPO_ROOT, free_port
from schemas.config import validate_config
from tasks.errors import ContractError, RequestRefusedError, ServiceError
from tasks.http import make_client
from tasks.queues import JUDGMENT_SCHEMA, BuiltinBackend
from tasks.queues.simulated_crowd import (
    load_replay,
    replay_exclusions,
    run_simulated_crowd,
)
from tests.app.conftest import ADMIN_TOKEN

# CI lays the checkout out next to `shared/` (the datasets), so it is found relative to the checkout.
SNOW_RTE = REPO_ROOT.parent / "shared" / "datasets" / "snow2008" / "rte.standardized.tsv"


def _config(name: str, **kw):
    return validate_config({"name": name, "labels": ["spam", "ham"], **kw})


def test_backend_round_trip_in_arrow(app_server, new_annotator):
    cfg = _config("client-rt", instructions="Is it spam?")
    with BuiltinBackend.from_config(cfg.model_copy(update={"queue": cfg.queue.model_copy(update={"url": app_server.url})}),
                                    token=ADMIN_TOKEN) as b:
        assert b.ensure_project(cfg) == "client-rt"
        tasks = pa.table({"assignment_id": [f"rt-{i}" for i in range(4)], "item_id": [f"i{i}" for i in range(4)],
                          "payload": [f"text {i}" for i in range(4)], "kind": ["label", "label", "gold", "label"],
                          "prelabel": [["spam"], None, None, ["ham"]]})
        assert b.push(tasks) == 4
        assert b.push(tasks) == 0
        a = new_annotator()
        for k in range(3):
            t = a.post("/api/annotate/client-rt/next").json()["task"]
            a.post(f"/api/annotate/leases/{t['lease_id']}/submit", json={"client_id": f"k{k}", "label": "spam"})
        table, cursor = b.pull(None, limit=2)
        assert table.schema == JUDGMENT_SCHEMA and table.num_rows == 2
        rest, cursor2 = b.pull(cursor)
        assert rest.num_rows == 1 and b.pull(cursor2)[0].num_rows == 0
        assert b.cancel(["rt-0", "rt-1", "rt-2", "rt-3"]) == 1
        assert b.counts() == {"open": 0, "leased": 0, "done": 3, "cancelled": 1, "expired": 0}


def test_backend_rejects_bad_tables_and_reports_server_messages(app_server, backend):
    b = backend("never-created")
    with pytest.raises(ContractError, match="item_id"):
        b.push(pa.table({"assignment_id": ["x"]}))
    with pytest.raises(RequestRefusedError, match="no project 'never-created'") as e:
        b.push(pa.table({"assignment_id": ["x"], "item_id": ["y"], "payload": ["z"]}))
    assert e.value.status == 404


def test_unreachable_service_is_a_transient_error():
    with make_client(f"http://127.0.0.1:{free_port()}", "t", retries=2, backoff=0.01) as c:
        with pytest.raises(ServiceError, match="failed after 3 attempts"):
            c.get("/healthz")


def test_simulated_crowd_labels_a_project_end_to_end(app_server, admin, new_project, backend):
    pid = new_project(labels=["pos", "neg", "neutral"])
    truth = {f"review {i}": ["pos", "neg", "neutral"][i % 3] for i in range(30)}
    tasks = [{"assignment_id": f"{pid}-{i}-{k}", "item_id": f"i{i}", "payload": f"review {i}"}
             for i in range(30) for k in range(3)]
    admin.post(f"/api/projects/{pid}/tasks", json={"tasks": tasks})
    report = run_simulated_crowd(app_server.url, ADMIN_TOKEN, pid, truth, n_annotators=6, spammer_share=0.0,
                                 accuracy=(0.9, 0.99), seed=1)
    assert report.failures == [] and report.submitted == 90
    table, _ = backend(pid).pull_all(None)
    assert table.num_rows == 90
    rows = table.to_pylist()
    assert len({(r["annotator_id"], r["item_id"]) for r in rows}) == 90  # nobody labelled an item twice
    correct = sum(r["label"] == truth[f"review {r['item_id'][1:]}"] for r in rows)
    assert correct / 90 > 0.8


def test_replay_crowd_answers_what_the_real_worker_answered(app_server, admin, new_project, backend):
    assert SNOW_RTE.is_file(), f"{SNOW_RTE} missing: the datasets folder `shared/` belongs next to the checkout"
    answers = load_replay(SNOW_RTE)
    items = sorted({i for a in answers.values() for i in a}, key=int)[:12]
    sub = {w: {i: a[i] for i in items if i in a} for w, a in answers.items()}
    sub = {w: a for w, a in sub.items() if a}
    pid = new_project(labels=["0", "1"])
    tasks = [{"assignment_id": f"{pid}-{i}-{w}", "item_id": i, "payload": i,
              "exclude_annotators": replay_exclusions(sub, i)}
             for i in items for w in sorted(sub) if i in sub[w]]
    admin.post(f"/api/projects/{pid}/tasks", json={"tasks": tasks})
    report = run_simulated_crowd(app_server.url, ADMIN_TOKEN, pid, replay=sub)
    assert report.failures == [] and report.submitted == len(tasks) == 120
    for r in backend(pid).pull_all(None)[0].to_pylist():
        assert r["label"] == sub[r["annotator_id"]][r["item_id"]]


def test_crowd_profiles_come_from_the_kind_and_one_seed_makes_one_crowd():
    import random

    from tasks import kinds
    from tasks.queues.simulated_crowd import make_crowd

    labels = ["a", "b", "c"]
    for name in ("single_label", "multi_label"):
        kind = kinds.get(name)
        one = make_crowd(5, labels, accuracy=(0.8, 0.8), spammer_share=0.4, seed=4, kind=kind)
        two = make_crowd(5, labels, accuracy=(0.8, 0.8), spammer_share=0.4, seed=4, kind=kind)
        assert [s.profile for s in one] == [s.profile for s in two]
        assert [s.spammer for s in one] == [None, None, None, "uniform", "constant"]
        rng = random.Random(0)
        answers = [kind.simulation.answer(one[0].profile, "b" if name == "single_label" else ["b"], rng, labels, None)
                   for _ in range(400)]
        right = sum(a == ("b" if name == "single_label" else ["b"]) for a in answers) / 400
        # single: the diagonal; multi: each of the 3 labels judged right with p = 0.8
        assert abs(right - (0.8 if name == "single_label" else 0.8 ** 3)) < 0.07, right
        constant = {str(kind.simulation.answer(one[4].profile, "b", rng, labels, None)) for _ in range(20)}
        assert constant == {"a"} or constant == {"['a']"}
