"""The Label Studio backend against a real Label Studio 1.23.2 (session fixture `label_studio`)."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from PIL import Image

from tasks.http import make_client
from tasks.kinds import kind_of
from tasks.queues import open_backend
from tasks.queues.base import JUDGMENT_SCHEMA
from tasks.queues.label_studio import (
    LabelStudioBackend,
    labeling_config,
)
from tests.labelstudio.server import import_tasks, invite_annotator

pytestmark = pytest.mark.slow


@pytest.fixture
def ls_client(label_studio: tuple[str, str]):
    url, token = label_studio
    with make_client(url, token, auth_scheme="Token", retries=1) as c:
        yield c


@pytest.fixture
def project(make_project, label_studio, monkeypatch):
    """Factory: a config with a unique name pointing at the session's Label Studio, and its backend."""
    url, token = label_studio
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)
    made: list[LabelStudioBackend] = []

    def make(**overrides):
        queue = {"backend": "label_studio", "url": url, **overrides.pop("queue", {})}
        cfg = make_project(name=f"ls-{uuid.uuid4().hex[:8]}", queue=queue, **overrides)
        b = open_backend(cfg)
        assert isinstance(b, LabelStudioBackend)
        made.append(b)
        return cfg, b

    yield make
    for b in made:
        b.close()


def _choices(*labels: str, to: str = "text") -> list[dict]:
    return [{"from_name": "label", "to_name": to, "type": "choices", "value": {"choices": list(labels)}}]


def _annotate(c: httpx.Client, task_id: int, *labels: str, lead_time: float = 2.5, cancelled: bool = False) -> int:
    r = c.post(f"/api/tasks/{task_id}/annotations",
               json={"result": _choices(*labels), "lead_time": lead_time, "was_cancelled": cancelled})
    assert r.status_code == 201
    return r.json()["id"]


def test_labeling_config_per_kind(make_project) -> None:
    for data_kind, tag in (("text", "Text"), ("image", "Image"), ("audio", "Audio")):
        for task_kind, choice in (("single_label", "single"), ("multi_label", "multiple")):
            cfg = make_project(data_kind=data_kind, task_kind=task_kind, labels=["a&b", 'say "hi"', "c"])
            root = ET.fromstring(labeling_config(cfg))
            obj = root.find(tag)
            assert obj is not None and obj.get("value") == f"${data_kind}"
            choices = root.find("Choices")
            assert choices.get("choice") == choice and choices.get("toName") == data_kind
            assert [c.get("value") for c in choices] == ["a&b", 'say "hi"', "c"]


def test_answers_convert_both_ways_through_the_kind(make_project) -> None:
    for task_kind, answer, chosen in (("single_label", '"b"', ["b"]), ("multi_label", '["a", "c"]', ["a", "c"])):
        cfg = make_project(data_kind="image", task_kind=task_kind, labels=["a", "b", "c"])
        q = kind_of(cfg).queue
        result = q.to_label_studio(answer, cfg)
        assert result == _choices(*chosen, to="image")
        assert json.dumps(q.from_label_studio(result, cfg)) == answer.replace(", ", ",").replace(",", ", ")
    single = make_project(task_kind="single_label", labels=["a", "b"])
    assert kind_of(single).queue.from_label_studio(_choices("a", "b"), single) is None  # two choices: no single answer


def test_ensure_project_creates_then_finds(project, ls_client) -> None:
    cfg, b = project(labels=["pos", "neg"], instructions="Is it positive?")
    pid = b.ensure_project(cfg)
    p = ls_client.get(f"/api/projects/{pid}").json()
    assert p["title"] == cfg.name and p["expert_instruction"] == "Is it positive?"
    assert set(p["parsed_label_config"]["label"]["labels"]) == {"pos", "neg"}
    again = LabelStudioBackend(b.url, ls_client.headers["Authorization"].split()[1], cfg.name)
    assert again.ensure_project(cfg) == pid
    again.close()


