"""Multi-label pre-labeling: LFs in every output form, the one-vs-rest model, the per-label combiner, auto-accept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tasks.kinds.choices.prelabel import MULTI
from tasks.prelabel.combine import LogOddsCombiner
from tasks.prelabel.lf import evaluate_python_lf, labeling_function
from tasks.prelabel.stage import apply_labeling_functions, apply_model, combine_and_route, lf_report
from tasks.store import open_store
from tests.prelabel.multilabel import LABELS, build_multilabel_project


@pytest.fixture
def ml_project(tmp_path: Path, make_project, request):
    module = "ml_lfs_" + request.node.name.replace("[", "_").replace("]", "_").replace("-", "_")
    return lambda **kw: build_multilabel_project(tmp_path / "project", make_project, module=module, **kw)


def _batch(texts: list[str]) -> pa.Table:
    return pa.table({"item_id": [f"i{k}" for k in range(len(texts))], "payload": texts,
                     "uri": pa.nulls(len(texts), pa.string()), "metadata": pa.nulls(len(texts), pa.string())})


def test_decisions_per_label_and_their_scores_by_hand() -> None:
    P = np.array([[0.9, 0.2, 0.6], [0.4, 0.45, 0.01]])
    d = MULTI.decide_probs(P, LABELS)
    assert d.answer.to_pylist() == [["billing", "feature"], []]
    assert d.key.tolist() == LABELS * 2 and d.item.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(d.decision_confidence, [0.9, 0.8, 0.6, 0.6, 0.55, 0.99])
    np.testing.assert_allclose(d.confidence, [0.6, 0.55])  # the weakest decision
    ok = MULTI.score(d, pa.array([["billing"], []], pa.list_(pa.string())))
    assert ok.tolist() == [True, True, False, True, True, True]


def test_python_lf_forms_and_unknown_labels() -> None:
    @labeling_function(name="sets", labels=["feature", "bug"])
    def sets(batch):
        return [{"feature"}, set(), None]

    out, err, _ = evaluate_python_lf(sets, _batch(["a", "b", "c"]), LABELS, MULTI)
    assert err is None and out.to_pylist() == [["feature"], [], None]

    @labeling_function(name="frame")
    def frame(batch):
        import pandas as pd

        return pd.DataFrame({"bug": [True, False, None]})

    out, err, _ = evaluate_python_lf(frame, _batch(["a", "b", "c"]), LABELS, MULTI)
    assert err is None and out.to_pylist() == [{"bug": True}, {"bug": False}, {"bug": None}]

    @labeling_function(name="stray", labels=["billing"])
    def stray(batch):
        return [None, ["billing", "bug"]]

    out, err, item = evaluate_python_lf(stray, _batch(["a", "b"]), LABELS, MULTI)
    assert out is None and item == "i1" and "label 'bug'" in err and "its declared labels ['billing']" in err

    @labeling_function(name="mixed")
    def mixed(batch):
        return ["bug", ["feature"]]

    out, err, _ = evaluate_python_lf(mixed, _batch(["a", "b"]), LABELS, MULTI)
    assert out is None and "mixes single labels and sets" in err


def test_lf_votes_in_every_form_are_stored_per_label(ml_project) -> None:
    cfg, truth = ml_project()
    rows = {r["name"]: r for r in apply_labeling_functions(cfg)}
    assert all(r["error"] is None for r in rows.values())
    with open_store(cfg.db_path) as con:
        got = {(s, p): (lab, json.loads(pr) if pr else None) for s, p, lab, pr in con.execute(
            "SELECT v.source_id, i.payload, v.labels, v.probs FROM votes v JOIN items i USING (item_id)").fetchall()}
        n = con.execute("SELECT count(*) FROM items").fetchone()[0]
        assert con.execute("SELECT count(*) FROM votes").fetchone()[0] == 4 * n  # abstains are stored too
    for (source, text), (labels, probs) in got.items():
        money = any(w in text for w in ("charged", "invoice", "refund", "billed"))
        crash = any(w in text for w in ("crash", "error", "broken", "freezes"))
        asks = any(w in text for w in ("please add", "would be great", "can you support", "i wish"))
        if source == "lf:kw_billing":  # a label: present, silent on the rest
            assert (labels, probs) == ((["billing"], {"billing": 1.0}) if money else (None, None))
        elif source == "lf:py_bug_frame":  # per-label booleans: present / absent / abstain
            want = {"bug": 1.0} if crash else {"bug": 0.0} if money else None
            assert probs == want and labels == (["bug"] if crash else [] if money else None)
        elif source == "lf:py_feature_set":  # a set over its declared label: members present, the rest absent
            if asks:
                assert (labels, probs) == (["feature"], {"feature": 1.0})
            elif len(text) < 30:
                assert (labels, probs) == ([], {"feature": 0.0})
            else:
                assert (labels, probs) == (None, None)


def test_unknown_label_from_a_multi_label_lf_stops_the_stage(ml_project) -> None:
    from tasks.errors import ConfigError

    bad_sql = {"name": "kw_struct_typo", "sql": "CASE WHEN payload LIKE '%api%' THEN {'featur': true} END"}
    cfg, _ = ml_project(lfs=[bad_sql])
    with pytest.raises(ConfigError, match=r"'kw_struct_typo' returned label 'featur' for item \w+"):
        apply_labeling_functions(cfg)
    with open_store(cfg.db_path) as con:
        assert con.execute("SELECT count(*) FROM votes").fetchone()[0] == 0


def test_per_label_combiner_is_the_binary_combiner_on_each_label() -> None:
    """The multi-label combination equals the single-label combiner run on each label's present/absent votes."""
    nan = float("nan")
    votes = pa.table({
        "item_id": ["a", "a", "b", "b", "c", "c", "d"],
        "source_id": ["lf:x", "model:m", "lf:x", "model:m", "lf:x", "model:m", "model:m"],
        "is_model": [False, True, False, True, False, True, True],
        "spoke": [True, True, False, True, True, True, True],
        "p": [[1.0, nan, 0.0], [0.8, 0.3, 0.1], [nan, nan, nan], [0.2, 0.7, 0.6], [0.0, nan, nan], [0.4, 0.2, 0.9],
              [0.5, 0.5, 0.5]],
    })
    gold = pa.table({"item_id": ["a", "c"], "answer": pa.array([["billing"], ["feature"]], pa.list_(pa.string()))})

    class Cfg:
        labels = LABELS

        class prelabel:
            combiner = "log_odds"

    probs, acc, name = MULTI.combine(votes, gold, Cfg)
    assert name == "log_odds" and probs.column("item_id").to_pylist() == ["a", "b", "c", "d"]
    billing = pa.table({
        "item_id": ["a", "a", "b", "b", "c", "c", "d"], "source_id": votes.column("source_id"),
        "label": ["present", None, None, None, "absent", None, None],
        "probs": pa.array([None, [0.2, 0.8], None, [0.8, 0.2], None, [0.6, 0.4], [0.5, 0.5]], pa.list_(pa.float64())),
    })
    ref = LogOddsCombiner(["absent", "present"]).fit_predict_proba(
        billing, pa.table({"item_id": ["a", "c"], "label": ["present", "absent"]}))
    np.testing.assert_allclose(probs.column("billing").to_numpy(), ref.column("present").to_numpy())
    assert set(acc) == {"lf:x"}  # models have no confusion table; the LF spoke on billing and feature only


