from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tasks.prelabel.combine import LabelModelCombiner, LogOddsCombiner
from tasks.prelabel.routing import (
    audit_draw,
    calibration_table,
    route,
    select_thresholds,
    wilson_lower,
)


def _case() -> tuple[list[str], np.ndarray, np.ndarray]:
    # 40 right at 0.95, 10 wrong at 0.85, 40 right at 0.75 (all predicted 'spam')
    conf = np.r_[np.full(40, 0.95), np.full(10, 0.85), np.full(40, 0.75)]
    correct = np.r_[np.ones(40, bool), np.zeros(10, bool), np.ones(40, bool)]
    return ["spam"] * 90, conf, correct


def test_wilson_lower_by_hand() -> None:
    assert wilson_lower(40, 40, 0.95) == pytest.approx(40 / (40 + 1.6449**2), abs=1e-4)  # k = n: n / (n + z^2)
    assert wilson_lower(80, 90, 0.95) == pytest.approx(0.8227, abs=1e-3)
    assert wilson_lower(0, 0) == 0


def test_threshold_is_the_lowest_confidence_whose_lower_bound_meets_target() -> None:
    pred, conf, ok = _case()
    # at 0.95: 40/40 (low 0.937); at 0.85: 40/50 = 0.80 (low < 0.80); at 0.75: 80/90 (low 0.823)
    t = select_thresholds(pred, conf, ok, ["ham", "spam"], target=0.8, confidence_level=0.95, min_n=10)
    assert t["spam"].threshold == 0.75 and t["spam"].n_eval == 90
    assert t["spam"].precision == pytest.approx(80 / 90) and t["spam"].precision_low == pytest.approx(0.8227, abs=1e-3)
    assert t["ham"].threshold is None and t["ham"].n_eval == 0
    strict = select_thresholds(pred, conf, ok, ["ham", "spam"], target=0.85, confidence_level=0.95, min_n=10)
    assert strict["spam"].threshold == 0.95  # 0.823 < 0.85, only the top block qualifies
    too_strict = select_thresholds(pred, conf, ok, ["spam"], target=0.95, confidence_level=0.95, min_n=10)
    assert too_strict["spam"].threshold is None  # 40/40 has a lower bound of 0.937 only
    support = select_thresholds(pred, conf, ok, ["spam"], target=0.85, confidence_level=0.95, min_n=50)
    assert support["spam"].threshold is None


def test_wrong_audits_raise_the_threshold() -> None:
    pred, conf, ok = _case()
    before = select_thresholds(pred, conf, ok, ["spam"], target=0.8)["spam"].threshold
    # 20 audited auto-accepts at 0.76 that humans overturned
    after = select_thresholds(pred + ["spam"] * 20, np.r_[conf, np.full(20, 0.76)], np.r_[ok, np.zeros(20, bool)], ["spam"], target=0.8)
    assert before == 0.75 and after["spam"].threshold == 0.95


def test_calibration_table_and_ece() -> None:
    conf = np.array([0.9, 0.9, 0.9, 0.9, 0.6, 0.6])
    ok = np.array([1, 1, 1, 0, 1, 0], bool)
    ece, rows = calibration_table(conf, ok, bins=10)
    assert [r["n"] for r in rows] == [2, 4]
    assert ece == pytest.approx(4 / 6 * 0.15 + 2 / 6 * 0.1)


def test_routing_and_deterministic_audit_draw() -> None:
    ids = [f"{i:032d}" for i in range(2000)]
    assert np.array_equal(audit_draw(ids, 0), audit_draw(ids, 0))
    share = (audit_draw(ids, 0) < 0.1).mean()
    assert 0.07 < share < 0.13
    t = select_thresholds(*_case(), ["ham", "spam"], target=0.8)
    r = route(ids[:3], ["spam", "spam", "ham"], np.array([0.8, 0.7, 0.99]), t, audit_rate=0.0, seed=0)
    assert r.tolist() == ["auto", "human", "human"]


def _votes(rows: list[tuple[str, str, str | None]], probs: list | None = None) -> pa.Table:
    t = {"item_id": [r[0] for r in rows], "source_id": [r[1] for r in rows], "label": pa.array([r[2] for r in rows], pa.string())}
    t["probs"] = pa.array(probs or [None] * len(rows), pa.list_(pa.float64()))
    return pa.table(t)


def test_log_odds_combiner_agreement_abstain_and_leave_one_out() -> None:
    rows = []
    gold_ids = [f"g{i}" for i in range(20)]
    for i, g in enumerate(gold_ids):
        truth = "spam" if i < 10 else "ham"
        rows += [(g, "lf:a", truth), (g, "lf:b", "spam" if i % 2 else None)]
    rows += [("x", "lf:a", "spam"), ("x", "lf:b", "spam"), ("y", "lf:a", "ham"), ("y", "lf:b", None), ("z", "lf:b", None),
             ("w", "lf:a", "spam"), ("w", "lf:b", None)]  # w votes like gold item g0
    gold = pa.table({"item_id": gold_ids, "label": ["spam"] * 10 + ["ham"] * 10})
    comb = LogOddsCombiner(["ham", "spam"])
    out = comb.fit_predict_proba(_votes(rows), gold)
    p = dict(zip(out.column("item_id").to_pylist(), out.column("spam").to_pylist()))
    assert p["x"] > 0.9 and p["y"] < 0.1
    assert 0.3 < p["z"] < 0.7  # only an abstain from a source that abstains evenly: near the prior
    assert comb.source_accuracy_["lf:a"] > 0.8 and 0.4 < comb.source_accuracy_["lf:b"] < 0.75
    # leave-one-out: a gold item's posterior does not see its own answer, so it is less extreme than x
    assert p["g0"] < p["w"]


def test_model_votes_enter_as_log_odds() -> None:
    rows = [("a", "model:m", "spam"), ("b", "model:m", "ham")]
    out = LogOddsCombiner(["ham", "spam"]).fit_predict_proba(_votes(rows, [[0.1, 0.9], [0.8, 0.2]]))
    assert out.column("spam").to_pylist() == pytest.approx([0.9, 0.2], abs=1e-3)


def test_label_model_adapter_passes_the_contract_columns() -> None:
    class Fake:
        def fit_predict_proba(self, votes: pa.Table) -> pa.Table:
            assert votes.column_names == ["item_id", "source_id", "label"]
            return pa.table({"item_id": ["a"], "ham": [0.3], "spam": [0.7]})

    out = LabelModelCombiner(Fake()).fit_predict_proba(_votes([("a", "lf:x", "spam")]))
    assert out.column("spam").to_pylist() == [0.7]


def test_a_source_that_always_abstains_is_harmless() -> None:
    rows = [(f"g{i}", "lf:mute", None) for i in range(6)] + [(f"g{i}", "lf:a", "spam" if i < 3 else "ham") for i in range(6)]
    gold = pa.table({"item_id": [f"g{i}" for i in range(6)], "label": ["spam"] * 3 + ["ham"] * 3})
    comb = LogOddsCombiner(["ham", "spam"])
    out = comb.fit_predict_proba(_votes(rows), gold)
    assert np.isfinite(np.column_stack([out.column("ham").to_numpy(), out.column("spam").to_numpy()])).all()
    assert 0 <= comb.source_accuracy_["lf:mute"] <= 1