def test_push_predictions_idempotent_pull_cancel(project, ls_client, label_studio) -> None:
    cfg, b = project(labels=["pos", "neg"])
    pid = b.ensure_project(cfg)
    tasks = pa.Table.from_pylist([
        {"assignment_id": "a1", "item_id": "i1", "kind": "label", "payload": "good", "prelabel": ["pos"],
         "prelabel_score": 0.8, "priority": 1.0},
        {"assignment_id": "a2", "item_id": "i2", "kind": "gold", "payload": "bad", "prelabel": ["neg"],
         "prelabel_score": 0.9, "priority": 5.0},
        {"assignment_id": "a3", "item_id": "i3", "kind": "label", "payload": "meh"},
        {"assignment_id": "a4", "item_id": "i4", "kind": "audit", "payload": "fine", "prelabel": ["pos"]},
    ])
    assert b.push(tasks) == 4
    assert b.push(tasks) == 0
    fresh = open_backend(cfg)  # map read back from LS, with the project's key
    assert fresh.push(tasks) == 0
    fresh.close()

    listed = ls_client.get("/api/tasks", params={"project": pid, "fields": "all", "page_size": 100}).json()["tasks"]
    by_aid = {b.refs.open(t["data"]["ref"])[0]: t for t in listed}
    assert set(by_aid) == {"a1", "a2", "a3", "a4"}
    assert b.refs.open(by_aid["a1"]["data"]["ref"]) == ("a1", "i1")
    assert set(by_aid["a1"]["data"]) == {"text", "ref"} and by_aid["a1"]["data"]["text"] == "good"
    seen = json.dumps([t["data"] for t in listed])
    assert not any(f'"{secret}"' in seen for secret in ("a1", "a2", "i1", "i2", "gold", "audit"))
    [pred] = by_aid["a1"]["predictions"]
    assert pred["result"] == _choices("pos") and pred["score"] is None  # no score: it would mark audits
    assert pred["model_version"] == "annoflow-prelabel"
    # gold and audits carry their suggestion like any other task
    assert [p["result"] for p in by_aid["a2"]["predictions"]] == [_choices("neg")]
    assert [p["result"] for p in by_aid["a4"]["predictions"]] == [_choices("pos")]
    other_key = LabelStudioBackend(label_studio[0], label_studio[1], cfg.name, key=b"another project")
    assert other_key.refs.open(by_aid["a1"]["data"]["ref"]) is None  # only the project's key reads it
    other_key.close()
    assert min(by_aid, key=lambda a: by_aid[a]["id"]) == "a2"  # highest priority imported first

    ids = b.task_ids()
    _annotate(ls_client, ids["a1"], "pos", lead_time=2.5)
    _annotate(ls_client, ids["a2"], "maybe")  # not in the config: Label Studio accepts it anyway
    _annotate(ls_client, ids["a3"], cancelled=True)  # a skip is not a judgment

    first, cursor = b.pull(None)
    assert first.schema == JUDGMENT_SCHEMA
    rows = first.to_pylist()
    assert [r["assignment_id"] for r in rows] == ["a1", "a2"]
    assert rows[0]["label"] == "pos" and rows[0]["labels"] == ["pos"] and rows[0]["duration_ms"] == 2500
    assert rows[0]["annotator_id"] == "ls:admin@annoflow.test" and rows[0]["item_id"] == "i1"
    problems = kind_of(cfg).storage.validate(first, pa.table({"item_id": ["i1", "i2"]}), cfg)
    assert problems.column("row").to_pylist() == [1] and problems.column("reason").to_pylist() == ["unknown_label"]

    assert b.pull(cursor)[0].num_rows == 0
    assert b.pull(None)[0].to_pylist() == rows  # the same cursor gives the same rows
    _annotate(ls_client, ids["a4"], "neg")
    more, cursor2 = b.pull(cursor)
    assert more.column("assignment_id").to_pylist() == ["a4"]
    assert b.pull(cursor2)[0].num_rows == 0
    page, c1 = b.pull(None, limit=1)
    assert page.column("assignment_id").to_pylist() == ["a1"]
    assert b.pull(c1, limit=5)[0].column("assignment_id").to_pylist() == ["a2", "a4"]

    # Cancel withdraws unanswered tasks only (a3 has only a skip, so it is unanswered).
    assert b.cancel(["a1", "a3", "nope"]) == 1
    left = {b.refs.open(t["data"]["ref"])[0] for t in
            ls_client.get("/api/tasks", params={"project": pid, "page_size": 100}).json()["tasks"]}
    assert left == {"a1", "a2", "a4"}
    assert b.cancel(["a3"]) == 0


