"""The events of the server connection (protocol/server.py), in and out.

Frozen, slotted dataclasses, one per thing that can happen: `Event` is what
`ServerConnection.receive_data` returns, `Command` what its `send` takes.
"""

from __future__ import annotations

from dataclasses import dataclass

# ----- events out of `receive_data` -----

@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A plain HTTP request (not an upgrade): answer with `send(HttpResponse(...))`."""

    method: bytes
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()  # names lowercase (h11's)


@dataclass(frozen=True, slots=True)
class HttpBody:
    """A piece of a plain request's body, as it arrived (chunked coding removed)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class HttpBodyEnd:
    """The request's body is complete (at once for a request without one)."""


@dataclass(frozen=True, slots=True)
class Upgrade:
    """A WebSocket handshake: answer with `send(Accept())` or `send(Reject(...))`."""

    subprotocols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Message:
    """One complete binary message, admitted by the rate limit."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """The protocol's own answer (a pong): write `data`."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Refused:
    """The peer broke a rule: write `data` (may be empty), then close with `close` if set."""

    data: bytes
    close: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class PeerClosed:
    """The peer's close frame: close with its code."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Finished:
    """Closing is over: the peer's close came (`peer_closed`), or it sent too much."""

    peer_closed: bool


Event = (HttpRequest | HttpBody | HttpBodyEnd | Upgrade | Message | Reply | Refused
         | PeerClosed | Finished)


# ----- events into `send` -----

@dataclass(frozen=True, slots=True)
class Accept:
    subprotocol: str | None


@dataclass(frozen=True, slots=True)
class Reject:
    status: int
    body: bytes = b""  # text/plain when not empty


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: bytes = b"text/plain; charset=utf-8"
    headers: tuple[tuple[bytes, bytes], ...] = ()  # more headers (ETag, Retry-After, ...)
    # Keep the connection for another request if HTTP/1.1 allows it (the request's
    # body was read whole, the peer did not ask to close): then back to HANDSHAKE.
    keep_alive: bool = False


@dataclass(frozen=True, slots=True)
class HttpResponseHead:
    """A response whose `length` body bytes the server writes itself (a file, by
    sendfile) right after the head: `send` gives the head only. `headers` holds
    every header but the length and the connection's."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    length: int


@dataclass(frozen=True, slots=True)
class HttpContinue:
    """`100 Continue` to a request that sent `Expect: 100-continue`: its body is
    wanted (nothing, if it did not ask or the body already started)."""


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """Our WebSocket ping to a silent peer."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str = ""


Command = Accept | Reject | HttpContinue | HttpResponse | HttpResponseHead | KeepAlive | Close
