"""Boxes through every stage with the built-in app: the shapes-boxes example (cut down) ingested by the
`annoflow` command, pre-labelled, dispatched to a real app on 127.0.0.1, answered over the app's HTTP
API by three simulated annotators (one sloppy) and an expert, collected, consolidated by the real
DuckDB stage and exported as COCO, YOLO and Parquet that are read back."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from annoflow_cli.main import app as cli
from annotation_app.process import start_app
from tasks.errors import RequestRefusedError
from tasks.http import make_client
from tests.kinds.boxes.stages_project import (
    copy_example,
    digests,
    read_truth,
    sloppy,
    steady,
)

pytestmark = pytest.mark.slow
TOKEN = "stages-admin-token"
OTHER = {"car": "sign", "person": "car", "sign": "person"}


def _cli(project: Path, *args: str) -> dict[str, Any]:
    out = CliRunner().invoke(cli, [*args, "--config", str(project), "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout.strip().splitlines()[-1])


def _annotator(admin: httpx.Client, url: str, aid: str, roles: list[str]) -> httpx.Client:
    token = admin.post("/api/annotators", json={"annotator_id": aid, "roles": roles}).json()["token"]
    return make_client(url, token, retries=1, backoff=0.05)


def _answer_all(client: httpx.Client, pid: str, by_digest: dict[str, str], draw) -> list[str]:
    """Lease and answer every task the app offers this annotator; returns the files answered."""
    done = []
    while (task := client.post(f"/api/annotate/{pid}/next").json()["task"]) is not None:
        media = client.get(task["media_url"]).content
        name = by_digest[hashlib.sha256(media).hexdigest()]
        with Image.open(io.BytesIO(media)) as im:
            size = im.size
        r = client.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                        json={"client_id": f"c-{task['lease_id']}", "answer": draw(name, size, task)})
        assert r.status_code == 200, r.text
        done.append(name)
    return done


def _iou(a: dict, b: dict) -> float:
    ix = max(0.0, min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]))
    iy = max(0.0, min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]))
    return ix * iy / (a["w"] * a["h"] + b["w"] * b["h"] - ix * iy)


def _same_objects(got: list[dict], want: list[dict], min_iou: float) -> bool:
    """Each true box has exactly one box of its label at IoU >= min_iou, and nothing else was drawn."""
    return len(got) == len(want) and all(
        sum(g["label"] == w["label"] and _iou(g, w) >= min_iou for g in got) == 1 for w in want)


def _state(db: Path) -> tuple[dict, dict, dict, dict]:
    with duckdb.connect(str(db), read_only=True) as con:
        labels = {Path(uri).name: dict(zip(("answer", "confidence", "method", "decision", "n_human", "sources"),
                                           (json.loads(a), c, m, d, n, s)))
                  for uri, a, c, m, d, n, s in con.execute(
                      "SELECT i.uri, l.answer, l.confidence, l.method, l.decision, l.n_human, l.sources "
                      "FROM labels l JOIN items i USING (item_id)").fetchall()}
        stats = {s.removeprefix("human:"): json.loads(c) for s, c in con.execute("SELECT source_id, confusion FROM source_stats").fetchall()}
        banned = {s.removeprefix("human:"): json.loads(e) for s, e in con.execute(
            "SELECT source_id, ban_evidence FROM sources WHERE banned").fetchall()}
        agreement = json.loads(con.execute("SELECT agreement FROM consensus_state").fetchone()[0])
    return labels, stats, banned, agreement


def test_boxes_through_every_stage_with_the_app(prefect_harness, tmp_path: Path, monkeypatch) -> None:
    project = copy_example(tmp_path / "shapes-boxes", n_gold=6, n_plain=8)
    toml = project / "annoflow.toml"
    # Three people per picture and no more: a picture they cannot settle goes straight to an expert.
    toml.write_text(toml.read_text(encoding="utf-8").replace("max = 5", "max = 3"), encoding="utf-8")
    truth, by_digest = read_truth(project), digests(project)
    gold_files = {json.loads(x)["file"] for x in (project / "gold" / "gold.jsonl").read_text().splitlines()}
    plain = set(truth) - gold_files
    contested = min(f for f in plain if truth[f])
    db = project / ".annoflow" / "annoflow.duckdb"

    def careful(name, size, task):
        return steady(truth[name])

    def second(name, size, task):
        boxes = steady(truth[name], shift=-0.5)
        if name == contested:  # b names every object otherwise: a disagreement the crowd cannot settle
            boxes = [{**b, "label": OTHER[b["label"]]} for b in boxes]
        return boxes

    def third(name, size, task):
        return [] if name == contested else sloppy(truth[name], size)

    app = start_app(tmp_path / "app.sqlite", TOKEN, media_roots=[project], log=tmp_path / "app.log")
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", TOKEN)
    clients: list[httpx.Client] = []
    try:
        with open(toml, "a", encoding="utf-8") as f:
            f.write(f'\n[queue]\nurl = "{app.url}"\n')
        ingest = _cli(project, "ingest")
        assert ingest["sources"][0]["inserted"] == len(truth) and ingest["gold"]["gold_stored"] == len(gold_files), ingest
        pre = _cli(project, "prelabel")["routing"]  # no model configured: every picture goes to people
        assert (pre["auto"], pre["human"], pre["gold"]) == (0, len(plain), len(gold_files)), pre
        with make_client(app.url, TOKEN, retries=1) as admin:
            # Annotators known before dispatch: each gets gold of their own (gold.min_per_annotator).
            crowd = {aid: _annotator(admin, app.url, aid, []) for aid in ("ann-a", "ann-b", "ann-sloppy")}
            expert = _annotator(admin, app.url, "ann-expert", ["expert"])
            clients += [*crowd.values(), expert]
            sent = _cli(project, "dispatch")
            assert sent["created_by_kind"]["label"] == 3 * len(plain) and sent["pushed"] == sent["created"], sent
            pid = admin.get("/api/projects").json()[0]["project_id"]

        # An unknown class, a NaN coordinate, no size: refused by the app naming the field, nothing stored.
        # (A box past the border is checked at collect, against the size ingest recorded: the app has no size.)
        c = crowd["ann-sloppy"]
        task = c.post(f"/api/annotate/{pid}/next").json()["task"]
        for box, field in (({"x": 1.0, "y": 1.0, "w": 5.0, "h": 5.0, "label": "truck"}, "label"),
                           ({"x": 1.0, "y": float("nan"), "w": 5.0, "h": 5.0, "label": "car"}, "y"),
                           ({"x": 1.0, "y": 1.0, "w": 0.0, "h": 5.0, "label": "car"}, "w")):
            # the answer as JSON text, which Python's reader takes NaN in (a JSON body cannot carry it)
            r = httpx.post(f"{app.url}/api/annotate/leases/{task['lease_id']}/submit", headers=c.headers,
                           json={"client_id": "bad", "answer": json.dumps([box])}, timeout=30)
            assert r.status_code == 422 and f"answer[0].{field}" in r.json()["message"], (box, r.text)
        # Round 1: the crowd answers everything it is offered (the sloppy one starting with the task it holds).
        draws = {"ann-a": careful, "ann-b": second, "ann-sloppy": third}
        answered = {aid: _answer_all(c, pid, by_digest, draws[aid]) for aid, c in crowd.items()}
        for aid, files in answered.items():  # every picture once, and the gold mix hidden among them
            assert len(files) == len(set(files)) and set(files) >= plain and len(set(files) & gold_files) >= 3, (aid, files)
        got = _cli(project, "collect")
        assert got["stored"] == sum(map(len, answered.values())) and got["quarantined"] == 0, got
        _cli(project, "consensus")
        labels, stats, banned, agreement = _state(db)
        assert set(labels) == set(truth)
        for f in gold_files:  # a gold picture's label is its gold answer
            assert labels[f]["method"] == "gold" and _same_objects(labels[f]["answer"], truth[f], 0.99), f
        for f in plain - {contested}:  # fused from the crowd: the true objects, each with its confidence
            lab = labels[f]
            assert lab["method"] == "box_dawid_skene" and lab["decision"] == "resolved", (f, lab)
            assert _same_objects(lab["answer"], truth[f], 0.9), (f, lab["answer"], truth[f])
            assert all(0.5 < b["confidence"] <= 1 and {"human:ann-a", "human:ann-b"} <= set(b["sources"])
                       for b in lab["answer"]), lab["answer"]
        assert labels[contested]["decision"] == "adjudicate", labels[contested]
        # Gold scoring per source: precision and recall at IoU >= 0.5 with intervals, localisation error.
        a, bad = stats["ann-a"]["gold"], stats["ann-sloppy"]["gold"]
        assert a["precision"]["value"] == a["recall"]["value"] == 1.0 and a["fp"] == a["fn"] == 0 < a["tp"]
        assert bad["precision"]["value"] < 0.5 and bad["recall"]["value"] < 0.5 and bad["loc_error"] > a["loc_error"]
        for m in ("precision", "recall"):
            assert bad[m]["low"] <= bad[m]["value"] <= bad[m]["high"] < a[m]["low"], (m, bad[m], a[m])
        assert stats["ann-sloppy"]["learned"]["weight"] < 0.5 * stats["ann-a"]["learned"]["weight"]
        # Agreement stored with the consensus state: the careful pair agree, the sloppy one does not.
        pairs = {(p["source_a"], p["source_b"]): p["f1"] for p in agreement["box_f1"]["lowest_pairs"]}
        assert pairs[("human:ann-a", "human:ann-b")] > 0.9 and pairs[("human:ann-a", "human:ann-sloppy")] < 0.5, pairs
        assert {r["label"] for r in agreement["box_f1"]["by_label"]} == {"car", "person", "sign"}
        assert banned == {}  # three gold pictures are not yet enough evidence to ban anyone

        # Round 2: the contested picture goes to the expert (who also gets gold of their own).
        _cli(project, "dispatch")
        judged = _answer_all(expert, pid, by_digest, careful)
        assert set(judged) - gold_files == {contested}, judged
        _cli(project, "collect")
        _cli(project, "consensus")
        labels, stats, banned, _ = _state(db)
        adj = labels[contested]
        assert (adj["method"], adj["decision"], adj["confidence"]) == ("adjudicated", "resolved", 1.0), adj
        assert _same_objects(adj["answer"], truth[contested], 0.9) and all(b["sources"] == ["adjudicator"] for b in adj["answer"])
        # The adjudication adds to the evidence: the sloppy annotator is banned on gold, and their votes stop counting.
        assert set(banned) == {"ann-sloppy"} and banned["ann-sloppy"]["high"] < 0.6, banned
        assert "learned" not in stats["ann-sloppy"]
        assert not any("human:ann-sloppy" in (lab["sources"] or []) for lab in labels.values())
        # Its pictures now hold two counting votes, fewer than the policy's three: they ask for one more.
        short = {f for f, lab in labels.items() if lab["decision"] == "needs_more"}
        assert short and short <= plain and all(labels[f]["n_human"] == 2 for f in short), labels

        # Round 3: the banned annotator is offered nothing more; the expert tops the short pictures up.
        again = _cli(project, "dispatch")
        assert again["banned_excluded"] >= 1, again
        with pytest.raises(RequestRefusedError, match="ann-sloppy' was removed from project"):
            crowd["ann-sloppy"].post(f"/api/annotate/{pid}/next")
        assert set(_answer_all(expert, pid, by_digest, careful)) == short
        _cli(project, "collect")
        _cli(project, "consensus")
        labels, _, banned, _ = _state(db)
        assert {lab["decision"] for lab in labels.values()} == {"resolved"} and set(banned) == {"ann-sloppy"}

        _check_export(_cli(project, "export"), labels, truth)
    finally:
        for c in clients:
            c.close()
        app.stop()


def _check_export(out: dict[str, Any], labels: dict[str, dict], truth: dict[str, list[dict]]) -> None:
    """The published version read back three ways, each agreeing with the labels table."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    assert out["status"] == "published", out
    root = Path(out["path"])
    rows = pq.read_table(root / "data").to_pylist()
    by_file = {Path(r["uri"]).name: r for r in rows}
    assert set(by_file) == set(labels) == set(truth)
    for f, r in by_file.items():
        assert [(b["x"], b["y"], b["w"], b["h"], b["label"]) for b in r["boxes"]] == [
            (b["x"], b["y"], b["w"], b["h"], b["label"]) for b in labels[f]["answer"]], f
    # COCO: pycocotools loads it, and the export scored as detections against the true boxes is near perfect.
    splits = sorted((root / "formats" / "coco").glob("instances_*.json"))
    assert splits
    n_boxes, dets, gt = 0, [], {"images": [], "annotations": [], "categories": []}
    for path in splits:
        coco = COCO(str(path))
        gt["categories"] = [{"id": i, "name": n} for i, n in enumerate(("car", "person", "sign"), 1)]
        cat = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
        for img in coco.loadImgs(coco.getImgIds()):
            f = Path(img["file_name"]).name
            iid = len(gt["images"]) + 1
            gt["images"].append({"id": iid, "width": img["width"], "height": img["height"]})
            for b in truth[f]:
                gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": iid, "iscrowd": 0,
                                          "category_id": ["car", "person", "sign"].index(b["label"]) + 1,
                                          "bbox": [b["x"], b["y"], b["w"], b["h"]], "area": b["w"] * b["h"]})
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
            n_boxes += len(anns)
            dets += [{"image_id": iid, "category_id": ["car", "person", "sign"].index(cat[a["category_id"]]) + 1,
                      "bbox": a["bbox"], "score": a["score"]} for a in anns]
    assert n_boxes == sum(len(lab["answer"]) for lab in labels.values())
    truth_coco = COCO()
    truth_coco.dataset = gt
    truth_coco.createIndex()
    ev = COCOeval(truth_coco, truth_coco.loadRes(dets), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[1] > 0.95, ev.stats  # mAP at IoU 0.5
    # YOLO: one text file per picture beside its image, class and centre/size as fractions, back to pixels.
    yolo = root / "formats" / "yolo"
    names = ["car", "person", "sign"]
    assert all(f'{i}: "{n}"' in (yolo / "data.yaml").read_text() for i, n in enumerate(names))
    for r in rows:
        txt = yolo / "labels" / r["split"] / f"{r['item_id']}.txt"
        assert (yolo / "images" / r["split"] / f"{r['item_id']}.png").is_file()
        lines = [ln.split() for ln in txt.read_text().splitlines()] if txt.exists() else []
        back = sorted((names[int(c)], (float(cx) - float(w) / 2) * r["width"], (float(cy) - float(h) / 2) * r["height"],
                       float(w) * r["width"], float(h) * r["height"]) for c, cx, cy, w, h in lines)
        want = sorted((b["label"], b["x"], b["y"], b["w"], b["h"]) for b in r["boxes"])
        assert len(back) == len(want) and all(g[0] == w[0] and max(abs(p - q) for p, q in zip(g[1:], w[1:])) < 0.01
                                              for g, w in zip(back, want)), (r["uri"], back, want)
