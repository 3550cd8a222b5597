"""ServerConnection, the server's side of a connection, sans-IO (protocol/server.py).

Tables of cases, each fed whole, byte by byte and split at every point (the
events must not depend on how the bytes arrive); the rate limit on a
ManualClock; the closing state; and hypothesis: any bytes give events or
our ProtocolError, never another exception, and the messages are the ones
wsproto itself would assemble.
"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection as WebSocket
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import FrameProtocol, Opcode

from corpchat.protocol import SUBPROTOCOL, CloseCode, ErrorCode, ProtocolError
from corpchat.protocol.clock import ManualClock
from corpchat.protocol.limits import Limits
from corpchat.protocol.ratelimit import TokenBucket
from corpchat.protocol.server import (
    CLOSING_FRAMES,
    MAX_MESSAGE_FRAMES,
    Accept,
    Close,
    Finished,
    HttpBody,
    HttpBodyEnd,
    HttpRequest,
    HttpResponse,
    HttpResponseHead,
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

UPGRADE = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Protocol: corpchat.v1\r\n\r\n")


def connection(burst: int = 1000, rate: float = 1000.0, clock: ManualClock | None = None,
               max_violations: int = 3, **limits: int) -> ServerConnection:
    bucket = TokenBucket(rate, burst, clock or ManualClock())
    return ServerConnection(bucket, max_violations=max_violations, limits=Limits(**limits))


def client() -> WebSocket:
    return WebSocket(ConnectionType.CLIENT)


def data(payload: bytes, fin: bool = True, opcode: Opcode = Opcode.BINARY) -> bytes:
    return FrameProtocol(client=True, extensions=[]).send_data(payload, fin) \
        if opcode is Opcode.BINARY else bytes(client().send(TextMessage(payload.decode())))


def fragments(payload: bytes, n: int) -> bytes:
    """One binary message in `n` frames (the first n - 1 of them empty)."""
    proto = FrameProtocol(client=True, extensions=[])
    return b"".join(proto.send_data(b"", False) for _ in range(n - 1)) \
        + proto.send_data(payload, True)


CLOSE_FRAME = bytes(client().send(CloseConnection(1000)))


def opened(**kwargs: int) -> ServerConnection:
    conn = connection(**kwargs)
    [event] = conn.receive_data(UPGRADE)
    assert event == Upgrade((SUBPROTOCOL,))
    assert conn.send(Accept(SUBPROTOCOL)).startswith(b"HTTP/1.1 101 ")
    return conn


def chunkings(wire: bytes) -> list[list[bytes]]:
    """The bytes whole, byte by byte, and split in two at every point."""
    ways = [[wire], [wire[i:i + 1] for i in range(len(wire))]]
    ways += [[wire[:i], wire[i:]] for i in range(1, len(wire))]
    return ways


def feed(conn: ServerConnection, chunks: list[bytes]) -> list[object]:
    events: list[object] = []
    for chunk in chunks:
        events += conn.receive_data(chunk)
    return events


def summary(event: object) -> object:
    """What a case states about an event: refusals by close code and error code."""
    if isinstance(event, Refused):
        code = msgpack.unpackb(event.data[2:])["code"] if event.data[:1] == b"\x82" else None
        return ("refused", event.close, code)
    if isinstance(event, Reply):
        return ("reply",)
    return event


# ----- the request head -----

HEADS = [
    ("upgrade", UPGRADE, [Upgrade((SUBPROTOCOL,))]),
    ("upgrade, no subprotocol",
     UPGRADE.replace(b"Sec-WebSocket-Protocol: corpchat.v1\r\n", b""), [Upgrade(())]),
    ("upgrade, LF line ends (h11 first)", UPGRADE.replace(b"\r\n", b"\n"),
     [Upgrade((SUBPROTOCOL,))]),
    ("plain GET", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
     [HttpRequest(b"GET", b"/healthz", ((b"host", b"x"),)), HttpBodyEnd()]),
    ("not HTTP", b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n",
     [("refused", CloseCode.PROTOCOL_ERROR, None)]),
    ("upgrade without a key",
     UPGRADE.replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b""),
     [("refused", CloseCode.PROTOCOL_ERROR, None)]),
    ("head too large", b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 17000 + b"\r\n",
     [("refused", CloseCode.PROTOCOL_ERROR, None)]),
]


@pytest.mark.parametrize("wire, expected", [case[1:] for case in HEADS],
                         ids=[case[0] for case in HEADS])
def test_request_heads(wire: bytes, expected: list[object]) -> None:
    ways = chunkings(wire) if len(wire) < 400 else [[wire], [wire[:100], wire[100:]]]
    for chunks in ways:
        assert [summary(e) for e in feed(connection(), chunks)] == expected


def test_a_bad_handshake_is_answered_400() -> None:
    conn = connection()
    [event] = conn.receive_data(UPGRADE.replace(b"Sec-WebSocket-Version: 13", b"X: 1"))
    assert isinstance(event, Refused) and event.data.startswith(b"HTTP/1.1 400 ")


def test_plain_request_is_answered_then_closed() -> None:
    conn = connection()
    conn.receive_data(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    response = conn.send(HttpResponse(200, b"ok\n"))
    assert response.startswith(b"HTTP/1.1 200 ") and response.endswith(b"\r\n\r\nok\n")
    assert conn.state is State.CLOSING and conn.send(Close(1000)) == b""


def test_an_answer_ready_after_the_close_is_not_sent() -> None:
    conn = connection()  # /metrics answers late; a drain may close the connection first
    conn.receive_data(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.send(Close(1001)) == b""
    assert conn.send(HttpResponse(200, b"late")) == b""


@pytest.mark.parametrize("body", [b"", b"use the subprotocol\n"])
def test_a_rejected_upgrade_is_closed(body: bytes) -> None:
    conn = connection()
    conn.receive_data(UPGRADE)
    answer = conn.send(Reject(400, body))
    assert answer.startswith(b"HTTP/1.1 400 ") and body in answer
    assert conn.state is State.CLOSING and conn.receive_data(CLOSE_FRAME) == []


def test_frames_after_the_head_wait_for_the_accept() -> None:
    conn = connection()
    assert conn.receive_data(UPGRADE + data(b"hello") + data(b"again")) \
        == [Upgrade((SUBPROTOCOL,))]
    conn.send(Accept(SUBPROTOCOL))
    assert conn.resume() == [Message(b"hello"), Message(b"again")]


def test_answering_what_was_not_asked_is_our_error() -> None:
    with pytest.raises(ProtocolError) as caught:
        connection().send(HttpResponse(200, b""))
    assert not caught.value.remote


# ----- frames -----

BIG = bytes(range(256)) * 40  # 10 KiB: a 16-bit length
FRAMES = [
    ("one message", data(b"hi"), [Message(b"hi")]),
    ("two messages", data(b"a") + data(BIG), [Message(b"a"), Message(BIG)]),
    ("empty message", data(b""), [Message(b"")]),
    ("fragmented", data(b"ab", fin=False) + data(b"cd"), []),  # continuation: see below
    ("in fragments", fragments(b"xyz", 5), [Message(b"xyz")]),
    ("a ping between fragments", fragments(b"", 2)[:6] + bytes(client().send(Ping(b"p")))
     + fragments(b"", 2)[6:], [("reply",), Message(b"")]),
    ("ping", bytes(client().send(Ping(b"are you there"))), [("reply",)]),
    ("pong", bytes(client().send(Pong(b"x"))), []),
    ("text", data(b"hello", opcode=Opcode.TEXT),
     [("refused", CloseCode.UNSUPPORTED_DATA, ErrorCode.BAD_FRAME)]),
    ("close", bytes(client().send(CloseConnection(1000, "bye"))), [PeerClosed(1000, "bye")]),
    ("unmasked", b"\x82\x05hello", [("refused", CloseCode.PROTOCOL_ERROR, None)]),
    ("RSV1", b"\xc2\x80abcd", [("refused", CloseCode.PROTOCOL_ERROR, None)]),
    ("non-minimal length", b"\x82\xfe\x00\x05abcd" + b"hello",
     [("refused", CloseCode.PROTOCOL_ERROR, None)]),
    ("continuation with no message", FrameProtocol(client=True, extensions=[]).send_data(
        b"x", True)[:0] + b"\x80\x81abcdx", [("refused", CloseCode.PROTOCOL_ERROR, None)]),
    ("too large", data(b"x" * 70000), [("refused", CloseCode.MESSAGE_TOO_BIG,
                                        ErrorCode.FRAME_TOO_LARGE)]),
    ("too many frames", fragments(b"", MAX_MESSAGE_FRAMES + 2),
     [("refused", CloseCode.MESSAGE_TOO_BIG, ErrorCode.FRAME_TOO_LARGE)]),
    ("nothing after a close", bytes(client().send(CloseConnection(1000))) + data(b"late"),
     [PeerClosed(1000, "")]),
]
FRAMES[3] = ("fragmented", data(b"ab", fin=False) + b"\x80\x82abcd" + bytes(
    a ^ b for a, b in zip(b"cd", b"ab", strict=True)), [Message(b"abcd")])


@pytest.mark.parametrize("wire, expected", [case[1:] for case in FRAMES],
                         ids=[case[0] for case in FRAMES])
def test_frames(wire: bytes, expected: list[object]) -> None:
    ways = chunkings(wire) if len(wire) < 2000 else [[wire], [wire[:3], wire[3:]],
                                                     [wire[:9000], wire[9000:]]]
    for chunks in ways:
        assert [summary(e) for e in feed(opened(), chunks)] == expected


def test_the_size_limit_is_the_configured_one() -> None:
    events = opened(max_frame_bytes=100).receive_data(
        fragments(b"x" * 100, 2) + data(b"y" * 50, fin=False) + b"\x80\xb3abcd" + b"z" * 51)
    assert [summary(e) for e in events] == [
        Message(b"x" * 100), ("refused", CloseCode.MESSAGE_TOO_BIG, ErrorCode.FRAME_TOO_LARGE)]


def test_a_partial_oversized_frame_is_refused_before_it_is_all_there() -> None:
    events = opened(max_frame_bytes=100).receive_data(data(b"z" * 5000)[:300])
    assert [summary(e) for e in events] == [
        ("refused", CloseCode.MESSAGE_TOO_BIG, ErrorCode.FRAME_TOO_LARGE)]


def test_a_frame_trickling_in_byte_by_byte() -> None:
    # kept in place until whole: 60,000 reads of a 60,000-byte frame copy it once
    wire, payload = data(b"t" * 60000), b"t" * 60000
    conn = opened()
    events = [e for i in range(len(wire)) for e in conn.receive_data(wire[i:i + 1])]
    assert events == [Message(payload)]


def test_authenticated_is_a_state_of_its_own() -> None:
    conn = opened()
    assert conn.state is State.AWAITING_HELLO
    conn.authenticated()
    assert conn.state is State.AUTHENTICATED
    assert conn.receive_data(data(b"x")) == [Message(b"x")]


def test_keepalive_is_a_ping() -> None:
    conn, peer = opened(), client()
    peer.receive_data(conn.send(KeepAlive(b"corpchat")))
    assert list(peer.events()) == [Ping(b"corpchat")]


# ----- the rate limit, on the injected clock -----

def test_requests_over_the_burst_are_refused_with_a_retry_time() -> None:
    clock = ManualClock()
    conn = opened(burst=2, rate=10.0, clock=clock)
    request = msgpack.packb({"type": "ping", "id": 7})
    events = conn.receive_data(data(request) * 3)
    assert events[:2] == [Message(request)] * 2
    refusal = msgpack.unpackb(events[2].data[2:])
    assert (refusal["code"], refusal["re"], events[2].close) == (ErrorCode.RATE_LIMITED, 7, None)
    assert refusal["retry_after_ms"] > 0
    clock.advance(0.1)
    assert conn.receive_data(data(request)) == [Message(request)]


def test_a_flood_is_closed_after_max_violations() -> None:
    conn = opened(burst=1, rate=1.0, max_violations=2)
    events = conn.receive_data(data(b"x") * 10)
    assert [summary(e)[0] if isinstance(e, Refused) else e for e in events] \
        == [Message(b"x"), "refused", "refused", "refused", "refused"]
    assert events[-1].close == CloseCode.POLICY_VIOLATION


def test_a_message_costs_one_request_per_frame() -> None:
    conn = opened(burst=4, rate=1.0)
    assert conn.receive_data(fragments(b"m", 4)) == [Message(b"m")]
    assert [summary(e)[0] for e in conn.receive_data(data(b"x"))] == ["refused"]


def test_refused_pings_are_dropped_unanswered() -> None:
    conn = opened(burst=1, rate=1.0, max_violations=5)
    ping = bytes(client().send(Ping(b"p")))
    assert [type(e) for e in conn.receive_data(ping * 3)] == [Reply]


# ----- closing -----


@pytest.mark.parametrize("before", [b"", data(b"late") * 3, bytes(client().send(Ping(b"p"))),
                                    data(b"ab", fin=False)])
def test_closing_discards_until_the_peers_close(before: bytes) -> None:
    for chunks in chunkings(before + CLOSE_FRAME):
        conn = opened()
        assert conn.send(Close(1000, "bye"))[:1] == b"\x88"
        assert conn.state is State.CLOSING
        assert feed(conn, chunks) == [Finished(True)]
        assert conn.state is State.CLOSED


def test_closing_stops_past_the_discard_bound() -> None:
    conn = opened()
    conn.discard_bytes = 1000
    conn.send(Close(1000))
    assert conn.receive_data(data(b"x" * 900)) == []
    assert conn.receive_data(data(b"x" * 900)) == [Finished(False)]


@pytest.mark.parametrize("wire", [b"\x16\x03\x01\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                                  UPGRADE + b"\x82\x05hello"])
def test_closing_without_frames_to_follow_discards_up_to_the_bound(wire: bytes) -> None:
    conn = connection()
    for event in conn.receive_data(wire):
        if isinstance(event, HttpRequest):
            conn.send(HttpResponse(404, b""))
        if isinstance(event, Upgrade):
            conn.send(Accept(SUBPROTOCOL))
            assert [type(e) for e in conn.resume()] == [Refused]  # unmasked: wsproto's verdict
    conn.send(Close(CloseCode.PROTOCOL_ERROR))
    conn.discard_bytes = 100
    assert conn.state is State.CLOSING
    assert conn.receive_data(CLOSE_FRAME * 10) == []  # not a close: frame edges are unknown
    assert conn.receive_data(b"x" * 100) == [Finished(False)]
    assert conn.state is State.CLOSED and conn.receive_data(b"more") == []


def test_closing_looks_at_a_bounded_number_of_frames() -> None:
    conn = opened()
    conn.send(Close(1000))
    ping = bytes(client().send(Ping(b"")))
    assert conn.receive_data(ping * (CLOSING_FRAMES - 1)) == []
    assert conn.receive_data(ping + CLOSE_FRAME) == []  # the 512th frame: no longer followed
    assert conn.state is State.CLOSING
    conn2 = opened()
    conn2.send(Close(1000))
    assert conn2.receive_data(ping * (CLOSING_FRAMES - 1) + CLOSE_FRAME) == [Finished(True)]


def test_closing_after_a_half_read_frame() -> None:
    conn = opened()
    wire = data(BIG)
    assert conn.receive_data(wire[:500]) == []
    conn.send(Close(1000))
    assert conn.receive_data(wire[500:] + CLOSE_FRAME) == [Finished(True)]


def test_closing_after_the_peer_closed_echoes_its_close() -> None:
    conn = opened()
    conn.receive_data(CLOSE_FRAME)
    answer = conn.send(Close(1001, "ignored"))
    assert answer[:1] == b"\x88" and conn.state is State.CLOSED


def test_after_a_flood_refusal_closing_still_finds_the_close() -> None:
    conn = opened(burst=1, rate=1.0, max_violations=0)
    events = conn.receive_data(data(b"x") * 2)
    assert events[-1].close == CloseCode.POLICY_VIOLATION
    conn.send(Close(CloseCode.POLICY_VIOLATION))
    assert conn.receive_data(CLOSE_FRAME) == [Finished(True)]


# ----- properties -----

client_event = st.one_of(
    st.binary(max_size=300).map(lambda b: BytesMessage(data=b)),
    st.just(BytesMessage(data=b"x" * 200)),
    st.binary(max_size=50).map(lambda b: BytesMessage(data=b, message_finished=False)),
    st.text(max_size=20).map(lambda t: TextMessage(data=t)),
    st.binary(max_size=20).map(lambda b: Ping(payload=b)),
    st.binary(max_size=20).map(lambda b: Pong(payload=b)),
)


def _wsproto_messages(wire: bytes) -> list[object]:
    """What wsproto alone makes of the bytes: whole messages, pings, and where it stops."""
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(UPGRADE)
    [request] = server.events()
    assert isinstance(request, Request)
    server.send(AcceptConnection(subprotocol=SUBPROTOCOL))
    server.receive_data(wire)
    out: list[object] = []
    message = b""
    for event in server.events():
        if isinstance(event, BytesMessage):
            message += event.data
            if event.message_finished:
                out.append(Message(message))
                message = b""
        elif isinstance(event, Ping):
            out.append(("reply",))
        elif isinstance(event, Pong):
            continue
        else:
            out.append("stop")
            break
    return out


def _ours(conn: ServerConnection, chunks: list[bytes]) -> list[object]:
    out: list[object] = []
    for event in feed(conn, chunks):
        out.append("stop" if isinstance(event, Refused | PeerClosed) else summary(event))
    return out


@settings(max_examples=200)
@given(events=st.lists(client_event, max_size=8), cuts=st.lists(st.integers(0, 2000), max_size=4))
def test_the_messages_are_wsproto_s(events: list, cuts: list[int]) -> None:
    # each frame from a fresh client: sequences a real client would refuse to send, too
    wire = b"".join(bytes(WebSocket(ConnectionType.CLIENT).send(e)) for e in events)
    points = sorted({min(c, len(wire)) for c in cuts})
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    assert _ours(opened(), chunks) == _wsproto_messages(wire)


@settings(max_examples=300)
@given(head=st.binary(max_size=200), chunks=st.lists(st.binary(max_size=200), max_size=6),
       upgrade=st.booleans())
def test_any_bytes_give_events_or_our_error(head: bytes, chunks: list[bytes],
                                            upgrade: bool) -> None:
    conn = opened() if upgrade else connection()
    try:
        for chunk in [head, *chunks]:
            for event in conn.receive_data(chunk):
                if isinstance(event, Upgrade):
                    conn.send(Accept(SUBPROTOCOL))
                    conn.resume()
        conn.send(Close(1000))
        for chunk in chunks:
            conn.receive_data(chunk)
    except ProtocolError as exc:
        assert exc.remote


# ----- a plain request's body (issue 19: media uploads) -----

BODY = bytes(range(256)) * 3


def _body_of(events: list[object]) -> tuple[bytes, bool]:
    data = b"".join(e.data for e in events if isinstance(e, HttpBody))
    return data, any(isinstance(e, HttpBodyEnd) for e in events)


@pytest.mark.parametrize("wire", [
    b"POST /media HTTP/1.1\r\nHost: x\r\nContent-Length: 768\r\n\r\n" + BODY,
    b"POST /media HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"100\r\n" + BODY[:256] + b"\r\n200\r\n" + BODY[256:] + b"\r\n0\r\n\r\n",
], ids=["content-length", "chunked"])
def test_a_body_arrives_in_order_however_it_is_split(wire: bytes) -> None:
    for at in range(1, len(wire), 37):
        events = feed(connection(), [wire[:at], wire[at:]])
        assert isinstance(events[0], HttpRequest)
        assert _body_of(events) == (BODY, True)


def test_bad_chunked_framing_is_refused() -> None:
    wire = (b"POST /media HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nhello\r\n")
    events = connection().receive_data(wire)
    assert isinstance(events[-1], Refused) and events[-1].close == CloseCode.PROTOCOL_ERROR


def test_an_answer_before_the_body_ends_discards_the_rest() -> None:
    conn = connection()
    conn.receive_data(b"POST /media HTTP/1.1\r\nHost: x\r\nContent-Length: 9999\r\n\r\nab")
    data = conn.send(HttpResponse(413, b"{}", b"application/json"))
    assert data.startswith(b"HTTP/1.1 413 ")
    assert conn.state is State.CLOSING and conn.receive_data(b"x" * 100) == []


def test_a_response_head_for_a_body_the_server_writes_itself() -> None:
    conn = connection()
    conn.receive_data(b"GET /media/x HTTP/1.1\r\nHost: x\r\n\r\n")
    head = conn.send(HttpResponseHead(206, ((b"content-range", b"bytes 0-9/20"),), 10))
    assert head.startswith(b"HTTP/1.1 206 ") and b"content-length: 10\r\n" in head.lower()
    assert head.endswith(b"\r\n\r\n") and conn.state is State.CLOSING


def test_head_and_304_answers_have_no_body() -> None:
    for method, status in ((b"HEAD", 200), (b"GET", 304)):
        conn = connection()
        conn.receive_data(method + b" /media/x HTTP/1.1\r\nHost: x\r\n\r\n")
        data = conn.send(HttpResponse(status, b"not sent"))
        assert data.endswith(b"\r\n\r\n"), (method, status)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=3000), cut=st.integers(min_value=1), chunked=st.booleans())
def test_any_body_comes_out_whole_however_it_is_split(body: bytes, cut: int,
                                                      chunked: bool) -> None:
    head = b"POST /media HTTP/1.1\r\nHost: x\r\n"
    if chunked:
        wire = head + b"Transfer-Encoding: chunked\r\n\r\n" + (
            f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    else:
        wire = head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    at = 1 + cut % len(wire)
    assert _body_of(feed(connection(), [wire[:at], wire[at:]])) == (body, True)


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=200))
def test_garbage_in_a_chunked_body_is_refused_or_taken_never_raised(garbage: bytes) -> None:
    conn = connection()
    events = conn.receive_data(b"POST /media HTTP/1.1\r\nHost: x\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n" + garbage)
    assert all(isinstance(e, HttpRequest | HttpBody | HttpBodyEnd | Refused) for e in events)


# ----- keep-alive (API requests, server/api/exchange.py) -----

def _post(path: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n%s"
            % (path, len(body), extra, body))


def _serve(conn: ServerConnection, events: list,
           partial: list | None = None) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Answer every complete request among `events` (and what it pipelined) with
    keep-alive: the (target, body) pairs seen, and the bytes sent. `partial` holds
    a request begun in an earlier call: [target, body so far]."""
    seen: list[tuple[bytes, bytes]] = []
    sent = b""
    partial = [None, b""] if partial is None else partial
    while events:
        event = events.pop(0)
        if isinstance(event, HttpRequest):
            partial[:] = [event.target, b""]
        elif isinstance(event, HttpBody):
            partial[1] += event.data
        elif isinstance(event, HttpBodyEnd):
            assert partial[0] is not None
            seen.append((partial[0], partial[1]))
            sent += conn.send(HttpResponse(200, partial[1], keep_alive=True))
            events = conn.pipelined() + events
        else:
            raise AssertionError(event)
    return seen, sent


