"""The one httpx client factory: every service call (sources, model endpoints, queues) gets the same
timeouts, connection-level retries and mapping of failures onto the error tree."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from tasks.errors import InputError, ServiceError, TerminalError

__all__ = ["make_client", "raise_for_status", "with_retries"]

T = TypeVar("T")


def make_client(base_url: str = "", *, timeout: float = 30.0, token: str | None = None, retries: int = 3) -> httpx.Client:
    """A client with bounded timeouts; connect errors are retried by the transport itself."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.HTTPTransport(retries=retries)
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers=headers,
        transport=transport,
        follow_redirects=True,
    )


def raise_for_status(resp: httpx.Response, what: str) -> None:
    """5xx -> ServiceError (retried); 4xx -> TerminalError with the server's own message."""
    if resp.status_code < 400:
        return
    body = resp.text[:500]
    msg = f"{what}: HTTP {resp.status_code} from {resp.request.method} {resp.request.url}: {body}"
    if resp.status_code >= 500 or resp.status_code == 429:
        raise ServiceError(msg)
    if resp.status_code == 404:
        raise InputError(msg)
    raise TerminalError(msg)


def with_retries(call: Callable[[], T], what: str, attempts: int = 4, backoff: float = 0.5) -> T:
    """Run `call`, retrying timeouts, connection errors and ServiceError with exponential back-off."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (httpx.TimeoutException, httpx.TransportError, ServiceError) as e:
            if attempt == attempts:
                if isinstance(e, ServiceError):
                    raise
                raise ServiceError(f"{what}: {type(e).__name__}: {e} (after {attempts} attempts)") from None
            time.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
