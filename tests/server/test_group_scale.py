"""Group fan-out at scale: 100 members on 2 devices each, and a member that stops reading.

Both tests talk to a real server over real sockets (127.0.0.1) with a real
LMDB; the fan-out path under test is docs/architecture.md "the path of one message",
steps 4-5.
"""

from __future__ import annotations

import dataclasses
import socket

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Request

from corpchat.protocol import (
    SUBPROTOCOL,
    Ack,
    CloseCode,
    GroupCreate,
    Hello,
    Msg,
    Send,
    Welcome,
    decode_server_frame,
    encode,
)

from ..client import TestClient, WireClient
from ..conftest import running_server
from .test_groups import request

pytestmark = pytest.mark.slow

MEMBERS = 100
DEVICES = 2
MESSAGES = 30
SENDERS = 6  # users 0..5; their sends alternate between their two devices


async def make_users(server, count: int, prefix: str) -> list[tuple[str, str]]:
    """`count` users of corp acme, created concurrently: [(handle, token)]."""
    handles = [f"{prefix}{i:03d}" for i in range(count)]
    tokens: dict[str, str] = {}
    tokens[handles[0]] = await server.user(handles[0])  # creates the corp first

    async def one(handle: str) -> None:
        tokens[handle] = await server.user(handle)

    with trio.fail_after(30):
        async with trio.open_nursery() as n:
            for handle in handles[1:]:
                n.start_soon(one, handle)
    return [(h, tokens[h]) for h in handles]


async def connect_all(nursery, url: str, specs: list[tuple[str, str, str]],
                      cls=WireClient) -> dict[tuple[str, str], TestClient]:
    """Connect (handle, token, device) clients concurrently; wait for each one's sync."""
    clients: dict[tuple[str, str], TestClient] = {}

    async def one(handle: str, token: str, device: str) -> None:
        clients[handle, device] = await cls(nursery, url, token, device=device).connect()

    with trio.fail_after(30):
        async with trio.open_nursery() as n:
            for handle, token, device in specs:
                n.start_soon(one, handle, token, device)
    return clients


async def wait_for(predicate, timeout: float, what: str) -> None:
    """Poll `predicate` (cheap, synchronous) until it holds."""
    try:
        with trio.fail_after(timeout):
            while not predicate():
                await trio.sleep(0.01)
    except trio.TooSlowError:
        raise AssertionError(f"timed out waiting for {what}") from None


def wire_msgs(client: WireClient, conv: int) -> list[Msg]:
    return [f for f in client.wire if isinstance(f, Msg) and f.conv == conv]


# ----- every device of every member gets every message exactly once ------------------