def test_multi_label_image_media(project, ls_client, label_studio_files_root: Path, tmp_path: Path) -> None:
    sub = label_studio_files_root / f"imgs-{uuid.uuid4().hex[:6]}"
    sub.mkdir()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(sub / "served.png")
    Image.new("RGB", (8, 8), (0, 0, 255)).save(tmp_path / "inline.png")
    cfg, b = project(labels=["red", "blue", "green"], data_kind="image", task_kind="multi_label",
                     queue={"local_files_root": str(label_studio_files_root)})
    pid = b.ensure_project(cfg)
    assert b.push(pa.Table.from_pylist([
        {"assignment_id": "m1", "item_id": "i1", "media_uri": f"file://{sub / 'served.png'}", "prelabel": ["red"]},
        {"assignment_id": "m2", "item_id": "i2", "media_uri": str(tmp_path / "inline.png")},
    ])) == 2
    tasks = {b.refs.open(t["data"]["ref"])[0]: t for t in
             ls_client.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]}
    assert tasks["m1"]["data"]["image"] == f"/data/local-files/?d={sub.name}/served.png"
    assert tasks["m2"]["data"]["image"].startswith("data:image/png;base64,")
    storages = ls_client.get("/api/storages/localfiles", params={"project": pid}).json()
    assert [s["path"] for s in storages] == [str(sub)]
    assert tasks["m1"]["predictions"][0]["result"] == _choices("red", to="image")

    r = ls_client.post(f"/api/tasks/{tasks['m1']['id']}/annotations", json={"result": _choices("red", "green", to="image")})
    assert r.status_code == 201
    got, _ = b.pull(None)
    [row] = got.to_pylist()
    assert row["labels"] == ["red", "green"] and row["label"] is None


def test_label_studio_json_export_imports(label_studio, label_studio_url: str, make_project) -> None:
    cfg = make_project(labels=["ham", "spam"])
    rows = [{"data": {"text": f"message {i}"},
             "annotations": [{"result": _choices("spam" if i % 2 else "ham")}]} for i in range(5)]
    path = Path(make_project(labels=["ham", "spam"]).root) / "export.json"
    path.write_text(json.dumps(rows))
    out = import_tasks(label_studio_url, label_studio[1], f"export-{uuid.uuid4().hex[:6]}", labeling_config(cfg),
                       json.loads(path.read_text()))
    assert out["task_count"] == 5 and out["annotation_count"] == 5


def test_an_edit_in_label_studio_replaces_the_vote(project, ls_client) -> None:
    """An annotator corrects an answer in Label Studio: collect replaces their vote, once, nothing quarantined."""
    import time

    from tasks.collect import collect
    from tasks.dispatch import dispatch
    from tasks.store import open_store
    from tests.conftest import seed_items

    cfg, b = project(labels=["pos", "neg"], overlap={"policy": "fixed", "initial": 1, "max": 1},
                     gold={"rate": 0.0, "min_per_annotator": 0})
    seed_items(cfg, ["good", "bad"])
    assert dispatch(cfg, b)["pushed"] == 2
    listed = ls_client.get("/api/tasks", params={"project": b._project(), "fields": "all"}).json()["tasks"]
    ann = {t["data"]["text"]: _annotate(ls_client, t["id"], "pos") for t in listed}
    first = collect(cfg, b)
    assert (first["stored"], first["revised"], first["quarantined"]) == (2, 0, 0)
    time.sleep(1.1)
    assert ls_client.patch(f"/api/annotations/{ann['bad']}", json={"result": _choices("neg")}).status_code == 200
    second = collect(cfg, b)
    assert (second["stored"], second["revised"], second["quarantined"]) == (0, 1, 0)
    third = collect(cfg, b)
    assert (third["stored"], third["revised"], third["quarantined"]) == (0, 0, 0)
    with open_store(cfg.db_path) as con:
        votes = dict(con.execute("SELECT i.payload, v.label FROM votes v JOIN items i USING (item_id)"
                                 " WHERE v.source_kind = 'human'").fetchall())
        n = con.execute("SELECT count(*), count(DISTINCT assignment_id) FROM votes WHERE source_kind = 'human'").fetchall()
    assert votes == {"good": "pos", "bad": "neg"} and n == [(2, 2)]


