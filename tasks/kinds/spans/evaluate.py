"""Entity-level precision, recall and F1 of predicted spans against true spans, computed by seqeval.

seqeval is the field's reference implementation (CoNLL's conlleval rules); it scores BIO tag
sequences, so both sides are tagged over the same tokens of each text first. Strict mode (IOB2) is
used: an entity counts only when its type and both boundaries match, which is what "exported F1"
means in the demo and in `annoflow evaluate`.
"""

from __future__ import annotations

import pyarrow as pa
from seqeval.metrics import (
    classification_report,
    f1_score,
    precision_score,
    recall_score,
)
from seqeval.scheme import IOB2

from .formats import spans_of
from .tokens import bio_tags, tokenize

__all__ = ["entity_scores"]


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
    kw = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
    report = classification_report(y_true, y_pred, output_dict=True, **kw)
    per_type = {k: {"precision": round(float(v["precision"]), 4), "recall": round(float(v["recall"]), 4), "f1": round(float(v["f1-score"]), 4),
                    "support": int(v["support"])} for k, v in report.items() if not k.endswith(" avg")}
    return {"precision": round(float(precision_score(y_true, y_pred, **kw)), 4),
            "recall": round(float(recall_score(y_true, y_pred, **kw)), 4), "f1": round(float(f1_score(y_true, y_pred, **kw)), 4), "per_type": per_type, "items": len(y_true),
            "items_without_prediction": missing}
