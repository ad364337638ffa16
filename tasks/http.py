"""The one place that builds HTTP clients: timeouts, retries and error mapping.

Queue backends (the built-in app, Label Studio), model endpoints and HTTP sources all get their
`httpx.Client` from `make_client`, so all of them behave alike:
- connect errors, timeouts, dropped connections and 5xx are retried with exponential back-off;
  when the attempts run out they raise `ServiceError` (transient: Prefect retries the task);
- 4xx raise `RequestRefusedError` (terminal) carrying the status and the server's own message.
Retrying a POST is safe for the services annoflow calls because their APIs are idempotent (push on assignment id, submit
on client id, cancel, next returns the lease already held).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from tasks.errors import RequestRefusedError, ServiceError

__all__ = ["RequestRefusedError", "RetryTransport", "make_client", "server_message"]

log = logging.getLogger("annoflow.http")

_RETRY_EXC = (httpx.TransportError,)  # connect/read/write errors, timeouts, protocol errors


def server_message(response: httpx.Response) -> tuple[str | None, str]:
    """(error code, human message) from a JSON error body of the app or Label Studio, else the text."""
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:500] or response.reason_phrase
    if isinstance(body, dict):
        code = body.get("error") if isinstance(body.get("error"), str) else None
        msg = body.get("message") or body.get("detail") or body.get("validation_errors") or body
        return code, str(msg)[:1000]
    return None, str(body)[:1000]


class RetryTransport(httpx.BaseTransport):
    """Retries transport errors and 5xx with exponential back-off, then raises `ServiceError`."""

    def __init__(self, inner: httpx.BaseTransport, *, retries: int = 5, backoff: float = 0.2,
                 max_backoff: float = 5.0) -> None:
        self.inner, self.retries, self.backoff, self.max_backoff = inner, retries, backoff, max_backoff

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.inner.handle_request(request)
            except _RETRY_EXC as e:
                if last:
                    raise ServiceError(
                        f"{request.method} {request.url} failed after {attempt + 1} attempts: {e!r}; "
                        "is the service running at that address?"
                    ) from e
                log.warning("%s %s: %r; retrying in %.2fs", request.method, request.url, e, delay)
            else:
                if response.status_code < 500:
                    return response
                response.read()
                if last:
                    _, msg = server_message(response)
                    raise ServiceError(
                        f"{request.method} {request.url} answered {response.status_code} after "
                        f"{attempt + 1} attempts: {msg}"
                    )
                response.close()
                log.warning("%s %s: HTTP %d; retrying in %.2fs", request.method, request.url,
                            response.status_code, delay)
            time.sleep(delay)
            delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.inner.close()


def _raise_for_4xx(response: httpx.Response) -> None:
    if 400 <= response.status_code < 500:
        response.read()
        code, msg = server_message(response)
        req = response.request
        raise RequestRefusedError(f"{req.method} {req.url} was refused ({response.status_code}): {msg}",
                                response.status_code, code)


def make_client(
    base_url: str,
    token: str | None = None,
    *,
    timeout: float = 30.0,
    connect_timeout: float = 5.0,
    retries: int = 5,
    backoff: float = 0.2,
    headers: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    auth_scheme: str = "Bearer",
    **kwargs: Any,
) -> httpx.Client:
    """An `httpx.Client` for `base_url` with bearer auth, timeouts, retries and 4xx → `RequestRefusedError`.

    `transport` lets unit tests pass an `httpx.MockTransport`; it is wrapped by the retry layer too.
    """
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"{auth_scheme} {token}"
    inner = transport or httpx.HTTPTransport(limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        headers=hdrs,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        transport=RetryTransport(inner, retries=retries, backoff=backoff),
        event_hooks={"response": [_raise_for_4xx]},
        **kwargs,
    )
