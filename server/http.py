"""Plain HTTP on the WebSocket port: /healthz, /metrics and the web client (server/web.py).

The first request on a connection is parsed by protocol/server.py (h11,
or wsproto for a WebSocket upgrade); a plain request gets one answer here
and the connection closes. API requests (server/api/exchange.py) may keep
it alive for more API requests; another kind that follows comes back here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from corpchat.protocol import CloseCode, ProtocolError
from corpchat.protocol.server import HttpRequest, HttpResponse, ServerConnection

from . import media_http, web
from .api.exchange import exchange as api_exchange
from .api.exchange import is_api
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
    if is_api(request.target):  # the JSON routes read their body (and the next request
        connection.stop_reading()  # on a kept-alive connection) in a task of their own
        connection.start_exchange(api_exchange, connection, app.api, request,
                                  app.config.platform, respond)
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
    static = web.lookup(path)
    if static is not None:
        return _static(request, static)
    return HttpResponse(404, b"corpchat speaks WebSocket (subprotocol corpchat.v1) here\n")


def _static(request: HttpRequest, file: web.StaticFile) -> HttpResponse:
    headers = dict(request.headers)
    reply = web.answer(file, if_none_match=headers.get(b"if-none-match"), host=headers.get(b"host"))
    return HttpResponse(reply.status, reply.body, file.content_type, tuple(reply.headers))


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
