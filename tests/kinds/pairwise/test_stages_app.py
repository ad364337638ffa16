"""Pairwise through every stage with the built-in app: a JSONL of comparisons ingested by the `annoflow`
command (a row with identical candidates and one with a missing candidate refused, naming the row), dispatched
to a real app on 127.0.0.1, judged over the app's HTTP API by three simulated annotators (one who always picks
the candidate shown first), collected, consolidated by the real DuckDB stage and exported: the Parquet, the
preference JSONL and the system leaderboard are read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

from annoflow_cli.main import app as cli
from flows.common import artifact_key
from schemas.config import load_config
from annotation_app.process import start_app
from tasks.http import make_client

pytestmark = pytest.mark.slow
TOKEN = "pairwise-admin-token"
SYSTEMS = {"strong": 0, "middle": 1, "weak": 2}  # lower = better: the truth the careful judges follow


def _cli(project: Path, *args: str) -> dict[str, Any]:
    out = CliRunner().invoke(cli, [*args, "--config", str(project), "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout.strip().splitlines()[-1])


def _project(root: Path, url: str) -> Path:
    rows = []
    names = list(SYSTEMS)
    for k in range(18):
        sa, sb = names[k % 3], names[(k + 1 + k // 3 % 2) % 3]
        if sa == sb:
            sb = names[(k + 2) % 3]
        rows.append({"id": f"q{k}", "prompt": f"Question {k}: explain **topic {k % 6}**.", "a": f"Answer by {sa} to {k}\n\n- point one",
                     "b": f"Answer by {sb} to {k}", "system_a": sa, "system_b": sb})
    rows.append({"prompt": "Same twice", "a": "identical", "b": "identical", "system_a": "strong", "system_b": "weak"})
    rows.append({"prompt": "Only one", "a": "lonely", "system_a": "strong", "system_b": "weak"})
    (root / "data").mkdir(parents=True)
    (root / "data" / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # gold for three comparisons, keyed by the row's id (kept in the item's metadata), in the item's own order
    (root / "gold.jsonl").write_text("".join(json.dumps({"id": r["id"], "answer": {"choice": _winner(r).upper()}}) + "\n"
                                             for r in rows[:3]))
    (root / "annoflow.toml").write_text(f"""
name = "pairwise-stages"
data_kind = "text"
task_kind = "pairwise"
labels = ["a", "b"]

[[sources]]
path = "data/pairs.jsonl"
text_field = "prompt"

[overlap]
policy = "fixed"
initial = 3

[gold]
path = "gold.jsonl"
key_field = "id"
label_field = "answer"
rate = 0.1
min_per_annotator = 1

[answer]
allow_ties = false

[export]
formats = ["parquet", "preference_jsonl", "leaderboard"]