def test_a_kept_alive_answer_waits_for_the_next_request() -> None:
    conn = connection()
    events = conn.receive_data(_post(b"/api/a", b"one"))
    seen, sent = _serve(conn, events)
    assert seen == [(b"/api/a", b"one")] and b"connection: close" not in sent.lower()
    assert conn.state is State.HANDSHAKE
    seen, sent = _serve(conn, conn.receive_data(_post(b"/api/b", b"two")))
    assert seen == [(b"/api/b", b"two")] and conn.state is State.HANDSHAKE
    assert sent.startswith(b"HTTP/1.1 200 ") and sent.endswith(b"two")


def test_a_client_that_asks_to_close_is_closed() -> None:
    for extra, version in ((b"Connection: close\r\n", b"1.1"), (b"", b"1.0")):
        conn = connection()
        wire = _post(b"/api/a", b"x", extra).replace(b"HTTP/1.1", b"HTTP/" + version, 1)
        conn.receive_data(wire)
        sent = conn.send(HttpResponse(200, b"x", keep_alive=True))
        assert b"connection: close" in sent.lower() and conn.state is State.CLOSING


def test_an_answer_before_the_body_ends_is_never_kept_alive() -> None:
    conn = connection()
    conn.receive_data(b"POST /api/a HTTP/1.1\r\nHost: x\r\nContent-Length: 9999\r\n\r\nab")
    sent = conn.send(HttpResponse(413, b"{}", keep_alive=True))
    assert b"connection: close" in sent.lower() and conn.state is State.CLOSING


def test_without_keep_alive_the_answer_still_closes() -> None:
    conn = connection()
    conn.receive_data(_post(b"/api/a", b"x"))
    assert b"connection: close" in conn.send(HttpResponse(200, b"")).lower()
    assert conn.state is State.CLOSING


@settings(max_examples=150, deadline=None)
@given(bodies=st.lists(st.binary(max_size=300), min_size=1, max_size=5),
       cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6))
def test_pipelined_requests_come_out_in_order_however_split(bodies: list[bytes],
                                                            cuts: list[int]) -> None:
    wire = b"".join(_post(b"/api/%d" % i, body) for i, body in enumerate(bodies))
    points = sorted({min(c, len(wire)) for c in cuts} | {0, len(wire)})
    conn = connection()
    seen: list[tuple[bytes, bytes]] = []
    partial: list = [None, b""]
    for start, stop in zip(points, points[1:], strict=False):
        more, _ = _serve(conn, conn.receive_data(wire[start:stop]), partial)
        seen += more
    assert seen == [(b"/api/%d" % i, body) for i, body in enumerate(bodies)]
    assert conn.state is State.HANDSHAKE
