"""Entity-level precision, recall and F1 of predicted spans against true spans, computed by seqeval.

seqeval is the field's reference implementation (CoNLL's conlleval rules); it scores BIO tag
sequences, so both sides are tagged over the same tokens of each text first. Strict mode (IOB2) is
used: an entity counts only when its type and both boundaries match, which is what "exported F1"
means in the demo and in `annoflow evaluate`.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pyarrow as pa

from .tokens import bio_tags, tokenize

__all__ = ["entity_scores", "resolved_scores", "spans_of"]

UNRESOLVED = "(unresolved)"


def spans_of(answer: str | None) -> list[tuple[int, int, str]]:
    """One answer's JSON as (start, end, label) tuples, the form the token helpers take."""
    return [(s["start"], s["end"], s["label"]) for s in json.loads(answer or "[]")]


def entity_scores(truth: pa.Table, predicted: pa.Table, texts: pa.Table, tokenizer: str = "words") -> dict:
    """Scores over the items that have both a true and a predicted answer.

    Args:
        truth, predicted: `item_id`, `answer` (JSON spans); an item missing from `predicted` is
            counted in `items_without_prediction`, not as an empty prediction.
        texts: `item_id`, `payload`.
    Returns: `precision`, `recall`, `f1` (micro), `per_type` {type: {precision, recall, f1, support}},
        `items`, `items_without_prediction`.
    """
    text_of = dict(zip(texts.column("item_id").to_pylist(), texts.column("payload").to_pylist()))
    pred_of = dict(zip(predicted.column("item_id").to_pylist(), predicted.column("answer").to_pylist()))
    y_true, y_pred, missing = [], [], 0
    for item_id, answer in zip(truth.column("item_id").to_pylist(), truth.column("answer").to_pylist()):
        if item_id not in pred_of or item_id not in text_of:
            missing += 1
            continue
        tokens = tokenize(text_of[item_id] or "", tokenizer)
        y_true.append(bio_tags(spans_of(answer), tokens))
        y_pred.append(bio_tags(spans_of(pred_of[item_id]), tokens))
    if not y_true:
        return {"precision": None, "recall": None, "f1": None, "per_type": {}, "items": 0, "items_without_prediction": missing}
    from seqeval.metrics import (
        classification_report,
        f1_score,
        precision_score,
        recall_score,
    )
    from seqeval.scheme import (
        IOB2,  # imported here: config validation loads every kind's facets
    )

    kw = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
    with warnings.catch_warnings():  # its averages over no entity at all warn "mean of empty slice"; they are dropped below
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(y_true, y_pred, output_dict=True, **kw)
    per_type = {k: {"precision": round(float(v["precision"]), 4), "recall": round(float(v["recall"]), 4), "f1": round(float(v["f1-score"]), 4),
                    "support": int(v["support"])} for k, v in report.items() if not k.endswith(" avg")}
    return {"precision": round(float(precision_score(y_true, y_pred, **kw)), 4),
            "recall": round(float(recall_score(y_true, y_pred, **kw)), 4), "f1": round(float(f1_score(y_true, y_pred, **kw)), 4), "per_type": per_type, "items": len(y_true),
            "items_without_prediction": missing}


def resolved_scores(con: Any, truth: pa.Table, tokenizer: str) -> dict[str, Any]:
    """`ExportFacet.evaluate` for spans: entity-level F1 of the resolved answers in `con` (`labels`, `items`)
    against `truth` (`item_id`, `truth`: the truth file's spans JSON), overall and per labeling method.

    Items with truth but no resolved answer are counted under "(unresolved)" and left out of the scores
    (an unresolved item has no answer to score, not an empty one)."""
    con.register("_truth", truth)
    try:
        rows = con.sql(
            "SELECT t.item_id, t.truth AS answer, i.payload, l.answer::VARCHAR AS predicted, coalesce(l.method, $u) AS method"
            " FROM _truth t LEFT JOIN items i USING (item_id)"
            " LEFT JOIN labels l ON l.item_id = t.item_id AND l.decision = 'resolved' ORDER BY t.item_id", params={"u": UNRESOLVED}
        ).to_arrow_table()
    finally:
        con.unregister("_truth")
    texts = rows.select(["item_id", "payload"])
    methods = rows.column("method").to_pylist()

    def score(keep: list[bool]) -> dict:
        part = rows.filter(pa.array(keep))
        pred = part.select(["item_id", "predicted"]).rename_columns(["item_id", "answer"])
        return entity_scores(part.select(["item_id", "answer"]), pred, texts, tokenizer)

    overall = score([m != UNRESOLVED for m in methods])
    by_method = {}
    for m in sorted(set(methods), key=lambda m: (-methods.count(m), m)):
        n = methods.count(m)
        by_method[m] = {"items": n, "f1": None if m == UNRESOLVED else score([x == m for x in methods])["f1"]}
    return {"metric": "f1", "items_with_truth": rows.num_rows, "resolved_with_truth": overall["items"],
            "f1": overall["f1"], "precision": overall["precision"], "recall": overall["recall"],
            "per_type": overall["per_type"], "by_method": by_method}
