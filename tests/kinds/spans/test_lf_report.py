"""lf-report for span LFs on a hand-computed case; strict scores agree with seqeval on token-aligned spans."""

from __future__ import annotations

import json

import pyarrow as pa
from seqeval.metrics import precision_score, recall_score

from tasks.kinds.spans.lf_report import span_lf_report
from tasks.kinds.spans.tokens import bio_tags, tokenize

TEXTS = {"i1": "Ann lives in Paris now", "i2": "Bob met Ann in Rome", "i3": "nothing to see", "i4": "Paris Hilton"}


def _a(*spans: tuple[int, int, str]) -> str:
    return json.dumps([{"start": s, "end": e, "label": lab} for s, e, lab in spans])


VOTES = pa.table({
    "item_id": ["i1", "i2", "i1", "i2", "i4", "i4"],
    "source_id": ["lf:people", "lf:people", "lf:cities", "lf:cities", "lf:cities", "lf:people"],
    "answer": [
        _a((0, 3, "person")),                       # right
        _a((0, 3, "person"), (8, 11, "person")),    # both right
        _a((13, 18, "location")),                   # right
        _a((15, 19, "location")),                   # "Rome": a boundary error, gold says "in Rome" (12-19)
        _a((0, 5, "location")),                     # conflicts with lf:people's person span on i4
        _a((0, 12, "person")),
    ],
})
GOLD = pa.table({"item_id": ["i1", "i2", "i3"],
                 "answer": [_a((0, 3, "person"), (13, 18, "location")), _a((0, 3, "person"), (8, 11, "person"), (12, 19, "location")), "[]"]})


def test_hand_computed_report() -> None:
    rep = span_lf_report(VOTES, n_items=4, gold=GOLD)
    by = {r["lf"]: r for r in rep["lfs"]}
    c, p = by["cities"], by["people"]
    # coverage: cities marks i1, i2, i4; people marks i1, i2, i4 -> 3 of 4 items
    assert c["coverage"] == p["coverage"] == 0.75
    # overlap: on i4 each LF's span overlaps the other's, with a different type; nowhere else
    assert (c["spans"], c["overlap"], c["conflict"]) == (3, round(1 / 3, 4), round(1 / 3, 4))
    assert (p["spans"], p["overlap"], p["conflict"]) == (4, 0.25, 0.25)
    # on gold items (i1-i3): cities predicted 2 spans, 1 right (15-19 vs gold 12-19 is a boundary miss);
    # gold has 2 location spans -> P 1/2, R 1/2
    assert (c["gold_spans_predicted"], c["true_positives"], c["gold_spans"]) == (2, 1, 2)
    assert (c["precision"], c["recall"], c["f1"]) == (0.5, 0.5, 0.5)
    # people: 3 predicted on gold items, all right; 3 gold person spans
    assert (p["precision"], p["recall"], p["f1"]) == (1.0, 1.0, 1.0)
    assert p["precision_ci"][0] < 1.0 == p["precision_ci"][1]
    assert rep["pairs"] == [{"a": "cities", "b": "people", "overlapping_spans": 1, "conflicting_spans": 1},
                            {"a": "people", "b": "cities", "overlapping_spans": 1, "conflicting_spans": 1}]


def test_strict_scores_match_seqeval() -> None:
    rep = span_lf_report(VOTES, n_items=4, gold=GOLD)
    gold = {r["item_id"]: json.loads(r["answer"]) for r in GOLD.to_pylist()}
    for lf in ("cities", "people"):
        row = next(r for r in rep["lfs"] if r["lf"] == lf)
        pred = {r["item_id"]: json.loads(r["answer"]) for r in VOTES.to_pylist() if r["source_id"] == f"lf:{lf}"}
        y_true, y_pred = [], []
        for item, g in gold.items():
            toks = tokenize(TEXTS[item])
            keep = {s["label"] for s in pred.get(item, [])} | set(row["labels"])
            y_true.append(bio_tags([(s["start"], s["end"], s["label"]) for s in g if s["label"] in keep], toks))
            y_pred.append(bio_tags([(s["start"], s["end"], s["label"]) for s in pred.get(item, [])], toks))
        assert row["precision"] == round(precision_score(y_true, y_pred, mode="strict", scheme=_iob2()), 4)
        assert row["recall"] == round(recall_score(y_true, y_pred, mode="strict", scheme=_iob2()), 4)


def _iob2():
    from seqeval.scheme import IOB2

    return IOB2


def test_without_gold_reports_coverage_only() -> None:
    rep = span_lf_report(VOTES, n_items=10)
    assert {r["lf"]: r["coverage"] for r in rep["lfs"]} == {"cities": 0.3, "people": 0.3}
    assert "precision" not in rep["lfs"][0] and rep["gold_items"] == 0
