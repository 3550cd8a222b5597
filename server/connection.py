"""One client connection: WebSocket handshake, reading, timeouts, closing.

Task tree per connection: this handler runs the reader in a nursery and
waits in the session's writer (server/session.py) until the session
decides to close; then it sends the WebSocket close frame, shuts down
writing and reads (discarding) until the client's close frame or EOF, all
within `close_timeout_s`, and closes the socket. Any
exception in the reader closes this connection with 1011 and nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import h11
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection as WebSocket
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from corpchat.protocol import SUBPROTOCOL, CloseCode, ErrorCode, ProtocolError, decode_map
from corpchat.protocol.codec import request_id

from .audit import session_closed
from .http import MAX_HEAD_BYTES, is_upgrade, respond
from .hub import error_frame
from .ratelimit import TokenBucket
from .session import Session
from .wsframes import take_binary_frames

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("corpchat.server")
RECEIVE_BYTES = 65536
_UPGRADE_HEADER = re.compile(rb"\r\nupgrade:[ \t]*websocket", re.IGNORECASE)
# A message may arrive in at most this many WebSocket frames. Each frame costs
# wsproto ≈ 14 µs whatever its size, so without a cap a stream of empty
# continuation frames would hold the event loop with no request ever counted.
MAX_MESSAGE_FRAMES = 64
# After its close frame the server reads and discards at most this much while
# it waits for the peer's close (Connection._discard_until_peer_closes): 16 reads.
LINGER_DISCARD_BYTES = 16 * RECEIVE_BYTES
# ... and parses at most this many of its frames (≈ 14 µs each in wsproto) to
# find the close frame; past that it only discards, until EOF. A flood after
# the close costs no more than one read's worth of rate-limited requests.
LINGER_PARSED_EVENTS = 512


class Connection:
    def __init__(self, app: App, stream: trio.SocketStream,
                 on_authenticated: Callable[[], None] = lambda: None) -> None:
        self.app = app
        self.stream = stream
        self.on_authenticated = on_authenticated  # past `hello`: no longer capped at accept
        self.ws: WSConnection | WebSocket = WSConnection(ConnectionType.SERVER)
        config = app.config
        self.session = Session(stream.socket.fileno(), _peer(stream),
                               config.outbound_buffer_bytes, app.clock.now_ms())
        self.bucket = TokenBucket(config.requests_per_s, config.request_burst, app.clock)
        self._message = bytearray()
        self._frames = 0  # WebSocket frames of the message being received
        self._http: h11.Connection | None = h11.Connection(h11.SERVER)  # until the upgrade
        self._head = bytearray()
        self._violations = 0
        self._pinged = False
        self._heard = 0.0  # trio time of the last read (the idle timer re-arms from it)
        self.reader_scope = trio.CancelScope()
        self._tasks: trio.Nursery | None = None  # the connection's own, while it runs
        # wsproto refused the client's framing: it cannot find a close frame after it.
        self.framing_failed = False

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
            session.mark_dead()
            await trio.aclose_forcefully(self.stream)
            if session.close_code == CloseCode.RESYNC_REQUIRED:
                log.warning("slow consumer %s closed: resync", session.id)
            session_closed(session)

    def stop_reading(self) -> None:
        self.reader_scope.cancel()

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
                    while session.user is None and not session.closing:
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
        elif self._http is not None:
            self._on_request_head(data)
        else:
            self._on_websocket_data(data)

    async def _read(self) -> bytes:
        """Wait until the socket is readable, then read what is there.

        One scheduling round per read: trio's `receive_some` costs two (a
        checkpoint after the read, and a wait after the EAGAIN of the next) and a
        wasted `recv`. Cancel-safe: nothing is read once the wait is cancelled.
        """
        fd = self.session.fd
        while True:
            await trio.lowlevel.wait_readable(fd)
            try:
                return os.read(fd, RECEIVE_BYTES)
            except BlockingIOError:
                continue

    def _on_request_head(self, data: bytes) -> None:
        """Until the first request is parsed: a WebSocket upgrade, or plain HTTP."""
        http = self._http
        assert http is not None
        self._head += data
        if _complete_upgrade(self._head):  # wsproto parses it (h11 inside): parse it once
            head, self._head, self._http = bytes(self._head), bytearray(), None
            self._on_websocket_data(head)
            return
        try:
            http.receive_data(data)
            event = http.next_event()
        except h11.RemoteProtocolError as exc:
            self.session.begin_close(CloseCode.PROTOCOL_ERROR, f"bad HTTP: {exc}")
            return
        if event is h11.NEED_DATA:
            if len(self._head) > MAX_HEAD_BYTES:
                self.session.begin_close(CloseCode.PROTOCOL_ERROR, "request head too large")
            return
        if isinstance(event, h11.Request) and is_upgrade(event):
            head, self._head, self._http = bytes(self._head), bytearray(), None
            self._on_websocket_data(head)
        elif isinstance(event, h11.Request):
            respond(self, http, event)
        else:
            self.session.begin_close(CloseCode.PROTOCOL_ERROR, "not an HTTP request")

    def _on_websocket_data(self, data: bytes) -> None:
        if _at_frame_edge(self.ws):  # the common case, without wsproto's parser
            payloads, data = take_binary_frames(data)
            for payload in payloads:
                self._on_bytes(BytesMessage(data=payload))
                if self.session.closing:
                    self.ws.receive_data(data)  # wsproto keeps step: it finds the peer's close
                    return
            if not data:
                return
        try:
            self.ws.receive_data(data)
            for event in self.ws.events():
                self._on_event(event)
                if self.session.closing:
                    return
        except RemoteProtocolError as exc:
            self._reject(exc)

    def _on_idle(self) -> None:
        if self._pinged:
            self.session.begin_close(CloseCode.TIMEOUT, "idle timeout")
        else:
            self._pinged = True
            self.session.push(self.ws.send(Ping(b"corpchat")))

    def _reject(self, exc: RemoteProtocolError) -> None:
        self.framing_failed = True
        if self.ws.state is ConnectionState.CONNECTING and exc.event_hint is not None:
            self.session.push(self.ws.send(exc.event_hint))
        self.session.begin_close(CloseCode.PROTOCOL_ERROR, str(exc))

    def _on_event(self, event: Event) -> None:
        session = self.session
        match event:
            case BytesMessage():
                self._on_bytes(event)
            case Request():
                self._accept(event)
            case Ping() | Pong() if not self._admit(1):  # refused: dropped, unanswered
                self._close_a_flood()
            case Ping():
                session.push(self.ws.send(event.response()))
            case TextMessage():
                session.push(error_frame(ErrorCode.BAD_FRAME, "text messages are refused"))
                session.begin_close(CloseCode.UNSUPPORTED_DATA, "binary msgpack frames only")
            case CloseConnection():  # the client's close, or wsproto's verdict on bad framing
                self.framing_failed = self.ws.state is ConnectionState.OPEN  # a verdict
                session.begin_close(event.code, event.reason or "")

    def _accept(self, request: Request) -> None:
        if self.app.draining:
            self.session.push(self.ws.send(RejectConnection(status_code=503)))
            self.session.begin_close(CloseCode.GOING_AWAY, "draining")
            return
        if SUBPROTOCOL not in request.subprotocols:
            body = f"use the WebSocket subprotocol {SUBPROTOCOL}\n".encode()
            self.session.push(self.ws.send(RejectConnection(
                status_code=400, headers=[(b"content-type", b"text/plain")], has_body=True)))
            self.session.push(self.ws.send(RejectData(data=body)))
            self.session.begin_close(CloseCode.PROTOCOL_ERROR, "no subprotocol")
            return
        self.session.push(self.ws.send(AcceptConnection(subprotocol=SUBPROTOCOL)))
        # Keep only the WebSocket connection: the HTTP handshake state (h11) is
        # dead weight for the rest of a long-lived connection.
        self.ws = self.ws.connection

    def _on_bytes(self, event: BytesMessage) -> None:
        limit = self.app.config.limits.max_frame_bytes
        self._frames += event.frame_finished
        if event.message_finished and not self._message:
            payload = event.data
        else:
            self._message += event.data
            if len(self._message) > limit or self._frames > MAX_MESSAGE_FRAMES:
                self.session.push(error_frame(
                    ErrorCode.FRAME_TOO_LARGE,
                    f"a frame is at most {limit} bytes, in at most {MAX_MESSAGE_FRAMES} "
                    "WebSocket frames"))
                self.session.begin_close(CloseCode.MESSAGE_TOO_BIG, "frame too large")
                return
            if not event.message_finished:
                return
            payload = bytes(self._message)
            self._message.clear()
        frames, self._frames = self._frames, 0
        self._on_payload(payload, frames)

    def _on_payload(self, payload: bytes, frames: int) -> None:
        if self._admit(frames):
            self.app.handlers.handle(self.session, payload)
            return
        self.session.push(error_frame(ErrorCode.RATE_LIMITED, "too many requests",
                                      _request_id(payload), self.bucket.retry_after_ms()))
        self._close_a_flood()

    def _admit(self, frames: int) -> bool:
        """Charge the rate limit one request per WebSocket frame: a message costs
        as many as it arrived in, a ping or a pong one. False: refused."""
        if self.bucket.take(min(frames, self.bucket.burst)):
            self._violations = 0
            return True
        self._violations += frames
        return False

    def _close_a_flood(self) -> None:
        if self._violations > self.app.config.max_rate_violations:
            self.session.begin_close(CloseCode.POLICY_VIOLATION, "request flood")

    async def _close(self) -> None:
        """Send the close frame, shut down writing, and read until the peer's close
        frame or EOF (`_discard_until_peer_closes`); all within `close_timeout_s`."""
        session = self.session
        if session.dead:
            return
        code = session.close_code or CloseCode.NORMAL
        if self.ws.state is ConnectionState.OPEN:
            session.queue_close_frame(self.ws.send(CloseConnection(code, session.close_reason)))
        elif self.ws.state is ConnectionState.REMOTE_CLOSING:
            session.queue_close_frame(self.ws.send(CloseConnection(code)))
        with trio.move_on_after(self.app.config.close_timeout_s):
            async with trio.open_nursery() as nursery:
                # Read while flushing too: a client that writes before it reads
                # would wait for us to read while we wait for it to read.
                nursery.start_soon(self._discard_until_peer_closes)
                await session.flush_all()
                if session.dead:
                    nursery.cancel_scope.cancel()
                    return
                with contextlib.suppress(OSError):  # the peer reads EOF after our close frame
                    self.stream.socket.shutdown(socket.SHUT_WR)

    async def _discard_until_peer_closes(self) -> None:
        """Read and discard until the peer's close frame or EOF.

        Closing a socket with unread bytes makes the kernel answer with a reset,
        and a reset destroys what the peer has not read yet — the error frame,
        the close frame. At most LINGER_DISCARD_BYTES are read: past that the
        peer is flooding, not closing.
        """
        ws = self.ws
        if isinstance(ws, WebSocket) and ws.state is ConnectionState.CLOSED:
            return  # the peer's close frame came first
        # Only a stream wsproto has followed so far can show the peer's close frame.
        following = ws if isinstance(ws, WebSocket) and not self.framing_failed \
            and ws.state is ConnectionState.LOCAL_CLOSING else None
        discarded, events_left = 0, LINGER_PARSED_EVENTS
        while discarded < LINGER_DISCARD_BYTES:
            try:
                data = await self._read()
            except OSError:  # a reset: the peer is gone
                return
            if not data:
                return
            discarded += len(data)
            if following is not None:
                events_left = _follow(following, data, events_left)
                if ws.state is ConnectionState.CLOSED:
                    return
                if not events_left:
                    following = None


def _follow(ws: WebSocket, data: bytes, events_left: int) -> int:
    """Parse bytes read after our close frame (wsproto moves to CLOSED at the
    peer's close). Returns how many more events may be parsed: 0 once the
    stream cannot be followed, or has cost its share of parsing."""
    try:
        ws.receive_data(data)
        for event in ws.events():
            events_left -= 1
            if isinstance(event, CloseConnection) or not events_left:  # the peer's, or bad framing
                return 0
    except (RemoteProtocolError, LocalProtocolError):
        return 0
    return events_left


def _request_id(payload: bytes) -> int | None:
    """The `id` of a refused request, so the client knows which one it was."""
    try:
        return request_id(decode_map(payload))
    except ProtocolError:
        return None


def _complete_upgrade(head: bytearray) -> bool:
    """A whole request head with `Upgrade: websocket`: wsproto takes it as it is
    (and refuses it properly if it is a bad handshake). Anything else — plain
    HTTP, other line endings, an odd header — goes through h11 first, as ever."""
    end = head.find(b"\r\n\r\n")
    return end >= 0 and _UPGRADE_HEADER.search(head, 0, end) is not None


def _at_frame_edge(ws: WSConnection | WebSocket) -> bool:
    """An open WebSocket with no partial frame, message or event inside wsproto:
    the next bytes may be parsed by `take_binary_frames` first. (Reads wsproto
    1.x internals; any doubt sends the bytes through wsproto itself.)"""
    if type(ws) is not WebSocket or ws.state is not ConnectionState.OPEN or ws._events:
        return False
    proto = ws._proto
    decoder = proto._frame_decoder
    return decoder.header is None and not decoder.buffer.buffer \
        and proto._message_decoder.opcode is None and not proto.extensions


def _peer(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
        return f"{host}:{port}"
    except OSError:
        return "?"
