"""A lean WebSocket client connection for the load generator.

How it works: wsproto performs the opening handshake (HTTP upgrade, the
subprotocol) and serializes every frame we send (masked, as a client
must). Inbound frames take a short path of our own instead of wsproto's
event machinery, because the generator must receive and check at least
50,000 deliveries/s on one core and wsproto spends ≈ 10 µs per inbound
frame (measured here, CPython 3.11), more than the whole budget allows.
Server frames are unmasked and we negotiate no extensions, so parsing one
is a header of 2, 4 or 10 bytes and a slice: `_parse` handles the common
case (a complete binary message) inline and hands fragments and control
frames (ping, close) to `_control`.

I/O follows the server's pattern (docs/architecture.md, "the path of one
message", step 6): `send` writes straight to the non-blocking socket with
no await, keeping only what the kernel did not take for the connection's
writer task. Reading is shared: one
`ReadHub` task per worker waits on all sockets at once (a private epoll
set) and calls `on_payload(bytes)` for each binary message, with no await
per frame and no wake-up per connection. Every wait is bounded by the
caller's deadlines; a protocol fault or a broken socket ends the
connection, never the process.
"""

from __future__ import annotations

import itertools
import os
import select
import socket
import struct
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, RejectConnection, Request
from wsproto.frame_protocol import FrameProtocol

from corpchat.protocol import SUBPROTOCOL

READ_BYTES = 256 * 1024
MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # above the server's largest page
HANDSHAKE_BYTES = 64 * 1024

_IOV_MAX = 64
_OP_CONT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x2, 0x8, 0x9, 0xA


class WsError(Exception):
    """The connection could not be opened, or the server broke the protocol."""


def parse_url(url: str) -> tuple[str, int, str]:
    """(host, port, resource) of a ws:// URL."""
    parts = urlsplit(url)
    if parts.scheme != "ws" or not parts.hostname:
        raise ValueError(f"expected a ws://HOST:PORT/ URL, got {url!r}")
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, parts.port or 80, resource


