"""What the labels cost: pay rates resolved per annotator and assignment, totals per source, and the
saving of adaptive overlap + auto-accept against a fixed-overlap baseline.

Pure functions over small Arrow tables (one row per source and kind of assignment, never per vote):
the vote totals are aggregated in DuckDB by `tasks.history.metrics`, the arithmetic happens here so
it can be checked by hand.

Formulas (documented in docs/history.md):
- human or adjudicator judgment: `per_judgment + per_hour * duration_ms / 3_600_000`, rates resolved
  field by field: group rate, then assignment kind, then answer kind, then the project default;
- machine vote (LF, model, LLM): the `per_call` price of its source (first matching id/glob; 0 if none);
  plus, for a language model, what its runs spent on tokens (`prompt tokens / 1000 * price_per_1k_input_tokens
  + answer tokens / 1000 * price_per_1k_output_tokens`, recorded by each run, failed calls included);
- cost_per_resolved_item = total / items resolved; cost_per_label = total / resolved label occurrences
  (a set's labels, a span's types; equal to per item for single-label projects);
- fixed-overlap baseline = N * resolved items * mean cost of one human judgment (N = `cost.fixed_overlap`,
  default `overlap.max`): every item that now has a label would have had N paid judgments and no
  machine votes; cost_saved = baseline - total (negative when adaptive overlap spent more).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

import pyarrow as pa

from schemas.config import CostConfig

__all__ = ["PAID_KINDS", "CostSummary", "annotator_of", "call_price", "cost_summary", "group_of", "resolve_rate",
           "source_costs"]

PAID_KINDS = ("human", "adjudicator")
"""Source kinds paid by rate; every other kind (lf, model) is priced per call."""

SOURCE_COST_SCHEMA = pa.schema([("source_id", pa.string()), ("source_kind", pa.string()),
                                ("judgments", pa.int64()), ("hours", pa.float64()), ("cost", pa.float64())])


def annotator_of(source_id: str) -> str:
    """`human:alice` -> `alice`: groups list annotator ids as the queue knows them."""
    return source_id.split(":", 1)[1] if ":" in source_id else source_id


def group_of(cost: CostConfig, annotator: str) -> str | None:
    """The first group (in config order) with an id or glob matching the annotator."""
    for name, patterns in cost.groups.items():
        if any(fnmatchcase(annotator, p) for p in patterns):
            return name
    return None


def resolve_rate(cost: CostConfig, annotator: str, assignment: str, answer_kind: str) -> tuple[float, float]:
    """(per_judgment, per_hour) of one annotator's judgment on one kind of assignment.

    Each field independently takes the most specific level that sets it, so a group that only sets
    `per_hour` still gets the adjudication bonus per judgment."""
    group = group_of(cost, annotator)
    layers = [cost.group_rates.get(group) if group else None, cost.assignments.get(assignment),
              cost.answer_kinds.get(answer_kind)]
    per_judgment = next((r.per_judgment for r in layers if r and r.per_judgment is not None), cost.per_judgment)
    per_hour = next((r.per_hour for r in layers if r and r.per_hour is not None), cost.per_hour)
    return float(per_judgment), float(per_hour)


def call_price(cost: CostConfig, source_id: str) -> float:
    """A machine vote's price: its exact source id first, else the first matching glob, else free."""
    if source_id in cost.per_call:
        return float(cost.per_call[source_id])
    return next((float(p) for pat, p in cost.per_call.items() if fnmatchcase(source_id, pat)), 0.0)


def source_costs(totals: pa.Table, cost: CostConfig, answer_kind: str, spent: dict[str, float] | None = None) -> pa.Table:
    """Cost per source from vote totals (`source_id, source_kind, task, judgments, ms`: one row per
    source and kind of assignment, `ms` the summed duration) plus what machine sources `spent` on their
    own (an LLM's tokens, by source id); one row per source, sorted by id."""
    acc: dict[str, list] = {sid: ["model", 0, 0.0, float(c)] for sid, c in (spent or {}).items()}
    for sid, skind, task, n, ms in zip(*(totals.column(c).to_pylist() for c in
                                         ("source_id", "source_kind", "task", "judgments", "ms"))):
        hours = (ms or 0) / 3_600_000
        if skind in PAID_KINDS:
            per_j, per_h = resolve_rate(cost, annotator_of(sid), task or "label", answer_kind)
            c = n * per_j + hours * per_h
        else:
            c = n * call_price(cost, sid)
        row = acc.setdefault(sid, [skind, 0, 0.0, 0.0])
        row[1] += n
        row[2] += hours
        row[3] += c
    ids = sorted(acc)
    return pa.table([ids, [acc[s][0] for s in ids], [acc[s][1] for s in ids], [acc[s][2] for s in ids],
                     [acc[s][3] for s in ids]], schema=SOURCE_COST_SCHEMA)


@dataclass(frozen=True)
class CostSummary:
    total: float
    human: float
    machine: float
    human_judgments: int
    per_resolved_item: float | None
    per_label: float | None
    fixed_overlap: int
    fixed_overlap_cost: float
    saved: float


def cost_summary(per_source: pa.Table, resolved_items: int, resolved_labels: int, fixed_overlap: int,
                 default_judgment_cost: float) -> CostSummary:
    """Project totals from `source_costs`; `default_judgment_cost` prices the baseline's judgment when no
    human judgment exists yet (no mean to take)."""
    kinds = per_source.column("source_kind").to_pylist()
    costs = per_source.column("cost").to_pylist()
    counts = per_source.column("judgments").to_pylist()
    human = sum(c for k, c in zip(kinds, costs) if k in PAID_KINDS)
    machine = sum(c for k, c in zip(kinds, costs) if k not in PAID_KINDS)
    n_human = sum(n for k, n in zip(kinds, counts) if k in PAID_KINDS)
    total = human + machine
    mean_judgment = human / n_human if n_human else default_judgment_cost
    baseline = fixed_overlap * resolved_items * mean_judgment
    return CostSummary(total=total, human=human, machine=machine, human_judgments=n_human,
                       per_resolved_item=total / resolved_items if resolved_items else None,
                       per_label=total / resolved_labels if resolved_labels else None,
                       fixed_overlap=fixed_overlap, fixed_overlap_cost=baseline, saved=baseline - total)
