"""Boxes through every stage with a real Label Studio 1.23.2: the shapes-boxes example (cut down)
ingested by the `annoflow` command, a detector's COCO predictions imported as pre-labels, dispatched
to Label Studio as `<RectangleLabels>` tasks with the predictions shown, answered through Label
Studio's API by two people (one accepts the prediction as it stands, one draws from scratch),
collected back as boxes in pixels and consolidated by the real DuckDB stage."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from annoflow_cli.main import app as cli
from tasks.http import make_client
from tests.kinds.boxes.stages_project import copy_example, digests, read_truth
from tests.labelstudio.server import invite_annotator

pytestmark = pytest.mark.slow
CATEGORY = {"car": 1, "person": 2, "sign": 3}
SHIFT = 2.0  # the detector's boxes sit this many pixels right of the true ones


def _cli(project: Path, *args: str) -> dict[str, Any]:
    out = CliRunner().invoke(cli, [*args, "--config", str(project), "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout.strip().splitlines()[-1])


def _write_predictions(project: Path, truth: dict[str, list[dict]]) -> None:
    names = sorted(truth)
    (project / "preds").mkdir()
    (project / "preds" / "images.json").write_text(json.dumps({"images": [
        {"id": k + 1, "file_name": f"data/images/{n}"} for k, n in enumerate(names)],
        "categories": [{"id": i, "name": n} for n, i in CATEGORY.items()]}))
    (project / "preds" / "results.json").write_text(json.dumps([
        {"image_id": k + 1, "bbox": [b["x"] + SHIFT, b["y"], b["w"], b["h"]], "score": 0.8, "category_id": CATEGORY[b["label"]]}
        for k, n in enumerate(names) for b in truth[n]]))


def _rect(b: dict, width: int, height: int) -> dict:
    """A rectangle as Label Studio's editor saves it: percentages of the image, and the image's size."""
    return {"id": uuid.uuid4().hex[:10], "from_name": "label", "to_name": "image", "type": "rectanglelabels",
            "original_width": width, "original_height": height, "image_rotation": 0,
            "value": {"x": b["x"] / width * 100, "y": b["y"] / height * 100, "width": b["w"] / width * 100,
                      "height": b["h"] / height * 100, "rotation": 0, "rectanglelabels": [b["label"]]}}


def _near(got: list[dict], want: list[dict], tol: float) -> bool:
    key = lambda b: (b["label"], b["x"], b["y"])
    return len(got) == len(want) and all(g["label"] == w["label"] and all(abs(g[k] - w[k]) <= tol for k in "xywh")
                                         for g, w in zip(sorted(got, key=key), sorted(want, key=key)))


def test_boxes_through_every_stage_with_label_studio(prefect_harness, label_studio, tmp_path: Path, monkeypatch) -> None:
    from PIL import Image

    url, token = label_studio
    project = copy_example(tmp_path / "shapes-boxes", n_gold=1, n_plain=5)
    everything, by_digest = read_truth(project), digests(project)
    [gold] = [json.loads(x)["file"] for x in (project / "gold" / "gold.jsonl").read_text().splitlines()]
    truth = {f: boxes for f, boxes in everything.items() if f != gold}  # the pictures people answer
    _write_predictions(project, everything)
    toml = project / "annoflow.toml"
    text = toml.read_text(encoding="utf-8").replace('name = "shapes-boxes"', f'name = "ls-stages-{uuid.uuid4().hex[:8]}"')
    # Two people per picture, no gold mix: the stage is what is tested here, not the gold schedule.
    text = text.replace("policy = \"adaptive\"\ninitial = 3\nmax = 5", "policy = \"fixed\"\ninitial = 2\nmax = 2")
    text = text.replace("rate = 0.1\nmin_per_annotator = 3", "rate = 0.0\nmin_per_annotator = 0")
    text += f'''
[queue]
backend = "label_studio"
url = "{url}"
show_prelabels = true

[[prelabel.models]]
name = "detector"
kind = "predictions"
path = "preds/results.json"
images = "preds/images.json"
version = "2026-01"
'''
    toml.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)

    assert _cli(project, "ingest")["sources"][0]["inserted"] == len(everything)
    pre = _cli(project, "prelabel")
    [model] = pre["models"]
    assert (model["inserted"], model["quarantined"]) == (len(everything), 0), model
    assert _cli(project, "dispatch")["pushed"] == 2 * len(truth)

    email = f"drawer-{uuid.uuid4().hex[:6]}@annoflow.test"
    with make_client(url, token, auth_scheme="Token", retries=1) as admin, \
            make_client(url, invite_annotator(url, token, email), auth_scheme="Token", retries=1) as drawer:
        pid = next(p["id"] for p in admin.get("/api/projects", params={"page_size": 1000}).json()["results"]
                   if p["title"].startswith(text.split('"')[1]))
        listed = admin.get("/api/tasks", params={"project": pid, "fields": "all", "page_size": 1000}).json()["tasks"]
        assert len(listed) == 2 * len(truth)
        per_file: dict[str, list[dict]] = {}
        for t in listed:
            full = admin.get(f"/api/tasks/{t['id']}").json()
            raw = base64.b64decode(full["data"]["image"].split(",", 1)[1])
            per_file.setdefault(by_digest[hashlib.sha256(raw).hexdigest()], []).append(full)
        assert sorted(per_file) == sorted(truth) and all(len(v) == 2 for v in per_file.values())
        for name, (first, second) in per_file.items():
            with Image.open(project / "data" / "images" / name) as im:
                w, h = im.size
            # The detector's boxes arrive as predictions in percent of the image ("no objects" suggests nothing).
            preds = [p["result"] for p in first["predictions"]]
            assert len(preds) == (1 if truth[name] else 0), (name, first["predictions"])
            pred = preds[0] if preds else []
            assert len(pred) == len(truth[name])
            assert all(r["original_width"] == w and r["type"] == "rectanglelabels" for r in pred)
            # The admin accepts the prediction as it stands; the invited person draws the true boxes.
            r = admin.post(f"/api/tasks/{first['id']}/annotations", json={"result": pred, "lead_time": 3.0})
            assert r.status_code == 201, r.text
            r = drawer.post(f"/api/tasks/{second['id']}/annotations",
                            json={"result": [_rect(b, w, h) for b in truth[name]], "lead_time": 9.0})
            assert r.status_code == 201, r.text

    got = _cli(project, "collect")
    assert (got["stored"], got["quarantined"]) == (2 * len(truth), 0), got
    db = project / ".annoflow" / "annoflow.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        votes = con.execute("SELECT json_extract_string(i.metadata, '$.file'), v.source_id, v.answer::VARCHAR "
                            "FROM votes v JOIN items i USING (item_id) WHERE v.source_kind = 'human'").fetchall()
    sources = {s for _, s, _ in votes}
    assert sources == {"human:ls:admin@annoflow.test", f"human:ls:{email}"}, sources
    for f, s, answer in votes:  # pulled back in pixels of the stored image
        want = [{**b, "x": b["x"] + SHIFT} for b in truth[f]] if s.endswith("admin@annoflow.test") else truth[f]
        assert _near(json.loads(answer), want, 0.01), (f, s, answer)

    report = _cli(project, "consensus")
    assert report["decisions"] == {"resolved": len(everything)}, report
    with duckdb.connect(str(db), read_only=True) as con:
        labels = con.execute("SELECT json_extract_string(i.metadata, '$.file'), l.answer::VARCHAR, l.method, l.n_human "
                             "FROM labels l JOIN items i USING (item_id)").fetchall()
    assert {f for f, *_ in labels} == set(everything)
    for f, answer, method, n_human in labels:
        if f == gold:
            assert method == "gold" and _near(json.loads(answer), everything[f], 0.0)
            continue
        boxes = json.loads(answer)
        assert method == "box_dawid_skene" and n_human == 2
        # Fused from two people and the detector: between the true box and the detector's shifted one.
        assert _near(boxes, truth[f], SHIFT), (f, boxes, truth[f])
        assert all(0.5 < b["confidence"] <= 1 and len(b["sources"]) >= 2 for b in boxes), boxes
