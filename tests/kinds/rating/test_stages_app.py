"""Ratings through every stage with the built-in app: a text project rated on two criteria (1-5 with
anchors) ingested by the `annoflow` command, dispatched to a real app on 127.0.0.1, rated over the app's
HTTP API by three simulated raters (one careful, one lenient by a point, one careless), collected,
consolidated by the real DuckDB stage and exported; the ratings Parquet is read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from annoflow_cli.main import app as cli
from annotation_app.process import start_app
from tasks.http import make_client

pytestmark = pytest.mark.slow
TOKEN = "rating-admin-token"
CRITERIA = ("accuracy", "fluency")
N_ITEMS, N_GOLD = 24, 8


def _truth(k: int) -> dict[str, int]:
    return {"accuracy": 1 + (k * 3) % 5, "fluency": 1 + (k * 2 + 1) % 5}


def _project(root: Path, app_url: str) -> Path:
    root.mkdir()
    texts = [f"Answer number {k}: the model wrote sentence {k} about topic {k % 7}." for k in range(N_ITEMS)]
    (root / "items.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    (root / "gold.jsonl").write_text("".join(json.dumps({"text": texts[k], "label": json.dumps({"scores": _truth(k)})}) + "\n"
                                             for k in range(N_GOLD)), encoding="utf-8")
    (root / "annoflow.toml").write_text(f'''name = "rated-answers"
data_kind = "text"
task_kind = "rating"
labels = ["unused", "scale"]
instructions = "Rate each answer for accuracy and fluency."

[answer]
scale = [1, 5]
criteria = ["accuracy", "fluency"]
anchors = {{"1" = "unusable", "3" = "acceptable", "5" = "perfect"}}

[[sources]]
path = "items.jsonl"
format = "jsonl"

[overlap]
policy = "adaptive"
initial = 3
max = 4

[gold]
path = "gold.jsonl"
key_field = "text"
label_field = "label"
rate = 0.25
min_per_annotator = 2

[consensus]
target_confidence = 0.5

[queue]
url = "{app_url}"

[validation]
min_mean_confidence = 0.5

[export]
formats = ["parquet", "ratings"]
''', encoding="utf-8")
    return root


def _cli(project: Path, *args: str, code: int = 0) -> dict[str, Any]:
    out = CliRunner().invoke(cli, [*args, "--config", str(project), "--json"])
    assert out.exit_code == code, out.output
    return json.loads(out.stdout.strip().splitlines()[-1]) if code == 0 else {"output": out.output}


def _annotator(admin: httpx.Client, url: str, aid: str) -> httpx.Client:
    token = admin.post("/api/annotators", json={"annotator_id": aid, "roles": []}).json()["token"]
    return make_client(url, token, retries=1, backoff=0.05)


def _answer_all(client: httpx.Client, pid: str, rate) -> int:
    n = 0
    while (task := client.post(f"/api/annotate/{pid}/next").json()["task"]) is not None:
        k = int(task["payload"].split("number ")[1].split(":")[0])
        r = client.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                        json={"client_id": f"c-{task['lease_id']}", "answer": {"scores": rate(k)}})
        assert r.status_code == 200, r.text
        n += 1
    return n


def test_rating_through_every_stage_with_the_app(prefect_harness, tmp_path: Path, monkeypatch) -> None:
    app = start_app(tmp_path / "app.sqlite", TOKEN, media_roots=[tmp_path], log=tmp_path / "app.log")
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", TOKEN)
    clients: list[httpx.Client] = []
    try:
        project = _project(tmp_path / "rated", app.url)
        db = project / ".annoflow" / "annoflow.duckdb"
        ingest = _cli(project, "ingest")
        assert ingest["sources"][0]["inserted"] == N_ITEMS and ingest["gold"]["gold_stored"] == N_GOLD, ingest
        pre = _cli(project, "prelabel")["routing"]  # no machine raters: every item goes to people
        assert (pre["auto"], pre["human"], pre["gold"]) == (0, N_ITEMS - N_GOLD, N_GOLD), pre
        with make_client(app.url, TOKEN, retries=1) as admin:
            crowd = {aid: _annotator(admin, app.url, aid) for aid in ("careful", "lenient", "careless")}
            clients += crowd.values()
            sent = _cli(project, "dispatch")
            assert sent["created_by_kind"]["label"] == 3 * (N_ITEMS - N_GOLD), sent
            pid = admin.get("/api/projects").json()[0]["project_id"]
            assert admin.get(f"/api/projects/{pid}").json()["options"]["criteria"] == list(CRITERIA)

        # A score outside the scale and a missing criterion: refused by the app naming the field.
        c = crowd["careless"]
        task = c.post(f"/api/annotate/{pid}/next").json()["task"]
        for answer, field in (({"scores": {"accuracy": 6, "fluency": 3}}, "answer.scores.accuracy"),
                              ({"scores": {"accuracy": 2}}, "answer.scores.fluency")):
            r = httpx.post(f"{app.url}/api/annotate/leases/{task['lease_id']}/submit", headers=c.headers,
                           json={"client_id": "bad", "answer": answer}, timeout=30)
            assert r.status_code == 422 and field in r.json()["message"], r.text

        rates = {"careful": _truth,
                 "lenient": lambda k: {c: min(5, v + 1) for c, v in _truth(k).items()},
                 "careless": lambda k: {c: 1 + (v + 2 * (k % 3)) % 5 for c, v in _truth(k).items()}}
        answered = {aid: _answer_all(cl, pid, rates[aid]) for aid, cl in crowd.items()}
        got = _cli(project, "collect")
        assert got["stored"] == sum(answered.values()) and got["quarantined"] == 0, got
        _cli(project, "consensus")
        with duckdb.connect(str(db), read_only=True) as con:
            labels = {p: (json.loads(a), conf, m, d) for p, a, conf, m, d in con.execute(
                "SELECT i.payload, l.answer, l.confidence, l.method, l.decision FROM labels l JOIN items i USING (item_id)").fetchall()}
            stats = {s.removeprefix("human:"): (ga, la, json.loads(cf) if cf else None) for s, ga, la, cf in con.execute(
                "SELECT source_id, gold_accuracy, learned_accuracy, confusion FROM source_stats").fetchall()}
            agreement = json.loads(con.execute("SELECT agreement FROM consensus_state").fetchone()[0])
        assert len(labels) == N_ITEMS
        right = 0
        for payload, (answer, conf, method, decision) in labels.items():
            k = int(payload.split("number ")[1].split(":")[0])
            if k < N_GOLD:
                assert method == "gold" and answer["scores"] == _truth(k) and conf == 1.0
                continue
            assert method == "rating_model" and set(answer["scores"]) == set(CRITERIA), answer
            for c in CRITERIA:
                e = answer["estimates"][c]
                assert 1 <= e["low"] <= e["mean"] <= e["high"] <= 5 and 0 <= e["confidence"] <= 1, e
            assert 0 <= conf <= 1
            right += answer["scores"] == _truth(k)
        # The lenient rater's extra point is learned as bias; the careless one weighs little.
        assert right >= 0.75 * (N_ITEMS - N_GOLD), right
        assert stats["lenient"][2]["learned"]["bias"] > 0.3 > abs(stats["careful"][2]["learned"]["bias"]), stats
        assert stats["careless"][1] < stats["careful"][1], stats
        assert stats["careful"][2]["gold"]["mae"] == 0 and stats["careless"][2]["gold"]["mae"] > 0.5, stats
        assert agreement["alpha_ordinal"] is not None and agreement["alpha_interval"] is not None
        assert {r["label"] for r in agreement["per_label"]} == set(CRITERIA)
        assert agreement["pairs"]["n_pairs"] == 3, agreement["pairs"]

        # Adaptive overlap: items whose consensus is unsure get one more rating each, the others none.
        unsure = [p for p, (_, conf, m, d) in labels.items() if d == "needs_more"]
        assert all(labels[p][1] < 0.5 for p in unsure)
        again = _cli(project, "dispatch")
        assert again["created_by_kind"].get("label", 0) == len(unsure), (again, len(unsure))

        # Export: resolved items pass the gate; the ratings Parquet holds one row per item and criterion.
        out = _cli(project, "export")
        version = Path(out["path"]) if "path" in out else Path(out["version_dir"])
        ratings = pq.read_table(version / "formats" / "ratings.parquet").to_pylist()
        assert {r["criterion"] for r in ratings} == set(CRITERIA)
        assert all(r["low"] is None or r["low"] <= r["mean"] <= r["high"] for r in ratings)
        assert len({r["item_id"] for r in ratings}) * 2 == len(ratings)
    finally:
        for cl in clients:
            cl.close()
        app.stop()