[queue]
url = "{url}"
""")
    return root


def _winner(payload: dict) -> str:
    """The candidate (a or b) of the better system."""
    return "a" if SYSTEMS[payload["system_a"]] < SYSTEMS[payload["system_b"]] else "b"


def _answer_all(client: httpx.Client, pid: str, careful: bool) -> int:
    n = 0
    while (task := client.post(f"/api/annotate/{pid}/next").json()["task"]) is not None:
        item = json.loads(task["payload"])
        swapped = n % 2 == 1  # the order this assignment shows, as the page draws it
        if careful:
            first = "b" if swapped else "a"
            choice = "A" if _winner(item) == first else "B"
        else:
            choice = "A"  # always the candidate shown first
        r = client.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                        json={"client_id": f"c-{task['lease_id']}", "answer": {"choice": choice, "swapped": swapped}})
        assert r.status_code == 200, r.text
        n += 1
    return n


def test_pairwise_through_every_stage_with_the_app(prefect_harness, tmp_path: Path, monkeypatch) -> None:
    app = start_app(tmp_path / "app.sqlite", TOKEN, media_roots=[], log=tmp_path / "app.log")
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", TOKEN)
    clients: dict[str, httpx.Client] = {}
    try:
        project = _project(tmp_path / "proj", app.url)
        ingest = _cli(project, "ingest")
        src = ingest["sources"][0]
        assert src["inserted"] == 18 and src["quarantined"] == 2 and ingest["gold"]["gold_stored"] == 3, ingest
        db = project / ".annoflow" / "annoflow.duckdb"
        with duckdb.connect(str(db), read_only=True) as con:
            refused = con.execute("SELECT source_row, field, reason FROM quarantine ORDER BY source_row").fetchall()
        assert [r[1:] for r in refused] == [("a,b", "identical_candidates"), ("b", "candidate_missing")], refused
        _cli(project, "prelabel")
        with make_client(app.url, TOKEN, retries=1) as admin:
            for aid in ("careful-1", "careful-2", "first-slot"):
                token = admin.post("/api/annotators", json={"annotator_id": aid, "roles": []}).json()["token"]
                clients[aid] = make_client(app.url, token, retries=1, backoff=0.05)
            sent = _cli(project, "dispatch")
            assert sent["pushed"] == sent["created"] >= 45, sent
            pid = admin.get("/api/projects").json()[0]["project_id"]
        task = clients["careful-1"].post(f"/api/annotate/{pid}/next").json()["task"]
        r = httpx.post(f"{app.url}/api/annotate/leases/{task['lease_id']}/submit", headers=clients["careful-1"].headers,
                       json={"client_id": "bad", "answer": {"choice": "tie", "swapped": False}}, timeout=30)
        assert r.status_code == 422 and "ties" in r.json()["message"], r.text
        answered = {aid: _answer_all(c, pid, aid != "first-slot") for aid, c in clients.items()}
        assert sum(answered.values()) == sent["pushed"], answered
        got = _cli(project, "collect")
        assert got["stored"] == sent["pushed"] and got["quarantined"] == 0, got
        _cli(project, "consensus")
        with duckdb.connect(str(db), read_only=True) as con:
            labels = con.execute("SELECT i.payload, l.answer, l.method, l.confidence FROM labels l JOIN items i USING (item_id)").fetchall()
            stats = {s: json.loads(c) for s, c in con.execute("SELECT source_id, confusion FROM source_stats").fetchall()}
            agreement = json.loads(con.execute("SELECT agreement FROM consensus_state").fetchone()[0])
        assert len(labels) == 18
        gold_prompts = {f"Question {k}:" for k in range(3)}
        for payload, answer, method, conf in labels:
            a = json.loads(answer)
            is_gold = json.loads(payload)["prompt"].split(" explain")[0] in gold_prompts
            assert method == ("gold" if is_gold else "preference_em") and a["swapped"] is False, (payload, method)
            assert ("a" if a["choice"] == "A" else "b") == _winner(json.loads(payload)), (payload, a)
        assert stats["human:first-slot"]["learned"]["position_bias"] > 0.25
        assert stats["human:careful-1"]["learned"]["position_bias"] < 0.1
        assert [r["system"] for r in agreement["ranking"]] == ["strong", "middle", "weak"]
        out = _cli(project, "export")
        version = Path(out["path"]) if "path" in out else None
        assert version is not None and version.exists(), out
        rows = pq.read_table(sorted(version.glob("**/*.parquet"))[0]).to_pylist()
        assert len(rows) == 18 and {r["preference"]["preferred"] for r in rows} <= {"a", "b"}
        lines = [json.loads(x) for x in (version / "formats" / "preference" / "preferences.jsonl").read_text().splitlines()]
        assert len(lines) == 18 and all(x["system_chosen"] != "weak" and x["chosen"] != x["rejected"] for x in lines)
        board = json.loads((version / "formats" / "leaderboard" / "leaderboard.json").read_text())["systems"]
        assert [r["system"] for r in board] == ["strong", "middle", "weak"]
        assert all(r["low"] <= r["strength"] <= r["high"] for r in board)
        with get_client(sync_client=True) as client:  # the leaderboard is also a Prefect artifact of the export run
            art = client.read_latest_artifacts(artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[artifact_key(load_config(project), "leaderboard")])))
        assert len(art) == 1 and art[0].type == "table"
        shown = json.loads(art[0].data) if isinstance(art[0].data, str) else art[0].data
        assert [r["system"] for r in shown] == ["strong", "middle", "weak"]
    finally:
        for c in clients.values():
            c.close()
        app.stop()