def test_model_is_one_vs_rest_with_out_of_fold_votes(ml_project) -> None:
    cfg, truth = ml_project(prelabel={"models": [{"name": "tfidf", "min_train_labels": 20}]})
    rep = apply_model(cfg, cfg.prelabel.models[0])
    assert rep["training"] == "trained on 90 labels" and rep["inserted"] == 240
    with open_store(cfg.db_path) as con:
        rows = con.execute("SELECT item_id, labels, confidence, probs FROM votes WHERE source_id = 'model:tfidf'").fetchall()
        gold = {r[0] for r in con.execute("SELECT item_id FROM gold").fetchall()}
    P = np.array([[json.loads(p)[c] for c in LABELS] for _, _, _, p in rows])
    assert (np.abs(P.sum(axis=1) - 1) > 0.05).any()  # independent per-label probabilities, not a distribution
    for (item, labels, conf, _), p in zip(rows, P):
        assert labels == [c for c, x in zip(LABELS, p) if x >= 0.5]
        assert conf == pytest.approx(np.maximum(p, 1 - p).min(), abs=1e-6)
    held_out = [k for k, (item, *_rest) in enumerate(rows) if item not in gold]
    right = [sorted(rows[k][1]) == sorted(truth[rows[k][0]]) for k in held_out]
    assert np.mean(right) >= 0.8


