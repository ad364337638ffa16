from __future__ import annotations

from tasks.prelabel.stage import (
    apply_labeling_functions,
    apply_model,
    combine_and_route,
    lf_report,
)
from tasks.store import open_store

GOOD_LFS = [
    {"name": "kw_check", "sql": "CASE WHEN regexp_matches(lower(payload), 'check|subscrib|free|www|http') THEN 'spam' END"},
    {"name": "kw_song", "sql": "CASE WHEN regexp_matches(payload, 'song|love|wow|funny|chorus|voice') THEN 'ham' END"},
]
LOOSE = {"target_precision": 0.5, "precision_confidence": 0.5, "min_eval_items": 1, "audit_rate": 0.0}


def _counts(con) -> dict:
    q = lambda s: con.execute(s).fetchall()
    return {
        "votes": q("SELECT source_id, count(*), count(label) FROM votes GROUP BY ALL ORDER BY 1"),
        "labels": q("SELECT count(*), count(DISTINCT item_id) FROM labels"),
        "prelabels": q("SELECT route, count(*) FROM prelabels GROUP BY ALL ORDER BY 1"),
        "states": q("SELECT state, count(*), round(sum(priority), 6) FROM items GROUP BY ALL ORDER BY 1"),
    }


def test_stage_end_to_end_and_idempotent(text_project) -> None:
    cfg = text_project(lfs=GOOD_LFS, gold_n=8, prelabel={**LOOSE, "models": [{"name": "tfidf", "min_train_labels": 4}]})
    lfs = apply_labeling_functions(cfg)
    assert [r["error"] for r in lfs] == [None, None]
    m = apply_model(cfg, cfg.prelabel.models[0])
    assert m["training"] == "trained on 8 labels" and m["inserted"] == 16
    rep = combine_and_route(cfg)
    assert rep["items"] == 16 and rep["gold"] == 8 and rep["routable"] == 8
    assert rep["auto"] + rep["human"] == 8 and rep["auto"] > 0
    assert rep["ece"] is not None and rep["reliability"]
    with open_store(cfg.db_path) as con:
        first = _counts(con)
        auto = con.execute("SELECT count(*) FROM labels WHERE method = 'auto' AND decision = 'resolved'").fetchall()[0][0]
        assert auto == rep["auto"]
        st = dict(con.execute("SELECT state, count(*) FROM items GROUP BY ALL").fetchall())
        assert st == {k: v for k, v in {"auto_accepted": rep["auto"], "queued": rep["human"], "prelabeled": 8}.items() if v}
        pr = con.execute("SELECT min(priority), max(priority) FROM items WHERE state = 'queued'").fetchall()[0]
        assert pr[0] is None or 0 <= pr[0] <= pr[1] <= 1
    # everything again: nothing new anywhere
    assert sum(r["inserted"] for r in apply_labeling_functions(cfg)) == 0
    again = apply_model(cfg, cfg.prelabel.models[0])
    assert again["inserted"] == 0 and again["training"].startswith("reused")
    rep2 = combine_and_route(cfg)
    assert {k: rep2[k] for k in ("auto", "human", "audit")} == {k: rep[k] for k in ("auto", "human", "audit")}
    with open_store(cfg.db_path) as con:
        assert _counts(con) == first
    table = {r["source_id"]: r for r in lf_report(cfg)}
    assert set(table) == {"lf:kw_check", "lf:kw_song", "model:tfidf"}
    assert table["lf:kw_check"]["polarity"] == "spam" and table["lf:kw_check"]["n_gold"] > 0
    assert table["lf:kw_check"]["learned_accuracy"] is not None


def test_failed_audits_revoke_auto_accepts(text_project) -> None:
    """People overturn every audited auto-accept: the precision measured on gold + audits falls below the
    target, so the classes lose their thresholds and the remaining auto-accepts go back to people."""
    cfg = text_project(lfs=GOOD_LFS, gold_n=8, prelabel={**LOOSE, "audit_rate": 0.5, "target_precision": 0.8})
    apply_labeling_functions(cfg)
    rep = combine_and_route(cfg)
    assert rep["audit"] > 0 and rep["auto"] > 0 and rep["revoked"] == 0
    with open_store(cfg.db_path) as con:
        audit = con.execute("SELECT p.item_id, p.label FROM prelabels p JOIN items USING (item_id) WHERE route = 'audit' AND state = 'auto_accepted' AND audit").fetchall()
        assert len(audit) == rep["audit"]
        auto = {r[0] for r in con.execute("SELECT item_id FROM prelabels WHERE route = 'auto'").fetchall()}
        assert len(auto) == rep["auto"]
        assert {r[0] for r in con.execute("SELECT item_id FROM labels WHERE method = 'auto' AND decision = 'resolved'").fetchall()} \
            == auto | {a for a, _ in audit}
        for item, label in audit:  # humans overturn every audited auto-accept
            other = "ham" if label == "spam" else "spam"
            con.execute("INSERT INTO labels (item_id, label, confidence, method, decision, n_votes, n_human) VALUES (?, ?, 1, 'majority_vote', 'resolved', 2, 2)", [item, other])
            con.execute("UPDATE items SET state = 'resolved' WHERE item_id = ?", [item])
    rep2 = combine_and_route(cfg)
    assert rep2["audited"] == len(audit) and rep2["audit_precision"] == 0.0
    assert all(t["threshold"] is None for t in rep2["thresholds"])
    assert rep2["revoked"] == len(auto) and rep2["auto"] == rep2["audit"] == 0 and rep2["human"] == len(auto)
    with open_store(cfg.db_path) as con:
        back = con.execute("SELECT item_id, state, priority FROM items WHERE item_id IN (SELECT unnest(?::VARCHAR[]))",
                           [sorted(auto)]).fetchall()
        assert {r[1] for r in back} == {"queued"} and all(0 <= r[2] <= 1 for r in back)
        assert con.execute("SELECT count(*) FROM labels WHERE method = 'auto'").fetchall()[0][0] == 0
        routes = dict(con.execute("SELECT item_id, route FROM prelabels WHERE item_id IN (SELECT unnest(?::VARCHAR[]))",
                                  [sorted(auto)]).fetchall())
        assert set(routes.values()) == {"human"}
        # the overturned audits keep the people's label
        assert con.execute("SELECT count(*) FROM labels WHERE method = 'majority_vote'").fetchall()[0][0] == len(audit)


