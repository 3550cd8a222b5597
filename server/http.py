"""Plain HTTP on the WebSocket port: /healthz, /metrics and the web client (server/web.py).

The first request on a connection is parsed with h11. A WebSocket upgrade
is handed, bytes and all, to wsproto; anything else gets one plain answer
and the connection closes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import h11

from corpchat.protocol import CloseCode

from . import web
from .metrics import render

if TYPE_CHECKING:
    from .app import App
    from .connection import Connection
    from .session import Session

log = logging.getLogger("corpchat.server")

MAX_HEAD_BYTES = 16 * 1024


def is_upgrade(request: h11.Request) -> bool:
    return any(name == b"upgrade" and b"websocket" in value.lower()
               for name, value in request.headers)


def respond(connection: Connection, conn: h11.Connection, request: h11.Request) -> None:
    """Answer a plain request, then close. /metrics is answered by a task of its own:
    its figures take a few event-loop turns (see server/metrics.py), so the
    connection stops reading and waits for it."""
    app, session = connection.app, connection.session
    if _path(request) == b"/metrics" and request.method in (b"GET", b"HEAD"):
        connection.stop_reading()
        app.spawn(_metrics, app, session, conn)
        return
    session.push(answer(app, conn, request))
    session.begin_close(CloseCode.NORMAL)


def answer(app: App, conn: h11.Connection, request: h11.Request) -> bytes:
    """The whole response to a plain request other than /metrics, as bytes."""
    path = _path(request)
    if request.method not in (b"GET", b"HEAD"):
        return _response(conn, 405, b"method not allowed\n")
    if path == b"/healthz":
        return _response(conn, *((503, b"draining\n") if app.draining else (200, b"ok\n")))
    static = web.lookup(path)
    if static is not None:
        return _static(conn, request, static)
    return _response(conn, 404, b"corpchat speaks WebSocket (subprotocol corpchat.v1) here\n")


def _static(conn: h11.Connection, request: h11.Request, file: web.StaticFile) -> bytes:
    headers = dict(request.headers)  # h11 lowercases the names
    reply = web.answer(file, head=request.method == b"HEAD",
                       if_none_match=headers.get(b"if-none-match"), host=headers.get(b"host"))
    parts = [conn.send(h11.Response(status_code=reply.status,
                                    headers=[*reply.headers, (b"connection", b"close")]))]
    if reply.body:
        parts.append(conn.send(h11.Data(data=reply.body)))
    parts.append(conn.send(h11.EndOfMessage()))
    return b"".join(parts)


async def _metrics(app: App, session: Session, conn: h11.Connection) -> None:
    """Never raises: it runs in the server's background nursery."""
    try:
        session.push(_response(conn, 200, await render(app),
                               b"text/plain; version=0.0.4; charset=utf-8"))
    except Exception:
        log.exception("/metrics failed")
        session.push(_response(conn, 500, b"metrics unavailable\n"))
    finally:
        session.begin_close(CloseCode.NORMAL)


def _path(request: h11.Request) -> bytes:
    return request.target.split(b"?", 1)[0]


def _response(conn: h11.Connection, status: int, body: bytes,
              kind: bytes = b"text/plain; charset=utf-8") -> bytes:
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    return b"".join([conn.send(h11.Response(status_code=status, headers=headers)),
                     conn.send(h11.Data(data=body)), conn.send(h11.EndOfMessage())])
