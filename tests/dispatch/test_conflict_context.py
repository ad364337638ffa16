"""The conflict an adjudicator is shown (`context.conflict` of adjudication tasks), and what their answer becomes.

Real DuckDB files and the session's annotation app on 127.0.0.1: people answer over the app's HTTP API,
collect and consensus are the real stages, the expert leases the adjudication task like any task; their
note and guideline question travel through the comment store to `annoflow questions` and the export's lineage.
"""

from __future__ import annotations

import json
import uuid

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from annoflow_cli.main import app

import tasks.dispatch.stage as dispatch_stage
from tasks.collect import collect
from tasks.consensus.stage import run_consensus_stage
from tasks.dispatch import dispatch
from tasks.dispatch.conflict import conflict_contexts, with_conflict_context
from tasks.export import versions as V
from tasks.export.lineage import COMMENTS_FILE
from tasks.export.stage import export
from tasks.http import make_client
from tasks.kinds import get as get_kind
from tasks.queues import BuiltinBackend
from tasks.store import open_store
from tests.conftest import ADMIN_TOKEN, seed_items

LABELS = ["ham", "spam", "eggs"]
runner = CliRunner()


def _people(cfg, n: int, roles=()) -> list:
    """Annotators of the session's app (unique ids), each with an HTTP client of their own token."""
    out = []
    with BuiltinBackend(cfg.queue.url, ADMIN_TOKEN, cfg.name) as admin:
        for _ in range(n):
            aid = f"p-{uuid.uuid4().hex[:8]}"
            out.append((aid, make_client(cfg.queue.url, admin.create_annotator(aid, roles=list(roles)), retries=1)))
    return out


def _answer_all(client, pid: str, answer_for) -> int:
    n = 0
    while (task := client.post(f"/api/annotate/{pid}/next").json()["task"]) is not None:
        r = client.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                        json={"client_id": f"c-{task['lease_id']}", "answer": answer_for(task["payload"])})
        assert r.status_code == 200, r.text
        n += 1
    return n


def _machine_votes(cfg, rows: list[tuple[str, str, str, str, float]]) -> None:
    """Votes as pre-labeling leaves them: (item, source, kind, label, confidence)."""
    with open_store(cfg.db_path) as con:
        for item, source, kind, label, conf in rows:
            con.execute("INSERT INTO sources (source_id, kind, name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        [source, kind, source])
            con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, label, confidence) "
                        "VALUES (?, ?, ?, ?, ?, ?)", [f"{source}:{item}", item, source, kind, label, conf])


def test_the_expert_sees_every_answer_and_their_answer_becomes_gold(queue_project):
    cfg = queue_project(labels=LABELS, overlap={"policy": "fixed", "initial": 3, "max": 3}, gold={"rate": 0.0, "min_per_annotator": 0})
    contested, plain = seed_items(cfg, ["contested text", "plain text"])
    crowd = _people(cfg, 3)
    (expert_id, expert), = _people(cfg, 1, roles=["expert"])
    assert dispatch(cfg)["created_by_kind"] == {"label": 6}
    # Each person answers the contested text differently, the plain one alike.
    for (aid, client), said in zip(crowd, LABELS):
        assert _answer_all(client, cfg.name, lambda p, s=said: s if p == "contested text" else "ham") == 2
    assert collect(cfg)["stored"] == 6
    _machine_votes(cfg, [(contested, "model:tfidf", "model", "spam", 0.55), (contested, "lf:kw", "lf", "eggs", 1.0)])
    run_consensus_stage(cfg)
    with open_store(cfg.db_path) as con:
        decided = dict(con.execute("SELECT item_id, decision FROM labels WHERE item_id IN (?, ?)", [contested, plain]).fetchall())
    assert decided[plain] == "resolved" and decided[contested] in ("adjudicate", "needs_more")
    assert dispatch(cfg)["created_by_kind"] == {"adjudication": 1}

    task = expert.post(f"/api/annotate/{cfg.name}/next").json()["task"]
    assert task["payload"] == "contested text"
    conflict = task["context"]["conflict"]
    people = {f"human:{aid}": said for (aid, _), said in zip(crowd, LABELS)}
    got = {a["source_id"]: (a["source_type"], a["answer"]) for a in conflict["answers"]}
    assert got == {**{s: ("human", said) for s, said in people.items()},
                   "model:tfidf": ("model", "spam"), "lf:kw": ("lf", "eggs")}
    for a in conflict["answers"]:
        rel = a["reliability"]
        assert set(rel) == {"value", "low", "high", "n", "metric"}
        assert rel["metric"] in ("gold", "learned", "agreement") and 0 <= rel["value"] <= 1 and rel["n"] >= 1
    assert conflict["consensus"]["answer"] in LABELS and 0 <= conflict["consensus"]["confidence"] <= 1
    post = conflict["posterior"]
    assert [p["label"] for p in post] == sorted(LABELS, key=lambda lab: -next(p["p"] for p in post if p["label"] == lab)) \
        and abs(sum(p["p"] for p in post) - 1) < 1e-3
    assert {p["label"]: p["votes"] for p in post} == {"ham": 1, "spam": 2, "eggs": 2}
    # The expert settles it (with a note and a guideline question); it overrides and scores the crowd as gold.
    r = expert.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                    json={"client_id": "adj-1", "answer": "spam", "comment": "model and b are right",
                          "guideline_question": True})
    assert r.status_code == 200, r.text
    assert collect(cfg)["stored"] == 1
    run_consensus_stage(cfg)
    with open_store(cfg.db_path) as con:
        row = con.execute("SELECT label, method, decision FROM labels WHERE item_id = ? ORDER BY updated_at DESC LIMIT 1",
                          [contested]).fetchone()
        stats = {s: (n, c) for s, n, c in con.execute("SELECT source_id, n_gold, gold_correct FROM source_stats").fetchall()}
    assert row == ("spam", "adjudicated", "resolved")
    assert [stats[s] for s in people] == [(1, 0), (1, 1), (1, 0)]
    assert f"adjudicator:{expert_id}" not in stats
    # The note and the question reached the state database (collect's comment pull), the owner's open
    # questions (`annoflow questions`) and the lineage of the version that exports the adjudicated label.
    note = "model and b are right"
    with open_store(cfg.db_path) as con:
        pulled = con.execute("SELECT item_id, author, kind, body FROM comments ORDER BY kind").fetchall()
    assert pulled == [(contested, expert_id, "adjudication_note", note), (contested, expert_id, "guideline_question", note)]
    listed = runner.invoke(app, ["questions", "--config", str(cfg.root), "--json"])
    assert listed.exit_code == 0, listed.output
    assert [(q["item_id"], q["author"], q["body"]) for q in json.loads(listed.output)["questions"]] == [
        (contested, expert_id, note)]
    version = export(cfg).version
    lineage = duckdb.sql(f"SELECT item_id, kind, body FROM '{V.version_dir(cfg, version) / COMMENTS_FILE}' ORDER BY kind")
    assert lineage.fetchall() == [(contested, "adjudication_note", note), (contested, "guideline_question", note)]
    for _, c in [*crowd, (expert_id, expert)]:
        c.close()


