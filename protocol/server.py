"""The server side of one client connection, sans-IO: bytes in, events out.

Everything that moves this state machine lives in this file. The rules:

* HANDSHAKE — the first request head. A WebSocket upgrade becomes `Upgrade`;
  the server answers `send(Accept())` (→ AWAITING_HELLO) or `send(Reject())`
  (→ CLOSED). Any other HTTP request becomes `HttpRequest` (→ ANSWERING),
  answered by `send(HttpResponse())` or `send(HttpResponseHead())` (→ CLOSING);
  `send(HttpContinue())` first tells a client that sent `Expect: 100-continue`
  to send its body.
  A head that is not HTTP, a bad handshake, or a head over MAX_HEAD_BYTES is
  `Refused` with a close.
* ANSWERING — the request's body, if it has one (Content-Length or chunked),
  as `HttpBody` events in arrival order, then `HttpBodyEnd` (at once after
  the `HttpRequest` when there is no body). Bad body framing is `Refused`
  with a close. The server may answer before the body is complete (a 413):
  the rest is then discarded as in CLOSING. It reads on only as fast as it
  consumes the body: that is the upload's backpressure. Bytes after the body
  (a pipelined request) are kept by h11, unparsed. An `HttpResponse` with
  `keep_alive`, when h11 says both sides may go on (the body was read whole,
  HTTP/1.1, no `Connection: close`), starts the next cycle: back to HANDSHAKE,
  and `pipelined()` gives the events of the bytes already kept.
* AWAITING_HELLO, then AUTHENTICATED once the server calls `authenticated()`
  (its `hello` succeeded): WebSocket messages. Each complete binary message is
  charged to the rate limit one request per WebSocket frame it arrived in, a
  ping or a pong one: admitted, it is a `Message` (a ping is answered with a
  `Reply`); refused, a `Refused` with a rate_limited error, with a close once
  more than `max_violations` requests in a row were refused (a refused ping or
  pong is dropped, unanswered). A message over `max_frame_bytes` or over
  MAX_MESSAGE_FRAMES frames, a text message, and bad framing are `Refused`
  with a close (a single-frame message ≤ 65,535 bytes is passed on: the codec
  refuses it, same code); the peer's close frame is `PeerClosed`. After an
  event that closes, nothing more is read.
* `send(Close())`: the close frame if the WebSocket is open (→ CLOSING), an
  echo of the peer's close if it closed first (→ CLOSED), else nothing
  (→ CLOSING; an answered HTTP request or handshake is CLOSING already).
* CLOSING — inbound bytes are discarded, at most `discard_bytes` of them:
  reaching the bound, or the peer's close frame where the frames can still
  be followed (not after bad framing, not before the WebSocket, not past
  CLOSING_FRAMES frames), is `Finished` (→ CLOSED). The server reads until
  then, or EOF, or its timeout: closing a socket with unread bytes sends a
  reset, which destroys what the peer has not read yet.
* CLOSED — there is nothing more to read; input is ignored.

Handshake: the common upgrade head is read by handshake.py (≈ 45 µs of h11
less per connection); wsproto reads any other head, and answers a refusal.
Framing: wsproto does every frame but one kind, always through its public
API, and is only ever fed whole frames or the rest of a frame it has begun:
`framing.frame_head` finds where each frame ends. So at a frame edge with no
fragmented message in progress, a complete masked single-frame binary
message — nearly every client request — is unmasked here
(`framing.scan_binary_frames`), and everything else (control frames,
fragments, text, bad framing) goes to wsproto, so every refusal is wsproto's.
The events, in and out, are protocol/server_events.py's (re-exported here);
the bytes it writes besides frames (error frames, HTTP answers) are server_bytes.py's.
"""

from __future__ import annotations

import re
from enum import Enum, auto

import h11
from wsproto import ConnectionType
from wsproto.connection import Connection as WebSocket
from wsproto.connection import ConnectionState
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    RejectConnection,
    RejectData,
    TextMessage,
)
from wsproto.events import Event as WsEvent
from wsproto.events import Ping as WsPing
from wsproto.events import Pong as WsPong

from . import server_bytes as wire
from .errors import CloseCode, ErrorCode, ProtocolError
from .framing import (
    BINARY_FIN,
    CLOSE_OPCODE,
    FrameHead,
    frame_head,
    scan_binary_frames,
)
from .handshake import HandshakeRefused, Upgrading
from .limits import DEFAULT_LIMITS, Limits
from .ratelimit import TokenBucket
from .server_events import (
    Accept,
    Close,
    Command,
    Event,
    Finished,
    HttpBody,
    HttpBodyEnd,
    HttpContinue,
    HttpRequest,
    HttpResponse,
    HttpResponseHead,
    KeepAlive,
    Message,
    PeerClosed,
    Refused,
    Reject,
    Reply,
    Upgrade,
)