def test_threshold_rise_revokes_auto_accepts(text_project) -> None:
    """Raising the precision target after the fact sends every auto-accept it no longer supports back."""
    cfg = text_project(lfs=GOOD_LFS, gold_n=8, prelabel=LOOSE)
    apply_labeling_functions(cfg)
    rep = combine_and_route(cfg)
    assert rep["auto"] > 0 and rep["revoked"] == 0
    stricter = cfg.model_copy(deep=True)
    stricter.prelabel.target_precision = 0.99
    stricter.prelabel.precision_confidence = 0.95  # 8 gold items cannot show 0.99 at 95%
    rep2 = combine_and_route(stricter)
    assert rep2["revoked"] == rep["auto"] and rep2["auto"] == 0
    with open_store(cfg.db_path) as con:
        assert con.execute("SELECT count(*) FROM labels WHERE method = 'auto'").fetchall()[0][0] == 0
        assert con.execute("SELECT count(*) FROM items WHERE state = 'auto_accepted'").fetchall()[0][0] == 0
    assert combine_and_route(stricter)["revoked"] == 0  # nothing left to revoke: a re-run changes nothing


def test_label_model_combiner_routes_without_relying_on_gold_confusions(text_project) -> None:
    cfg = text_project(lfs=GOOD_LFS, gold_n=8, prelabel={**LOOSE, "combiner": "label_model"})
    apply_labeling_functions(cfg)
    rep = combine_and_route(cfg)
    assert rep["combiner"] == "label_model"
    assert rep["items"] == 16 and rep["auto"] + rep["human"] == rep["routable"] == 8
    assert set(rep["source_accuracy"]) == {"lf:kw_check", "lf:kw_song"}
    with open_store(cfg.db_path) as con:
        labels = dict(con.execute("SELECT p.item_id, p.label FROM prelabels p").fetchall())
    assert set(labels.values()) <= {"ham", "spam"} and len(labels) == 16


def test_model_trained_on_weak_labels_labels_what_no_rule_matches(tmp_path, make_project) -> None:
    """No gold at all: the rules label half the items, a model trained on their output labels the rest."""
    import json

    from tasks.ingest.stage import ingest_source, register_project

    spam = [f"subscribe to my channel number {i}" for i in range(12)] + [f"visit my channel number {i}" for i in range(12, 20)]
    ham = [f"lovely song with great music take {i}" for i in range(12)] + [f"great music take {i}" for i in range(12, 20)]
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "data" / "items.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in spam + ham))
    lfs = [{"name": "kw_sub", "sql": "CASE WHEN payload LIKE '%subscribe%' THEN 'spam' END"},
           {"name": "kw_song", "sql": "CASE WHEN payload LIKE '%song%' THEN 'ham' END"}]
    model = {"name": "weak", "min_train_labels": 4, "weak_labels": True, "weak_min_confidence": 0.6}
    cfg = make_project(sources=[{"path": "data/items.jsonl"}],
                       prelabel={"combiner": "label_model", "labeling_functions": lfs, "models": [model]})
    register_project(cfg)
    ingest_source(cfg, cfg.sources[0])
    apply_labeling_functions(cfg)
    rep = apply_model(cfg, cfg.prelabel.models[0])
    assert rep["weak_labels"] == 24 and rep["training"] == "trained on 24 labels (24 of them weak labels)"
    assert rep["inserted"] == 40
    with open_store(cfg.db_path) as con:
        got = dict(con.execute(
            "SELECT i.payload, v.label FROM votes v JOIN items i USING (item_id) WHERE v.source_id = 'model:weak'").fetchall())
    uncovered = {t: "spam" for t in spam[12:]} | {t: "ham" for t in ham[12:]}
    assert {t: got[t] for t in uncovered} == uncovered  # items no rule matched, labelled by the model
    again = apply_model(cfg, cfg.prelabel.models[0])
    assert again["inserted"] == 0 and again["training"].startswith("reused")