def test_calibrated_auto_accept_per_label_with_audits(ml_project) -> None:
    cfg, truth = ml_project(prelabel={"models": [{"name": "tfidf", "min_train_labels": 20}], "audit_rate": 0.2})
    apply_labeling_functions(cfg)
    apply_model(cfg, cfg.prelabel.models[0])
    rep = combine_and_route(cfg)
    thr = {t["label"]: t for t in rep["thresholds"]}
    assert set(thr) == set(LABELS) and all(t["precision_low"] >= 0.95 for t in thr.values() if t["threshold"] is not None)
    assert rep["auto"] + rep["audit"] > 0 and [c["key"] for c in rep["calibration_by_key"]] == LABELS
    assert all(c["n"] == 90 for c in rep["calibration_by_key"])  # every gold item is one decision per label
    with open_store(cfg.db_path) as con:
        pre = con.execute("SELECT item_id, answer, probs, route, confidence, threshold FROM prelabels").fetchall()
        auto = dict(con.execute("SELECT item_id, labels FROM labels WHERE method = 'auto'").fetchall())
    accepted = [r for r in pre if r[3] in ("auto", "audit")]
    for item, answer, probs, _route, conf, threshold in accepted:
        p = json.loads(probs)
        for c in LABELS:  # every label's decision reaches that label's threshold
            assert max(p[c], 1 - p[c]) >= thr[c]["threshold"] - 1e-6
        assert sorted(json.loads(answer)) == sorted(auto[item]) == sorted(c for c in LABELS if p[c] >= 0.5)
        assert conf == pytest.approx(min(max(p[c], 1 - p[c]) for c in LABELS), abs=1e-5) and conf >= threshold
    exact = np.mean([sorted(json.loads(a)) == sorted(truth[i]) for i, a, *_ in accepted])
    assert exact >= 0.95

    # an audit comes back wrong on every label: those decisions count against the labels' thresholds
    audited = [r for r in accepted if r[3] == "audit"]
    assert audited
    with open_store(cfg.db_path) as con:
        for item, answer, *_ in audited:
            wrong = sorted(set(LABELS) - set(json.loads(answer)))
            con.execute("INSERT INTO labels (item_id, labels, confidence, method, decision, n_votes, n_human)"
                        " VALUES (?, ?, 1.0, 'majority_vote', 'resolved', 2, 2)", [item, wrong])
    again = combine_and_route(cfg)
    assert again["audited"] == len(audited) and again["audit_precision"] == 0.0
    after = {t["label"]: t for t in again["thresholds"]}
    assert all(after[c]["n_eval"] >= thr[c]["n_eval"] for c in LABELS)
    assert any(after[c]["threshold"] is None or after[c]["threshold"] > thr[c]["threshold"] for c in LABELS)


def test_lf_report_counts_per_label_units(ml_project) -> None:
    cfg, _ = ml_project()
    apply_labeling_functions(cfg)
    rows = {r["source_id"]: r for r in lf_report(cfg)}
    assert rows["lf:kw_billing"]["polarity"] == "+billing"
    assert rows["lf:py_bug_frame"]["polarity"] == "+bug,-bug"
    assert rows["lf:kw_billing"]["gold_accuracy"] == 1.0 and rows["lf:kw_billing"]["n_gold"] > 0
    assert 0 < rows["lf:py_feature_set"]["coverage"] <= 1


