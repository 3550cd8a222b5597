"""Bytes protocol/server.py's ServerConnection writes besides WebSocket frames, sans-IO:
error frames, and plain HTTP answers on the WebSocket port through h11 (the connection's
rules are stated there)."""

from __future__ import annotations

import h11

from .codec import decode_map, encode, request_id
from .errors import ProtocolError
from .frames_core import Error
from .framing import binary_frame
from .server_events import HttpResponse, HttpResponseHead

__all__ = [
    "error_frame", "is_upgrade", "refused_request_id", "response_bytes", "response_head_bytes",
]


def error_frame(code: str, message: str, re: int | None = None,
                retry_after_ms: int | None = None) -> bytes:
    return binary_frame(encode(Error(code=code, message=message, re=re,
                                     retry_after_ms=retry_after_ms)))


def response_bytes(http: h11.Connection, response: HttpResponse,
                   method: bytes) -> tuple[bytes, bool]:
    """A whole response's bytes, and whether the connection goes on to another request
    (asked for with `keep_alive`, and h11 says both sides may: the body was read whole,
    HTTP/1.1, no `Connection: close`)."""
    body = response.body
    keep = response.keep_alive and http.their_state is h11.DONE
    headers = [(b"content-type", response.content_type), *response.headers]
    if not keep:
        headers.append((b"connection", b"close"))
    if response.status != 304:
        headers.append((b"content-length", str(len(body)).encode()))
    if method == b"HEAD" or response.status == 304:
        body = b""  # h11 sends no body for these
    data = b"".join([http.send(h11.Response(status_code=response.status, headers=headers)),
                     http.send(h11.Data(data=body)), http.send(h11.EndOfMessage())])
    return data, keep and http.our_state is h11.DONE and http.their_state is h11.DONE


def response_head_bytes(http: h11.Connection, response: HttpResponseHead) -> bytes:
    """A response head whose body the server writes itself, bypassing h11 (then closes)."""
    headers = [*response.headers, (b"content-length", str(response.length).encode()),
               (b"connection", b"close")]
    return http.send(h11.Response(status_code=response.status, headers=headers))


def is_upgrade(request: h11.Request) -> bool:
    return any(name == b"upgrade" and b"websocket" in value.lower()
               for name, value in request.headers)


def refused_request_id(payload: bytes) -> int | None:
    """The `id` of a refused request, so the client knows which one it was."""
    try:
        return request_id(decode_map(payload))
    except ProtocolError:
        return None
