"""Formats beside the Parquet of record: JSONL, CSV, Label Studio import JSON (shape and, with a server, round trip)."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from schemas.config import ExportFormat, ProjectConfig
from tasks.export import versions as V
from tasks.export.stage import export
from tasks.export.writers import label_studio_config
from tests.export.conftest import seed_state

FORMATS = {"formats": ["parquet", "jsonl", "csv", "label_studio"]}


def check_label_studio_tasks(tasks: Any, labeling_config: str) -> None:
    """Assert `tasks` follows Label Studio's documented import format for a Choices config.

    https://labelstud.io/guide/tasks#Basic-Label-Studio-JSON-format and /guide/task_format: a JSON list
    of tasks; each task has a `data` dict holding the key every object tag reads (`value="$key"`),
    optional `annotations` (each with a `result` list of regions with from_name / to_name / type /
    value) and optional `meta`; `from_name` names a control tag, `to_name` the object tag it labels,
    and every chosen value is one of the control's <Choice> values.
    """
    view = ET.fromstring(labeling_config)
    objects = {el.get("name"): el.get("value", "").lstrip("$") for el in view if el.get("value", "").startswith("$")}
    controls = {el.get("name"): el for el in view.iter("Choices")}
    assert isinstance(tasks, list) and tasks
    allowed_keys = {"data", "annotations", "predictions", "meta", "id"}
    for t in tasks:
        assert isinstance(t, dict) and set(t) <= allowed_keys, set(t) - allowed_keys
        assert isinstance(t["data"], dict)
        for key in objects.values():
            assert isinstance(t["data"].get(key), str) and t["data"][key], f"data.{key} missing in {t}"
        for ann in t.get("annotations", []):
            assert isinstance(ann["result"], list) and ann["result"]
            for region in ann["result"]:
                assert region["type"] == "choices"
                ctrl = controls[region["from_name"]]
                assert region["to_name"] == ctrl.get("toName") and region["to_name"] in objects
                choices = region["value"]["choices"]
                assert isinstance(choices, list) and choices
                assert set(choices) <= {c.get("value") for c in ctrl.iter("Choice")}
                if ctrl.get("choice", "single") == "single":
                    assert len(choices) == 1
        if "meta" in t:
            assert isinstance(t["meta"], dict)
            json.dumps(t["meta"])


def test_jsonl_and_csv_match_parquet(make_project) -> None:
    cfg = make_project(export=FORMATS)
    seed_state(cfg, 25)
    r = export(cfg)
    rows = V.load_version(cfg).to_table().to_pylist()
    jsonl = [json.loads(line) for line in (Path(r.path) / "formats" / "labels.jsonl").read_text().splitlines()]
    assert jsonl == rows
    with open(Path(r.path) / "formats" / "labels.csv", newline="") as f:
        got = list(csv.DictReader(f))
    assert [g["item_id"] for g in got] == [x["item_id"] for x in rows]
    assert json.loads(got[0]["sources"]) == rows[0]["sources"] and float(got[0]["confidence"]) == rows[0]["confidence"]


@pytest.mark.parametrize("task_kind, labels", [("single_label", ["ham", "spam"]), ("multi_label", ["a", "b", "c"])])
def test_label_studio_json_shape(make_project, task_kind: str, labels: list[str]) -> None:
    cfg = make_project(export=FORMATS, task_kind=task_kind, labels=labels)
    multi = task_kind == "multi_label"
    seed_state(cfg, 12, label_of=(lambda i: ["c", "a"] if i % 2 else ["b"]) if multi else None)
    r = export(cfg)
    fmt = Path(r.path) / "formats"
    tasks = json.loads((fmt / "label_studio.json").read_text())
    config = (fmt / "label_studio_config.xml").read_text()
    assert config.strip() == label_studio_config(cfg)
    check_label_studio_tasks(tasks, config)
    assert len(tasks) == 12
    rows = {x["item_id"]: x for x in V.load_version(cfg).to_table().to_pylist()}
    for t in tasks:
        row = rows[t["data"]["item_id"]]
        assert t["data"]["text"] == row["payload"]
        chosen = t["annotations"][0]["result"][0]["value"]["choices"]
        assert chosen == (row["labels"] if multi else [row["label"]])
        assert t["meta"]["method"] == row["method"] and t["meta"]["sources"] == row["sources"]


def test_label_studio_import_round_trip_against_real_server(label_studio: tuple[str, str], project: ProjectConfig) -> None:
    """Import label_studio.json into a real Label Studio and read the same labels back."""
    from tasks.http import make_client
    from tests.labelstudio.server import import_tasks

    url, token = label_studio
    cfg = project.model_copy(update={"export": project.export.model_copy(update={"formats": [ExportFormat.parquet, ExportFormat.label_studio]})})
    r = export(cfg)
    tasks = json.loads((Path(r.path) / "formats" / "label_studio.json").read_text())
    imported = import_tasks(url, token, f"annoflow-export-{r.version}", label_studio_config(cfg), tasks)
    assert imported["task_count"] == len(tasks) and imported["annotation_count"] == len(tasks)
    with make_client(url, token, auth_scheme="Token", timeout=300) as client:
        back = client.get(f"/api/projects/{imported['project_id']}/export", params={"exportType": "JSON"}).json()
    got = {t["data"]["item_id"]: t["annotations"][0]["result"][0]["value"]["choices"] for t in back}
    want = {t["data"]["item_id"]: t["annotations"][0]["result"][0]["value"]["choices"] for t in tasks}
    assert got == want


def test_label_studio_comparisons_carry_the_queue_layout(make_project, tmp_path: Path) -> None:
    """A comparison's task data is what the Label Studio queue pushes: prompt, panes in the order drawn for the item,
    `swapped`; a media candidate under `queue.local_files_root` loads from Label Studio's local-files storage, a
    web address as it is; the exported side is where the preferred candidate is shown."""
    from tasks.kinds import kind_of

    root = tmp_path / "ls-files"
    (root / "shots").mkdir(parents=True)
    (root / "shots" / "one.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    cfg = make_project(task_kind="pairwise", export=FORMATS, queue={"local_files_root": str(root)})
    items = [{"prompt": "Which drawing?", "a": f"file://{root / 'shots' / 'one.png'}", "b": "https://example.org/two.png"},
             *({"prompt": f"q{i}", "a": f"first {i}", "b": f"second {i}"} for i in range(1, 8))]
    seed_state(cfg, len(items), unresolved=0, label_of=lambda i: None, payload_of=lambda i: json.dumps(items[i]),
               answer=lambda i: json.dumps({"choice": "B" if i % 2 else "A", "swapped": False}))
    r = export(cfg)
    tasks = json.loads((Path(r.path) / "formats" / "label_studio.json").read_text())
    rows = {x["item_id"]: x["preference"]["preferred"] for x in V.load_version(cfg).to_table().to_pylist()}
    assert len(tasks) == len(items) and {t["data"]["swapped"] for t in tasks} == {True, False}
    for t in tasks:
        d = t["data"]
        assert d["prompt"] and d["left"] and d["right"] and json.loads(d["text"])["prompt"] == d["prompt"]
        (res,) = t["annotations"][0]["result"]
        shown_left = "b" if d["swapped"] else "a"
        assert (res["value"]["selected"] == "left") == (rows[d["item_id"]] == shown_left)
        got = kind_of(cfg).queue.from_label_studio(t["annotations"][0]["result"], cfg, d["text"], data=d)
        assert ((got["choice"] == "A") != got["swapped"]) == (rows[d["item_id"]] == "a")  # read back: the same candidate
    media = next(t["data"] for t in tasks if t["data"]["prompt"] == "Which drawing?")
    panes = media["left"] + media["right"]
    assert 'src="/data/local-files/?d=shots/one.png"' in panes and 'src="https://example.org/two.png"' in panes