def test_cli_prelabel_and_lf_report_on_a_multilabel_project(prefect_harness, ml_project) -> None:
    from typer.testing import CliRunner

    from annoflow_cli.main import app

    cfg, _ = ml_project(prelabel={"models": [{"name": "tfidf", "min_train_labels": 20}]})
    runner = CliRunner()
    res = runner.invoke(app, ["prelabel", "--config", str(cfg.root)])
    assert res.exit_code == 0, res.output
    assert "Calibration on gold per decision key" in res.output and "feature" in res.output
    res = runner.invoke(app, ["prelabel", "--config", str(cfg.root), "--json"])
    assert res.exit_code == 0, res.output
    routing = json.loads(res.output.strip().splitlines()[-1])["routing"]
    assert [t["label"] for t in routing["thresholds"]] == LABELS and routing["gold"] == 90
    report = runner.invoke(app, ["lf-report", "--config", str(cfg.root), "--json"])
    assert report.exit_code == 0 and {r["source_id"] for r in json.loads(report.output)} >= {"lf:kw_billing", "model:tfidf"}


def test_weak_answers_train_the_model_where_gold_is_short(ml_project) -> None:
    model = {"name": "tfidf", "min_train_labels": 20, "weak_labels": True, "weak_min_confidence": 0.6}
    cfg, truth = ml_project(n_gold=12, prelabel={"models": [model]})
    apply_labeling_functions(cfg)
    rep = apply_model(cfg, cfg.prelabel.models[0])
    assert rep["weak_labels"] > 8 and rep["training"].startswith(f"trained on {12 + rep['weak_labels']} labels")
    with open_store(cfg.db_path) as con:
        rows = con.execute("SELECT item_id, labels FROM votes WHERE source_id = 'model:tfidf'").fetchall()
    assert len(rows) == 240 and np.mean([sorted(lab) == sorted(truth[i]) for i, lab in rows]) >= 0.5


def test_http_model_serves_per_label_probabilities(tmp_path: Path, ml_project) -> None:
    """The reference model server with a one-vs-rest model: the stage stores P(present) per label from HTTP."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    from schemas.config import ModelConfig
    from tasks.prelabel.models import save_sklearn, train_sklearn_ovr
    from tests.prelabel.multilabel import tickets

    rows = tickets(120, seed=11)
    batch = pa.table({"item_id": [f"t{k}" for k in range(len(rows))], "payload": [r["text"] for r in rows]})
    Y = np.array([[c in r["truth"] for c in LABELS] for r in rows])
    path = save_sklearn(train_sklearn_ovr("remote", "text", LABELS, batch, Y, ModelConfig(name="remote")), tmp_path / "models")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "model_server", "--model", str(path), "--port", str(port)], cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a cold start imports FastAPI and scikit-learn on a busy machine
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "model server did not start"
                time.sleep(0.2)
        cfg, truth = ml_project(lfs=[], prelabel={"models": [{"name": "remote", "kind": "http", "url": url, "batch_size": 50}]})
        rep = apply_model(cfg, cfg.prelabel.models[0])
        assert rep["inserted"] == rep["predicted"] == 240
        with open_store(cfg.db_path) as con:
            votes = con.execute("SELECT item_id, labels, probs FROM votes WHERE source_id = 'model:remote'").fetchall()
    finally:
        proc.terminate()
        proc.wait(10)
    P = np.array([[json.loads(p)[c] for c in LABELS] for _, _, p in votes])
    assert all(lab == [c for c, x in zip(LABELS, p) if x >= 0.5] for (_, lab, _), p in zip(votes, P))
    assert np.mean([sorted(lab) == sorted(truth[i]) for i, lab, _ in votes]) >= 0.8
