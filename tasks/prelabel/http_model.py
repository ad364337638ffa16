"""A model behind an HTTP endpoint: batched, concurrent, with timeouts and retries on 5xx/timeouts only.

Wire contract (served by `python -m model_server`):
    GET  /info     -> {"name": str, "version": str, "classes": [str, ...]}
    POST /predict  {"items": [{"item_id": str, "text": str|null, "uri": str|null}, ...]}
                   -> {"classes": [str, ...], "probs": [[float, ...], ...]}   (one row per item, in order)
A 4xx answer is the caller's fault and fails at once with the server's message; 5xx and timeouts are
retried with exponential back-off and then raised as ServiceError (which Prefect retries).

The batching (`_post_in_batches`) and the reading of per-item answer lists (`_per_item`) serve the kinds'
endpoints too (detection, spans, speech): each subclass gives the request it sends and the answer it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self, TypeVar

import httpx
import numpy as np
import orjson
import pyarrow as pa

from schemas.config import ModelConfig
from tasks.errors import TerminalError
from tasks.http import make_client

__all__ = ["HttpModel"]

_JSON = {"content-type": "application/json"}

_T = TypeVar("_T")


class HttpModel:
    """`Model` over HTTP; `version` is what the endpoint reports, so a redeployed model re-labels."""

    def __init__(self, mcfg: ModelConfig, classes: list[str], client: httpx.Client | None = None) -> None:
        if not mcfg.url:
            raise TerminalError(f"model {mcfg.name!r}: kind 'http' needs a url")
        self.name, self.cfg, self.classes = mcfg.name, mcfg, list(classes)
        self._own = client is None
        # the shared transport retries 5xx/timeouts with back-off (then ServiceError) and turns 4xx into
        # RequestRefusedError at once; the thread pool below enforces the concurrency limit
        self.client = client or make_client(
            mcfg.url, timeout=mcfg.timeout_seconds, retries=max(mcfg.retries - 1, 0), backoff=mcfg.backoff_seconds
        )
        try:
            self.version = self._info()["version"]
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._own:
            self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: object) -> dict:
        """Errors name the endpoint URL: ServiceError after the retries, RequestRefusedError on 4xx."""
        return orjson.loads(self.client.request(method, path, **kw).content)

    def _info(self) -> dict:
        info = self._call("GET", "/info")
        unknown = sorted(set(info.get("classes", [])) - set(self.classes))
        if unknown:
            raise TerminalError(f"model {self.name!r} at {self.cfg.url} predicts classes {unknown} outside the label set {self.classes}")
        return info

    def _post_in_batches(self, path: str, n: int, request: Callable[[int, int], list[dict]],
                         read: Callable[[Any, int, int], _T]) -> list[_T]:
        """POST rows 0..n to `path` as `{"items": request(lo, hi)}`, `batch_size` rows a request and at most
        `concurrency` in flight; `read(body, lo, hi)` turns each answer into the caller's part (refusing one that
        does not fit). The parts come back in row order. Each request is built and encoded in its worker thread
        (and reused on retries), so the first leaves at once."""
        size = self.cfg.batch_size

        def one(lo: int) -> _T:
            hi = min(lo + size, n)
            body = self._call("POST", path, content=orjson.dumps({"items": request(lo, hi)}), headers=_JSON)
            return read(body, lo, hi)

        starts = range(0, n, size)
        if len(starts) <= 1 or self.cfg.concurrency == 1:
            return [one(lo) for lo in starts]
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
            return list(pool.map(one, starts))

    def _per_item(self, body: Any, n: int, key: str, what: str) -> tuple[list, list]:
        """An endpoint's answer for `n` items: its `key` list and its `errors` list (why an item got null; all
        None when absent), one entry per item; a `TerminalError` saying how many `what` came back otherwise."""
        body = body if isinstance(body, dict) else {}
        out, errors = body.get(key), body.get("errors") or [None] * n
        if not isinstance(out, list) or len(out) != n or not isinstance(errors, list) or len(errors) != n:
            raise TerminalError(f"model {self.name!r}: answered {len(out) if isinstance(out, list) else 'no'} {what} for {n} items")
        return out, errors

    def _probabilities(self, body: Any, lo: int, hi: int) -> np.ndarray:
        probs = np.asarray(body["probs"], dtype=np.float64)
        if probs.shape != (hi - lo, len(body["classes"])):
            raise TerminalError(f"model {self.name!r}: answered {probs.shape} probabilities for {hi - lo} items")
        out = np.zeros((hi - lo, len(self.classes)))
        for j, c in enumerate(body["classes"]):
            out[:, self.classes.index(c)] = probs[:, j]
        return out

    def predict_proba(self, batch: pa.Table) -> tuple[list[str], np.ndarray]:
        """Split into `batch_size` requests, at most `concurrency` in flight; rows keep the batch order."""
        ids = batch.column("item_id").to_pylist()
        texts = batch.column("payload").to_pylist() if "payload" in batch.column_names else [None] * len(ids)
        uris = batch.column("uri").to_pylist() if "uri" in batch.column_names else [None] * len(ids)
        if not ids:
            return list(self.classes), np.zeros((0, len(self.classes)))

        def request(lo: int, hi: int) -> list[dict]:
            return [{"item_id": i, "text": t, "uri": u} for i, t, u in zip(ids[lo:hi], texts[lo:hi], uris[lo:hi])]

        return list(self.classes), np.vstack(self._post_in_batches("/predict", len(ids), request, self._probabilities))
