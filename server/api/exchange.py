"""One API request on a connection: its whole (bounded) body, the router's answer.

The connection's reader has stopped (server/http.py); this task reads the rest
of the request itself through the connection's sans-IO protocol, as the media
exchange does, but keeps the body whole: a JSON body is small, and over
PlatformCaps.max_body_bytes it is refused with 413 before more is read.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from corpchat.protocol.server import HttpBody, HttpBodyEnd, HttpRequest, HttpResponse, State

from .router import ApiError, ApiResponse, Router, error_response

log = logging.getLogger("corpchat.api")

PREFIXES = (b"/api/", b"/hooks/")


def is_api(target: bytes) -> bool:
    return target.startswith(PREFIXES)


class _Gone(Exception):
    """The client closed, stalled or broke the framing mid-body."""


async def exchange(connection: Any, router: Router, request: HttpRequest,
                   max_body_bytes: int, timeout_s: float) -> None:
    """Serve one API request, then close the connection. Never raises."""
    session, protocol = connection.session, connection.protocol
    try:
        answer = _precheck(request, max_body_bytes)
        if answer is None:
            with trio.move_on_after(timeout_s) as late:
                body = await _whole_body(connection, max_body_bytes)
            if late.cancelled_caught:
                raise _Gone()
            if body is None:
                answer = error_response(ApiError(413, "too_large",
                                                 f"the body is over {max_body_bytes} bytes"))
            else:
                answer = await router.dispatch(request.method.decode("latin-1"),
                                               request.target.decode("latin-1"),
                                               request.headers, body)
        if protocol.state is State.ANSWERING:
            session.push(protocol.send(_http(answer)))
    except _Gone:
        session.mark_dead()
    except Exception:
        log.exception("API exchange failed")
        if protocol.state is State.ANSWERING:
            session.push(protocol.send(_http(error_response(
                ApiError(500, "internal_error", "internal error")))))
    finally:
        session.begin_close(1000)


def _precheck(request: HttpRequest, max_body_bytes: int) -> ApiResponse | None:
    for name, value in request.headers:
        if name == b"content-length" and value.isdigit() and int(value) > max_body_bytes:
            return error_response(ApiError(413, "too_large",
                                           f"the body is over {max_body_bytes} bytes"))
    return None


def _http(answer: ApiResponse) -> HttpResponse:
    return HttpResponse(answer.status, answer.body, answer.content_type, answer.headers)


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
