"""A span model behind an HTTP endpoint (the `/spans` contract of `model_server/app.py`).

The client is the classification `HttpModel`'s (from `tasks.http.make_client`, like every HTTP caller): 5xx and timeouts are
retried with back-off and then raise `ServiceError` (transient, Prefect retries), a 4xx fails at once
with the server's message. What the endpoint answers is checked before anything is kept: a span outside
its text, start >= end or a type outside the label set is a `TerminalError` naming the model, the item
and the span, so a misbehaving model stores nothing.
"""

from __future__ import annotations

import httpx
import orjson
import pyarrow as pa

from schemas.config import ModelConfig
from tasks.errors import TerminalError
from tasks.prelabel.http_model import HttpModel

from .lfs import SPAN_VOTES_SCHEMA

__all__ = ["HttpSpanModel"]

class HttpSpanModel(HttpModel):
    """Votes of an HTTP span model; `version` is what the endpoint reports, so a redeployed model re-labels.
    Client, retries and lifecycle are `HttpModel`'s; `classes` holds the entity types."""

    def __init__(self, mcfg: ModelConfig, labels: list[str], client: httpx.Client | None = None) -> None:
        super().__init__(mcfg, labels, client)
        self.labels = self.classes

    def _info(self) -> dict:
        info = self._call("GET", "/info")
        unknown = sorted(set(info.get("labels", [])) - set(self.classes))
        if unknown:
            raise TerminalError(f"model {self.name!r} at {self.cfg.url} predicts entity types {unknown} outside the label set {self.classes}")
        return info

    @property
    def source_id(self) -> str:
        return f"model:{self.name}"

    def _read(self, body: object, ids: list[str], texts: list[str]) -> list[list[dict]]:
        spans = body.get("spans") if isinstance(body, dict) else None
        if not isinstance(spans, list) or len(spans) != len(ids):
            raise TerminalError(f"model {self.name!r}: answered {len(spans) if isinstance(spans, list) else 'no'} span lists for {len(ids)} items")
        for i, t, per in zip(ids, texts, spans):
            for k, sp in enumerate(per if isinstance(per, list) else [None]):
                why = self._bad(sp, len(t))
                if why:
                    raise TerminalError(f"model {self.name!r} on item {i}: spans[{k}] = {sp!r} {why}; nothing from this model was stored")
        return spans

    def _bad(self, sp: object, n: int) -> str | None:
        if not (isinstance(sp, dict) and isinstance(sp.get("start"), int) and isinstance(sp.get("end"), int) and isinstance(sp.get("label"), str)):
            return "is not {start: int, end: int, label: str}"
        if sp["start"] < 0 or sp["end"] > n:
            return f"is outside the text (length {n})"
        if sp["start"] >= sp["end"]:
            return "has start >= end"
        if sp["label"] not in self.labels:
            return f"has a type outside {self.labels}"
        c = sp.get("confidence")
        if c is not None and not (isinstance(c, (int, float)) and 0 <= c <= 1):
            return "has a confidence outside [0, 1]"
        return None

    def predict(self, batch: pa.Table) -> pa.Table:
        """Votes (`SPAN_VOTES_SCHEMA`) for `batch(item_id, payload)`: `batch_size` items per request, at most
        `concurrency` in flight; an item the model finds nothing in gets `[]` (the model says "no entities")."""
        ids = batch.column("item_id").to_pylist()
        texts = [t or "" for t in batch.column("payload").to_pylist()]
        parts = self._post_in_batches(
            "/spans", len(ids), lambda lo, hi: [{"item_id": i, "text": t} for i, t in zip(ids[lo:hi], texts[lo:hi])],
            lambda body, lo, hi: self._read(body, ids[lo:hi], texts[lo:hi]))
        answers = [orjson.dumps(sorted(per, key=lambda s: (s["start"], s["end"], s["label"]))).decode() for part in parts for per in part]
        return pa.table({"item_id": pa.array(ids, pa.string()), "source_id": pa.array([self.source_id] * len(ids), pa.string()),
                         "source_version": pa.array([self.version] * len(ids), pa.string()), "answer": pa.array(answers, pa.string())},
                        schema=SPAN_VOTES_SCHEMA)
