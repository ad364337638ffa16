"""Span pre-labeling through the real stage and CLI: `annoflow ingest`, `annoflow prelabel`, `annoflow lf-report`
on a DuckDB file — span LFs (DuckDB and Python), the local spaCy model, the combiner, calibrated routing."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

import duckdb
import httpx
import pytest
import tomli_w
from typer.testing import CliRunner

from annoflow_cli.main import app
from tasks.kinds.spans.conll import to_conll

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "wnut17_excerpt" / "train300.jsonl"
LABELS = ["person", "location", "corporation", "product", "group", "creative-work"]

MENTIONS = '''
import re
from tasks.kinds.spans.lfs import span_labeling_function

@span_labeling_function(labels=["person"])
def mentions(text):
    return [(m.start(), m.end(), "person") for m in re.finditer(r"@\\w+", text)]
'''

BROKEN = '''
from tasks.kinds.spans.lfs import span_labeling_function

@span_labeling_function(labels=["person"])
def too_long(text):
    return [(0, len(text) + 3, "person")] if "Zürich" in text else []
'''


def _spans(text: str, *marks: tuple[str, str]) -> list[dict]:
    out = []
    for word, label in marks:
        start = text.index(word)
        out.append({"start": start, "end": start + len(word), "label": label})
    return sorted(out, key=lambda s: (s["start"], s["end"], s["label"]))


def _synthetic() -> list[tuple[str, list[dict]]]:
    """60 posts naming a user and a city the rules know, two of them also an airline no rule knows; 20 without entities."""
    rows = []
    for k in range(60):
        city = "Paris" if k % 2 else "Zürich"
        text = f"@user{k} flew to {city} today" + (" with Delta" if k in (7, 9) else "")
        marks = [(f"@user{k}", "person"), (city, "location")] + ([("Delta", "corporation")] if k in (7, 9) else [])
        rows.append((text, _spans(text, *marks)))
    rows += [(f"nothing to see here number {k}", []) for k in range(20)]
    return rows


def _project(root: Path, rows: list[tuple[str, list[dict]]], gold: list[int], *, lfs: list[dict], modules: dict[str, str],
             prelabel: dict, model: dict | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "posts.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t, _ in rows), encoding="utf-8")
    (root / "gold.conll").write_text("\n".join(to_conll(rows[i][0], [(s["start"], s["end"], s["label"]) for s in rows[i][1]], "whitespace")
                                               for i in gold), encoding="utf-8")
    for name, code in modules.items():
        (root / f"{name}.py").write_text(code, encoding="utf-8")
    cfg = {"name": f"spans-{uuid.uuid4().hex[:8]}", "data_kind": "text", "task_kind": "spans", "labels": LABELS,
           "sources": [{"path": "data/posts.jsonl", "format": "jsonl", "name": "posts"},
                       {"path": "gold.conll", "format": "conll", "annotations": "gold", "name": "gold"}],
           "answer": {"tokenizer": "whitespace", "lfs": lfs, **({"model": model} if model else {})},
           "prelabel": prelabel}
    (root / "annoflow.toml").write_text(tomli_w.dumps(cfg), encoding="utf-8")
    return root


def _cli(*args: str) -> str:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def _state(db: Path) -> dict:
    """Everything pre-labeling stores, without run ids and timestamps (a re-run writes new ones)."""
    tables = {
        "votes": "vote_id, item_id, source_id, source_kind, source_version, answer::VARCHAR, probs::VARCHAR",
        "prelabels": "item_id, answer::VARCHAR, round(confidence, 9), probs::VARCHAR, route, threshold, n_sources",
        "labels": "item_id, answer::VARCHAR, round(confidence, 9), method, decision",
        "items": "item_id, state, audit, priority",
        "gold": "item_id, answer::VARCHAR",
    }
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall() for t, cols in tables.items()}


SYNTHETIC_LFS = [{"name": "cities", "label": "location", "phrases": ["Paris", "Zürich"]},
                 {"name": "mentions", "python": "span_lfs_mentions:mentions"}]
ROUTING = {"target_precision": 0.8, "min_eval_items": 5, "audit_rate": 0.0}


@pytest.fixture
def synthetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    rows = _synthetic()
    gold = [k for k in range(len(rows)) if k % 2 == 0] + [7]  # 30 + 1 posts with entities (one with the airline), 10 without
    mod = f"span_lfs_{uuid.uuid4().hex[:8]}"  # one module name per test: LF modules are imported in this process
    lfs = [dict(SYNTHETIC_LFS[0]), {"name": "mentions", "python": f"{mod}:mentions"}]
    root = _project(tmp_path / "p", rows, gold, lfs=lfs, modules={mod: MENTIONS}, prelabel=ROUTING)
    monkeypatch.chdir(root)
    return root, rows, gold, lfs


def test_prelabel_cli_votes_prelabels_auto_accepts_and_reruns_unchanged(prefect_harness, synthetic) -> None:
    root, rows, gold, _ = synthetic
    _cli("ingest", "--config", str(root))
    _cli("prelabel", "--config", str(root))
    db = root / ".annoflow" / "annoflow.duckdb"
    truth = {t: json.dumps(s, separators=(",", ":")) for t, s in rows}
    with duckdb.connect(str(db), read_only=True) as con:
        text = dict(con.execute("SELECT item_id, payload FROM items").fetchall())
        votes = con.execute("SELECT item_id, source_id, answer::VARCHAR FROM votes").fetchall()
        pre = con.execute("SELECT item_id, answer::VARCHAR, confidence, route, probs::VARCHAR FROM prelabels").fetchall()
        auto = dict(con.execute("SELECT item_id, answer::VARCHAR FROM labels WHERE method = 'auto'").fetchall())
        states = dict(con.execute("SELECT state, count(*) FROM items GROUP BY ALL").fetchall())
    # votes: one per (item, LF), in the kind's JSON form, NULL where the LF found nothing
    assert {s for _, s, _ in votes} == {"lf:cities", "lf:mentions"} and len(votes) == 2 * len(rows)
    for item, source, answer in votes:
        want = [s for s in json.loads(truth[text[item]]) if s["label"] == ("location" if source == "lf:cities" else "person")]
        assert (json.loads(answer) if answer else []) == want
    # pre-labels: every item, with a confidence; the span confidences in `probs`
    assert len(pre) == len(rows)
    assert all(0 <= c <= 1 and len(json.loads(p)) == len(json.loads(a)) for _, a, c, _, p in pre)
    routes = {r: sum(1 for x in pre if x[3] == r) for r in ("gold", "auto", "human")}
    assert routes["gold"] == len(set(gold))
    # auto-accepted: the non-gold posts the rules fully cover; the one with the airline is wrong, the promise holds on gold
    assert routes["auto"] == len(auto) == 29 and states["auto_accepted"] == 29
    correct = sum(truth[text[i]] == a for i, a in auto.items())
    assert correct == 28, "the post with the airline no rule knows is auto-accepted without it"
    assert routes["human"] == 10  # "no entities" has too little gold to prove 0.8 at 95% confidence
    # re-running changes nothing
    before = _state(db)
    _cli("prelabel", "--config", str(root))
    assert _state(db) == before


def test_lf_report_prints_span_scores(prefect_harness, synthetic) -> None:
    root, *_ = synthetic
    _cli("ingest", "--config", str(root))
    _cli("prelabel", "--config", str(root))
    out = _cli("lf-report", "--config", str(root))
    assert "lf:cities" in out and "lf:mentions" in out and "recall" in out and "F1" in out
    rows = {r["source_id"]: r for r in json.loads(_cli("lf-report", "--config", str(root), "--json"))}
    # on the 31 gold posts with entities every span the rules mark is right, and they find all of their types
    assert rows["lf:cities"]["gold_accuracy"] == 1.0 and rows["lf:mentions"]["gold_accuracy"] == 1.0
    assert rows["lf:cities"]["n_gold"] == rows["lf:mentions"]["n_gold"] == 31
    assert rows["lf:cities"]["more"]["recall"] == 1.0 and rows["lf:cities"]["more"]["F1"] == 1.0
    assert rows["lf:cities"]["polarity"] == "location" and rows["lf:mentions"]["polarity"] == "person"
    assert rows["lf:mentions"]["coverage"] == pytest.approx(60 / 80)


def test_bad_python_lf_exits_2_naming_lf_and_item_and_changes_nothing(prefect_harness, synthetic) -> None:
    root, _, _, lfs = synthetic
    _cli("ingest", "--config", str(root))
    _cli("prelabel", "--config", str(root))
    db = root / ".annoflow" / "annoflow.duckdb"
    before = _state(db)
    mod = f"span_bad_{uuid.uuid4().hex[:8]}"
    (root / f"{mod}.py").write_text(BROKEN, encoding="utf-8")
    data = tomllib.loads((root / "annoflow.toml").read_text(encoding="utf-8"))
    data["answer"]["lfs"] = [*lfs, {"name": "too_long", "python": f"{mod}:too_long"}]
    (root / "annoflow.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
    res = CliRunner().invoke(app, ["prelabel", "--config", str(root)])
    assert res.exit_code == 2, res.output
    error = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "labeling function 'too_long'" in error[0] and "ends after the text" in error[0]
    item = re.search(r"on item (\w+)", error[0]).group(1)
    with duckdb.connect(str(db), read_only=True) as con:
        assert "Zürich" in con.execute("SELECT payload FROM items WHERE item_id = ?", [item]).fetchall()[0][0]
    assert _state(db) == before


def test_spacy_model_votes_through_the_stage_and_is_reused(prefect_harness, tmp_path: Path, monkeypatch) -> None:
    """The local model (`[[prelabel.models]]` kind 'sklearn' in a spans project): spaCy NER trained on gold, out-of-fold
    votes on its training items, saved and loaded again to vote on items that arrive later."""
    fixture = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    rows = [(r["text"], r["spans"]) for r in fixture[:90]]
    root = _project(tmp_path / "m", rows[:80], list(range(40)), lfs=[{"name": "cities", "label": "location", "phrases": ["London", "Paris"]}],
                    modules={}, prelabel={**ROUTING, "models": [{"name": "ner", "min_train_labels": 20, "retrain_new_labels": 500}]},
                    model={"members": 1, "epochs": 3, "calibration_share": 0.25})
    monkeypatch.chdir(root)
    _cli("ingest", "--config", str(root))
    _cli("prelabel", "--config", str(root))
    db = root / ".annoflow" / "annoflow.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        votes = con.execute("SELECT answer::VARCHAR, probs::VARCHAR, source_version FROM votes WHERE source_id = 'model:ner'").fetchall()
        run = json.loads(con.execute("SELECT stats FROM stage_runs WHERE stage = 'prelabel.model.ner'").fetchall()[0][0])
        n_pre = con.execute("SELECT count(*) FROM prelabels WHERE confidence BETWEEN 0 AND 1").fetchall()[0][0]
    assert len(votes) == 80 and run["training"] == "trained on 40 labels" and n_pre == 80
    for answer, probs, _ in votes:  # the spans in `answer`, one confidence each in `probs`
        assert len(json.loads(answer)) == len(json.loads(probs)) and all(0 <= c <= 1 for c in json.loads(probs))
    version = votes[0][2]
    assert version.startswith("spacy-")
    before = _state(db)
    _cli("prelabel", "--config", str(root))
    assert _state(db) == before
    # ten more posts: the saved model is loaded (not retrained: too few new answers) and votes on them
    with (root / "data" / "posts.jsonl").open("a", encoding="utf-8") as f:
        f.write("".join(json.dumps({"text": t}) + "\n" for t, _ in rows[80:]))
    _cli("ingest", "--config", str(root))
    _cli("prelabel", "--config", str(root))
    with duckdb.connect(str(db), read_only=True) as con:
        after = con.execute("SELECT count(*), count(DISTINCT source_version) FROM votes WHERE source_id = 'model:ner'").fetchall()[0]
        run = json.loads(con.execute("SELECT stats FROM stage_runs WHERE stage = 'prelabel.model.ner' ORDER BY started_at DESC LIMIT 1").fetchall()[0][0])
    assert after == (90, 1) and run["inserted"] == 10 and run["training"].startswith("reused")
    # a changed [answer.model] option retrains at once (not after `retrain_new_labels` new answers), and re-votes
    data = tomllib.loads((root / "annoflow.toml").read_text(encoding="utf-8"))
    data["answer"]["model"]["epochs"] = 2
    (root / "annoflow.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
    _cli("prelabel", "--config", str(root))
    with duckdb.connect(str(db), read_only=True) as con:
        now = con.execute("SELECT count(*), any_value(source_version) FROM votes WHERE source_id = 'model:ner'").fetchall()[0]
        run = json.loads(con.execute("SELECT stats FROM stage_runs WHERE stage = 'prelabel.model.ner' ORDER BY started_at DESC LIMIT 1").fetchall()[0][0])
    assert run["training"] == "trained on 40 labels" and now[0] == 90 and now[1] != version and run["retired"] == 90
    # the same run served over HTTP (`model_server --span-model`, the folders the stage saved) votes through the stage too
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "model_server", "--span-model", str(root / ".annoflow" / "models" / "spans"),
                               "--port", str(port)], cwd=Path(__file__).resolve().parents[3])
    try:
        _wait(f"http://127.0.0.1:{port}/health")
        data = tomllib.loads((root / "annoflow.toml").read_text(encoding="utf-8"))
        data["prelabel"]["models"].append({"name": "remote", "kind": "http", "url": f"http://127.0.0.1:{port}", "batch_size": 16})
        (root / "annoflow.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
        _cli("prelabel", "--config", str(root))
    finally:
        server.terminate()
        server.wait(10)
    with duckdb.connect(str(db), read_only=True) as con:
        remote = dict(con.execute("SELECT item_id, answer::VARCHAR || probs::VARCHAR FROM votes WHERE source_id = 'model:remote'").fetchall())
        local = dict(con.execute("SELECT item_id, answer::VARCHAR || probs::VARCHAR FROM votes WHERE source_id = 'model:ner'"
                                 " AND item_id NOT IN (SELECT item_id FROM gold)").fetchall())
    assert len(remote) == 90 and local and all(remote[i] == v for i, v in local.items())  # off its training items: the same spans


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"span model server at {url} did not start") from None
            time.sleep(0.2)


@pytest.mark.parametrize(("output", "says"), [
    ([[(-1, 2, "person")], []], "starts before the text"),
    ([[(3, 3, "person")], []], "has start >= end"),
    ([[(0, 2, "person", 0.9)], []], "span 0 is (0, 2, 'person', 0.9)"),
    ([[], "nope"], "returned str for an item"),
    ([[]], "returned 1 answers for a batch of 2 items"),
])
def test_python_lf_output_is_checked_against_its_items(output, says) -> None:
    import pyarrow as pa

    from tasks.kinds import get

    batch = pa.table({"item_id": ["a", "b"], "payload": ["Ann met Bob", "rain"]})
    with pytest.raises(ValueError, match=re.escape(says)):
        get("spans").prelabel.lf_python(output, batch)


def test_python_lf_output_becomes_sorted_votes_and_abstains() -> None:
    import pyarrow as pa

    from tasks.kinds import get

    batch = pa.table({"item_id": ["a", "b"], "payload": ["Ann met Bob", "rain"]})
    votes, mentioned = get("spans").prelabel.lf_python([[(8, 11, "person"), (0, 3, "person"), (0, 3, "person")], []], batch)
    assert json.loads(votes[0].as_py()) == [{"start": 0, "end": 3, "label": "person"}, {"start": 8, "end": 11, "label": "person"}]
    assert votes[1].as_py() is None and mentioned.to_pylist() == [["person"], []]


def test_spans_project_refuses_classification_lfs(tmp_path: Path) -> None:
    from schemas.config import ProjectConfig
    from tasks.errors import ConfigError
    from tasks.kinds import kind_of

    cfg = ProjectConfig(name="ner", labels=["person", "location"], task_kind="spans", root=str(tmp_path),
                        prelabel={"labeling_functions": [{"name": "kw", "sql": "'person'"}]})
    with pytest.raises(ConfigError, match=r"labeling functions \['kw'\].*\[\[answer.lfs\]\]"):
        kind_of(cfg).prelabel.lf_specs(cfg)