class WsConnection:
    """One client WebSocket connection; `on_payload` sees each binary message."""

    def __init__(self, on_payload: Callable[[bytes], None]) -> None:
        self.on_payload = on_payload
        self.stream: trio.SocketStream | None = None
        self.fd = -1
        self.close_code: int | None = None  # from the server's close frame
        self.closed = trio.Event()  # set when the connection is over, for any reason
        self.error: str | None = None
        self._proto = FrameProtocol(client=True, extensions=[])
        self._buf = b""
        self._fragments: list[bytes] | None = None
        self._out: deque[bytes | bytearray] = deque()
        self._head_sent = 0
        self._blocked = False
        self._wake = trio.Event()
        self.hub: ReadHub | None = None
        self.ended_by_us = False  # abort() or aclose(): not a disconnect to report

    async def open(self, url: str) -> bytes:
        """Connect and finish the handshake; returns bytes that came after it."""
        host, port, resource = parse_url(url)
        self.stream = await trio.open_tcp_stream(host, port)
        self.fd = self.stream.socket.fileno()
        ws = WSConnection(ConnectionType.CLIENT)
        await self.stream.send_all(ws.send(Request(host=f"{host}:{port}", target=resource,
                                                   subprotocols=[SUBPROTOCOL])))
        received = 0
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                raise WsError("closed during the handshake")
            received += len(data)
            if received > HANDSHAKE_BYTES:
                raise WsError("handshake reply too large")
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    # Anything after the 101 reply went into wsproto's frame
                    # parser; the server sends nothing before our hello.
                    return b"".join(e.data for e in ws.events() if isinstance(e, BytesMessage))
                if isinstance(event, RejectConnection):
                    raise WsError(f"handshake refused with HTTP {event.status_code}")

    # ----- sending: straight to the socket, no await -----

    def send(self, payload: bytes) -> None:
        """Queue one binary message and write what the kernel takes now."""
        if self.closed.is_set():
            return
        self._out.append(self._proto.send_data(payload, True))
        if not self._blocked:
            self._flush()

    def _send_control(self, frame: bytes) -> None:
        if not self.closed.is_set():
            self._out.append(frame)
            if not self._blocked:
                self._flush()

    def _flush(self) -> None:
        out = self._out
        while out:
            chunks: list[bytes | bytearray | memoryview] = list(itertools.islice(out, 0, _IOV_MAX))
            if self._head_sent:
                chunks[0] = memoryview(chunks[0])[self._head_sent:]
            offered = sum(map(len, chunks))
            try:
                sent = os.writev(self.fd, chunks)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._broken(f"write failed: {exc}")
                return
            done = sent + self._head_sent
            while out and done >= len(out[0]):
                done -= len(out.popleft())
            self._head_sent = done
            if sent < offered:
                self._blocked = True
                self._wake.set()
                return
        self._blocked = False

    async def writer(self) -> None:
        """Wait for room whenever the kernel's buffer was full; return once closed.

        Cancel-safe: unwritten bytes stay in the buffer.
        """
        while not self.closed.is_set():
            await self._wake.wait()
            self._wake = trio.Event()
            while self._blocked and not self.closed.is_set():
                await trio.lowlevel.wait_writable(self.fd)
                self._flush()

    # ----- receiving -----

    def on_readable(self) -> None:
        """Read once and handle every complete frame (called by the ReadHub)."""
        try:
            data = os.read(self.fd, READ_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            self._broken(f"read failed: {exc}")
            return
        if not data:
            self._broken("closed by the server")
            return
        try:
            self._parse(data)
        except WsError as exc:
            self._broken(str(exc))

    def feed(self, data: bytes) -> None:
        """Parse bytes that arrived outside the reader (e.g. with the handshake)."""
        self._parse(data)

    def _parse(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        end = len(buf)
        i = 0
        on_payload = self.on_payload
        while end - i >= 2:
            b0, b1 = buf[i], buf[i + 1]
            n = b1 & 0x7F
            h = i + 2
            if n == 126:
                if end - i < 4:
                    break
                n = (buf[h] << 8) | buf[h + 1]
                h += 2
            elif n == 127:
                if end - i < 10:
                    break
                (n,) = struct.unpack_from("!Q", buf, h)
                h += 8
            if b1 & 0x80 or b0 & 0x70 or n > MAX_MESSAGE_BYTES:
                raise WsError("bad frame from the server (masked, RSV bits or too large)")
            if h + n > end:
                break
            if b0 == 0x82 and self._fragments is None:  # FIN + binary: the common case
                on_payload(buf[h:h + n])
            else:
                self._control(b0, buf[h:h + n])
            i = h + n
        self._buf = buf[i:] if i < end else b""

    def _control(self, b0: int, payload: bytes) -> None:
        fin, op = b0 & 0x80, b0 & 0x0F
        if op == _OP_PING:
            self._send_control(bytes(self._proto.pong(payload)))
        elif op == _OP_PONG:
            pass
        elif op == _OP_CLOSE:
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self._send_control(bytes(self._proto.close(1000)))
            self._broken(f"closed by the server with {self.close_code}")
        elif op == _OP_BINARY and self._fragments is None:
            self._fragments = [payload]
        elif op == _OP_CONT and self._fragments is not None:
            self._fragments.append(payload)
            if sum(map(len, self._fragments)) > MAX_MESSAGE_BYTES:
                raise WsError("fragmented message too large")
            if fin:
                message, self._fragments = b"".join(self._fragments), None
                self.on_payload(message)
        else:
            raise WsError(f"unexpected frame opcode {op} from the server")

    # ----- closing -----

    def _broken(self, reason: str) -> None:
        if self.error is None:
            self.error = reason
        if self.hub is not None:
            self.hub.discard(self)
        self.closed.set()
        self._wake.set()

    def abort(self) -> None:
        """Drop the connection without a close handshake (a reset, like a lost network)."""
        self.ended_by_us = True
        if self.stream is not None and self.fd >= 0:
            try:
                self.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                              struct.pack("ii", 1, 0))
            except OSError:
                pass
        self._broken("aborted")

    async def aclose(self, code: int = 1000) -> None:
        """Send a close frame if possible, then close the socket. Cancel-safe."""
        self.ended_by_us = True
        if not self.closed.is_set() and self.stream is not None:
            self._send_control(bytes(self._proto.close(code)))
        self._broken("closed by us")
        if self.stream is not None:
            await trio.aclose_forcefully(self.stream)


class ReadHub:
    """One task reads every connection of a worker.

    The connections' sockets sit in a private, level-triggered epoll set;
    the hub waits (through trio) until that set is readable, then asks the
    kernel which sockets have data and lets each read once and parse. So a
    busy generator pays one trio wake-up per round, not one per connection
    per frame; a connection with more data is simply reported again next
    round, which keeps the rounds fair.
    """

    MAX_EVENTS = 1024

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._conns: dict[int, WsConnection] = {}

    def add(self, conn: WsConnection) -> None:
        self._conns[conn.fd] = conn
        conn.hub = self
        try:
            self._epoll.register(conn.fd, select.EPOLLIN | select.EPOLLRDHUP)
        except FileExistsError:  # a reused fd number whose old socket is gone
            self._epoll.modify(conn.fd, select.EPOLLIN | select.EPOLLRDHUP)

    def discard(self, conn: WsConnection) -> None:
        if self._conns.get(conn.fd) is conn:
            del self._conns[conn.fd]
            try:
                self._epoll.unregister(conn.fd)
            except (OSError, ValueError):
                pass

    async def run(self) -> None:
        """Serve reads until cancelled."""
        epoll_fd = self._epoll.fileno()
        conns = self._conns
        try:
            while True:
                await trio.lowlevel.wait_readable(epoll_fd)
                for fd, _ in self._epoll.poll(0, self.MAX_EVENTS):
                    conn = conns.get(fd)
                    if conn is not None:
                        conn.on_readable()
        finally:
            self._epoll.close()
