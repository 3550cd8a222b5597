"""API requests on a connection: each one's whole (bounded) body, the router's answer,
and HTTP/1.1 keep-alive for the next.

The connection's reader has stopped (server/http.py); this task reads the rest
of the request itself through the connection's sans-IO protocol, as the media
exchange does, but keeps the body whole: a JSON body is small, and over
PlatformCaps.max_body_bytes it is refused with 413 before more is read.

Keep-alive (a robot or an app posting many times): after an answer the protocol
goes back to waiting for a request head when HTTP/1.1 allows it (h11 decides:
the body was read whole, no `Connection: close`, not HTTP/1.0). The connection
is then kept for at most `keepalive_requests` requests, each within
`keepalive_idle_s` of the last answer; a server that drains answers with
`Connection: close`. Only API requests are served on a kept connection: any
other request that follows is handed back to server/http.py (answered, then the
connection closes), and a WebSocket upgrade must be a connection's first request.
A kept connection still counts as unauthenticated for the per-address limits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from corpchat.protocol.server import (
    HttpBody,
    HttpBodyEnd,
    HttpRequest,
    HttpResponse,
    Reject,
    State,
    Upgrade,
)

from ..request_body import body_chunks
from .router import ApiError, ApiResponse, BodyGone, Router, error_response
from .settings import PlatformCaps

log = logging.getLogger("corpchat.api")

PREFIXES = (b"/api/", b"/hooks/")


def is_api(target: bytes) -> bool:
    return target.startswith(PREFIXES)


_Gone = BodyGone  # the client closed, stalled or broke the framing mid-body


async def exchange(connection: Any, router: Router, request: HttpRequest, caps: PlatformCaps,
                   hand_back: Callable[[Any, HttpRequest], None]) -> None:
    """Serve API requests on the connection while it is kept alive, from `request`
    on; then close it, or hand a request of another kind to `hand_back` (the plain
    HTTP responder). Never raises."""
    served = 0
    next_request: HttpRequest | None = request
    try:
        while next_request is not None:
            served += 1
            keep = served < caps.keepalive_requests and not connection.app.draining
            if not await _serve_one(connection, router, next_request, caps, keep):
                break
            if connection.protocol.state is not State.HANDSHAKE:
                break  # answered with close (h11 said so, or the limit)
            next_request = await _next_request(connection, caps.keepalive_idle_s)
            if next_request is not None and not is_api(next_request.target):
                hand_back(connection, next_request)  # it closes the connection itself
                return
    finally:
        connection.session.begin_close(1000)


async def _serve_one(connection: Any, router: Router, request: HttpRequest,
                     caps: PlatformCaps, keep: bool) -> bool:
    """Answer one request; False when the connection is closing (or gone)."""
    session, protocol = connection.session, connection.protocol
    method, target = request.method.decode("latin-1"), request.target.decode("latin-1")
    try:
        answer: ApiResponse | None = None
        if router.streams(method, target):  # an upload: its own limits, read as it comes
            answer = await router.dispatch(method, target, request.headers, b"",
                                           body_chunks(connection, caps.body_timeout_s, _Gone))
        else:
            answer = _precheck(request, caps.max_body_bytes)
        if answer is None:
            with trio.move_on_after(caps.body_timeout_s) as late:
                body = await _whole_body(connection, caps.max_body_bytes)
            if late.cancelled_caught:
                raise _Gone()
            if body is None:
                answer = error_response(ApiError(
                    413, "too_large", f"the body is over {caps.max_body_bytes} bytes"))
            else:
                answer = await router.dispatch(method, target, request.headers, body)
        if protocol.state is State.ANSWERING:
            session.push(protocol.send(_http(answer, keep)))
        return True
    except _Gone:
        session.mark_dead()
    except Exception:
        log.exception("API exchange failed")
        if protocol.state is State.ANSWERING:
            session.push(protocol.send(_http(error_response(
                ApiError(500, "internal_error", "internal error")), False)))
    return False


async def _next_request(connection: Any, idle_s: float) -> HttpRequest | None:
    """The next request head on a kept connection (its body events queued for
    `_whole_body`), or None: idle past `idle_s`, EOF, bad HTTP, or an upgrade."""
    protocol, events = connection.protocol, connection.http_events
    events.clear()
    pending = list(protocol.pipelined())
    with trio.move_on_after(idle_s):
        while True:
            for i, event in enumerate(pending):
                if isinstance(event, HttpRequest):
                    events.extend(pending[i + 1:])
                    return event
                if isinstance(event, Upgrade):
                    connection.session.push(protocol.send(Reject(
                        400, b"a WebSocket handshake must be a connection's first request\n")))
                return None  # Refused: bad HTTP (the protocol stopped reading)
            if protocol.state is not State.HANDSHAKE:
                return None
            try:
                data = await connection.read()
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                connection.session.mark_dead()
                return None
            pending = protocol.receive_data(data)
    return None  # idle: closed like any idle HTTP connection


def _precheck(request: HttpRequest, max_body_bytes: int) -> ApiResponse | None:
    for name, value in request.headers:
        if name == b"content-length" and value.isdigit() and int(value) > max_body_bytes:
            return error_response(ApiError(413, "too_large",
                                           f"the body is over {max_body_bytes} bytes"))
    return None


def _http(answer: ApiResponse, keep_alive: bool) -> HttpResponse:
    return HttpResponse(answer.status, answer.body, answer.content_type, answer.headers,
                        keep_alive)


async def _whole_body(connection: Any, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` (the rest is left unread)."""
    events, protocol = connection.http_events, connection.protocol
    parts: list[bytes] = []
    size = 0
    while True:
        while events:
            event = events.popleft()
            if isinstance(event, HttpBody):
                size += len(event.data)
                if size > limit:
                    return None
                parts.append(event.data)
            elif isinstance(event, HttpBodyEnd):
                return b"".join(parts)
            else:  # bad framing (Refused): the protocol stopped reading
                raise _Gone()
        if protocol.state is not State.ANSWERING:
            raise _Gone()
        data = await connection.read()  # decrypted under TLS; b"" at EOF
        if not data:
            raise _Gone()
        events.extend(protocol.receive_data(data))
