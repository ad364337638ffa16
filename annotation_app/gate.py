"""The request gate: who is calling and how large a body they may send, decided from the headers alone.

Why a raw ASGI middleware in front of everything: FastAPI reads and parses a request's whole body
before it runs the route's dependencies, so a token check in a route came after parsing a body of
any size from anyone (a 200 MB anonymous POST once cost the app 674 MB). The gate resolves the
bearer token first (the admin token, or an annotator's token from the in-memory table) and then:
- an unknown caller may send no body at all: 401 before a byte of it is read;
- an annotator may send a small body (an answer is a few labels), the pipeline a large one (bulk
  pushes); a declared Content-Length over the caller's limit is answered 413 before reading;
- a chunked body is counted as it arrives and refused as soon as it passes the limit.
Refusals before the body is read close the connection, so the rest of the body is never read either.
The resolved caller is left in the request state, so routes authorise without parsing the header again.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from annotation_app.core import Annotator, Queue, hash_token

__all__ = ["ADMIN", "ANNOTATOR_MAX_BODY", "RequestGate"]

ADMIN = "admin"
ANNOTATOR_MAX_BODY = 64 * 1024


class RequestGate:
    """ASGI middleware; see the module docstring. Limits are in bytes."""

    def __init__(self, app: ASGIApp, *, queue: Queue, admin_token: str, admin_max_body: int,
                 annotator_max_body: int = ANNOTATOR_MAX_BODY) -> None:
        self.app = app
        self.queue = queue
        self.admin_token = admin_token.encode()
        self.limits = {ADMIN: admin_max_body, "annotator": annotator_max_body}

    def _identify(self, authorization: bytes | None) -> Annotator | str | None:
        if authorization is None or authorization[:7].lower() != b"bearer ":
            return None
        token = authorization[7:].strip()
        if hmac.compare_digest(token, self.admin_token):
            return ADMIN
        return self.queue.by_token.get(hash_token(token.decode("latin-1")))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = length = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        who = self._identify(authorization)
        scope.setdefault("state", {})["caller"] = who
        declared = int(length) if length is not None and length.isdigit() else None
        if who is None:
            if chunked or (declared or 0) > 0:
                await _refuse(401, "unauthorized", "a request with a body needs 'Authorization: Bearer <token>' "
                              "(the admin token or an annotator's token); the body was not read")(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        role = ADMIN if who == ADMIN else "annotator"
        limit = self.limits[role]
        if declared is not None and declared > limit:
            await _refuse(413, "body_too_large", _too_large(role, limit, f"{declared} bytes"))(scope, receive, send)
            return
        if chunked:  # without Content-Length or chunked encoding an HTTP/1.1 request has no body
            receive = _capped(receive, limit, role)
        await self.app(scope, receive, send)


def _too_large(role: str, limit: int, got: str) -> str:
    hint = "; push fewer tasks per request (queue.push_batch)" if role == ADMIN else ""
    return f"request body of {got} is over the {limit}-byte limit for {role} requests{hint}"


def _refuse(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers={"connection": "close"})


def _capped(receive: Receive, limit: int, role: str) -> Receive:
    """`receive` that fails with 413 once the body read so far passes `limit`."""
    seen = 0

    async def wrapped() -> Any:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, _too_large(role, limit, f"more than {limit} bytes"),
                                    headers={"connection": "close"})
        return message

    return wrapped