def test_no_gold_answer_reaches_the_context(make_project):
    """A gold item sent to adjudication: people's answers only; neither the gold answer, nor a stored
    gold or adjudicated label, nor an earlier adjudicator's answer (it became gold) is in the context."""
    cfg = make_project(labels=LABELS)
    known, other = seed_items(cfg, ["known text", "other text"], gold={"known text": "eggs"})
    with open_store(cfg.db_path) as con:
        con.executemany("INSERT INTO votes (vote_id, item_id, source_id, source_kind, label) VALUES (?, ?, ?, ?, ?)",
                        [["v1", known, "human:a", "human", "ham"], ["v2", known, "adjudicator:x", "adjudicator", "eggs"],
                         ["v3", other, "human:a", "human", "spam"], ["v4", other, "adjudicator:x", "adjudicator", "eggs"]])
        con.executemany("INSERT INTO labels (item_id, label, confidence, method, decision, n_votes, n_human) "
                        "VALUES (?, 'eggs', 1.0, ?, 'adjudicate', 1, 1)", [[known, "gold"], [other, "adjudicated"]])
        tasks = pa.table({"assignment_id": ["t1", "t2", "t3"], "item_id": [known, other, other],
                          "kind": ["adjudication", "adjudication", "label"], "context": pa.nulls(3, pa.string())})
        out = with_conflict_context(con, get_kind("single_label"), LABELS, tasks)
    contexts = out["context"].to_pylist()
    assert contexts[2] is None  # only adjudication tasks carry one
    for text in contexts[:2]:
        conflict = json.loads(text)["conflict"]
        assert [(a["source_id"], a["answer"]) for a in conflict["answers"]] in ([("human:a", "ham")], [("human:a", "spam")])
        assert conflict["consensus"] is None and "eggs" not in json.dumps(conflict["answers"])


def test_one_read_per_pushed_batch_whatever_the_number_of_adjudications(queue_project, monkeypatch):
    cfg = queue_project(labels=LABELS, gold={"rate": 0.0, "min_per_annotator": 0}, queue={"push_batch": 100})
    items = seed_items(cfg, [f"text {i}" for i in range(40)], state="adjudicate")
    _machine_votes(cfg, [(i, "model:m", "model", LABELS[k % 3], 0.5) for k, i in enumerate(items)])
    calls = []
    real = dispatch_stage.with_conflict_context
    monkeypatch.setattr(dispatch_stage, "with_conflict_context",
                        lambda con, kind, labels, t: calls.append(t.num_rows) or real(con, kind, labels, t))
    reads = []
    import tasks.dispatch.conflict as conflict_module
    real_inputs = conflict_module.conflict_inputs
    monkeypatch.setattr(conflict_module, "conflict_inputs", lambda *a: reads.append(1) or real_inputs(*a))
    assert dispatch(cfg)["created_by_kind"] == {"adjudication": 40}
    assert calls == [40] and reads == [1]


