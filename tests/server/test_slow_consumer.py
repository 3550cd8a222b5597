"""A receiver that stops reading is closed for resync; nobody else notices.

The slow receiver is a raw TCP socket with a small receive buffer that does
the WebSocket handshake and `hello` by hand (wsproto), then never reads
again. With a 64 KiB outbound bound, its session must be closed with the
resync code (4000), or at least its socket closed, while a normal receiver
gets every message and the sender every ack.
"""

from __future__ import annotations

import dataclasses
import socket

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Request,
    TextMessage,
)

from corpchat.protocol import (
    SUBPROTOCOL,
    Ack,
    CloseCode,
    Hello,
    Msg,
    Pong,
    Welcome,
    decode_server_frame,
    encode,
)
from corpchat.server.session import Session

from ..client import TestClient

BOUND = 64 * 1024
TEXT = "s" * 2000  # a frame of about 2 KiB
ROUND = 20  # sends in flight at once: a batch holds at most ~40 KiB for any receiver


class StalledClient:
    """A WebSocket client over a raw socket, by hand, that can stop reading."""

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self.sock = sock
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.frames: list = []
        self.close_code: int | None = None
        self.eof = False
        self._partial = bytearray()

    @classmethod
    async def connect(cls, port: int, token: str) -> StalledClient:
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
        with trio.fail_after(5):
            await sock.connect(("127.0.0.1", port))
            client = cls(sock)
            await sock.send(client.ws.send(Request(host="127.0.0.1", target="/",
                                                   subprotocols=[SUBPROTOCOL])))
            await client.read_until(lambda e: isinstance(e, AcceptConnection))
            await sock.send(client.ws.send(Message(data=encode(Hello(id=1, token=token)))))
            await client.read_until(lambda e: isinstance(e, BytesMessage)
                                    and e.message_finished
                                    and isinstance(client.frames[-1], Welcome))
        return client

    async def read_until(self, done) -> None:  # noqa: ANN001
        while not self.eof:
            try:
                data = await self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            self.ws.receive_data(data or None)
            self.eof = not data
            for event in self.ws.events():
                if isinstance(event, BytesMessage):
                    self._partial += event.data
                    if not event.message_finished:
                        continue
                    self.frames.append(decode_server_frame(bytes(self._partial)))
                    self._partial.clear()
                elif isinstance(event, CloseConnection):
                    self.close_code = event.code
                elif isinstance(event, TextMessage):
                    raise AssertionError("the server sent text")
                if done(event):
                    return

    async def read_to_the_end(self) -> None:
        """Read everything the server still sends, until it closes the socket."""
        with trio.fail_after(10):
            await self.read_until(lambda e: False)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server_config(server_config):
    # The test clock is manual, so rate-limit tokens never refill: a burst covers the test.
    # A sync page must fit well inside the outbound bound (see the xfail test below).
    return dataclasses.replace(server_config, outbound_buffer_bytes=BOUND, close_timeout_s=0.2,
                               max_page_bytes=BOUND // 2, durable=False,
                               request_burst=1_000_000)


async def _send_rounds(alice: TestClient, rounds: int) -> list[Ack]:
    """Send in rounds of ROUND, each waiting for its acks (bounds every batch)."""
    acks = []
    for _ in range(rounds):
        for _ in range(ROUND):
            alice.session.send_text(TEXT, to="bob")
        await alice.flush()
        acks += [await alice.expect(Ack) for _ in range(ROUND)]
    return acks


async def test_a_stalled_receiver_is_closed_for_resync_and_others_keep_up(
        server, nursery):
    a_token = await server.user("alice")
    b_token = await server.user("bob")
    alice = await TestClient(nursery, server.url, a_token).connect()
    bob_fast = await TestClient(nursery, server.url, b_token, device="fast").connect()
    stalled = await StalledClient.connect(server.app.port, b_token)
    bob_uid = server.app.store.user_by_handle("bob").uid
    stalled_session = next(s for s in server.app.hub.sessions_of(bob_uid) if s.device is None)

    with trio.fail_after(20):
        rounds = 0
        while not stalled_session.closing:
            await _send_rounds(alice, 1)
            rounds += 1
            assert rounds < 400, "the stalled session was never closed"
        acks = await _send_rounds(alice, 3)  # and life goes on after the close

    n = (rounds + 3) * ROUND
    assert server.app.hub.stats.slow_closes == 1
    assert (await server.admin("stats"))["slow_consumer_closes"] == 1
    assert stalled_session.close_code == CloseCode.RESYNC_REQUIRED
    assert stalled_session.buffered_bytes <= BOUND + len(TEXT) + 64
    msgs = [await bob_fast.expect(Msg) for _ in range(n)]
    assert [m.seq for m in msgs] == list(range(1, n + 1))
    assert bob_fast.closed_code is None
    assert [a.seq for a in acks] == list(range(n - 3 * ROUND + 1, n + 1))

    # The stalled client finally reads: what it got is a prefix of the stream,
    # cut at a frame boundary, and then the close (4000) or just the end.
    await stalled.read_to_the_end()
    stalled.close()
    got = [f.seq for f in stalled.frames if isinstance(f, Msg)]
    assert got == list(range(1, len(got) + 1))
    assert len(got) < n
    assert stalled.eof
    # wsproto reports a socket closed without a close frame as 1006
    assert stalled.close_code in (CloseCode.RESYNC_REQUIRED, 1006)
    with trio.fail_after(5):  # the server let go of the stalled session
        while stalled_session in server.app.hub.sessions_of(bob_uid):
            await trio.sleep(0.01)

    # it resumes from what it saw, and gets the rest exactly once
    last_seen = max((f.pos for f in stalled.frames if isinstance(f, Msg)), default=0)
    resumed = await TestClient(nursery, server.url, b_token, device="resumed",
                               sync_token=str(last_seen)).connect()
    rest = [await resumed.expect(Msg) for _ in range(n - len(got))]
    assert [m.seq for m in rest] == list(range(len(got) + 1, n + 1))
    resumed.session.ping()
    await resumed.flush()
    await resumed.expect(Pong)
    assert len(resumed.taken(Msg)) == n - len(got)


async def test_a_batch_larger_than_the_bound_is_written_when_the_socket_takes_it():
    """Only bytes the kernel did not take count against the bound (docs/architecture.md,
    the path of one message, step 6).

    A reader that keeps up must never be closed, even when one batch holds
    more than the bound for it.
    """
    left, right = socket.socketpair()
    for sock in (left, right):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    left.setblocking(False)
    try:
        session = Session(left.fileno(), "test", 16 * 1024, 0)
        frames = [b"f" * 1024] * 24  # 24 KiB at once, the kernel has room for all of it
        session.push_many(frames)
        right.setblocking(False)
        received = bytearray()
        while True:
            try:
                chunk = right.recv(1 << 20)
            except BlockingIOError:
                break
            received += chunk
        assert session.close_code is None and len(received) == 24 * 1024
    finally:
        left.close()
        right.close()
