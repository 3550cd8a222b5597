"""Protocol abuse over raw sockets (issue 10, item 3).

The single cases of bad input live in test_bad_input.py. Here: what needs a
WebSocket written by hand (fragmented messages, floods of WebSocket frames),
thousands of logins beyond the per-user cap, and one combined "storm" of
every kind of hostile client at once, while a `Witness` measures the round
trip of its own messages in a calm phase and during the storm of the same
run, and checks afterwards that nothing stored changed.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Pong, Request
from wsproto.frame_protocol import FrameProtocol

from corpchat.protocol import (
    SUBPROTOCOL,
    Ack,
    CloseCode,
    Error,
    ErrorCode,
    Frame,
    Hello,
    Msg,
    Ping,
    Welcome,
    decode_server_frame,
    encode,
)
from corpchat.protocol import Pong as PongFrame

from ..client import TestClient
from ..conftest import running_server
from .test_bad_input import Witness, _ping_of_size, packed

DEADLINE_S = 5
LIMIT = 64 * 1024
MAX_MESSAGE_FRAMES = 64  # server/connection.py


class FrameWs:
    """A WebSocket written by hand on a raw TCP socket: any frame, fragment or opcode.

    wsproto does the opening handshake and parses what the server sends; what
    we send is serialized frame by frame (masked, as a client must), so a test
    chooses exactly where a message is cut.
    """

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.out = FrameProtocol(client=True, extensions=[])
        self.frames: list[Frame] = []  # every protocol frame received, in order
        self.pongs = 0
        self.close_code: int | None = None
        self.eof = False
        self._partial = bytearray()
        self._unread = 0

    @classmethod
    async def open(cls, port: int) -> FrameWs:
        with trio.fail_after(DEADLINE_S):
            client = cls(await trio.open_tcp_stream("127.0.0.1", port))
            await client.stream.send_all(client.ws.send(Request(
                host="127.0.0.1", target="/", subprotocols=[SUBPROTOCOL])))
            while not await client._read(lambda e: isinstance(e, AcceptConnection)):
                pass
        return client

    # ----- what a test sends -----

    def data(self, payload: bytes | str, fin: bool = True) -> bytes:
        """One data frame (a str makes a text frame); fin=False leaves the message open."""
        return bytes(self.out.send_data(payload, fin))

    def pieces(self, payload: bytes, size: int) -> bytes:
        """One binary message cut into frames of `size` bytes."""
        cuts = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
        return b"".join([self.data(c, fin=False) for c in cuts[:-1]] + [self.data(cuts[-1])])

    def ping(self) -> bytes:
        return bytes(self.out.ping(b"p"))

    def pong(self) -> bytes:
        return bytes(self.out.pong(b"p"))

    async def send(self, *chunks: bytes) -> bool:
        """Write raw bytes; False when the server had already closed the socket."""
        try:
            with trio.fail_after(DEADLINE_S):
                await self.stream.send_all(b"".join(chunks))
            return True
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False

    async def request(self, frame: Frame) -> None:
        await self.send(self.data(encode(frame)))

    async def hello(self, token: str, rid: int = 1) -> Frame:
        """Say hello; the server's answer (`welcome` or `error`)."""
        await self.request(Hello(id=rid, token=token))
        return await self.receive()

    # ----- what the server sends -----

    async def receive(self, timeout: float = DEADLINE_S) -> Frame:
        """The next protocol frame; AssertionError if the connection ends first."""
        with trio.fail_after(timeout):
            while self._unread == 0:
                if self.close_code is not None or self.eof:
                    raise AssertionError(f"closed ({self.close_code}) before a frame came")
                await self._read(lambda e: isinstance(e, BytesMessage) and e.message_finished)
        self._unread -= 1
        return self.frames[-1 - self._unread]

    async def closed(self, timeout: float = DEADLINE_S) -> tuple[list[Frame], int | None]:
        """Read until the server closes: (the frames not yet taken, the close code)."""
        with trio.fail_after(timeout):
            while self.close_code is None and not self.eof:
                await self._read(lambda e: False)
        rest = self.frames[len(self.frames) - self._unread:]
        self._unread = 0
        return rest, self.close_code

    async def _read(self, done: Callable[[object], bool]) -> bool:
        try:
            data = await self.stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        self.eof = not data
        self.ws.receive_data(data or None)
        found = False
        for event in self.ws.events():
            if isinstance(event, BytesMessage):
                self._partial += event.data
                if event.message_finished:
                    self.frames.append(decode_server_frame(bytes(self._partial)))
                    self._partial.clear()
                    self._unread += 1
            elif isinstance(event, Pong):
                self.pongs += 1
            elif isinstance(event, CloseConnection):
                self.close_code = event.code
                self.eof = True
            found = found or done(event)
            if self.eof:
                break
        return found

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