def test_spans_posterior_is_each_consolidated_span_with_its_confidence():
    kind = get_kind("spans")
    answers = pa.table({"item_id": ["t1", "t1"], "source_id": ["human:a", "model:ner"],
                        "source_type": ["human", "model"],
                        "answer": ['[{"start": 0, "end": 5, "label": "PER"}]', '[{"start": 0, "end": 5, "label": "ORG"}]'],
                        "reliability": [0.9, None], "low": [0.6, None], "high": [0.98, None], "n": [12, 40],
                        "metric": ["gold", None]})
    consensus = pa.table({"item_id": ["t1"], "method": ["span_vote"], "confidence": [0.62], "answer": [
        '[{"start": 0, "end": 5, "label": "PER", "confidence": 0.62, "sources": ["human:a"]}]']})
    ctx = json.loads(conflict_contexts(kind, answers, consensus, ["PER", "ORG"])["context"][0].as_py())["conflict"]
    assert [a["answer"] for a in ctx["answers"]] == [[{"start": 0, "end": 5, "label": "PER"}],
                                                     [{"start": 0, "end": 5, "label": "ORG"}]]
    assert ctx["answers"][0]["reliability"] == {"value": 0.9, "low": 0.6, "high": 0.98, "n": 12, "metric": "gold"}
    assert ctx["answers"][1]["reliability"]["value"] is None
    assert ctx["posterior"] == [{"p": 0.62, "start": 0, "end": 5, "label": "PER", "sources": ["human:a"]}]


@pytest.mark.parametrize("multi", [False, True])
def test_choice_posterior_follows_the_reliabilities(multi):
    kind = get_kind("multi_label" if multi else "single_label")
    say = (lambda x: json.dumps([x])) if multi else json.dumps
    answers = pa.table({"item_id": ["i"] * 3, "source_id": ["human:good", "human:bad", "human:new"],
                        "source_type": ["human"] * 3, "answer": [say("ham"), say("spam"), say("spam")],
                        "reliability": [0.95, 0.55, None], "low": [None] * 3, "high": [None] * 3, "n": [50, 50, None],
                        "metric": ["gold", "gold", None]})
    consensus = pa.table({"item_id": ["i"], "answer": [say("ham")], "confidence": [0.8], "method": ["dawid_skene"]})
    post = json.loads(conflict_contexts(kind, answers, consensus, ["ham", "spam"])["context"][0].as_py())["conflict"]["posterior"]
    p = {x["label"]: x["p"] for x in post}
    assert p["ham"] > 0.5 > p["spam"]  # one reliable voter outweighs two weak ones
    # trusting the second voter more turns it around
    flipped = answers.set_column(4, "reliability", pa.array([0.95, 0.95, None]))
    post = json.loads(conflict_contexts(kind, flipped, consensus, ["ham", "spam"])["context"][0].as_py())["conflict"]["posterior"]
    assert {x["label"]: x["p"] for x in post}["spam"] > 0.5


def test_choice_posterior_is_calibrated_on_a_simulated_crowd():
    """The P shown beside the answers is a promise too: on a simulated crowd whose reliabilities are
    measured on 25 gold items each (so known only roughly), the top label's P matches how often it is right."""
    import numpy as np

    from tasks.consensus.calibration import expected_calibration_error

    rng = np.random.default_rng(11)
    labels, n_items, n_sources = ["a", "b", "c"], 3000, 12
    skill = rng.uniform(0.45, 0.95, n_sources)
    measured = rng.binomial(25, skill) / 25
    truth = rng.integers(0, 3, n_items)
    rows = []
    for i in range(n_items):
        for s in rng.choice(n_sources, size=int(rng.integers(2, 5)), replace=False):
            said = truth[i] if rng.random() < skill[s] else rng.choice([k for k in range(3) if k != truth[i]])
            rows.append((f"i{i}", f"human:{s}", json.dumps(labels[said]), float(measured[s])))
    answers = pa.table(dict(zip(("item_id", "source_id", "answer", "reliability"), map(list, zip(*rows)))))
    consensus = pa.table({"item_id": [f"i{i}" for i in range(n_items)], "answer": [None] * n_items,
                          "confidence": [None] * n_items})
    post = [json.loads(p) for p in get_kind("single_label").consensus.conflict_posterior(answers, consensus, labels).to_pylist()]
    top = np.array([p[0]["p"] for p in post])
    right = np.array([labels.index(p[0]["label"]) == t for p, t in zip(post, truth)])
    ece = expected_calibration_error(top, right)
    print(f"conflict posterior on {n_items} simulated items: accuracy of the top label {right.mean():.3f}, "
          f"mean P {top.mean():.3f}, ECE {ece:.3f}")
    assert ece < 0.05
