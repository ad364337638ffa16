"""Release-gate pieces shared by kinds whose answer is a list of parts (spans of a text, boxes on an image).

`per_part` makes a row check that looks at every part of a row's answer and says which ones broke the
rule; `rate_change` compares parts per exported item, label by label (and over all labels where a kind
asks), with the reference version, from the counts `part_counts` reads; `same_parts_sql` says whether
two lists of regions (boxes, time segments) are the same at an IoU threshold (the gate's gold match).
Each kind words its checks (names, units, messages) and keeps its own SQL of what a bad part is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .protocol import FactCheck, RowCheck

__all__ = ["ALL_LABELS", "part_counts", "per_part", "rate_change", "same_parts_sql"]

ALL_LABELS = "(all labels)"
"""The row of `rate_change(..., all_labels=True)` counting every part, whatever its label."""


def per_part(column: str, name: str, description: str, bad: str, says: str, first: int = 0, sep: str = "") -> RowCheck:
    """A check on each part `<column>[k + 1]` (k from `first`): `bad` and `says` are SQL over `k`.

    The violation counts rows with a bad part; the frame column lists each bad part, as
    `<column>[k]<sep><says>`, and is NULL on a good row (GE expects it to be null everywhere)."""
    hits = f"list_filter(range({first}, len({column})), lambda k: coalesce({bad}, false))"
    listing = f"array_to_string(list_transform({hits}, lambda k: '{column}[' || k || ']{sep}' || {says}), '; ')"
    frame = f"bad_{name}"
    return RowCheck(name, description, f"len({hits}) > 0", "ExpectColumnValuesToBeNull", {"column": frame},
                    frame_columns={frame: f"CASE WHEN len({hits}) > 0 THEN {listing} END"})


def part_counts(con: Any, src: str, distribution_sql: str) -> tuple[dict[str, int], int]:
    """(parts per label, rows) of the snapshot `src`; `distribution_sql` lists one label `l` per part."""
    now = dict(con.execute(f"SELECT l, count(*) FROM ({distribution_sql}) GROUP BY l").fetchall())
    n_now = con.execute(f"SELECT count(*) FROM {src}").fetchall()[0][0]  # fetched to the end: the gate reuses `con`
    return {str(k): int(v) for k, v in now.items()}, int(n_now)


def rate_change(name: str, description: str, now: Mapping[str, int], n_now: int, reference: Mapping[str, Any] | None,
                limit: float, *, unit: str, per: str, min_judged: int, all_labels: bool = False) -> FactCheck:
    """Parts per item of each label now vs in `reference` (a manifest): the largest relative change.

    Counts are compared per item, so a release that only grows keeps its rates; a label judged must
    have `min_judged` parts in one of the versions (others are listed, not judged). A label that
    vanishes or appears counts as a change of 1 (100%). `unit` and `per` name the example columns
    (`reference_<unit>`, `reference_per_<per>`...). `all_labels` adds the row `ALL_LABELS` (parts per item
    whatever their label), judged like a label. Nothing to measure (no reference) gives None."""
    ref = (reference or {}).get("label_distribution")
    if all_labels:
        now = {**now, ALL_LABELS: sum(now.values())}
        ref = None if ref is None else {**ref, ALL_LABELS: sum(ref.values())}
    n_ref = ((reference or {}).get("row_counts") or {}).get("total")
    if ref is None or not n_ref or not n_now:
        return FactCheck(name, description, None, max_value=limit, threshold=limit, acceptable=True)
    rows, worst = [], 0.0
    for label in sorted(set(now) | set(ref)):
        a, b = ref.get(label, 0) / n_ref, now.get(label, 0) / n_now
        change = abs(b - a) / a if a else (1.0 if b else 0.0)
        judged = max(ref.get(label, 0), now.get(label, 0)) >= min_judged
        if judged:
            worst = max(worst, change)
        rows.append({"label": label, f"reference_{unit}": ref.get(label, 0), f"reference_per_{per}": round(a, 4),
                     f"candidate_{unit}": now.get(label, 0), f"candidate_per_{per}": round(b, 4),
                     "change": round(change, 4), "judged": judged})
    rows.sort(key=lambda r: (not r["judged"], -r["change"]))
    return FactCheck(name, description, round(worst, 4), max_value=limit, threshold=limit, examples=rows, acceptable=True)


def same_parts_sql(exported: str, gold: str, match_iou: float, iou: Callable[[str, str], str]) -> str:
    """True when the typed region lists `exported` and `gold` match: as many regions on both sides, every gold
    region with an exported region of its label at IoU >= `match_iou` and every exported one with such a gold
    region. `iou(a, b)` is the kind's SQL for the IoU of two regions named `a` and `b`. Matches are counted per
    region, not assigned one to one: two gold regions of one label overlapping each other by `match_iou` or
    more can share a partner (rare in real answers)."""
    def covered(a: str, b: str) -> str:
        hit = f"len(list_filter({b}, lambda q: q.label = p.label AND {iou('p', 'q')} >= {match_iou})) > 0"
        return f"len(list_filter({a}, lambda p: {hit})) = len({a})"

    return f"(len({exported}) = len({gold}) AND {covered(gold, exported)} AND {covered(exported, gold)})"
