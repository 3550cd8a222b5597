"""One client connection: a read/write/timer loop around protocol/server.py.

Every protocol state — the handshake, message reassembly, the frame caps,
the rate limit, closing — lives in the sans-IO `ServerConnection`; this
module reads the socket, hands it the bytes, acts on the events, and keeps
the timers (handshake, idle ping, close), as hypercorn's `TCPServer` does.

Task tree per connection: this handler's own task reads; the session starts
a writer task only while the kernel has no room (server/session.py; under
TLS the writer runs throughout), so an idle connection is one task and no
nursery of its own. The connection's other tasks (that writer, an HTTP
exchange) run in the accept loop's nursery as `ConnectionTasks`: cancelled
and waited for before the socket closes, an exception in one logged and
closing this connection (1011) only. When the session decides to close it cancels the
read; then the handler sends the WebSocket close frame, shuts down writing
and reads (discarding) until the client's close frame or EOF, all within
`close_timeout_s`, and closes the socket. Any exception in the reader
closes this connection with 1011 and nothing else.
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

from .admission import Unauthenticated
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
    # Slots: one per connection, thousands at once (a __dict__ would be ≈ 400 bytes more).
    __slots__ = ("app", "stream", "_place", "_registry", "tls", "socket", "session",
                 "protocol",
                 "_pinged", "_heard", "_scope", "_stopped", "_closed", "_tasks", "_http_events")

    def __init__(self, app: Running,
                 stream: trio.SocketStream | trio.SSLStream[trio.SocketStream],
                 nursery: trio.Nursery, place: Unauthenticated,
                 registry: set[Connection]) -> None:
        self.app = app
        self.stream = stream
        self._place = place  # among the unauthenticated until `hello` (server/admission.py)
        self._registry = registry  # the server's connections: `run` leaves it at its end
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
        # The reader's current cancel scope (the handshake's deadline, then one per
        # silence): stopping or closing cancels it. One scope at a time, not one more
        # around them all (≈ 550 bytes per idle connection).
        self._scope: trio.CancelScope | None = None
        self._stopped = False  # stop_reading: a drain or an exchange took over
        self._closed: trio.Event | None = None  # waited on once reading stopped (a drain)
        # Its tasks besides the reader, in `nursery` (the accept loop's).
        self._tasks = ConnectionTasks(nursery, self._task_failed)
        # A plain request's body events, for the exchange serving it (media_http);
        # made with the first one, so a WebSocket connection carries no deque.
        self._http_events: deque[Event] | None = None

    def _protocol(self) -> ServerConnection:
        config = self.app.config
        bucket = TokenBucket(config.requests_per_s, config.request_burst, self.app.clock)
        return ServerConnection(bucket, max_violations=config.max_rate_violations,
                                limits=config.limits, discard_bytes=LINGER_DISCARD_BYTES)

    async def run(self) -> None:
        """Serve the connection to its end, then leave the registry. Cancel-safe; never
        raises. The task's one coroutine frame while idle (≈ 250 bytes each: no
        context manager's generator, no caller's frame above it)."""
        session = self.session
        try:
            try:
                session.attach(self._tasks.start, self._interrupted)
                try:  # the reader is this task (and this frame): one per idle connection
                    if await self._handshake():
                        self.on_authenticated()
                        await self._serve_requests()
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    session.mark_dead()
                except Exception:
                    log.exception("reader of %s failed", session.id)
                    session.begin_close(CloseCode.INTERNAL_ERROR, "internal error")
                finally:
                    if not self._stopped:  # a server drain closes later, itself
                        session.begin_close(CloseCode.NORMAL, "")
                if not session.closing:  # reading was stopped (a drain, an exchange)
                    self._closed = trio.Event()
                    await self._closed.wait()
                await session.settle()
            finally:
                await self._tasks.end()
            session.detach()
            await self._close()
        except Exception:
            log.exception("connection %s failed", session.id)
        finally:
            try:
                await self._end()
            finally:
                self._registry.discard(self)
                self._place.release()

    def on_authenticated(self) -> None:
        """Past `hello` (or a valid token on plain HTTP): no longer capped as an
        unauthenticated connection."""
        self._place.release()

    async def _end(self) -> None:
        session = self.session
        session.detach()
        self.app.hub.unregister(session)
        if self.tls is not None and not session.dead:
            await _send_close_notify(self.tls)
        session.mark_dead()
        await trio.aclose_forcefully(self.stream)
        if session.close_code == CloseCode.RESYNC_REQUIRED:
            log.warning("slow consumer %s closed: resync", session.id)
        session_closed(session)

    def stop_reading(self) -> None:
        self._stopped = True
        self._cancel_read()

    def _interrupted(self) -> None:
        """The session decided to close: stop reading, or stop waiting for it."""
        self._cancel_read()
        if self._closed is not None:
            self._closed.set()

    def _cancel_read(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

    @property
    def _reading(self) -> bool:
        return not (self._stopped or self.session.closing)

    async def read(self, max_bytes: int = RECEIVE_BYTES) -> bytes:
        """One read of the peer's bytes (decrypted under TLS; b"" at EOF), for an
        exchange that took over reading (server/media_http.py)."""
        return await self._read(max_bytes)

    def start_exchange(self, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run a plain HTTP exchange (a media upload or download) as a task of this
        connection: cancelled when it closes, and done before its socket closes."""
        self._tasks.start(fn, *args)

    def _task_failed(self) -> None:
        log.exception("a task of connection %s failed", self.session.id)
        self.session.begin_close(CloseCode.INTERNAL_ERROR, "internal error")

    @property
    def http_events(self) -> deque[Event]:
        if self._http_events is None:
            self._http_events = deque()
        return self._http_events

    async def _handshake(self) -> bool:
        """Read until `hello` succeeded, within `handshake_timeout_s`: whether it did."""
        deadline = trio.current_time() + self.app.config.handshake_timeout_s
        with trio.CancelScope(deadline=deadline) as self._scope:
            while self.protocol.state is not State.AUTHENTICATED and self._reading:
                await self._receive()
        self._scope = None
        if self._reading and self.protocol.state is not State.AUTHENTICATED:
            self.session.begin_close(CloseCode.TIMEOUT, "handshake timeout")
        return self._reading

    async def _serve_requests(self) -> None:
        """Read requests until the session closes; ping a silent client, then drop it.

        One cancel scope per silence. A read does not move its deadline (that costs
        a heap entry per read); when the deadline passes, a read since the silence
        began re-arms the timer from that read instead.
        """
        session, config = self.session, self.app.config
        since = trio.current_time()  # when the current silence began
        while self._reading:
            with trio.CancelScope(deadline=since + self._idle_budget()) as idle:
                self._scope = idle
                while self._reading:
                    if session.inflight >= config.max_inflight_per_session:
                        session.room = trio.Event()
                        await session.room.wait()
                    elif self.tls is None:  # one coroutine frame less per idle connection
                        await trio.lowlevel.wait_readable(session.fd)
                        self._read_now()
                    else:
                        await self._receive()
            self._scope = None
            if idle.cancelled_caught and self._reading:
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
        if self.tls is None:
            await trio.lowlevel.wait_readable(self.session.fd)
            self._read_now()
        else:
            self._take(await self._read())

    def _read_now(self) -> None:
        """Read a readable plain socket (a wake-up for nothing reads nothing)."""
        try:
            data = os.read(self.session.fd, RECEIVE_BYTES)
        except BlockingIOError:
            return  # woken for nothing: the caller waits again
        self._take(data)

    def _take(self, data: bytes) -> None:
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