def errors(frames: list[Frame]) -> list[str]:
    return [f.code for f in frames if isinstance(f, Error)]


async def authenticated(server, handle: str) -> FrameWs:
    ws = await FrameWs.open(server.app.port)
    assert isinstance(await ws.hello(await server.user(handle)), Welcome)
    return ws


# ----- fragmented messages (docs/protocol.md §2: reassembled, then judged whole) -----


async def test_a_fragmented_message_is_reassembled(server, nursery):
    witness = await Witness.start(server, nursery)
    ws = await FrameWs.open(server.app.port)
    hello = encode(Hello(id=1, token=await server.user("mallory")))
    await ws.send(ws.data(hello[:5], fin=False), ws.data(hello[5:]))  # hello in two
    assert isinstance(await ws.receive(), Welcome)
    ping = packed({"type": "ping", "id": 2})
    # three pieces, an empty one, and a WebSocket ping between them (RFC 6455 §5.4)
    await ws.send(ws.data(ping[:1], fin=False), ws.data(b"", fin=False), ws.ping(),
                  ws.data(ping[1:]))
    assert (await ws.receive()).re == 2
    big = _ping_of_size(LIMIT)  # exactly the limit, in 64 frames: accepted
    await ws.send(ws.pieces(big, -(-len(big) // MAX_MESSAGE_FRAMES)))
    assert (await ws.receive()).re == 1
    send = packed({"type": "send", "id": 3, "client_msg_id": "frag", "text": "in pieces",
                   "to": "bob"})
    await ws.send(ws.pieces(send, 7))
    assert (await ws.receive()).re == 3  # the ack
    assert ws.pongs == 1
    assert (await witness.bob.expect(Msg)).text == "in pieces"
    witness.before = witness.stored()
    await witness.still_chats()


@pytest.mark.parametrize("sizes", [
    pytest.param([40_000, 40_000], id="two-halves-over-64k"),
    pytest.param([LIMIT, 1], id="one-byte-too-many"),
    pytest.param([16_384] * 4 + [1], id="the-last-fragment-passes"),
])
async def test_a_fragmented_message_over_the_frame_limit_closes_1009(server, nursery, sizes):
    witness = await Witness.start(server, nursery)
    ws = await authenticated(server, "mallory")
    chunks = [ws.data(b"\x00" * n, fin=False) for n in sizes[:-1]] + [ws.data(b"\x00" * sizes[-1])]
    await ws.send(*chunks)
    frames, code = await ws.closed()
    assert (errors(frames), code) == ([ErrorCode.FRAME_TOO_LARGE], CloseCode.MESSAGE_TOO_BIG)
    await witness.still_chats()


async def test_a_message_in_more_than_64_frames_closes_1009(server, nursery):
    """Even with no bytes at all: each frame costs the server parsing time."""
    witness = await Witness.start(server, nursery)
    ws = await authenticated(server, "mallory")
    ping = packed({"type": "ping", "id": 5})
    ok = [ws.data(b"", fin=False) for _ in range(MAX_MESSAGE_FRAMES - 1)] + [ws.data(ping)]
    await ws.send(*ok)  # 64 frames: served
    assert (await ws.receive()).re == 5
    await ws.send(*[ws.data(b"", fin=False) for _ in range(10_000)])
    frames, code = await ws.closed()
    assert (errors(frames), code) == ([ErrorCode.FRAME_TOO_LARGE], CloseCode.MESSAGE_TOO_BIG)
    await witness.still_chats()


@pytest.mark.parametrize("how", ["continuation-first", "new-message-inside", "text-fragments"])
async def test_broken_fragmentation_closes(server, nursery, how):
    witness = await Witness.start(server, nursery)
    ws = await authenticated(server, "mallory")
    ping = packed({"type": "ping", "id": 6})
    if how == "continuation-first":  # a continuation frame with no message open
        raw = bytearray(ws.data(ping))
        raw[0] = 0x80  # FIN, opcode 0 (continuation)
        await ws.send(bytes(raw))
        expected = ([], CloseCode.PROTOCOL_ERROR)
    elif how == "new-message-inside":  # a new binary message before the open one ended
        first = ws.data(ping[:3], fin=False)
        await ws.send(first, bytes(FrameProtocol(client=True, extensions=[]).send_data(ping)))
        expected = ([], CloseCode.PROTOCOL_ERROR)
    else:  # a text message, fragmented: refused at its first fragment
        await ws.send(ws.data('{"type":', fin=False), ws.data(' "ping"}'))
        expected = ([ErrorCode.BAD_FRAME], CloseCode.UNSUPPORTED_DATA)
    frames, code = await ws.closed()
    assert (errors(frames), code) == expected
    await witness.still_chats()


# ----- floods of WebSocket frames: each costs a request of the rate limit -----


@pytest.fixture
def flood_config(server_config):
    return dataclasses.replace(server_config, request_burst=50, max_rate_violations=20)


@pytest.mark.parametrize("kind", ["ping", "pong", "empty-fragments"])
async def test_a_flood_of_websocket_frames_is_rate_limited_then_closed(
        nursery, flood_config, clock, kind):
    """The clock is manual: the bucket never refills, so the counts are exact."""
    async with running_server(nursery, flood_config, clock) as server:
        witness = await Witness.start(server, nursery)
        ws = await authenticated(server, "mallory")  # hello took 1 of 50
        if kind == "empty-fragments":  # 63 empty fragments and the end: 64 requests each
            ping = packed({"type": "ping", "id": 9})
            flood = [b"".join([ws.data(b"", fin=False) for _ in range(63)] + [ws.data(ping)])
                     for _ in range(5)]
        else:
            frame = ws.ping() if kind == "ping" else ws.pong()
            flood = [frame] * 5_000  # one write: the server reads it ~9,000 frames at a time
        await ws.send(*flood)
        frames, code = await ws.closed()
        assert code == CloseCode.POLICY_VIOLATION
        if kind == "ping":
            assert ws.pongs == 49
        if kind == "empty-fragments":  # a 64-request message never fits in 49 tokens
            assert errors(frames) == [ErrorCode.RATE_LIMITED]
            assert all(f.re == 9 for f in frames)
        await witness.still_chats()



# ----- thousands of logins of one user beyond the per-user cap -----


async def refused_login(port: int, token: str, rid: int) -> None:
    """One attempt beyond the cap: `too_many_connections` with `re`, then 1008."""
    ws = await FrameWs.open(port)
    try:
        reply = await ws.hello(token, rid)
        assert isinstance(reply, Error), reply
        assert (reply.code, reply.re) == (ErrorCode.TOO_MANY_CONNECTIONS, rid)
        assert (await ws.closed())[1] == CloseCode.POLICY_VIOLATION
    finally:
        await ws.aclose()


async def wait_until(predicate: Callable[[], bool], timeout: float = DEADLINE_S) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.005)


class Chatter:
    """The witness's users chatting all along: every round trip (send → ack), timed."""

    def __init__(self, witness: Witness) -> None:
        self.witness = witness
        self.acked: list[str] = []
        self.rtts: list[float] = []

    async def run(self, stop: trio.Event, pause_s: float = 0.01) -> None:
        alice, bob = self.witness.alice, self.witness.bob
        while not stop.is_set():
            start = time.perf_counter()
            cmid = await alice.send(f"w{len(self.acked)}", to="bob")
            ack = await alice.expect(Ack)
            self.rtts.append(time.perf_counter() - start)
            assert ack.client_msg_id == cmid
            assert (await bob.expect(Msg)).client_msg_id == cmid
            self.acked.append(cmid)
            await trio.sleep(pause_s)

    async def phase(self, body: Callable[[], Awaitable[object]]) -> list[float]:
        """Chat while `body` runs; the round trips of that phase."""
        first = len(self.rtts)
        stop = trio.Event()
        async with trio.open_nursery() as chatting:
            chatting.start_soon(self.run, stop)
            try:
                await body()
            finally:
                stop.set()
        return self.rtts[first:]


@pytest.mark.slow
async def test_thousands_of_logins_beyond_the_per_user_cap(nursery, server_config):
    # The real clock: the witness chats at ~100 messages/s, its bucket must refill.
    async with running_server(nursery, server_config) as server:
        await _logins_beyond_the_cap(server, nursery)


async def _logins_beyond_the_cap(server, nursery) -> None:
    app, port = server.app, server.app.port
    witness = await Witness.start(server, nursery)
    token = await server.user("mallory")
    uid = app.store.user_by_handle("mallory").uid
    cap = app.config.max_sessions_per_user
    held = [await FrameWs.open(port) for _ in range(cap)]
    for ws in held:
        assert isinstance(await ws.hello(token), Welcome)
    await refused_login(port, token, 77)  # the cap'th + 1
    attempts, workers = 2_000, 16
    rids = itertools.count(1000)
    peak = 0

    async def worker() -> None:
        for _ in range(attempts // workers):
            await refused_login(port, token, next(rids))

    async def storm() -> None:
        nonlocal peak
        async with trio.open_nursery() as group:
            for _ in range(workers):
                group.start_soon(worker)
            while len(group.child_tasks) > 0:
                peak = max(peak, len(app.hub.sessions_of(uid)))
                await trio.sleep(0.001)

    chatter = Chatter(witness)
    with trio.fail_after(60):
        rtts = await chatter.phase(storm)
    assert next(rids) == 1000 + attempts  # every attempt was refused as documented
    assert peak == cap and len(app.hub.sessions_of(uid)) == cap
    assert len(rtts) > 0  # the witness chatted through it
    await wait_until(lambda: len(app.connections) == cap + 2)  # no refused one lingers
    await held.pop().aclose()  # one leaves: one may come in
    await wait_until(lambda: len(app.hub.sessions_of(uid)) == cap - 1)
    newcomer = await FrameWs.open(port)
    assert isinstance(await newcomer.hello(token), Welcome)
    await refused_login(port, token, 78)
    witness.before = witness.stored()
    await witness.still_chats()
    print(f"cap {cap}: {attempts} refused, peak sessions {peak}, witness "
          f"{len(rtts)} messages, p99 {p99(rtts) * 1000:.1f} ms")


def p99(samples: list[float]) -> float:
    """The 99th percentile, rounding down (with under 100 samples: the second largest)."""
    ordered = sorted(samples)
    return ordered[int(0.99 * (len(ordered) - 1))]


# ----- the storm: every kind of hostile client at once, against a witness -----


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


# kind -> (what it sends after `hello`, the documented (errors, close code))
_AFTER_HELLO: dict[str, tuple[Callable[[FrameWs], bytes], tuple[list[str], int]]] = {
    "invalid msgpack": (lambda ws: ws.data(b"\xc1"),
                        ([ErrorCode.BAD_FRAME], CloseCode.PROTOCOL_ERROR)),
    "deep nesting": (lambda ws: ws.data(packed({"type": "ping", "id": 1, "x": _nested(20)})),
                     ([ErrorCode.BAD_FRAME], CloseCode.PROTOCOL_ERROR)),
    "huge map": (lambda ws: ws.data(packed({"type": "ping", "id": 1,
                                            "m": {str(i): i for i in range(2_000)}})),
                 ([ErrorCode.BAD_FRAME], CloseCode.PROTOCOL_ERROR)),
    "huge array": (lambda ws: ws.data(packed({"type": "ping", "id": 1, "a": [0] * 5_000})),
                   ([ErrorCode.BAD_FRAME], CloseCode.PROTOCOL_ERROR)),
    "text message": (lambda ws: ws.data('{"type": "ping", "id": 1}'),
                     ([ErrorCode.BAD_FRAME], CloseCode.UNSUPPORTED_DATA)),
    "fragments over the limit": (lambda ws: ws.pieces(b"\x00" * 70_000, 8_192),
                                 ([ErrorCode.FRAME_TOO_LARGE], CloseCode.MESSAGE_TOO_BIG)),
    "empty-fragment flood": (lambda ws: ws.data(b"", fin=False)
                             + ws.data(b"", fin=False) * 20_000,  # the same continuation
                           ([ErrorCode.FRAME_TOO_LARGE], CloseCode.MESSAGE_TOO_BIG)),
    "WebSocket ping flood": (lambda ws: ws.ping() * 20_000,
                             ([], CloseCode.POLICY_VIOLATION)),
}
# kind -> (what it sends after `hello`, the documented error; the connection stays)
_SURVIVES: dict[str, tuple[dict, str]] = {
    "wrong field types": ({"type": "send", "id": 7, "client_msg_id": 5, "text": "x",
                           "to": "bob"}, ErrorCode.BAD_REQUEST),
    "unknown frame type": ({"type": "no.such.type", "id": 7}, ErrorCode.UNKNOWN_TYPE),
}


async def _closes_as_documented(ws: FrameWs, expected: tuple[list[str], int]) -> None:
    frames, code = await ws.closed()
    assert (errors(frames), code) == expected, (frames, code)


class Storm:
    """Hostile clients of every kind, each kind in its own loop of fresh connections."""

    def __init__(self, server, tokens: dict[str, str], capped_token: str) -> None:
        self.server, self.port = server, server.app.port
        self.tokens, self.capped_token = tokens, capped_token
        self.rounds: Counter[str] = Counter()
        # Each kind pauses between rounds, so that the storm (its clients run in
        # this process too) keeps the event loop about half busy: a test of what
        # abuse costs the others, not of a saturated CPU on a shared machine.
        self.pause_s = 0.15

    def kinds(self) -> dict[str, Callable[[], Awaitable[None]]]:
        kinds = {kind: self._after_hello(kind, *_AFTER_HELLO[kind]) for kind in _AFTER_HELLO}
        kinds |= {kind: self._survives(kind, *_SURVIVES[kind]) for kind in _SURVIVES}
        kinds |= {"frame over the limit": self._too_large, "request before hello": self._early,
                  "request flood": self._flood, "slowloris": self._slowloris,
                  "beyond the per-user cap": self._beyond_cap}
        return kinds

    async def run(self, seconds: float, benign: dict[str, str] | None = None) -> None:
        """Every kind in its own loop for `seconds`; with `benign` (kind -> token), the
        same loops of well-behaved clients instead: the same churn, no abuse."""
        deadline = trio.current_time() + seconds
        async with trio.open_nursery() as group:
            for kind, one in self.kinds().items():
                if benign is not None:
                    one = functools.partial(self._well_behaved, benign[kind])
                group.start_soon(self._loop, kind, one, deadline)

    async def _loop(self, kind: str, one: Callable[[], Awaitable[None]], deadline: float) -> None:
        while trio.current_time() < deadline:
            await one()
            self.rounds[kind] += 1
            await trio.sleep(self.pause_s)

    async def _well_behaved(self, token: str) -> None:
        ws = await FrameWs.open(self.port)
        assert isinstance(await ws.hello(token), Welcome)
        await ws.request(Ping(id=2))
        assert isinstance(await ws.receive(), PongFrame)
        await ws.send(bytes(ws.out.close(1000)))
        assert (await ws.closed())[1] == 1000
        await ws.aclose()

    def _after_hello(self, kind: str, payload: Callable[[FrameWs], bytes],
                     expected: tuple[list[str], int]) -> Callable[[], Awaitable[None]]:
        async def one() -> None:
            ws = await self._hello(kind)
            await ws.send(payload(ws))
            await _closes_as_documented(ws, expected)
            await ws.aclose()
        return one

    def _survives(self, kind: str, frame: dict, code: str) -> Callable[[], Awaitable[None]]:
        async def one() -> None:
            ws = await self._hello(kind)
            for rid in range(7, 17):
                await ws.send(ws.data(packed({**frame, "id": rid})))
                reply = await ws.receive()
                assert isinstance(reply, Error) and (reply.code, reply.re) == (code, rid)
            await ws.request(Ping(id=99))
            assert isinstance(await ws.receive(), PongFrame)  # still served
            await ws.aclose()
        return one

    async def _hello(self, kind: str) -> FrameWs:
        ws = await FrameWs.open(self.port)
        assert isinstance(await ws.hello(self.tokens[kind]), Welcome)
        return ws

    async def _too_large(self) -> None:
        ws = await self._hello("frame over the limit")
        await ws.send(ws.data(b"\x00" * 200_000))  # may be cut short by the close
        frames, code = await ws.closed()
        assert errors(frames) in ([], [ErrorCode.FRAME_TOO_LARGE])
        assert code in (CloseCode.MESSAGE_TOO_BIG, None)  # None: reset while we still sent
        await ws.aclose()

    async def _early(self) -> None:
        ws = await FrameWs.open(self.port)
        await ws.send(ws.data(packed({"type": "send", "id": 3, "client_msg_id": "x",
                                      "text": "sneaky", "to": "bob"})))
        await _closes_as_documented(ws, ([ErrorCode.NOT_AUTHENTICATED], CloseCode.AUTH_FAILED))
        await ws.aclose()

    async def _flood(self) -> None:
        """Pings pipelined in batches, far faster than the bucket refills, until closed."""
        ws = await self._hello("request flood")
        config = self.server.app.config
        batch = b"".join(ws.data(packed({"type": "ping", "id": i})) for i in range(200))
        result: list = []

        async def read() -> None:
            result.extend(await ws.closed())

        async with trio.open_nursery() as both:
            both.start_soon(read)
            for _ in range(20):  # 4,000 at most
                if result or not await ws.send(batch):
                    break
                await trio.sleep(0)
        frames, code = result
        pongs = len([f for f in frames if isinstance(f, PongFrame)])
        assert config.request_burst - 1 <= pongs < config.request_burst + 200
        refused = errors(frames)
        assert set(refused) == {ErrorCode.RATE_LIMITED}
        assert len(refused) > config.max_rate_violations
        assert code == CloseCode.POLICY_VIOLATION
        await ws.aclose()

    async def _slowloris(self) -> None:
        """Handshakes that never finish, 8 at once: half an HTTP request head, or a
        WebSocket that never says `hello` — closed at the handshake timeout (4002)."""
        async def half_head() -> None:
            async with await trio.open_tcp_stream("127.0.0.1", self.port) as stream:
                await stream.send_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr")
                try:
                    assert await stream.receive_some(1024) == b""  # EOF, no answer
                except trio.BrokenResourceError:
                    pass

        async def no_hello() -> None:
            ws = await FrameWs.open(self.port)
            await _closes_as_documented(ws, ([], CloseCode.TIMEOUT))
            await ws.aclose()

        with trio.fail_after(DEADLINE_S):
            async with trio.open_nursery() as group:
                for i in range(8):
                    group.start_soon(half_head if i % 2 else no_hello)

    async def _beyond_cap(self) -> None:
        await refused_login(self.port, self.capped_token, 5)


@pytest.fixture
def storm_config(server_config):
    # No fsync: the witness's round trips then measure the event loop, not the
    # shared disk's moods. A short handshake timeout lets slowloris rounds end; 1 s, not
    # less, so that on a loaded machine the storm's honest hellos still make it in time.
    return dataclasses.replace(server_config, durable=False, handshake_timeout_s=1.0,
                               max_sessions_per_user=4)


async def _sync_from_zero(server, nursery, token: str) -> list[Msg]:
    """Everything stored that the user may see, read by a fresh device."""
    client = await TestClient(nursery, server.url, token, device="audit",
                              sync_token="0").connect()
    messages = client.taken(Msg)
    await client.close()
    return messages


@pytest.mark.slow
async def test_an_abuse_storm_leaves_the_witness_fast_and_the_store_unchanged(
        nursery, storm_config, caplog):
    """Phases of one run: calm; well-behaved churn; the storm; calm again.

    The witness's "normal range" is the larger p99 of the calm phases and of
    the churn (the same loops of connections as the storm, every client
    polite): on a shared machine, other jobs slow connection churn down
    whatever it carries, so the storm is compared with churn of its own shape.
    """
    caplog.set_level(logging.WARNING, logger="corpchat")
    # The real clock: rate buckets refill, as the witness's ~100 messages/s need.
    async with running_server(nursery, storm_config) as server:
        witness = await Witness.start(server, nursery)
        kinds = list(Storm(server, {}, "").kinds())
        tokens = {kind: await server.user(f"m{i}") for i, kind in enumerate(kinds)}
        polite = {kind: await server.user(f"p{i}") for i, kind in enumerate(kinds)}
        capped_token = await server.user("capped")
        held = [await FrameWs.open(server.app.port) for _ in range(4)]
        for ws in held:
            assert isinstance(await ws.hello(capped_token), Welcome)
        stats_before = await server.admin("stats")
        stored_before = witness.stored()

        chatter = Chatter(witness)
        churn, storm = Storm(server, tokens, capped_token), Storm(server, tokens, capped_token)
        with trio.fail_after(60):
            calm = await chatter.phase(lambda: trio.sleep(1.0))
            normal = await chatter.phase(lambda: churn.run(2.0, benign=polite))
            during = await chatter.phase(lambda: storm.run(2.5))
            calm += await chatter.phase(lambda: trio.sleep(0.5))

        # every kind ran, and each round got its documented answer (asserted inside)
        assert set(storm.rounds) == set(kinds), storm.rounds
        baseline = max(p99(calm), p99(normal))
        bound = max(10 * baseline, baseline + 0.25)
        report = (f"storm: {sum(storm.rounds.values())} hostile connections "
                  f"{dict(storm.rounds)}; witness p99: calm {p99(calm) * 1000:.1f} ms "
                  f"({len(calm)} msgs), churn {p99(normal) * 1000:.1f} ms "
                  f"({sum(churn.rounds.values())} polite connections, {len(normal)} msgs), "
                  f"storm {p99(during) * 1000:.1f} ms ({len(during)} msgs), "
                  f"bound {bound * 1000:.0f} ms")
        print(report)
        assert p99(during) <= bound, report

        # nothing stored changed: the store holds what it held plus the witness's messages
        stats_after = await server.admin("stats")
        assert stats_after["messages_stored"] == \
            stats_before["messages_stored"] + len(chatter.acked)
        assert stats_after["users"] == stats_before["users"]
        everything = _whole_history(witness)
        assert everything[:len(stored_before)] == stored_before[::-1]
        assert [m.client_msg_id for m in everything[len(stored_before):]] == chatter.acked
        for ws in held:
            await ws.aclose()
        capped = server.app.store.user_by_handle("capped").uid
        await wait_until(lambda: not server.app.hub.sessions_of(capped))
        audit = await _sync_from_zero(server, nursery, await _token(server, "alice"))
        assert [m.text for m in audit] == ["before"] + [f"w{i}" for i in range(len(chatter.acked))]
        for token in [*tokens.values(), *polite.values(), capped_token]:
            assert await _sync_from_zero(server, nursery, token) == []
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        witness.before = witness.stored()
        await witness.still_chats()


def _whole_history(witness: Witness) -> list:
    """Every message of the witness's conversation, oldest first, read page by page."""
    store, out, before = witness.server.app.store, [], None
    while True:
        page = store.history_page(uid=witness.bob_uid, conv=witness.conv, before=before, limit=500,
                                  max_bytes=1 << 20)[0]
        if not page:
            return out[::-1]
        out += page
        before = page[-1].seq


async def _token(server, handle: str) -> str:
    return (await server.admin("token.issue", user=handle))["token"]
