"""Plain HTTP on the WebSocket port: /healthz and /metrics.

The first request on a connection is parsed with h11. A WebSocket upgrade
is handed, bytes and all, to wsproto; anything else gets one plain answer
and the connection closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import h11

from .metrics import render

if TYPE_CHECKING:
    from .app import App

MAX_HEAD_BYTES = 16 * 1024


def is_upgrade(request: h11.Request) -> bool:
    return any(name == b"upgrade" and b"websocket" in value.lower()
               for name, value in request.headers)


def answer(app: App, conn: h11.Connection, request: h11.Request) -> bytes:
    """The whole response to a plain request, as bytes."""
    path = request.target.split(b"?", 1)[0]
    if request.method not in (b"GET", b"HEAD"):
        return _response(conn, 405, b"method not allowed\n")
    if path == b"/healthz":
        return _response(conn, *((503, b"draining\n") if app.draining else (200, b"ok\n")))
    if path == b"/metrics":
        return _response(conn, 200, render(app), b"text/plain; version=0.0.4; charset=utf-8")
    return _response(conn, 404, b"corpchat speaks WebSocket (subprotocol corpchat.v1) here\n")


def _response(conn: h11.Connection, status: int, body: bytes,
              kind: bytes = b"text/plain; charset=utf-8") -> bytes:
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    return b"".join([conn.send(h11.Response(status_code=status, headers=headers)),
                     conn.send(h11.Data(data=body)), conn.send(h11.EndOfMessage())])