MAX_HEAD_BYTES = 16 * 1024
# A message may arrive in at most this many WebSocket frames. Each frame costs
# wsproto ≈ 14 µs whatever its size, so without a cap a stream of empty
# continuation frames would hold the event loop with no request ever counted.
MAX_MESSAGE_FRAMES = 64
DISCARD_BYTES = 1024 * 1024  # read and dropped after our close, waiting for the peer's
# ... and at most this many of its frames are looked at to find the close frame;
# past that the bytes are only counted. A flood after the close costs no more
# than one read's worth of requests.
CLOSING_FRAMES = 512
_UPGRADE_HEADER = re.compile(rb"\r\nupgrade:[ \t]*websocket", re.IGNORECASE)

__all__ = [
    "CLOSING_FRAMES", "DISCARD_BYTES", "MAX_HEAD_BYTES", "MAX_MESSAGE_FRAMES", "Accept", "Close",
    "Command", "Event", "Finished", "HttpBody", "HttpBodyEnd", "HttpContinue", "HttpRequest",
    "HttpResponse", "HttpResponseHead", "KeepAlive", "Message", "PeerClosed", "Refused",
    "Reject", "Reply", "ServerConnection", "State", "Upgrade",
]


class State(Enum):
    HANDSHAKE = auto()
    ANSWERING = auto()  # a plain HTTP request, waiting for its response
    AWAITING_HELLO = auto()
    AUTHENTICATED = auto()
    CLOSING = auto()
    CLOSED = auto()


OPEN = (State.AWAITING_HELLO, State.AUTHENTICATED)


