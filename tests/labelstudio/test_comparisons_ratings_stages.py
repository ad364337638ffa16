"""Comparisons and ratings through every stage with a real Label Studio 1.23.2: each project ingested by the
`annoflow` command, dispatched to Label Studio (`Pairwise`, one `Rating` per criterion), answered through Label
Studio's API by three people (comparisons: two careful, one who always picks the left pane; ratings: a
careful one, one lenient on every other item, a careless one), collected,
consolidated by the real DuckDB stage and exported; the files of the version are read back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from annoflow_cli.main import app as cli
from tasks.http import make_client
from tests.labelstudio.server import invite_annotator

pytestmark = pytest.mark.slow
SYSTEMS = {"strong": 0, "middle": 1, "weak": 2}  # lower is better: the truth careful people follow
CRITERIA = ("accuracy", "fluency")


def _cli(project: Path, *args: str) -> dict[str, Any]:
    out = CliRunner().invoke(cli, [*args, "--config", str(project), "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout.strip().splitlines()[-1])


def _people(url: str, token: str) -> dict[str, httpx.Client]:
    """The admin and two invited people, each with their own token (collect names them by e-mail)."""
    people = {"admin": make_client(url, token, auth_scheme="Token", retries=1)}
    for who in ("second", "third"):
        email = f"{who}-{uuid.uuid4().hex[:6]}@annoflow.test"
        people[who] = make_client(url, invite_annotator(url, token, email), auth_scheme="Token", retries=1)
    return people


def _tasks(admin: httpx.Client, title: str) -> list[dict]:
    pid = next(p["id"] for p in admin.get("/api/projects", params={"page_size": 1000}).json()["results"]
               if p["title"].startswith(title))
    listed = admin.get("/api/tasks", params={"project": pid, "fields": "all", "page_size": 1000}).json()["tasks"]
    return [admin.get(f"/api/tasks/{t['id']}").json() for t in listed]


def _spread(tasks: list[dict], key) -> dict[Any, list[dict]]:
    """The tasks of each item (three copies each: one per person)."""
    per: dict[Any, list[dict]] = {}
    for t in tasks:
        per.setdefault(key(t), []).append(t)
    return per


def _post(client: httpx.Client, task: dict, result: list[dict]) -> None:
    r = client.post(f"/api/tasks/{task['id']}/annotations", json={"result": result, "lead_time": 2.0})
    assert r.status_code == 201, r.text


# --- comparisons -----------------------------------------------------------------------------------------

def _pairs() -> list[dict]:
    names = list(SYSTEMS)
    rows = []
    for k in range(12):
        sa, sb = names[k % 3], names[(k + 1) % 3]
        rows.append({"id": f"q{k}", "prompt": f"Question {k}", "a": f"Answer by {sa} to question {k}",
                     "b": f"Answer by {sb} to question {k}", "system_a": sa, "system_b": sb})
    return rows


def _better_text(row: dict) -> str:
    return row["a"] if SYSTEMS[row["system_a"]] < SYSTEMS[row["system_b"]] else row["b"]


def _left(task: dict) -> str:
    """The candidate Label Studio shows on the left: each task draws its order and keeps it as `swapped`."""
    return task["data"]["b"] if task["data"]["swapped"] else task["data"]["a"]


def _pick(side: str) -> list[dict]:
    return [{"id": uuid.uuid4().hex[:10], "from_name": "pairwise", "to_name": "a,b", "type": "pairwise",
             "value": {"selected": side}}]


def test_comparisons_through_every_stage_with_label_studio(prefect_harness, label_studio, tmp_path: Path,
                                                           monkeypatch) -> None:
    url, token = label_studio
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)
    title = f"ls-pairs-{uuid.uuid4().hex[:8]}"
    rows = _pairs()
    project = tmp_path / "pairs"
    (project / "data").mkdir(parents=True)
    (project / "data" / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (project / "annoflow.toml").write_text(f"""