def test_a_deleted_annotation_retracts_its_vote_and_frees_the_task(project, ls_client, label_studio) -> None:
    """Deleted in Label Studio: collect withdraws the vote (recorded), and a new answer on the freed
    task, by another person, becomes a vote instead of a duplicate in quarantine."""
    import time

    from tasks.collect import collect
    from tasks.dispatch import dispatch
    from tasks.store import open_store
    from tests.conftest import seed_items

    cfg, b = project(labels=["pos", "neg"], overlap={"policy": "fixed", "initial": 1, "max": 1},
                     gold={"rate": 0.0, "min_per_annotator": 0})
    seed_items(cfg, ["good", "bad"])
    assert dispatch(cfg, b)["pushed"] == 2
    listed = ls_client.get("/api/tasks", params={"project": b._project(), "fields": "all"}).json()["tasks"]
    task = {t["data"]["text"]: t["id"] for t in listed}
    ann = {text: _annotate(ls_client, tid, "pos") for text, tid in task.items()}
    assert collect(cfg, b)["stored"] == 2

    time.sleep(1.1)
    assert ls_client.delete(f"/api/annotations/{ann['bad']}").status_code == 204
    email = f"second-{uuid.uuid4().hex[:6]}@annoflow.test"
    with make_client(label_studio[0], invite_annotator(label_studio[0], label_studio[1], email),
                     auth_scheme="Token", retries=1) as second:
        _annotate(second, task["bad"], "neg")
    r = collect(cfg, b)
    assert (r["retracted"], r["stored"], r["quarantined"]) == (1, 1, 0), r

    with open_store(cfg.db_path) as con:
        votes = con.execute("SELECT i.payload, v.source_id, v.label FROM votes v JOIN items i USING (item_id)"
                            " WHERE v.source_kind = 'human' ORDER BY 1").fetchall()
        recorded = con.execute("SELECT reason, field, raw FROM quarantine WHERE stage = 'collect'").fetchall()
        state = dict(con.execute("SELECT i.payload, a.state FROM assignments a JOIN items i USING (item_id)").fetchall())
    assert votes == [("bad", f"human:ls:{email}", "neg"), ("good", "human:ls:admin@annoflow.test", "pos")]
    [(reason, field, raw)] = recorded
    assert reason == "retracted" and field == "judgment_id" and f'"ls:{ann["bad"]}"' in raw
    assert state == {"good": "done", "bad": "done"}
    again = collect(cfg, b)
    assert (again["retracted"], again["stored"], again["quarantined"]) == (0, 0, 0)

    # deleted with nothing in its place: the vote goes and the assignment is open again
    time.sleep(1.1)
    assert ls_client.delete(f"/api/annotations/{ann['good']}").status_code == 204
    assert collect(cfg, b)["retracted"] == 1
    with open_store(cfg.db_path) as con:
        left = con.execute("SELECT count(*) FROM votes WHERE source_kind = 'human'").fetchall()[0][0]
        state = dict(con.execute("SELECT i.payload, a.state FROM assignments a JOIN items i USING (item_id)").fetchall())
        n_recorded = con.execute("SELECT count(*) FROM quarantine WHERE reason = 'retracted'").fetchall()[0][0]
    assert left == 1 and state == {"good": "pushed", "bad": "done"} and n_recorded == 2


def test_annotators_add_gives_the_sign_up_link_that_works(project, label_studio) -> None:
    """`annoflow annotators add` on a Label Studio project prints the organization's invite link."""
    from typer.testing import CliRunner

    from annoflow_cli.main import app

    cfg, b = project(labels=["pos", "neg"])
    out = CliRunner().invoke(app, ["annotators", "add", "carol", "--config", str(cfg.root), "--json"])
    assert out.exit_code == 0, out.output
    link = json.loads(out.stdout.strip().splitlines()[-1])["invite_url"]
    assert link.startswith(f"{label_studio[0]}/user/signup/?token=")
    assert link == b.invite_url()
