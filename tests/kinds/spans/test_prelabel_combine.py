"""The span combiner and calibrated auto-accept on hand-computed cases, and the span pieces end to end on a
real DuckDB file (LFs in SQL and Python -> votes -> pre-labels -> routes); the stage itself: test_prelabel_stage.py."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from schemas.config import ProjectConfig
from tasks.kinds.spans.calibration import fit_calibrator
from tasks.kinds.spans.combine import PRELABEL_SCHEMA, combine_spans, route_spans
from tasks.kinds.spans.lf_report import span_lf_report
from tasks.kinds.spans.lfs import (
    apply_python_span_lfs,
    apply_sql_span_lfs,
    load_span_lfs,
)


def _a(*spans: tuple) -> str:
    return json.dumps([dict(zip(("start", "end", "label", "confidence"), s)) for s in spans])


def test_single_lf_confidence_is_its_smoothed_precision_without_gold() -> None:
    votes = pa.table({"item_id": ["a"], "source_id": ["lf:x"], "answer": [_a((0, 3, "loc"))]})
    pre, rep = combine_spans(votes, None, ["a", "b"])
    rows = {r["item_id"]: r for r in pre.to_pylist()}
    # no gold: the LF counts with the prior precision 0.5 -> raw 0.5 -> kept (>= 0.5), nothing calibrates it
    assert json.loads(rows["a"]["answer"]) == [{"start": 0, "end": 3, "label": "loc"}]
    assert rows["a"]["span_confidence"] == [0.5] and rows["a"]["raw_confidence"] == pytest.approx(0.5)
    # an item nobody voted on gets "no entities" (raw confidence 1: nothing contradicts it)
    assert rows["b"]["answer"] == "[]" and rows["b"]["raw_confidence"] == 1.0
    assert pre.schema == PRELABEL_SCHEMA and rep["gold_items"] == 0


def test_noisy_or_of_agreeing_sources_and_overlap_resolution() -> None:
    votes = pa.table({
        "item_id": ["a", "a", "a"],
        "source_id": ["model:m", "model:n", "model:k"],
        "answer": [_a((0, 8, "loc", 0.6)), _a((0, 8, "loc", 0.5), (10, 12, "per", 0.2)), _a((4, 8, "per", 0.7))],
    })
    pre, rep = combine_spans(votes, None, None, candidates=True)
    r = pre.to_pylist()[0]
    cands = {(c["start"], c["end"], c["label"]): (round(c["confidence"], 6), c["kept"]) for c in rep["candidates"].to_pylist()}
    assert cands == {(0, 8, "loc"): (0.8, True), (4, 8, "per"): (0.7, False), (10, 12, "per"): (0.2, False)}
    # (0, 8, loc): 1 - 0.4 * 0.5 = 0.8 beats the overlapping (4, 8, per) at 0.7; (10, 12) is under 0.5
    assert json.loads(r["answer"]) == [{"start": 0, "end": 8, "label": "loc"}]
    assert r["span_confidence"] == [0.8]
    assert r["raw_confidence"] == pytest.approx(0.8 * (1 - 0.7) * (1 - 0.2))
    both, _ = combine_spans(votes, None, None, allow_overlap=True)
    assert [s["label"] for s in json.loads(both.to_pylist()[0]["answer"])] == ["loc", "per"]


def test_gold_learns_source_precision_leaving_each_gold_item_out() -> None:
    # lf:good is right on 3 gold items, lf:bad wrong on 3; on gold item g1 lf:good's precision excludes g1 itself
    ids = ["g1", "g2", "g3", "u1"]
    votes = pa.table({
        "item_id": ids + ids,
        "source_id": ["lf:good"] * 4 + ["lf:bad"] * 4,
        "answer": [_a((0, 2, "per"))] * 4 + [_a((5, 7, "loc"))] * 4,
    })
    gold = pa.table({"item_id": ["g1", "g2", "g3"], "answer": [_a((0, 2, "per"))] * 3})
    pre, rep = combine_spans(votes, gold, ids)
    rows = {r["item_id"]: r for r in pre.to_pylist()}
    assert json.loads(rows["u1"]["answer"]) == [{"start": 0, "end": 2, "label": "per"}]
    # spans calibrated on gold candidates: lf:good's are always right, lf:bad's never (Beta-smoothed)
    assert rows["u1"]["span_confidence"][0] > 0.7
    assert rep["span_calibration"]["n"] == 6 and rep["item_calibration"]["n"] == 3
    assert rep["item_calibration"]["exact_on_gold"] == 1.0


def test_calibrator_is_monotone_and_smoothed() -> None:
    raw = np.array([0.1, 0.1, 0.4, 0.4, 0.6, 0.9, 0.9, 0.9])
    ok = np.array([0, 0, 1, 0, 0, 1, 1, 1], bool)
    cal = fit_calibrator(raw, ok)
    # levels 0.1 -> 1/4; 0.4 (1 of 2) and 0.6 (0 of 1) violate order and pool: (1+1)/(3+2) = 0.4; 0.9 -> 4/5
    assert cal(np.array([0.1, 0.4, 0.6, 0.9])).tolist() == pytest.approx([0.25, 0.4, 0.4, 0.8])
    assert cal(np.array([0.0, 0.5, 1.0])).tolist() == pytest.approx([0.25, 0.4, 0.8])


def test_route_accepts_only_above_the_measured_threshold() -> None:
    n = 40
    ids = [f"i{k}" for k in range(n)]
    conf = np.r_[np.full(20, 0.99), np.full(20, 0.6)]
    answers = [_a((0, 1, "per"))] * n
    pre = pa.table({"item_id": ids, "answer": answers, "confidence": conf})
    # evaluated: the 0.99 items are all right, the 0.6 items half right
    truth = [_a((0, 1, "per"))] * 20 + [_a((0, 1, "per")) if k % 2 else "[]" for k in range(20)]
    routes, thr = route_spans(pre, pa.table({"item_id": ids, "answer": truth}), target=0.8, min_n=10)
    assert thr["threshold"] == 0.99 and thr["n_eval"] == 20 and thr["precision"] == 1.0
    assert routes.tolist() == ["auto"] * 20 + ["human"] * 20
    # an audit that found an accepted answer wrong lowers the bound: at 0.95 nothing qualifies any more
    truth[0] = "[]"
    routes, thr = route_spans(pre, pa.table({"item_id": ids, "answer": truth}), target=0.95, min_n=10)
    assert thr["threshold"] is None and set(routes.tolist()) == {"human"}


CODE = r'''
import re
from tasks.kinds.spans.lfs import span_labeling_function

@span_labeling_function(labels=["person"])
def mentions(text):
    return [(m.start(), m.end(), "person") for m in re.finditer(r"@\w+", text)]
'''


def test_pieces_from_config_to_routes(tmp_path: Path) -> None:
    mod = f"facet_lfs_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{mod}.py").write_text(textwrap.dedent(CODE), encoding="utf-8")
    cfg = ProjectConfig(name="ner", labels=["person", "location"], task_kind="spans", root=str(tmp_path), answer={"lfs": [
        {"name": "cities", "label": "location", "phrases": ["Paris", "Zürich"]},
        {"name": "mentions", "python": f"{mod}:mentions"},
    ]})
    specs = load_span_lfs(cfg.answer_options, cfg.labels, tmp_path)
    con = duckdb.connect(str(tmp_path / "state.duckdb"))
    texts = [f"@user{k} flew to {'Paris' if k % 2 else 'Zürich'} 🛫" for k in range(30)] + ["nothing"] * 10
    con.execute("CREATE TABLE items (item_id VARCHAR, payload VARCHAR)")
    con.executemany("INSERT INTO items VALUES (?, ?)", [(f"i{k:02d}", t) for k, t in enumerate(texts)])
    py, errors = apply_python_span_lfs(con.sql("SELECT item_id, payload FROM items").to_arrow_table(), specs, cfg.labels)
    votes = pa.concat_tables([apply_sql_span_lfs(con, specs), py])
    assert errors == [] and votes.num_rows == 60
    gold_ids = [f"i{k:02d}" for k in range(0, 40, 2)]
    gold = pa.table({"item_id": gold_ids, "answer": [
        json.dumps([{"start": 0, "end": 5 + len(str(k)), "label": "person"},
                    {"start": texts[k].index(texts[k].split()[3]), "end": texts[k].index(texts[k].split()[3]) + len(texts[k].split()[3]),
                     "label": "location"}]) if k < 30 else "[]"
        for k in range(0, 40, 2)]})
    report = span_lf_report(votes, 40, gold)
    assert {r["lf"]: r["precision"] for r in report["lfs"]} == {"cities": 1.0, "mentions": 1.0}
    pre, rep = combine_spans(votes, gold, [f"i{k:02d}" for k in range(40)])
    assert pre.num_rows == 40 and rep["item_calibration"]["exact_on_gold"] == 1.0
    routes, thr = route_spans(pre, gold, target=0.8, audit_rate=0.0)
    assert thr["n_eval"] == 20 and thr["threshold"] is not None
    assert set(routes.tolist()) == {"auto"}