name = "{title}"
data_kind = "text"
task_kind = "pairwise"
labels = ["a", "b"]

[[sources]]
path = "data/pairs.jsonl"
text_field = "prompt"

[overlap]
policy = "fixed"
initial = 3
max = 3

[answer]
allow_ties = false

[export]
formats = ["parquet", "preference_jsonl", "leaderboard"]

[queue]
backend = "label_studio"
url = "{url}"
""")
    by_prompt = {r["prompt"]: r for r in rows}
    assert _cli(project, "ingest")["sources"][0]["inserted"] == len(rows)
    _cli(project, "prelabel")
    assert _cli(project, "dispatch")["pushed"] == 3 * len(rows)

    people = _people(url, token)
    try:
        per_item = _spread(_tasks(people["admin"], title), lambda t: t["data"]["prompt"])
        assert sorted(per_item) == sorted(by_prompt) and all(len(v) == 3 for v in per_item.values())
        for prompt, (t1, t2, t3) in per_item.items():
            better = _better_text(by_prompt[prompt])
            # Whatever order Label Studio shows, two careful people pick the better text; the second person always
            # picks the left pane, which only a drawn order can tell from judgment.
            _post(people["admin"], t1, _pick("left" if _left(t1) == better else "right"))
            _post(people["second"], t2, _pick("left"))
            _post(people["third"], t3, _pick("left" if _left(t3) == better else "right"))
    finally:
        for c in people.values():
            c.close()

    got = _cli(project, "collect")
    assert (got["stored"], got["quarantined"]) == (3 * len(rows), 0), got
    report = _cli(project, "consensus")
    assert sum(report["decisions"].values()) == len(rows), report
    db = project / ".annoflow" / "annoflow.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        labels = con.execute("SELECT i.payload, l.answer::VARCHAR, l.confidence FROM labels l JOIN items i USING (item_id)").fetchall()
        bias = {s: json.loads(cf)["learned"]["position_bias"] for s, cf in con.execute(
            "SELECT source_id, confusion FROM source_stats WHERE source_id LIKE 'human:%'").fetchall()}
    # The left-picker is measured as position-biased (the drawn order is read back per task), the others not.
    assert len(bias) == 3 and max(bias, key=bias.get).startswith("human:ls:second-"), bias
    assert max(bias.values()) > 0.25 and bias["human:ls:admin@annoflow.test"] < 0.1, bias
    right = 0
    for payload, answer, conf in labels:
        row, ans = json.loads(payload), json.loads(answer)
        chosen = row["a"] if ans["choice"] == "A" else row["b"]
        right += chosen == _better_text(by_prompt[row["prompt"]])
        assert 0.0 <= conf <= 1.0
    assert right >= len(rows) - 1, labels

    out = _cli(project, "export")
    version = Path(out["path"]) if "path" in out else Path(out["version_dir"])
    board = json.loads((version / "formats" / "leaderboard" / "leaderboard.json").read_text())["systems"]
    assert [r["system"] for r in board] == ["strong", "middle", "weak"], board
    prefs = [json.loads(x) for x in (version / "formats" / "preference" / "preferences.jsonl").read_text().splitlines()]
    assert len(prefs) == len(rows) and all(p["chosen"] != p["rejected"] for p in prefs)
    assert sum(p["chosen"] == _better_text(by_prompt[p["prompt"]]) for p in prefs) >= len(prefs) - 1


# --- ratings ---------------------------------------------------------------------------------------------

def _truth(k: int) -> dict[str, int]:
    return {"accuracy": 1 + (k * 3) % 5, "fluency": 1 + (k * 2 + 1) % 5}


def _stars(scores: dict[str, int]) -> list[dict]:
    """A rating as Label Studio stores it: stars 1..5 per criterion (the project's scale is 1-5)."""
    return [{"id": uuid.uuid4().hex[:10], "from_name": f"label_{c}", "to_name": "text", "type": "rating",
             "value": {"rating": v}} for c, v in scores.items()]


def test_ratings_through_every_stage_with_label_studio(prefect_harness, label_studio, tmp_path: Path,
                                                       monkeypatch) -> None:
    url, token = label_studio
    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", token)
    title = f"ls-ratings-{uuid.uuid4().hex[:8]}"
    n_items = 12
    project = tmp_path / "rated"
    project.mkdir()
    texts = [f"Answer number {k}: the model wrote sentence {k}." for k in range(n_items)]
    (project / "items.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    (project / "annoflow.toml").write_text(f'''name = "{title}"
data_kind = "text"
task_kind = "rating"
labels = ["unused", "scale"]

[answer]
scale = [1, 5]
criteria = ["accuracy", "fluency"]
anchors = {{"1" = "unusable", "3" = "acceptable", "5" = "perfect"}}

[[sources]]
path = "items.jsonl"
format = "jsonl"

[overlap]
policy = "fixed"
initial = 3
max = 3

[consensus]
target_confidence = 0.3

[validation]
min_mean_confidence = 0.3

[export]
formats = ["parquet", "ratings"]

[queue]
backend = "label_studio"
url = "{url}"
''', encoding="utf-8")
    assert _cli(project, "ingest")["sources"][0]["inserted"] == n_items
    _cli(project, "prelabel")
    assert _cli(project, "dispatch")["pushed"] == 3 * n_items

    number = lambda t: int(t["data"]["text"].split("number ")[1].split(":")[0])
    people = _people(url, token)
    try:
        per_item = _spread(_tasks(people["admin"], title), number)
        assert sorted(per_item) == list(range(n_items)) and all(len(v) == 3 for v in per_item.values())
        for k, (t1, t2, t3) in per_item.items():
            truth = _truth(k)
            _post(people["admin"], t1, _stars(truth))  # careful
            lift = k % 2  # lenient by a point on every other item
            _post(people["second"], t2, _stars({c: min(5, v + lift) for c, v in truth.items()}))
            _post(people["third"], t3, _stars({c: 1 + (v + 2 * (k % 3)) % 5 for c, v in truth.items()}))  # careless
    finally:
        for c in people.values():
            c.close()

    got = _cli(project, "collect")
    assert (got["stored"], got["quarantined"]) == (3 * n_items, 0), got
    _cli(project, "consensus")
    db = project / ".annoflow" / "annoflow.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        labels = con.execute("SELECT i.payload, l.answer::VARCHAR FROM labels l JOIN items i USING (item_id)").fetchall()
        resolved = con.execute("SELECT count(*) FROM labels WHERE decision = 'resolved'").fetchone()[0]
        learned = dict(con.execute("SELECT source_id, learned_accuracy FROM source_stats WHERE source_id LIKE 'human:%'").fetchall())
    assert len(labels) == n_items
    # Scores per item and criterion: near the truth everywhere, right on most (a careless rater and 12 items).
    errors = [json.loads(a)["scores"][c] - _truth(int(p.split("number ")[1].split(":")[0]))[c]
              for p, a in labels for c in CRITERIA]
    assert sum(e == 0 for e in errors) >= 0.75 * len(errors) and max(map(abs, errors)) <= 1, errors
    # Collect names each person by their Label Studio e-mail; the careless one weighs least.
    assert len(learned) == 3 and min(learned, key=learned.get).startswith("human:ls:third-"), learned

    out = _cli(project, "export")
    version = Path(out["path"]) if "path" in out else Path(out["version_dir"])
    ratings = pq.read_table(version / "formats" / "ratings.parquet").to_pylist()
    # The resolved items pass the gate (the unsure ones wait for a fourth rating): a row per criterion each.
    assert resolved >= n_items // 2 and {r["criterion"] for r in ratings} == set(CRITERIA)
    assert len(ratings) == 2 * resolved, (len(ratings), resolved)
    assert all(r["low"] is None or r["low"] <= r["mean"] <= r["high"] for r in ratings)
