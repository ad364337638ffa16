"""A model behind an HTTP endpoint: batched, concurrent, with timeouts and retries on 5xx/timeouts only.

Wire contract (served by `python -m model_server`):
    GET  /info     -> {"name": str, "version": str, "classes": [str, ...]}
    POST /predict  {"items": [{"item_id": str, "text": str|null, "uri": str|null}, ...]}
                   -> {"classes": [str, ...], "probs": [[float, ...], ...]}   (one row per item, in order)
A 4xx answer is the caller's fault and fails at once with the server's message; 5xx and timeouts are
retried with exponential back-off and then raised as ServiceError (which Prefect retries).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Self

import httpx
import numpy as np
import orjson
import pyarrow as pa

from schemas.config import ModelConfig
from tasks.errors import TerminalError
from tasks.http import make_client

__all__ = ["HttpModel"]

_JSON = {"content-type": "application/json"}


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

    def _predict_chunk(self, items: list[dict]) -> np.ndarray:
        content = orjson.dumps({"items": items})  # encoded once, in the worker thread, reused on retries
        body = self._call("POST", "/predict", content=content, headers=_JSON)
        probs = np.asarray(body["probs"], dtype=np.float64)
        if probs.shape != (len(items), len(body["classes"])):
            raise TerminalError(f"model {self.name!r}: answered {probs.shape} probabilities for {len(items)} items")
        out = np.zeros((len(items), len(self.classes)))
        for j, c in enumerate(body["classes"]):
            out[:, self.classes.index(c)] = probs[:, j]
        return out

    def predict_proba(self, batch: pa.Table) -> tuple[list[str], np.ndarray]:
        """Split into `batch_size` requests, at most `concurrency` in flight; rows keep the batch order."""
        ids = batch.column("item_id").to_pylist()
        texts = batch.column("payload").to_pylist() if "payload" in batch.column_names else [None] * len(ids)
        uris = batch.column("uri").to_pylist() if "uri" in batch.column_names else [None] * len(ids)
        size = self.cfg.batch_size
        starts = list(range(0, len(ids), size))
        if not starts:
            return list(self.classes), np.zeros((0, len(self.classes)))

        def chunk(k: int) -> np.ndarray:  # built and encoded in the worker, so the first request leaves at once
            return self._predict_chunk(
                [{"item_id": i, "text": t, "uri": u} for i, t, u in zip(ids[k : k + size], texts[k : k + size], uris[k : k + size])]
            )

        if len(starts) == 1 or self.cfg.concurrency == 1:
            parts = [chunk(k) for k in starts]
        else:
            with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
                parts = list(pool.map(chunk, starts))
        return list(self.classes), np.vstack(parts)
