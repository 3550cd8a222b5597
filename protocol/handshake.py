"""The common WebSocket upgrade request, read without h11 and wsproto.

Parsing a request head through wsproto (h11 inside) costs ≈ 45 µs, four
fifths of the server's sans-IO work for a connection (construct, upgrade,
accept, first frame). Nearly every head a client sends is the same few
lines, so `parse_upgrade` reads a strict subset of HTTP/1.1 itself:

- the request line `GET <target> HTTP/1.1`, the target visible ASCII;
- header lines `name: value`, names of token characters, values of visible
  ASCII and inner spaces (no tabs, no obs-text, no folding);
- exactly one Host (that Python's idna codec reads), Upgrade, Connection,
  Sec-WebSocket-Key and Sec-WebSocket-Version, and no Content-Length,
  Transfer-Encoding or Sec-WebSocket-Extensions;
- what wsproto then requires: `Connection` lists `upgrade`, `Upgrade` is
  `websocket`, the version is 13.

For such a head it gives what wsproto's `Request` would (the subprotocols,
split and stripped as wsproto splits them, and the key); for any other head,
None, and the caller hands it to wsproto, which accepts or refuses it with
its own answer. A hypothesis test (tests/protocol/test_handshake.py) holds
the two to the same result on generated heads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import RejectConnection, RejectData, Request
from wsproto.utilities import RemoteProtocolError

from .errors import ErrorCode, ProtocolError
from .framing import upgrade_accepted

__all__ = ["FastUpgrade", "HandshakeRefused", "Upgrading", "parse_upgrade"]

_REQUEST_LINE = re.compile(rb"GET [!-~]+ HTTP/1\.1\r\n")
_HEADER = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ ]*((?:[!-~](?:[ !-~]*[!-~])?)?)[ ]*\r\n")
_ONCE = frozenset({b"host", b"upgrade", b"connection", b"sec-websocket-key",
                   b"sec-websocket-version"})
_NEVER = frozenset({b"content-length", b"transfer-encoding", b"sec-websocket-extensions"})


@dataclass(frozen=True, slots=True)
class FastUpgrade:
    """A WebSocket upgrade request read by `parse_upgrade`, kept until it is answered."""

    subprotocols: tuple[str, ...]
    key: bytes
    head: bytes  # for wsproto, should the request be refused (a rare answer)


def parse_upgrade(head: bytes) -> FastUpgrade | None:
    """`head`: a whole request head, through its blank line. The request, or None
    if it is not the common kind (wsproto decides on it)."""
    line = _REQUEST_LINE.match(head)
    if line is None:
        return None
    at, end = line.end(), len(head) - 2
    if head[end:] != b"\r\n":
        return None
    once: dict[bytes, bytes] = {}
    protocols: list[bytes] = []
    while at < end:
        header = _HEADER.match(head, at, end)
        if header is None:
            return None
        at = header.end()
        name, value = header.group(1).lower(), header.group(2)
        if name in _ONCE:
            if name in once:
                return None
            once[name] = value
        elif name in _NEVER:
            return None
        elif name == b"sec-websocket-protocol":
            protocols.append(value)
    return _checked(once, protocols, head)


def _checked(once: dict[bytes, bytes], protocols: list[bytes], head: bytes) -> FastUpgrade | None:
    if len(once) != len(_ONCE):
        return None
    try:
        once[b"host"].decode("idna")  # as wsproto reads it
    except UnicodeError:
        return None
    tokens = [t.strip().lower() for t in once[b"connection"].split(b",")]
    if b"upgrade" not in tokens or once[b"upgrade"].lower() != b"websocket" \
            or once[b"sec-websocket-version"] != b"13":
        return None
    subprotocols = tuple(piece.decode("ascii").strip()
                         for value in protocols for piece in value.split(b","))
    return FastUpgrade(subprotocols, once[b"sec-websocket-key"], head)


class HandshakeRefused(Exception):
    """wsproto refused the head: `answer` (maybe empty) is its reply."""

    def __init__(self, answer: bytes, reason: str) -> None:
        super().__init__(reason)
        self.answer = answer


class Upgrading:
    """One upgrade request from its head to its answer: read here when it is the
    common kind, else by wsproto; accepted with `framing.upgrade_accepted`, refused
    with wsproto's answer (which reads the head itself, should it not have yet)."""

    __slots__ = ("head", "request", "_wsproto")

    def __init__(self, head: bytes) -> None:
        self.head = head
        self._wsproto: WSConnection | None = None
        self.request: Request | FastUpgrade = parse_upgrade(head) or self._wsproto_read()

    @property
    def subprotocols(self) -> tuple[str, ...]:
        return tuple(self.request.subprotocols)

    def accept(self, subprotocol: str | None) -> bytes:
        """wsproto's 101 for `AcceptConnection(subprotocol)`, without h11's writer."""
        request = self.request
        if subprotocol is not None and subprotocol not in request.subprotocols:
            raise ProtocolError(ErrorCode.INTERNAL_ERROR,
                                f"unexpected subprotocol {subprotocol}", remote=False)
        key = request.key if isinstance(request, FastUpgrade) else next(
            value for name, value in request.extra_headers
            if name == b"sec-websocket-key")  # wsproto refused a request without it
        return upgrade_accepted(key, subprotocol)

    def refuse(self, event: RejectConnection | RejectData) -> bytes:
        if self._wsproto is None:  # read here: wsproto reads it too, to answer it
            self.request = self._wsproto_read()
        assert self._wsproto is not None, "made by _wsproto_read"
        return self._wsproto.send(event)

    def _wsproto_read(self) -> Request:
        handshake = self._wsproto = WSConnection(ConnectionType.SERVER)
        try:
            handshake.receive_data(self.head)
            events = list(handshake.events())
        except RemoteProtocolError as exc:
            hint = exc.event_hint
            answer = b""
            if hint is not None and handshake.state is ConnectionState.CONNECTING:
                answer = handshake.send(hint)
            raise HandshakeRefused(answer, str(exc)) from None
        for event in events:
            if isinstance(event, Request):
                return event
        raise HandshakeRefused(b"", "no WebSocket request")
