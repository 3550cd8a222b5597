"""One client connection: a read/write/timer loop around protocol/server.py.

Every protocol state — the handshake, message reassembly, the frame caps,
the rate limit, closing — lives in the sans-IO `ServerConnection`; this
module reads the socket, hands it the bytes, acts on the events, and keeps
the timers (handshake, idle ping, close), as hypercorn's `TCPServer` does.

Task tree per connection: this handler runs the reader in a nursery and
waits in the session's writer (server/session.py) until the session
decides to close; then it sends the WebSocket close frame, shuts down
writing and reads (discarding) until the client's close frame or EOF, all
within `close_timeout_s`, and closes the socket. Any exception in the
reader closes this connection with 1011 and nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from corpchat.protocol import SUBPROTOCOL, CloseCode
from corpchat.protocol.ratelimit import TokenBucket
from corpchat.protocol.server import (
    Accept,
    Close,
    Event,
    HttpBody,
    HttpBodyEnd,
    HttpRequest,
    KeepAlive,
    Message,
    PeerClosed,
    Refused,
    Reject,
    Reply,
    ServerConnection,
    State,
    Upgrade,
)

from .audit import session_closed
from .http import respond
from .session import Session
from .tls_session import TlsSession

if TYPE_CHECKING:
    from .services import Running

log = logging.getLogger("corpchat.server")
RECEIVE_BYTES = 65536
# After its close frame the server reads and discards at most this much while
# it waits for the peer's close (Connection._discard_until_peer_closes): 16 reads.
LINGER_DISCARD_BYTES = 16 * RECEIVE_BYTES


class Connection:
    def __init__(self, app: Running,
                 stream: trio.SocketStream | trio.SSLStream[trio.SocketStream],
                 on_authenticated: Callable[[], None] = lambda: None) -> None:
        self.app = app
        self.stream = stream
        self.on_authenticated = on_authenticated  # past `hello`: no longer capped at accept
        config = app.config
        # TLS: every byte through the SSLStream (server/tls.py); plain: the descriptor.
        self.tls = stream if isinstance(stream, trio.SSLStream) else None
        raw = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
        self.socket = raw.socket
        if self.tls is not None:
            self.session: Session = TlsSession(self.tls, _peer(raw), config.outbound_buffer_bytes,
                                               app.clock.now_ms(), config.close_timeout_s)
        else:
            self.session = Session(raw.socket.fileno(), _peer(raw),
                                   config.outbound_buffer_bytes, app.clock.now_ms())
        self.protocol = self._protocol()
        self._pinged = False
        self._heard = 0.0  # trio time of the last read (the idle timer re-arms from it)
        self.reader_scope = trio.CancelScope()
        self._tasks: trio.Nursery | None = None  # the connection's own, while it runs
        # A plain request's body events, for the exchange serving it (media_http).
        self.http_events: deque[Event] = deque()

    def _protocol(self) -> ServerConnection:
        config = self.app.config
        bucket = TokenBucket(config.requests_per_s, config.request_burst, self.app.clock)
        return ServerConnection(bucket, max_violations=config.max_rate_violations,
                                limits=config.limits, discard_bytes=LINGER_DISCARD_BYTES)

    async def run(self) -> None:
        """Serve the connection to its end. Cancel-safe; never raises."""
        session = self.session
        try:
            async with trio.open_nursery() as nursery:
                self._tasks = nursery
                nursery.start_soon(self._reader)
                await session.writer()
                nursery.cancel_scope.cancel()
            await self._close()
        except Exception:
            log.exception("connection %s failed", session.id)
        finally:
            self.app.hub.unregister(session)
            if self.tls is not None and not session.dead:
                await _send_close_notify(self.tls)
            session.mark_dead()
            await trio.aclose_forcefully(self.stream)
            if session.close_code == CloseCode.RESYNC_REQUIRED:
                log.warning("slow consumer %s closed: resync", session.id)
            session_closed(session)

    def stop_reading(self) -> None:
        self.reader_scope.cancel()

    async def read(self, max_bytes: int = RECEIVE_BYTES) -> bytes:
        """One read of the peer's bytes (decrypted under TLS; b"" at EOF), for an
        exchange that took over reading (server/media_http.py)."""
        return await self._read(max_bytes)

    def start_exchange(self, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run a plain HTTP exchange (a media upload or download) as a task of this
        connection: cancelled when it closes, and done before its socket closes."""
        assert self._tasks is not None, "the connection is not running"
        self._tasks.start_soon(fn, *args)

    async def _reader(self) -> None:
        session = self.session
        try:
            with self.reader_scope:
                with trio.fail_after(self.app.config.handshake_timeout_s):
                    while self.protocol.state is not State.AUTHENTICATED \
                            and not session.closing:
                        await self._receive()
                self.on_authenticated()
                await self._serve_requests()
        except trio.TooSlowError:
            session.begin_close(CloseCode.TIMEOUT, "handshake timeout")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            session.mark_dead()
        except Exception:
            log.exception("reader of %s failed", session.id)
            session.begin_close(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            if not self.reader_scope.cancel_called:  # a server drain closes later, itself
                session.begin_close(CloseCode.NORMAL, "")

    async def _serve_requests(self) -> None:
        """Read requests until the session closes; ping a silent client, then drop it.

        One cancel scope per silence. A read does not move its deadline (that costs
        a heap entry per read); when the deadline passes, a read since the silence
        began re-arms the timer from that read instead.
        """
        session, config = self.session, self.app.config
        since = trio.current_time()  # when the current silence began
        while not session.closing:
            with trio.CancelScope(deadline=since + self._idle_budget()) as idle:
                while not session.closing:
                    if session.inflight >= config.max_inflight_per_session:
                        session.room = trio.Event()
                        await session.room.wait()
                        continue
                    await self._receive()
            if idle.cancelled_caught:
                if self._heard > since:
                    since = self._heard
                    continue
                since = trio.current_time()
                self._on_idle()

    def _idle_budget(self) -> float:
        config = self.app.config
        return config.idle_timeout_s - config.ping_interval_s if self._pinged \
            else config.ping_interval_s

    async def _receive(self) -> None:
        data = await self._read()
        self._pinged = False
        self._heard = trio.current_time()
        if not data:
            self.session.mark_dead()
        else:
            self._on_events(self.protocol.receive_data(data))

    async def _read(self, max_bytes: int = RECEIVE_BYTES) -> bytes:
        """Wait until the socket is readable, then read what is there.

        One scheduling round per read: trio's `receive_some` costs two (a
        checkpoint after the read, and a wait after the EAGAIN of the next) and a
        wasted `recv`. Cancel-safe: nothing is read once the wait is cancelled.
        """
        if self.tls is not None:
            data = await self.tls.receive_some(max_bytes)
            return data if isinstance(data, bytes) else bytes(data)
        fd = self.session.fd
        while True:
            await trio.lowlevel.wait_readable(fd)
            try:
                return os.read(fd, max_bytes)
            except BlockingIOError:
                continue

    def _on_events(self, events: list[Event]) -> None:
        session = self.session
        for event in events:
            self._on_event(event)
            if session.closing:
                return

    def _on_event(self, event: Event) -> None:
        session = self.session
        match event:
            case Message(payload=payload):
                self._on_payload(payload)
            case Reply(data=data):
                session.push(data)
            case Refused(data=data, close=close, reason=reason):
                if data:
                    session.push(data)
                if close is not None:
                    session.begin_close(close, reason)
            case PeerClosed(code=code, reason=reason):
                session.begin_close(code, reason)
            case Upgrade():
                self._accept(event)
            case HttpRequest():
                respond(self, event)
            case HttpBody() | HttpBodyEnd():  # read by the exchange the request started
                self.http_events.append(event)

    def _on_payload(self, payload: bytes) -> None:
        session = self.session
        self.app.handlers.handle(session, payload)
        if session.user is not None and self.protocol.state is State.AWAITING_HELLO:
            self.protocol.authenticated()

    def _accept(self, upgrade: Upgrade) -> None:
        session, protocol = self.session, self.protocol
        if self.app.draining:
            session.push(protocol.send(Reject(503)))
            session.begin_close(CloseCode.GOING_AWAY, "draining")
        elif SUBPROTOCOL not in upgrade.subprotocols:
            session.push(protocol.send(Reject(
                400, f"use the WebSocket subprotocol {SUBPROTOCOL}\n".encode())))
            session.begin_close(CloseCode.PROTOCOL_ERROR, "no subprotocol")
        else:
            session.push(protocol.send(Accept(SUBPROTOCOL)))
            self._on_events(protocol.resume())  # frames that came with the handshake

    def _on_idle(self) -> None:
        if self._pinged:
            self.session.begin_close(CloseCode.TIMEOUT, "idle timeout")
        else:
            self._pinged = True
            self.session.push(self.protocol.send(KeepAlive(b"corpchat")))

    async def _close(self) -> None:
        """Send the close frame, shut down writing, and read until the peer's close
        frame or EOF (`_discard_until_peer_closes`); all within `close_timeout_s`."""
        session = self.session
        if session.dead:
            return
        frame = self.protocol.send(Close(session.close_code or CloseCode.NORMAL,
                                         session.close_reason))
        if frame:
            session.queue_close_frame(frame)
        with trio.move_on_after(self.app.config.close_timeout_s):
            async with trio.open_nursery() as nursery:
                # Read while flushing too: a client that writes before it reads
                # would wait for us to read while we wait for it to read.
                nursery.start_soon(self._discard_until_peer_closes)
                await session.flush_all()
                if session.dead:
                    nursery.cancel_scope.cancel()
                    return
                if self.tls is not None:
                    if not frame:  # an HTTP answer: its end is our close_notify, at once
                        nursery.cancel_scope.cancel()
                    return  # (a bare FIN would cut TLS's record stream: no half-close)
                with contextlib.suppress(OSError):  # the peer reads EOF after our close frame
                    self.socket.shutdown(socket.SHUT_WR)

    async def _discard_until_peer_closes(self) -> None:
        """Read and discard until the protocol's closing is over (the peer's close
        frame, or LINGER_DISCARD_BYTES read: past that the peer is flooding, not
        closing) or EOF.

        Closing a socket with unread bytes makes the kernel answer with a reset,
        and a reset destroys what the peer has not read yet — the error frame,
        the close frame.
        """
        protocol = self.protocol
        while protocol.state is State.CLOSING:
            try:
                data = await self._read()
            except (OSError, trio.BrokenResourceError):  # a reset: the peer is gone
                return
            if not data:
                return
            protocol.receive_data(data)


async def _send_close_notify(tls: trio.SSLStream[trio.SocketStream]) -> None:
    """End a TLS connection with close_notify (the peer knows no bytes were cut),
    within a second, even while the server is being cancelled."""
    with trio.CancelScope(shield=True, deadline=trio.current_time() + 1.0):
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await tls.aclose()


def _peer(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
        return f"{host}:{port}"
    except OSError:
        return "?"