class ConnectionTasks:
    """A connection's tasks besides its reader, in a nursery it shares (the accept
    loop's), so that an idle connection needs no nursery of its own (≈ 1 KB each:
    the nursery, its cancel scope and status, its children's set). Until `end()`
    they may be started; `end()` cancels them and waits until they are done —
    shielded, so the socket never closes under one — as a nursery's exit would.
    Nothing is allocated until a task starts (most connections never start one)."""

    __slots__ = ("_nursery", "_on_failure", "_scopes", "_left", "_done")

    def __init__(self, nursery: trio.Nursery, on_failure: Callable[[], None]) -> None:
        self._nursery: trio.Nursery | None = nursery
        self._on_failure = on_failure
        self._scopes: set[trio.CancelScope] | None = None  # made with the first task
        self._left = 0  # tasks started and not yet ended
        self._done: trio.Event | None = None

    async def end(self) -> None:
        """Nothing more starts; what was started is cancelled and waited for."""
        self._nursery = None
        for scope in self._scopes or ():
            scope.cancel()
        if self._left:
            self._done = trio.Event()
            with trio.CancelScope(shield=True):
                await self._done.wait()

    def start(self, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        """Start a task of the connection; nothing once it is ending (a closing
        session flushes by itself)."""
        if self._nursery is None:
            return
        self._left += 1
        if self._scopes is None:
            self._scopes = set()
        self._nursery.start_soon(self._run, fn, args)

    async def _run(self, fn: Callable[..., Awaitable[None]], args: tuple[object, ...]) -> None:
        scope = trio.CancelScope()
        if self._nursery is None:  # the connection ended before this task began
            scope.cancel()
        scopes = self._scopes
        assert scopes is not None, "made by start"
        scopes.add(scope)
        try:
            with scope:
                await fn(*args)
        except Exception:
            self._on_failure()
        finally:
            scopes.discard(scope)
            self._left -= 1
            if not self._left and self._done is not None:
                self._done.set()