async def test_100_members_on_2_devices_get_every_message_once_in_order(server, nursery):
    users = await make_users(server, MEMBERS, "m")
    handles = [h for h, _ in users]
    clients = await connect_all(nursery, server.url,
                                [(h, t, d) for h, t in users for d in ("a", "b")])
    assert sum(map(len, server.app.hub.sessions.values())) == MEMBERS * DEVICES
    before = server.app.hub.stats.deliveries

    owner = clients[handles[0], "a"]
    ok = await request(owner, GroupCreate, name="all hands", members=tuple(handles[1:]))
    conv = ok.conv

    # 30 messages from 6 senders, interleaved and not waiting for acks; each
    # sender alternates its devices, so both devices of a sender send.
    sent: dict[tuple[str, str], list[str]] = {key: [] for key in clients}
    texts = []
    for i in range(MESSAGES):
        handle, device = handles[i % SENDERS], "ab"[(i // SENDERS) % 2]
        text = f"message {i} from {handle}/{device}"
        texts.append(text)
        client = clients[handle, device]
        sent[handle, device].append(await client.send(text, conv=conv))

    def expected_msgs(key) -> int:
        return 1 + MESSAGES - len(sent[key])  # the create event, all but its own sends

    def done() -> bool:
        return all(len(wire_msgs(c, conv)) >= expected_msgs(k)
                   and len(c.taken(Ack)) >= len(sent[k]) for k, c in clients.items())

    await wait_for(done, 20, "every device to get every message")
    await trio.sleep(0.05)  # anything extra (a duplicate) would show up now

    all_seqs = list(range(1, MESSAGES + 2))
    by_seq: dict[int, str] = {}
    for key, client in clients.items():
        msgs = wire_msgs(client, conv)
        acks = [a for a in client.taken(Ack) if a.conv == conv]
        assert len(msgs) == expected_msgs(key), key
        assert len(acks) == len(sent[key]), key
        assert sorted(a.client_msg_id for a in acks) == sorted(sent[key]), key
        seqs = [m.seq for m in msgs]
        assert seqs == sorted(seqs), (key, seqs)  # in order (and hence no duplicates)
        assert sorted(seqs + [a.seq for a in acks]) == all_seqs, key  # no gaps, none twice
        positions = [m.pos for m in msgs]
        assert positions == sorted(positions), key
        assert msgs[0].event == "create" and len(msgs[0].users) == MEMBERS
        own = {a.seq for a in acks}
        for m in msgs:
            assert m.seq not in own, (key, m.seq)  # the sending device has its ack instead
            if m.seq > 1:
                # every device agrees on what each seq holds
                assert by_seq.setdefault(m.seq, m.text) == m.text, (key, m.seq)
    assert sorted(by_seq.values()) == sorted(texts)

    # the other device of a sender got the sender's messages as msgs
    for handle in handles[:SENDERS]:
        for device, other in (("a", "b"), ("b", "a")):
            got = {m.client_msg_id for m in wire_msgs(clients[handle, other], conv)}
            assert set(sent[handle, device]) <= got, (handle, device)

    sessions = MEMBERS * DEVICES
    assert server.app.hub.stats.deliveries - before == sessions + MESSAGES * (sessions - 1)
    assert before == 0


# ----- a member that stops reading ------------------------------------------------------

BOUND = 32 * 1024
SLOW_MEMBERS = 100  # the slow one and 99 readers
TEXT_CHARS = 3000
BATCH = 8  # messages per round; the readers catch up between rounds
MAX_MESSAGES = 1500
FRAME_SLACK = TEXT_CHARS + 256  # one frame: the partly written head may stay queued


@pytest.fixture
async def slow_server(nursery, server_config, clock):
    """A server with a small outbound bound and a generous request rate."""
    config = dataclasses.replace(server_config, outbound_buffer_bytes=BOUND,
                                 requests_per_s=10_000.0, request_burst=10_000,
                                 close_timeout_s=3.0)
    async with running_server(nursery, config, clock) as srv:
        yield srv


class SilentPeer:
    """A member that does the handshake and hello by hand, then never reads again."""

    def __init__(self, stream: trio.SocketStream, ws: WSConnection) -> None:
        self.stream = stream
        self.ws = ws
        self.welcome: Welcome | None = None

    @classmethod
    async def connect(cls, port: int, token: str) -> SilentPeer:
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
        # Small kernel buffers on our side (set before connect, so the window is small
        # from the start): the server's writes stop being taken soon.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with trio.fail_after(5):
            await sock.connect(("127.0.0.1", port))
        peer = cls(trio.SocketStream(sock), WSConnection(ConnectionType.CLIENT))
        await peer._send(peer.ws.send(Request(host=f"127.0.0.1:{port}", target="/",
                                              subprotocols=[SUBPROTOCOL])))
        accepted = False
        with trio.fail_after(5):
            while peer.welcome is None:
                data = await peer.stream.receive_some(65536)
                assert data, "server closed before welcome"
                peer.ws.receive_data(data)
                for event in peer.ws.events():
                    if isinstance(event, AcceptConnection):
                        assert event.subprotocol == SUBPROTOCOL
                        accepted = True
                        hello = encode(Hello(id=1, token=token))
                        await peer._send(peer.ws.send(BytesMessage(data=hello)))
                    elif isinstance(event, BytesMessage):
                        assert accepted
                        frame = decode_server_frame(bytes(event.data))
                        assert isinstance(frame, Welcome), frame
                        peer.welcome = frame
                    else:
                        raise AssertionError(f"unexpected {event!r}")
        return peer

    async def _send(self, data: bytes) -> None:
        with trio.fail_after(5):
            await self.stream.send_all(data)

    async def read_to_end(self, timeout: float) -> tuple[list, int | None, int]:
        """Read everything left until EOF: (frames, close code or None, bytes read)."""
        frames, code, total, partial = [], None, 0, bytearray()
        with trio.fail_after(timeout):
            while True:
                try:
                    data = await self.stream.receive_some(1 << 20)
                except trio.BrokenResourceError:  # a reset: as good as EOF here
                    data = b""
                total += len(data)
                self.ws.receive_data(data or None)
                for event in self.ws.events():
                    if isinstance(event, BytesMessage):
                        partial += event.data  # wsproto hands out pieces of big messages
                        if event.message_finished:
                            frames.append(decode_server_frame(bytes(partial)))
                            partial.clear()
                    elif isinstance(event, CloseConnection):
                        code = event.code if code is None else code  # EOF adds a 1006
                if not data:
                    return frames, code, total


class SlowRoom:
    """A 100-member group: 99 readers on TestClients and one SilentPeer.

    `fill()` sends rounds of big messages (waiting each round until every
    reader has it) until the server gives up on the silent member, while a
    watcher samples every session's buffered bytes.
    """

    def __init__(self, server, nursery) -> None:
        self.server, self.app, self.nursery = server, server.app, nursery
        self.sent: list[str] = []
        self.high = 0  # the most bytes any session held, as sampled
        self._watcher = trio.CancelScope()

    async def start(self) -> SlowRoom:
        app = self.app
        users = await make_users(self.server, SLOW_MEMBERS, "r")
        (slow_handle, slow_token), readers = users[0], users[1:]
        self.clients = await connect_all(self.nursery, self.server.url,
                                         [(h, t, "a") for h, t in readers])
        self.slow = await SilentPeer.connect(app.port, slow_token)
        self.slow_uid = app.store.user_by_handle(slow_handle).uid
        assert len(app.hub.sessions_of(self.slow_uid)) == 1
        self.slow_session = app.hub.sessions_of(self.slow_uid)[0]
        self.sender = self.clients[readers[0][0], "a"]
        ok = await request(self.sender, GroupCreate, name="big room",
                           members=tuple(h for h, _ in readers[1:]) + (slow_handle,))
        self.conv = ok.conv
        await self.nursery.start(self._watch)
        return self

    def sample(self) -> None:
        self.high = max(self.high, max(
            (c.session.buffered_bytes for c in list(self.app.connections)), default=0))

    async def _watch(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        with self._watcher:
            task_status.started()
            while True:
                self.sample()
                await trio.sleep(0.001)

    def slow_one_is_gone(self) -> bool:
        """The server let go of the silent member: out of the hub, and its connection
        task has finished (it leaves `app.connections` last, after closing the socket,
        which is a checkpoint: the hub alone can be seen empty a moment earlier)."""
        return self.slow_uid not in self.app.hub.sessions and all(
            c.session is not self.slow_session for c in self.app.connections)

    def stop_watching(self) -> None:
        self._watcher.cancel()

    def readers(self) -> list[WireClient]:
        return [c for c in self.clients.values() if c is not self.sender]

    async def send_round(self, n: int = BATCH) -> None:
        sender, sent, conv = self.sender, self.sent, self.conv
        for i in range(len(sent), len(sent) + n):
            text = f"{i:05d} " + "x" * (TEXT_CHARS - 6)
            sent.append(text)
            rid = sender.session.next_request_id()
            sender.session.queue(Send(id=rid, client_msg_id=f"c{i}", text=text, conv=conv))
        await sender.flush()
        want = 1 + len(sent)  # the create event and every text

        def caught_up() -> bool:
            acks = sum(1 for a in sender.taken(Ack) if a.conv == conv)
            return acks == len(sent) and all(
                len(wire_msgs(c, conv)) >= want for c in self.readers())

        await wait_for(caught_up, 10, f"the readers to get {len(sent)} messages")
        self.sample()

    async def fill(self) -> int:
        """Send until the silent member is cut off; the number of messages it took."""
        with trio.fail_after(40):
            while self.app.hub.stats.slow_closes == 0:
                assert len(self.sent) < MAX_MESSAGES, "the silent member was never cut off"
                await self.send_round()
        return len(self.sent)

    def check_readers(self) -> None:
        """Every reader got every message, in seq order, once; the sender every ack."""
        for client in self.readers():
            msgs = wire_msgs(client, self.conv)
            assert [m.seq for m in msgs] == list(range(1, len(self.sent) + 2))
            assert [m.text for m in msgs[1:]] == self.sent
            assert client.closed_code is None
        acks = sorted(a.seq for a in self.sender.taken(Ack) if a.conv == self.conv)
        assert acks == list(range(2, len(self.sent) + 2))


async def test_member_that_stops_reading_is_cut_off_and_others_keep_receiving(
        slow_server, nursery):
    room = await SlowRoom(slow_server, nursery).start()
    app = room.app
    closed_after = await room.fill()
    assert app.hub.stats.slow_closes == 1
    assert room.slow_session.close_code == CloseCode.RESYNC_REQUIRED
    assert room.slow_session.closing
    # the bound held the whole time, for every session (the slow one included)
    assert room.high <= BOUND + FRAME_SLACK, room.high
    # fan-out no longer queues anything for it
    assert room.slow_session.buffered_bytes <= FRAME_SLACK

    # The silent member reads what the server left it (the frames that fit, its close,
    # EOF) from now on: once the server has closed, the kernel keeps the unsent bytes
    # only while it still probes the zero window, and a loaded machine can stretch the
    # rounds below past that (then a reset drops them, and the 4000 with them).
    left: list[tuple[list, int | None, int]] = []

    async def read_what_is_left() -> None:
        left.append(await room.slow.read_to_end(timeout=30))

    nursery.start_soon(read_what_is_left)

    # The others keep receiving, in order, with nothing lost or repeated.
    await room.send_round()
    await room.send_round()
    assert app.hub.stats.slow_closes == 1
    assert room.high <= BOUND + FRAME_SLACK, room.high
    room.check_readers()

    await wait_for(lambda: bool(left), 30, "the silent member to read to the end")
    frames, code, total = left[0]
    assert code == CloseCode.RESYNC_REQUIRED, (code, total)
    got = [f for f in frames if isinstance(f, Msg) and f.conv == room.conv]
    seqs = [m.seq for m in got]
    assert seqs == list(range(1, len(seqs) + 1))  # in order, no gap, then cut off
    assert len(got) < 1 + closed_after  # it really did miss messages
    await wait_for(room.slow_one_is_gone, 10,
                   "the slow session to leave the hub and the server's connections")
    room.stop_watching()
    await trio.aclose_forcefully(room.slow.stream)


@pytest.fixture
async def quick_close_server(nursery, server_config, clock):
    """As slow_server, with a short close grace period."""
    config = dataclasses.replace(server_config, outbound_buffer_bytes=BOUND,
                                 requests_per_s=10_000.0, request_burst=10_000,
                                 close_timeout_s=0.5, shutdown_timeout_s=1.0)
    async with running_server(nursery, config, clock) as srv:
        yield srv


async def test_member_that_never_reads_again_is_closed_and_unregistered(
        quick_close_server, nursery):
    room = await SlowRoom(quick_close_server, nursery).start()
    app = room.app
    await room.fill()
    room.stop_watching()
    assert room.slow_session.close_code == CloseCode.RESYNC_REQUIRED
    # Without the peer ever reading: the server must give up within its close grace
    # period (0.5 s) and drop the session and the socket.
    grace = app.config.close_timeout_s + 1.5
    await wait_for(room.slow_one_is_gone, grace,
                   "the never-reading session to leave the hub and the server's connections")
    assert room.slow_session.dead
    # its socket was closed: reading now shows what fit, then EOF (no close frame needed)
    frames, code, total = await room.slow.read_to_end(timeout=5)
    assert total > 0 and code in (None, CloseCode.RESYNC_REQUIRED, 1006), code
    # and the others never noticed
    await room.send_round()
    room.check_readers()
    assert app.hub.stats.slow_closes == 1
    await trio.aclose_forcefully(room.slow.stream)