class ServerConnection:
    """One connection's protocol state, from the first request head to the close."""

    def __init__(self, bucket: TokenBucket, *, max_violations: int,
                 limits: Limits = DEFAULT_LIMITS, discard_bytes: int = DISCARD_BYTES) -> None:
        self.state = State.HANDSHAKE
        self.bucket = bucket
        self.max_violations = max_violations
        self.max_frame_bytes = limits.max_frame_bytes
        self.discard_bytes = discard_bytes
        # h11 for a plain request only (≈ 5 µs): made at its head, dropped at an accept.
        self._http: h11.Connection | None = None
        # wsproto's frame parser while OPEN, only while a frame needs it (websocket()).
        self._ws: WebSocket | None = None
        self._head = bytearray()  # the request head, while HANDSHAKE
        self._pending = bytearray()  # bytes at a frame edge not yet taken: a partial frame
        self._need = 0  # how long _pending must grow before it is worth parsing again
        self._rest = 0  # bytes still to come of a frame wsproto has begun
        self._fragmented = False  # a message of several frames is under way
        self._lost = False  # framing was refused: frame edges are unknown
        self._stopped = False  # an event that closes was given: read no more
        self._message = bytearray()
        self._frames = 0  # WebSocket frames of the message being received
        self._violations = 0
        self._discarded = 0
        self._frames_left = CLOSING_FRAMES  # looked at while closing
        self._events: list[Event] = []
        self._method = b""  # of a plain HTTP request
        self._request: Upgrading | None = None  # an upgrade request, until its answer
        self._upgraded = False  # accepted: no handshake or plain request any more

    # ----- input -----

    def receive_data(self, data: bytes) -> list[Event]:
        """Take bytes from the peer; return what they mean, in order."""
        if self._stopped or not data:
            return []
        state = self.state
        if state in OPEN:
            self._receive_frames(data)
        elif state is State.HANDSHAKE:
            self._receive_head(data)
        elif state is State.ANSWERING:
            self._receive_body(data)
        elif state is State.CLOSING:
            self._discard(data)
        events, self._events = self._events, []
        return events

    def authenticated(self) -> None:
        """The peer's `hello` succeeded."""
        if self.state is State.AWAITING_HELLO:
            self.state = State.AUTHENTICATED

    def _stop(self, event: Refused | PeerClosed) -> None:
        self._events.append(event)
        self._stopped = True

    def _refuse(self, data: bytes, close: int, reason: str) -> None:
        self._stop(Refused(data, close, reason))

    # ----- the request head -----

    def pipelined(self) -> list[Event]:
        """After a kept-alive answer: the events of the bytes that came after the
        last request (kept by h11), as if they had just been received."""
        if self.state is not State.HANDSHAKE or not self._head:
            return []
        self._receive_head(b"")
        events, self._events = self._events, []
        return events

    def _receive_head(self, data: bytes) -> None:
        """Until a request is parsed: a WebSocket upgrade, or plain HTTP."""
        head = self._head
        head += data
        end = head.find(b"\r\n\r\n")
        if end >= 0 and _UPGRADE_HEADER.search(head, 0, end) is not None:
            self._upgrade(end + 4)  # wsproto parses it (h11 inside): parse it once
            return
        http = self._h11()  # kept until the upgrade
        try:
            if data:  # h11 takes b"" for the peer's EOF
                http.receive_data(data)
            event = http.next_event()
        except h11.RemoteProtocolError as exc:
            self._refuse(b"", CloseCode.PROTOCOL_ERROR, f"bad HTTP: {exc}")
            return
        if event is h11.NEED_DATA:
            if len(head) > MAX_HEAD_BYTES:
                self._refuse(b"", CloseCode.PROTOCOL_ERROR, "request head too large")
        elif isinstance(event, h11.Request) and wire.is_upgrade(event):
            self._upgrade(len(head) - len(http.trailing_data[0]))
        elif isinstance(event, h11.Request):
            self.state = State.ANSWERING
            self._method = event.method
            self._events.append(HttpRequest(event.method, event.target, tuple(event.headers)))
            self._receive_body(b"")  # what came with the head
        else:
            self._refuse(b"", CloseCode.PROTOCOL_ERROR, "not an HTTP request")

    def _receive_body(self, data: bytes) -> None:
        http = self._http
        if http is None or http.their_state is not h11.SEND_BODY:
            if http is not None and data and http.their_state is h11.DONE:
                http.receive_data(data)  # a pipelined request: kept for the next cycle
            return
        try:
            if data:
                http.receive_data(data)
            while (event := http.next_event()) is not h11.NEED_DATA:
                if isinstance(event, h11.Data):
                    self._events.append(HttpBody(bytes(event.data)))
                elif isinstance(event, h11.EndOfMessage):
                    self._events.append(HttpBodyEnd())
                    return
                else:  # PAUSED: only one request per connection is served
                    return
        except h11.RemoteProtocolError as exc:
            self._refuse(b"", CloseCode.PROTOCOL_ERROR, f"bad HTTP body: {exc}")

    def _upgrade(self, end: int) -> None:
        """Read the upgrade request (handshake.py); keep what follows it for after
        the accept."""
        head, self._pending = bytes(self._head[:end]), self._head[end:]
        self._head = bytearray()
        try:
            self._request = Upgrading(head)
        except HandshakeRefused as refused:
            self._refuse(refused.answer, CloseCode.PROTOCOL_ERROR, str(refused))
            return
        self._events.append(Upgrade(self._request.subprotocols))

    # ----- frames -----

    def _receive_frames(self, data: bytes) -> None:
        if self._pending:  # appended to in place: a frame trickling in costs no copies
            self._pending += data
            if len(self._pending) < self._need:
                return
            data, self._pending, self._need = bytes(self._pending), bytearray(), 0
        at, end = 0, len(data)
        while at < end and not self._stopped:
            if self._rest:  # the rest of a frame wsproto has begun
                take = min(self._rest, end - at)
                self._rest -= take
                self._to_wsproto(data[at:at + take])
                at += take
                continue
            if not self._fragmented:  # the fast path: nearly every request
                at = self._take_binary_frames(data, at)
                if at == end or self._stopped:
                    break
            at = self._frame_to_wsproto(data, at)
            if at < 0:
                return
        if at < end:  # stopped: what follows is read, if at all, while closing
            self._pending = bytearray(data[at:])

    def _take_binary_frames(self, data: bytes, at: int) -> int:
        payloads: list[bytes] = []
        stop = scan_binary_frames(data, at, payloads)
        last = len(payloads) - 1
        for i, payload in enumerate(payloads):
            self._on_message(payload, 1)
            if self._stopped:
                self._lost = i < last  # where the next frame begins is not kept
                break
        return stop

    def _frame_to_wsproto(self, data: bytes, at: int) -> int:
        """Give wsproto the frame at `data[at]`, or as much of it as is here.

        Returns where the next frame begins, or -1 if the bytes from `at` wait
        for more (an incomplete header, or a single-frame binary message that
        the fast path will take whole)."""
        head = frame_head(data, at)
        end = len(data)
        if head is None or (head.stop > end and self._wait_whole(head)):
            self._pending = bytearray(data[at:])
            self._need = 0 if head is None else head.stop - at
            return -1
        opcode = head.opcode
        if opcode in (1, 2):
            self._fragmented = not head.fin
        elif opcode == 0 and head.fin:
            self._fragmented = False
        stop = min(head.stop, end)
        self._rest = head.stop - stop
        self._to_wsproto(data[at:stop])
        return stop

    def _wait_whole(self, head: FrameHead) -> bool:
        """Whether an incomplete frame is kept until it is whole, for the fast path: a
        single-frame binary message within the size limit, with no fragmented one under way."""
        size = head.stop - head.start
        return head.first == BINARY_FIN and not self._fragmented \
            and size <= self.max_frame_bytes and size < 65536

    def _to_wsproto(self, data: bytes) -> None:
        ws = self._websocket()
        ws.receive_data(data)
        for event in ws.events():
            self._on_ws_event(ws, event)
            if self._stopped:
                return
        self._release_websocket()

    def _websocket(self) -> WebSocket:
        """wsproto's connection, made again if it was released at a frame edge."""
        ws = self._ws
        if ws is None:  # what the accepted handshake makes: no extension is negotiated
            ws = self._ws = WebSocket(ConnectionType.SERVER)
        return ws

    def _release_websocket(self) -> None:
        """Drop wsproto's connection while it holds nothing (OPEN, at a frame edge, no
        fragmented message): a fresh one is the same parser; an idle connection keeps none."""
        ws = self._ws
        if ws is not None and not self._rest and not self._fragmented \
                and ws.state is ConnectionState.OPEN:
            self._ws = None

    def _on_ws_event(self, ws: WebSocket, event: WsEvent) -> None:
        match event:
            case BytesMessage():
                self._on_bytes(event)
            case WsPing() | WsPong() if not self._admit(1):  # refused: dropped, unanswered
                self._close_a_flood()
            case WsPing():
                self._events.append(Reply(ws.send(event.response())))
            case TextMessage():
                self._on_text(event)
            case CloseConnection() if ws.state is ConnectionState.REMOTE_CLOSING:
                self._stop(PeerClosed(event.code, event.reason or ""))
            case CloseConnection():  # wsproto's verdict on bad framing
                self._lost = True
                self._refuse(b"", event.code, event.reason or "")

    def _on_text(self, event: TextMessage) -> None:
        self._refuse(wire.error_frame(ErrorCode.BAD_FRAME, "text messages are refused"),
                     CloseCode.UNSUPPORTED_DATA, "binary msgpack frames only")

    def _on_bytes(self, event: BytesMessage) -> None:
        limit = self.max_frame_bytes
        self._frames += event.frame_finished
        if event.message_finished and not self._message and len(event.data) <= limit:
            payload = bytes(event.data)
        else:
            self._message += event.data
            if len(self._message) > limit or self._frames > MAX_MESSAGE_FRAMES:
                self._refuse(wire.error_frame(
                    ErrorCode.FRAME_TOO_LARGE,
                    f"a frame is at most {limit} bytes, in at most {MAX_MESSAGE_FRAMES} "
                    "WebSocket frames"), CloseCode.MESSAGE_TOO_BIG, "frame too large")
                return
            if not event.message_finished:
                return
            payload = bytes(self._message)
            self._message.clear()
        frames, self._frames = self._frames, 0
        self._on_message(payload, frames)

    def _on_message(self, payload: bytes, frames: int) -> None:
        if self._admit(frames):
            self._events.append(Message(payload))
            return
        refusal = wire.error_frame(ErrorCode.RATE_LIMITED, "too many requests",
                                   wire.refused_request_id(payload), self.bucket.retry_after_ms())
        self._events.append(Refused(refusal, None, "too many requests"))
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
        if self._violations > self.max_violations:
            self._refuse(b"", CloseCode.POLICY_VIOLATION, "request flood")

    # ----- closing -----

    def _discard(self, data: bytes) -> None:
        """After our close: drop what comes, watching for the peer's close frame."""
        self._discarded += len(data)
        if not self._lost and self._close_frame_in(data):
            self._finish(True)
        elif self._discarded >= self.discard_bytes:
            self._finish(False)

    def _close_frame_in(self, data: bytes) -> bool:
        if self._pending:
            data, self._pending = bytes(self._pending + data), bytearray()
        at = min(self._rest, len(data))
        self._rest -= at
        while at < len(data):
            head = frame_head(data, at)
            if head is None:
                self._pending = bytearray(data[at:])
                return False
            if head.opcode == CLOSE_OPCODE:
                return True
            self._frames_left -= 1
            if not self._frames_left:
                self._lost = True  # looked at enough: only count the rest
                return False
            self._rest = max(0, head.stop - len(data))
            at = head.stop
        return False

    def _finish(self, peer_closed: bool) -> None:
        self.state = State.CLOSED
        self._pending = bytearray()
        self._events.append(Finished(peer_closed))

    # ----- output -----

    def send(self, command: Command) -> bytes:
        """The bytes that carry `command` to the peer."""
        match command:
            case Accept(subprotocol=subprotocol):
                data = self._accept_upgrade(subprotocol)
                self._http = self._request = None
                self._upgraded = True
                self.state = State.AWAITING_HELLO
                return data
            case Reject(status=status, body=body):
                return self._reject(status, body)
            case HttpContinue():
                return self._continue()
            case HttpResponse():
                return self._respond(command)
            case HttpResponseHead():
                return self._respond_head(command)
            case KeepAlive(payload=payload):
                return self._ping(payload)
            case Close(code=code, reason=reason):
                return self._close(code, reason)
        raise ProtocolError(ErrorCode.INTERNAL_ERROR, f"cannot send {command!r}", remote=False)

    def resume(self) -> list[Event]:
        """The events of bytes that came with the handshake, once it is accepted."""
        pending, self._pending = bytes(self._pending), bytearray()
        return self.receive_data(pending) if pending else []

    def _ping(self, payload: bytes) -> bytes:
        if self.state not in OPEN:
            return b""
        data = self._websocket().send(WsPing(payload))
        self._release_websocket()  # sending leaves the inbound parser as it was
        return data

    def _accept_upgrade(self, subprotocol: str | None) -> bytes:
        return self._upgrading().accept(subprotocol)

    def _answer_upgrade(self, event: RejectConnection | RejectData) -> bytes:
        return self._upgrading().refuse(event)

    def _upgrading(self) -> Upgrading:
        if self.state is not State.HANDSHAKE or self._request is None:
            raise ProtocolError(ErrorCode.INTERNAL_ERROR, "no handshake to answer",
                                remote=False)
        return self._request

    def _reject(self, status: int, body: bytes) -> bytes:
        if not body:
            data = self._answer_upgrade(RejectConnection(status_code=status))
        else:
            data = self._answer_upgrade(RejectConnection(
                status_code=status, headers=[(b"content-type", b"text/plain")], has_body=True))
            data += self._answer_upgrade(RejectData(data=body))
        self._linger()
        return data

    def _continue(self) -> bytes:
        if self.state is not State.ANSWERING or not self._h11().they_are_waiting_for_100_continue:
            return b""
        return self._h11().send(h11.InformationalResponse(status_code=100, headers=[]))

    def _answering(self) -> bool:
        """A request waits for its answer (False: closed before it was ready, a drain)."""
        if self.state in (State.CLOSING, State.CLOSED):
            return False
        if self.state is not State.ANSWERING:
            raise ProtocolError(ErrorCode.INTERNAL_ERROR, "no request to answer", remote=False)
        return True

    def _respond(self, response: HttpResponse) -> bytes:
        if not self._answering():
            return b""
        data, kept = wire.response_bytes(self._h11(), response, self._method)
        if kept:
            self._next_cycle()
        else:
            self._linger()
        return data

    def _next_cycle(self) -> None:
        """Kept alive: wait for the next request head, with what h11 already holds."""
        http = self._h11()
        http.start_next_cycle()
        self.state, self._method = State.HANDSHAKE, b""
        self._head = bytearray(http.trailing_data[0])

    def _respond_head(self, response: HttpResponseHead) -> bytes:
        if not self._answering():
            return b""
        self._linger()  # the body bypasses h11: nothing more is sent through it
        return wire.response_head_bytes(self._h11(), response)

    def _h11(self) -> h11.Connection:
        """h11, for a plain request (made at its head, kept until the connection ends)."""
        if self._http is None:
            assert not self._upgraded, "no plain request after the upgrade"
            self._http = h11.Connection(h11.SERVER)
        return self._http

    def _linger(self) -> None:
        """CLOSING with no frames to follow: discard until the bound, EOF or the timeout."""
        self.state, self._lost, self._stopped = State.CLOSING, True, False

    def _close(self, code: int, reason: str) -> bytes:
        self._stopped = False
        if self.state in (State.CLOSING, State.CLOSED):
            return b""
        if self.state not in OPEN:  # no WebSocket: a plain request or a handshake
            self._linger()
            return b""
        ws = self._websocket()
        if ws.state is ConnectionState.OPEN:
            self.state = State.CLOSING
            return ws.send(CloseConnection(code, reason))
        self.state = State.CLOSED
        if ws.state is ConnectionState.REMOTE_CLOSING:
            return ws.send(CloseConnection(code))
        return b""

