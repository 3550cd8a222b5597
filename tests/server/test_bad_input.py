"""Bad input over real sockets: every case gets its documented error or close.

A `Witness` (two well-behaved users) proves after each case that the server
still chats and that what it had stored is unchanged.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile

import msgpack
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from corpchat.protocol import (
    CLIENT_FRAMES,
    Ack,
    CloseCode,
    Error,
    ErrorCode,
    Hello,
    Msg,
    Ping,
    Pong,
)
from corpchat.protocol.clock import ManualClock
from corpchat.server import ServerConfig

from ..client import RawWs, TestClient
from ..conftest import running_server

DEADLINE_S = 5


class Witness:
    """Two users chatting on the side of each bad-input case."""

    def __init__(self, server, alice: TestClient, bob: TestClient, conv: int) -> None:
        self.server, self.alice, self.bob, self.conv = server, alice, bob, conv
        self.bob_uid = server.app.store.user_by_handle("bob").uid
        self.before = self.stored()

    @classmethod
    async def start(cls, server, nursery) -> Witness:
        alice = await TestClient(nursery, server.url, await server.user("alice")).connect()
        bob = await TestClient(nursery, server.url, await server.user("bob")).connect()
        await alice.send("before", to="bob")
        ack = await alice.expect(Ack)
        assert (await bob.expect(Msg)).text == "before"
        return cls(server, alice, bob, ack.conv)

    def stored(self) -> list:
        page = self.server.app.store.history_page(uid=self.bob_uid, conv=self.conv, before=None,
                                                  limit=500, max_bytes=1 << 20)
        return page[0]

    async def still_chats(self) -> None:
        """Nothing stored was lost or changed, and a new message goes through."""
        assert self.stored() == self.before
        cmid = await self.alice.send("after", to="bob")
        ack = await self.alice.expect(Ack)
        msg = await self.bob.expect(Msg)
        assert (msg.text, msg.client_msg_id, msg.seq) == ("after", cmid, ack.seq)
        self.before = self.stored()


@pytest.fixture
async def witness(server, nursery) -> Witness:
    return await Witness.start(server, nursery)


async def mallory(server, nursery, *, hello: bool = True) -> RawWs:
    raw = await RawWs.open(nursery, server.url)
    if hello:
        await raw.hello(await server.user("mallory"))
    return raw


async def expect_error_then_close(raw: RawWs, code: ErrorCode, close: int) -> Error:
    frames, close_code = await raw.closed_code()
    errors = [f for f in frames if isinstance(f, Error)]
    assert [e.code for e in errors] == [code], frames
    assert close_code == close
    return errors[0]


async def still_serves(raw: RawWs, rid: int = 4242) -> None:
    """The connection survived: it still answers a ping."""
    await raw.request(Ping(id=rid))
    pong = await raw.expect(Pong)
    assert pong.re == rid


def packed(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


# ----- unreadable frames: an error, then the connection closes -----


@pytest.mark.parametrize("payload", [
    pytest.param(b"\xc1", id="never-used-byte"),
    pytest.param(b"\x92\x01", id="truncated-array"),
    pytest.param(b"", id="empty"),
    pytest.param(packed({"type": "ping", "id": 1}) + b"\x00", id="trailing-bytes"),
    pytest.param(packed([1, 2, 3]), id="not-a-map"),
    pytest.param(packed("ping"), id="a-string"),
    pytest.param(packed({1: "x", "type": "ping", "id": 1}), id="integer-key"),
    pytest.param(b"\xd4\x05\x00", id="extension-type"),
    pytest.param(b"\xd6\xff\x00\x00\x00\x01", id="timestamp-extension"),
    pytest.param(b"\xdf\xff\xff\xff\xff", id="map-claims-4g-entries"),
])
async def test_unreadable_msgpack_is_bad_frame_and_close_1002(server, nursery, witness, payload):
    raw = await mallory(server, nursery)
    await raw.send(payload)
    await expect_error_then_close(raw, ErrorCode.BAD_FRAME, CloseCode.PROTOCOL_ERROR)
    await witness.still_chats()


async def test_deep_nesting_is_bad_frame(server, nursery, witness):
    nested: object = 1
    for _ in range(20):
        nested = [nested]
    raw = await mallory(server, nursery)
    await raw.send(packed({"type": "ping", "id": 7, "extra": nested}))
    await expect_error_then_close(raw, ErrorCode.BAD_FRAME, CloseCode.PROTOCOL_ERROR)
    await witness.still_chats()


async def test_very_deep_nesting_does_not_blow_the_stack(server, nursery, witness):
    raw = await mallory(server, nursery)
    await raw.send(b"\x81\xa1x" + b"\x91" * 60_000 + b"\x01")
    await expect_error_then_close(raw, ErrorCode.BAD_FRAME, CloseCode.PROTOCOL_ERROR)
    await witness.still_chats()


# ----- size -----


def _ping_of_size(size: int) -> bytes:
    """A valid ping padded (in ignored fields, each under 32 KiB) to exactly `size` bytes."""
    fill = 20_000
    base = packed({"type": "ping", "id": 1, "p": "x" * fill, "q": "x" * fill, "r": ""})
    payload = packed({"type": "ping", "id": 1, "p": "x" * fill, "q": "x" * fill,
                      "r": "x" * (size - len(base) - 2)})  # str 16 takes 2 more header bytes
    assert len(payload) == size
    return payload


async def test_a_frame_of_exactly_64_kib_is_accepted(server, nursery, witness):
    raw = await mallory(server, nursery)
    await raw.send(_ping_of_size(64 * 1024))
    assert (await raw.expect(Pong)).re == 1
    await witness.still_chats()


@pytest.mark.parametrize("size", [64 * 1024 + 1, 200_000, 2 * 1024 * 1024])
async def test_a_frame_over_64_kib_closes_with_1009(server, nursery, witness, size):
    raw = await mallory(server, nursery)
    try:
        await raw.send(b"\x00" * size)
    except ConnectionClosed as closed:  # closed while we were still sending: fine
        frames, close_code = [], closed.reason.code
    else:
        frames, close_code = await raw.closed_code()
    assert close_code == CloseCode.MESSAGE_TOO_BIG
    assert [f.code for f in frames if isinstance(f, Error)] in ([], [ErrorCode.FRAME_TOO_LARGE])
    await witness.still_chats()


# ----- readable but wrong: an error with `re`, and the connection survives -----


@pytest.mark.parametrize("frame", [
    pytest.param({"type": "send", "id": 11, "client_msg_id": 5, "text": "x", "to": "bob"},
                 id="int-for-str"),
    pytest.param({"type": "send", "id": 11, "client_msg_id": "c", "text": b"x", "to": "bob"},
                 id="bin-for-str"),
    pytest.param({"type": "send", "id": 11, "client_msg_id": "c", "text": "x", "conv": "1"},
                 id="str-for-int"),
    pytest.param({"type": "send", "id": 11, "client_msg_id": "c", "text": "x", "conv": -1},
                 id="negative-int"),
    pytest.param({"type": "send", "id": 11, "client_msg_id": "c", "text": "x", "conv": True},
                 id="bool-for-int"),
    pytest.param({"type": "send", "id": 11, "client_msg_id": "c", "text": "x", "conv": 1.0},
                 id="float-for-int"),
    pytest.param({"type": "send", "id": 11, "text": "x", "to": "bob"}, id="missing-field"),
    pytest.param({"type": "history", "id": 11, "conv": [1]}, id="array-for-int"),
    pytest.param({"type": "sync", "id": 11, "since": {"a": 1}}, id="map-for-str"),
    pytest.param({"type": "sync", "id": 11, "since": "0", "limit": 0}, id="zero-limit"),
    pytest.param({"type": "history", "id": 11, "conv": 1, "before": "x"}, id="str-before"),
])
async def test_wrong_field_types_are_bad_request_and_the_connection_survives(
        server, nursery, witness, frame):
    raw = await mallory(server, nursery)
    await raw.send(packed(frame))
    error = await raw.expect(Error)
    assert (error.code, error.re) == (ErrorCode.BAD_REQUEST, 11)
    await still_serves(raw)
    await witness.still_chats()


@pytest.mark.parametrize("frame", [
    {"id": 3},
    {"type": 5, "id": 3},
    {"type": None, "id": 3},
])
async def test_a_frame_without_a_string_type_is_bad_request(server, nursery, witness, frame):
    raw = await mallory(server, nursery)
    await raw.send(packed(frame))
    error = await raw.expect(Error)
    assert (error.code, error.re) == (ErrorCode.BAD_REQUEST, 3)
    await still_serves(raw)
    await witness.still_chats()


@pytest.mark.parametrize("rid", [True, -1, 2**64 - 1, "3", 1.5])
async def test_an_invalid_request_id_is_refused_without_re(server, nursery, witness, rid):
    raw = await mallory(server, nursery)
    await raw.send(packed({"type": "ping", "id": rid}))
    error = await raw.expect(Error)
    assert (error.code, error.re) == (ErrorCode.BAD_REQUEST, None)
    await still_serves(raw)
    await witness.still_chats()


async def test_unknown_fields_are_ignored(server, nursery, witness):
    raw = await mallory(server, nursery)
    await raw.send(packed({"type": "ping", "id": 12, "future": {"x": [1, 2]}}))
    assert (await raw.expect(Pong)).re == 12
    await witness.still_chats()


@pytest.mark.parametrize("kind", ["no.such.type", "", "welcome", "ack", "msg", "error"])
async def test_unknown_frame_type_is_unknown_type_and_survives(server, nursery, witness, kind):
    raw = await mallory(server, nursery)
    await raw.send(packed({"type": kind, "id": 21}))
    error = await raw.expect(Error)
    assert (error.code, error.re) == (ErrorCode.UNKNOWN_TYPE, 21)
    await still_serves(raw)
    await witness.still_chats()


async def test_a_text_message_closes_with_1003(server, nursery, witness):
    raw = await mallory(server, nursery)
    await raw.send('{"type": "ping", "id": 1}')
    frames, close_code = await raw.closed_code()
    assert close_code == CloseCode.UNSUPPORTED_DATA
    assert all(isinstance(f, Error) for f in frames)
    await witness.still_chats()


# ----- order: hello first, once -----


async def test_a_request_before_hello_is_not_authenticated_and_closes_4001(
        server, nursery, witness):
    raw = await mallory(server, nursery, hello=False)
    await raw.request(Ping(id=31))
    error = await expect_error_then_close(raw, ErrorCode.NOT_AUTHENTICATED,
                                          CloseCode.AUTH_FAILED)
    assert error.re == 31
    await witness.still_chats()


async def test_a_send_before_hello_stores_nothing(server, nursery, witness):
    raw = await mallory(server, nursery, hello=False)
    await raw.send(packed({"type": "send", "id": 32, "client_msg_id": "x", "text": "sneaky",
                           "to": "bob"}))
    await expect_error_then_close(raw, ErrorCode.NOT_AUTHENTICATED, CloseCode.AUTH_FAILED)
    await witness.still_chats()
    assert "sneaky" not in [m.text for m in witness.stored()]


async def test_a_second_hello_is_already_authenticated(server, nursery, witness):
    raw = await mallory(server, nursery)
    await raw.request(Hello(id=41, token=await server.user("eve")))
    error = await raw.expect(Error)
    assert (error.code, error.re) == (ErrorCode.ALREADY_AUTHENTICATED, 41)
    await still_serves(raw)
    await witness.still_chats()


async def test_a_malformed_hello_is_bad_request_and_a_good_one_may_follow(
        server, nursery, witness):
    raw = await mallory(server, nursery, hello=False)
    await raw.send(packed({"type": "hello", "id": 42, "token": 12345}))
    error = await raw.expect(Error)
    assert (error.code, error.re) == (ErrorCode.BAD_REQUEST, 42)
    welcome = await raw.hello(await server.user("mallory"))
    assert welcome.user == "mallory"
    await still_serves(raw)
    await witness.still_chats()


# ----- the WebSocket and HTTP layers -----


@pytest.mark.parametrize("subprotocols", [None, ["corpchat.v0"], ["chat", "mqtt"]])
async def test_no_subprotocol_is_http_400(server, nursery, witness, subprotocols):
    with trio.fail_after(DEADLINE_S):
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(server.url, subprotocols=subprotocols):
                pass
    assert rejected.value.status_code == 400
    assert b"corpchat.v1" in (rejected.value.body or b"")
    await witness.still_chats()


async def _raw_tcp_exchange(port: int, data: bytes) -> bytes:
    """Send bytes on a fresh TCP connection; everything the server says until it closes."""
    with trio.fail_after(DEADLINE_S):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            if data:
                try:
                    await stream.send_all(data)
                except trio.BrokenResourceError:
                    return b""
            received = bytearray()
            try:
                while chunk := await stream.receive_some(65536):
                    received += chunk
            except trio.BrokenResourceError:  # reset: closed with our bytes unread
                pass
            return bytes(received)


@pytest.mark.parametrize("data", [
    # (a path the web client does not have: `/` is its page, answered 200 and closed too)
    pytest.param(b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", id="plain-http"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, id="tls-hello"),
    pytest.param(b"\x00\xff" * 5000 + b"\r\n\r\n", id="binary-garbage"),
    pytest.param(b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 200_000 + b"\r\n\r\n",
                 id="huge-header"),
])
async def test_not_a_websocket_handshake_is_closed(server, nursery, witness, data):
    reply = await _raw_tcp_exchange(server.app.port, data)
    assert reply == b"" or reply.startswith(b"HTTP/1.1 4")
    await witness.still_chats()


@pytest.mark.slow
async def test_an_unfinished_handshake_is_closed_after_the_timeout(
        nursery, server_config, clock):
    config = dataclasses.replace(server_config, handshake_timeout_s=0.3)
    async with running_server(nursery, config, clock) as server:
        witness = await Witness.start(server, nursery)
        # TCP only, half an HTTP request, and a WebSocket that never says hello
        assert await _raw_tcp_exchange(server.app.port, b"") == b""
        assert await _raw_tcp_exchange(server.app.port, b"GET / HTTP/1.1\r\n") == b""
        raw = await RawWs.open(nursery, server.url)
        frames, close_code = await raw.closed_code()
        assert close_code == CloseCode.TIMEOUT
        await witness.still_chats()  # its clients said hello in time and stay


# ----- floods -----


async def test_a_request_flood_is_rate_limited_then_closed(nursery, server_config, clock):
    # The clock is manual: the bucket never refills, so the counts are exact.
    config = dataclasses.replace(server_config, request_burst=8, requests_per_s=2.0,
                                 max_rate_violations=3)
    async with running_server(nursery, config, clock) as server:
        witness = await Witness.start(server, nursery)
        raw = await mallory(server, nursery)  # hello took one token
        for rid in range(1, 12):  # 7 served, then 4 refused: the 4th violation closes
            await raw.request(Ping(id=rid))
        frames, close_code = await raw.closed_code()
        assert [f.re for f in frames if isinstance(f, Pong)] == list(range(1, 8))
        limited = [f for f in frames if isinstance(f, Error)]
        assert [f.code for f in limited] == [ErrorCode.RATE_LIMITED] * 4
        assert all(f.retry_after_ms and f.retry_after_ms > 0 for f in limited)
        assert close_code == CloseCode.POLICY_VIOLATION
        await witness.still_chats()


async def test_rate_limited_requests_are_not_executed(nursery, server_config, clock):
    config = dataclasses.replace(server_config, request_burst=4, requests_per_s=1.0)
    async with running_server(nursery, config, clock) as server:
        witness = await Witness.start(server, nursery)
        await server.user("eve")
        raw = await mallory(server, nursery)
        await raw.send(packed({"type": "send", "id": 1, "client_msg_id": "a", "text": "ok",
                               "to": "eve"}))
        assert (await raw.expect(Ack)).re == 1
        for rid in (2, 3, 4, 5):
            await raw.send(packed({"type": "send", "id": rid, "client_msg_id": f"c{rid}",
                                   "text": "flood", "to": "eve"}))
        replies = [await raw.receive() for _ in range(4)]  # errors may overtake acks
        assert sorted(r.re for r in replies if isinstance(r, Ack)) == [2, 3]
        refused = [r.code for r in replies if isinstance(r, Error)]
        assert refused == [ErrorCode.RATE_LIMITED] * 2
        clock.advance(10)  # tokens come back with time
        await still_serves(raw)
        assert server.app.store.stats()["messages_stored"] == 1 + 3 + 0
        await witness.still_chats()


async def test_a_rate_limited_request_is_answered_with_its_id(nursery, server_config, clock):
    config = dataclasses.replace(server_config, request_burst=2, requests_per_s=1.0)
    async with running_server(nursery, config, clock) as server:
        raw = await mallory(server, nursery)  # hello took one token
        await raw.request(Ping(id=1))
        await raw.request(Ping(id=2))
        assert (await raw.expect(Pong)).re == 1
        error = await raw.expect(Error)
        assert (error.code, error.re) == (ErrorCode.RATE_LIMITED, 2)


async def test_many_connections_that_misbehave_at_once(server, nursery, witness):
    bad = [b"\xc1", b"\x00" * 70_000, packed([1]), packed({"type": "nope", "id": 1})]

    async def one(i: int) -> None:
        raw = await RawWs.open(nursery, server.url)
        if i % 2:
            await raw.hello(await server.user(f"m{i}"))
        await raw.send(bad[i % len(bad)])
        frames, close_code = await raw.closed_code() if i % 4 != 3 else ([], None)
        assert close_code != CloseCode.INTERNAL_ERROR
        await raw.aclose()

    async with trio.open_nursery() as group:
        for i in range(16):
            group.start_soon(one, i)
    await witness.still_chats()


# ----- hypothesis: arbitrary binary messages after hello -----


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**64 - 1)
    | st.floats() | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
_FIELDS = st.sampled_from(["id", "to", "conv", "text", "client_msg_id", "since", "limit",
                           "before", "token", "device", "users", "name", "seq"])
_FRAMES = st.builds(
    lambda kind, fields: packed({"type": kind, **fields}),
    st.sampled_from(sorted(CLIENT_FRAMES)) | st.text(max_size=10),
    st.dictionaries(_FIELDS, _VALUES, max_size=5),
)
_PAYLOADS = st.lists(st.binary(max_size=300) | _FRAMES, max_size=20)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _fuzz_scenario(payloads: list[bytes], data_dir: str) -> None:
    """Send each payload on an authenticated connection (a new one when it was closed)."""
    config = ServerConfig(data_dir=data_dir, port=0, map_initial_bytes=4 * 1024 * 1024,
                          durable=False)
    seen: list = []
    closes: list[int | None] = []

    async def drain(raw: RawWs) -> None:
        try:
            while True:
                seen.append(await raw.receive(timeout=DEADLINE_S))
        except ConnectionClosed as exc:
            closes.append(exc.reason.code if exc.reason else None)
        except trio.TooSlowError:
            pass

    async with trio.open_nursery() as nursery:
        async with running_server(nursery, config, ManualClock()) as server:
            witness = await Witness.start(server, nursery)
            token = await server.user("mallory")
            raw = None
            for payload in payloads:
                if raw is None or raw.ws.closed:
                    raw = await RawWs.open(nursery, server.url)
                    await raw.hello(token)
                    nursery.start_soon(drain, raw)
                try:
                    await raw.send(payload)
                except ConnectionClosed:
                    pass
            await witness.still_chats()
            assert not any(isinstance(f, Error) and f.code == ErrorCode.INTERNAL_ERROR
                           for f in seen), seen
            assert CloseCode.INTERNAL_ERROR not in closes
        nursery.cancel_scope.cancel()


@pytest.mark.slow
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(_PAYLOADS)
def test_arbitrary_binary_messages_never_hurt_the_server(payloads):
    errors = _Errors()
    logger = logging.getLogger("corpchat")
    logger.addHandler(errors)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            trio.run(_fuzz_scenario, payloads, os.path.join(tmp, "data"))
    finally:
        logger.removeHandler(errors)
    assert not errors.records, [r.getMessage() for r in errors.records]
