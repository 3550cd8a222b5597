"""Plain HTTP on the WebSocket port: /healthz and /metrics.

The first request on a connection is parsed by protocol/server.py (h11,
or wsproto for a WebSocket upgrade); a plain request gets one answer here
and the connection closes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from corpchat.protocol import CloseCode, ProtocolError
from corpchat.protocol.server import HttpRequest, HttpResponse, ServerConnection

from . import media_http
from .metrics import render

if TYPE_CHECKING:
    from .services import Running
    from .session import Session

log = logging.getLogger("corpchat.server")


class Asked(Protocol):
    """The connection a plain request came on (server/connection.py), as answered here."""

    @property
    def app(self) -> Running: ...

    @property
    def session(self) -> Session: ...

    @property
    def protocol(self) -> ServerConnection: ...

    def stop_reading(self) -> None: ...

    def start_exchange(self, fn: Callable[..., Awaitable[None]], *args: object) -> None: ...


def respond(connection: Asked, request: HttpRequest) -> None:
    """Answer a plain request, then close. /metrics is answered by a task of its own:
    its figures take a few event-loop turns (see server/metrics.py), so the
    connection stops reading and waits for it."""
    app, session = connection.app, connection.session
    if media_http.is_media(request.target):  # served by a task of the connection
        connection.stop_reading()
        connection.start_exchange(media_http.exchange, connection, request)
        return
    if _path(request) == b"/metrics" and request.method in (b"GET", b"HEAD"):
        connection.stop_reading()
        app.spawn(_metrics, app, session, connection.protocol)
        return
    session.push(connection.protocol.send(answer(app, request)))
    session.begin_close(CloseCode.NORMAL)


def answer(app: Running, request: HttpRequest) -> HttpResponse:
    """The response to a plain request other than /metrics."""
    path = _path(request)
    if request.method not in (b"GET", b"HEAD"):
        return HttpResponse(405, b"method not allowed\n")
    if path == b"/healthz":
        return HttpResponse(*((503, b"draining\n") if app.draining else (200, b"ok\n")))
    return HttpResponse(404, b"corpchat speaks WebSocket (subprotocol corpchat.v1) here\n")


async def _metrics(app: Running, session: Session, protocol: ServerConnection) -> None:
    """Never raises: it runs in the server's background nursery."""
    try:
        session.push(protocol.send(HttpResponse(200, await render(app),
                                                b"text/plain; version=0.0.4; charset=utf-8")))
    except Exception:
        log.exception("/metrics failed")
        with contextlib.suppress(ProtocolError):  # closed meanwhile: nothing to answer
            session.push(protocol.send(HttpResponse(500, b"metrics unavailable\n")))
    finally:
        session.begin_close(CloseCode.NORMAL)


def _path(request: HttpRequest) -> bytes:
    return request.target.split(b"?", 1)[0]
