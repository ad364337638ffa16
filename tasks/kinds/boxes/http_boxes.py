"""A detection model behind an HTTP endpoint (the `/detect` contract of `model_server/app.py`).

The client is the classification `HttpModel`'s (from `tasks.http.make_client`, like every HTTP caller): 5xx
and timeouts are retried with back-off and then raise `ServiceError` (transient, Prefect retries), a 4xx
fails at once with the server's message. Items go by reference (`uri`; the endpoint reads the file), in
`batch_size` requests with at most `concurrency` in flight.

What the endpoint answers is checked before anything is kept: a box with a non-finite coordinate, no area,
a label outside the label set or a score outside [0, 1] is a `TerminalError` naming the model, the item
and the box, so a misbehaving model stores nothing. A box reaching past the image border is clipped to
the image (detectors commonly answer so); one entirely outside it is dropped. An image the endpoint could
not read gets no vote (it is asked again next run) and is reported in `problems`, which the stage
quarantines.
"""

from __future__ import annotations

import httpx
import pyarrow as pa

from schemas.config import ModelConfig
from tasks.errors import TerminalError
from tasks.prelabel.http_model import HttpModel

from .machine_boxes import box_problem, clip_to_image, image_size

__all__ = ["HttpBoxModel"]

class HttpBoxModel(HttpModel):
    """Votes of an HTTP detector; `version` is what the endpoint reports, so a redeployed model re-labels."""

    def __init__(self, mcfg: ModelConfig, labels: list[str], client: httpx.Client | None = None) -> None:
        self.problems: list[dict] = []
        super().__init__(mcfg, labels, client)

    def _info(self) -> dict:
        info = self._call("GET", "/info")
        unknown = sorted(set(info.get("labels", [])) - set(self.classes))
        if unknown:
            raise TerminalError(f"model {self.name!r} at {self.cfg.url} detects labels {unknown} outside the label set {self.classes}; "
                                "add them to `labels` or serve a model restricted to the project's labels")
        return info

    def predict(self, batch: pa.Table) -> pa.Table:
        """`item_id`, `answer` (canonical JSON, each box with its `score`) for the readable images of `batch`."""
        from .geometry import canonical

        ids = batch.column("item_id").to_pylist()
        uris = batch.column("uri").to_pylist()
        sizes = [image_size(m) for m in batch.column("metadata").to_pylist()] if "metadata" in batch.column_names else [None] * len(ids)
        parts = self._post_in_batches(
            "/detect", len(ids), lambda lo, hi: [{"item_id": i, "uri": u} for i, u in zip(ids[lo:hi], uris[lo:hi])],
            lambda body, lo, hi: self._per_item(body, hi - lo, "boxes", "box lists"))
        boxes = [b for part in parts for b in part[0]]
        errors = [e for part in parts for e in part[1]]
        out_ids, answers = [], []
        for item, per, err, wh in zip(ids, boxes, errors, sizes):
            if per is None:
                self.problems.append({"source": f"model:{self.name}", "source_row": None, "field": "image", "reason": "unreadable_image",
                                      "detail": f"model {self.name!r} could not read item {item}'s image: {err or 'no reason given'}",
                                      "raw": item})
                continue
            if not isinstance(per, list):
                raise TerminalError(f"model {self.name!r} on item {item}: answered {per!r}, expected a list of boxes")
            for k, b in enumerate(per):
                why = box_problem(b, self.classes, None)
                if why:
                    raise TerminalError(f"model {self.name!r} on item {item}: boxes[{k}].{why[0]} {why[2]}; nothing from this model was stored")
            out_ids.append(item)
            answers.append(canonical(clip_to_image(per, wh)))
        return pa.table({"item_id": pa.array(out_ids, pa.string()), "answer": pa.array(answers, pa.string())})
