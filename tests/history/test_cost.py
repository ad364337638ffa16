"""Cost arithmetic on cases worked out by hand (the numbers in the comments are the hand computation)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from schemas.config import CostConfig, validate_config
from tasks.errors import ConfigError
from tasks.history.cost import (
    call_price,
    cost_summary,
    group_of,
    resolve_rate,
    source_costs,
)


def totals(rows: list[tuple]) -> pa.Table:
    names = ["source_id", "source_kind", "task", "judgments", "ms"]
    return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})


COST = CostConfig.model_validate({
    "per_judgment": 0.05, "per_hour": 12.0,
    "answer_kinds": {"spans": {"per_judgment": 0.08}},
    "assignments": {"adjudication": {"per_judgment": 0.50}},
    "groups": {"experts": ["alice", "exp-*"], "vendor": ["v-*", "alice"]},
    "group_rates": {"experts": {"per_hour": 30.0}, "vendor": {"per_judgment": 0.02, "per_hour": 0.0}},
    "per_call": {"model:gpt": 0.002, "model:*": 0.0001},
})


def test_rates_resolve_field_by_field_most_specific_first() -> None:
    assert group_of(COST, "alice") == "experts"  # first group in config order wins
    assert group_of(COST, "exp-7") == "experts" and group_of(COST, "v-1") == "vendor" and group_of(COST, "bob") is None
    assert resolve_rate(COST, "bob", "label", "single_label") == (0.05, 12.0)
    assert resolve_rate(COST, "bob", "label", "spans") == (0.08, 12.0)
    # experts set only per_hour: the adjudication per-judgment rate still applies
    assert resolve_rate(COST, "alice", "adjudication", "single_label") == (0.50, 30.0)
    assert resolve_rate(COST, "v-1", "adjudication", "single_label") == (0.02, 0.0)
    assert call_price(COST, "model:gpt") == 0.002 and call_price(COST, "model:tfidf") == 0.0001
    assert call_price(COST, "lf:kw") == 0.0


def test_cost_per_source_and_summary_by_hand() -> None:
    t = totals([
        ("human:bob", "human", "label", 100, 3_600_000),       # 100*0.05 + 1h*12   = 17.00
        ("human:bob", "human", "adjudication", 4, 360_000),    # 4*0.50 + 0.1h*12   =  3.20
        ("human:alice", "human", "label", 50, 1_800_000),      # 50*0.05 + 0.5h*30  = 17.50
        ("adjudicator:v-1", "adjudicator", "adjudication", 10, 0),  # 10*0.02       =  0.20
        ("model:gpt", "model", "label", 1000, 0),               # 1000*0.002        =  2.00
        ("lf:kw", "lf", "label", 5000, 0),                      # free              =  0.00
    ])
    per = source_costs(t, COST, "single_label")
    got = dict(zip(per["source_id"].to_pylist(), per["cost"].to_pylist()))
    assert got == pytest.approx({"human:bob": 20.2, "human:alice": 17.5, "adjudicator:v-1": 0.2,
                                 "model:gpt": 2.0, "lf:kw": 0.0})
    assert dict(zip(per["source_id"].to_pylist(), per["judgments"].to_pylist()))["human:bob"] == 104
    # 164 paid judgments cost 37.90 -> mean 0.231097...; total 39.90
    s = cost_summary(per, resolved_items=120, resolved_labels=150, fixed_overlap=3, default_judgment_cost=0.05)
    assert s.total == pytest.approx(39.9) and s.human == pytest.approx(37.9) and s.machine == pytest.approx(2.0)
    assert s.human_judgments == 164
    assert s.per_resolved_item == pytest.approx(39.9 / 120) and s.per_label == pytest.approx(39.9 / 150)
    # fixed overlap: 3 judgments on each of the 120 items at the mean judgment cost 37.9/164
    assert s.fixed_overlap_cost == pytest.approx(3 * 120 * 37.9 / 164)  # = 83.195...
    assert s.saved == pytest.approx(3 * 120 * 37.9 / 164 - 39.9)  # = 43.295...


def test_without_human_judgments_the_baseline_uses_the_default_rate() -> None:
    per = source_costs(totals([("model:gpt", "model", "label", 10, 0)]), COST, "single_label")
    s = cost_summary(per, resolved_items=10, resolved_labels=10, fixed_overlap=2, default_judgment_cost=0.05)
    assert s.total == pytest.approx(0.02) and s.fixed_overlap_cost == pytest.approx(2 * 10 * 0.05)
    assert s.saved == pytest.approx(1.0 - 0.02)
    empty = cost_summary(source_costs(totals([]), COST, "single_label"), 0, 0, 3, 0.05)
    assert (empty.total, empty.per_resolved_item, empty.per_label, empty.saved) == (0, None, None, 0)


def test_cost_config_mistakes_are_named() -> None:
    with pytest.raises(ConfigError, match="group_rates names groups not defined in cost.groups: \\['nobody'\\]"):
        validate_config({"name": "x", "labels": ["a", "b"], "cost": {"group_rates": {"nobody": {"per_hour": 1}}}})
    with pytest.raises(ConfigError, match="cost.per_judgment"):
        validate_config({"name": "x", "labels": ["a", "b"], "cost": {"per_judgment": -1}})
